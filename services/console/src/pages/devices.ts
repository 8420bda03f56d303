// A tenant's devices: a label and type filter (kept in the URL with the page token, so paging keeps it), state,
// last seen, latest values; and a form that registers a device.
import { ApiError, call, tenantPath } from '../api';
import { h } from '../dom';
import { formatTime, t } from '../i18n';
import { href, navigate, type Route } from '../router';
import type { DataPoint, Device, DeviceType } from '../types';
import { formatValue } from '../values';
import { empty, errorBox, field, formErrorSlot, loading, pageTitle, submitting, table, text } from '../ui';
import { stateBadge } from './labels';
import { pager } from './tenants';

// "line=3, zone=A" -> {line: "3", zone: "A"}; null when a part is not key=value.
export function parseLabels(input: string): Record<string, string> | null {
  const labels: Record<string, string> = {};
  for (const part of input.split(',').map((p) => p.trim()).filter(Boolean)) {
    const equals = part.indexOf('=');
    if (equals <= 0) return null;
    labels[part.slice(0, equals).trim()] = part.slice(equals + 1).trim();
  }
  return labels;
}

// The ListDevices filter (proto/parkbase/device/v1/device.proto) for a device type and labels.
export function deviceFilter(type: string, labels: Record<string, string>): string {
  const conditions = type ? [`device_type = ${type}`] : [];
  for (const [key, value] of Object.entries(labels)) conditions.push(`labels.${key} = ${JSON.stringify(value)}`);
  return conditions.join(' AND ');
}

// How many metrics a row shows; the device page shows them all.
const latestShown = 3;

// A device's latest values as one line, metrics in name order with their units: "pressure 3.2 MPa; temp 80 °C +2".
export function latestSummary(points: DataPoint[], units: Record<string, string>, shown = latestShown): string {
  if (points.length === 0) return '—';
  const sorted = [...points].sort((a, b) => (a.metric < b.metric ? -1 : a.metric > b.metric ? 1 : 0));
  const parts = sorted.slice(0, shown).map((point) => `${point.metric} ${formatValue(point.value, units[point.metric])}`);
  const more = sorted.length - shown;
  return more > 0 ? `${parts.join('; ')} ${t('devices.moreMetrics', { count: more })}` : parts.join('; ');
}

// Fills each row's latest values cell: one GetLatest for the page's devices (it takes up to 1,000) and the metric
// units of their types. A failure leaves the list as it is and says so in the cells.
async function fillLatest(tenant: string, devices: Device[], cells: HTMLElement[]): Promise<void> {
  try {
    const [latest, types] = await Promise.all([
      call<{ values?: DataPoint[] }>('POST', `${tenantPath(tenant)}/telemetry:latest`, { devices: devices.map((d) => d.deviceId) }),
      call<{ deviceTypes?: DeviceType[] }>('GET', tenantPath(tenant, 'deviceTypes'), undefined, { pageSize: 200 }),
    ]);
    const unitsOfType = new Map((types.deviceTypes ?? []).map((type) =>
      [type.deviceTypeId, Object.fromEntries((type.metrics ?? []).map((m) => [m.name, m.unit ?? '']))]));
    devices.forEach((device, i) => {
      const points = (latest.values ?? []).filter((point) => point.device === device.deviceId);
      cells[i].replaceChildren(latestSummary(points, unitsOfType.get(device.deviceTypeId) ?? {}));
      cells[i].removeAttribute('aria-busy');
    });
  } catch {
    cells.forEach((cell) => {
      cell.replaceChildren(t('devices.latestUnavailable'));
      cell.removeAttribute('aria-busy');
    });
  }
}

export async function renderDevices(main: HTMLElement, route: Route): Promise<void> {
  const tenant = route.segments[1];
  pageTitle(main, 'devices.title');
  const labelsText = route.query.get('labels') ?? '';
  const type = route.query.get('type') ?? '';
  const labelsInput = h('input', { type: 'text', name: 'labels', value: labelsText, placeholder: 'line=3' });
  const typeInput = h('input', { type: 'text', name: 'type', value: type });
  const filters = h('form', { class: 'filters', role: 'search' },
    field('devices.labelFilter', labelsInput, 'devices.labelFilterHint'),
    field('devices.typeFilter', typeInput),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, t('common.apply'))));
  filters.addEventListener('submit', (event) => {
    event.preventDefault();
    const query = new URLSearchParams();
    if (labelsInput.value.trim()) query.set('labels', labelsInput.value.trim());
    if (typeInput.value.trim()) query.set('type', typeInput.value.trim());
    navigate(`${href('t', tenant, 'devices')}${query.size ? `?${query}` : ''}`);
  });
  const list = h('section', { 'aria-live': 'polite' }, loading());
  main.append(filters, list, await createForm(tenant));

  const labels = parseLabels(labelsText);
  if (!labels) {
    list.replaceChildren(errorBox(new ApiError(400, 'INVALID_ARGUMENT', t('devices.labelFilterHint'))));
    return;
  }
  try {
    const response = await call<{ devices?: Device[]; nextPageToken?: string }>('GET', tenantPath(tenant, 'devices'), undefined, {
      filter: deviceFilter(type, labels),
      pageSize: Number(route.query.get('size') ?? 20),
      pageToken: route.query.get('page') ?? '',
    });
    const devices = response.devices ?? [];
    const latestCells = devices.map(() => h('span', { 'data-testid': 'device-latest', 'aria-busy': 'true' }, '…'));
    list.replaceChildren(
      devices.length === 0 ? empty('devices.empty') : table(
        ['devices.id', 'devices.name', 'devices.type', 'devices.labels', 'devices.state', 'devices.lastSeen', 'devices.latest'],
        devices.map((device, i) => [
          h('a', { href: href('t', tenant, 'devices', device.deviceId) }, device.deviceId),
          text(device.displayName || '—'),
          text(device.deviceTypeId),
          text(Object.entries(device.labels ?? {}).map(([k, v]) => `${k}=${v}`).join(', ')),
          stateBadge(device.state),
          text(device.lastSeenTime ? formatTime(device.lastSeenTime) : t('devices.never')),
          latestCells[i],
        ]), 'devices.title'),
      pager(route, response.nextPageToken));
    if (devices.length > 0) await fillLatest(tenant, devices, latestCells);
  } catch (error) {
    list.replaceChildren(errorBox(error));
  }
}

async function createForm(tenant: string): Promise<HTMLElement> {
  const id = h('input', { type: 'text', name: 'device_id', 'data-api-field': 'device.device_id', autocomplete: 'off' });
  const serial = h('input', { type: 'text', name: 'serial_number', 'data-api-field': 'device.serial_number', autocomplete: 'off' });
  const name = h('input', { type: 'text', name: 'display_name', 'data-api-field': 'device.display_name' });
  const labels = h('input', { type: 'text', name: 'labels', 'data-api-field': 'device.labels', placeholder: 'line=3' });
  const type = h('select', { name: 'device_type_id', 'data-api-field': 'device.device_type_id' });
  try {
    const types = await call<{ deviceTypes?: DeviceType[] }>('GET', tenantPath(tenant, 'deviceTypes'), undefined, { pageSize: 200 });
    for (const deviceType of types.deviceTypes ?? []) type.append(h('option', { value: deviceType.deviceTypeId }, `${deviceType.displayName} (${deviceType.deviceTypeId})`));
  } catch {
    // The list above shows the error; the form stays usable once the cause is fixed.
  }
  const form = h('form', { class: 'card', novalidate: true },
    h('h2', {}, t('devices.create')),
    h('div', { class: 'row' }, field('devices.id', id), field('devices.type', type)),
    h('div', { class: 'row' }, field('devices.serial', serial), field('devices.name', name)),
    field('devices.labels', labels, 'devices.labelFilterHint'),
    formErrorSlot(),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, t('devices.createButton'))));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void submitting(form, async () => {
      const parsed = parseLabels(labels.value);
      if (!parsed) throw new ApiError(400, 'INVALID_ARGUMENT', '', [{ field: 'device.labels', description: t('devices.labelFilterHint') }]);
      const created = await call<Device>('POST', tenantPath(tenant, 'devices'), {
        deviceId: id.value.trim(), deviceTypeId: type.value, serialNumber: serial.value.trim(),
        displayName: name.value.trim() || undefined, labels: parsed,
      });
      navigate(href('t', tenant, 'devices', created.deviceId));
    });
  });
  return form;
}
