// One device: its registry entry and its latest value of each metric (GetLatest), refreshed on demand.
import { call, tenantPath } from '../api';
import { h } from '../dom';
import { formatNumber, formatTime, t } from '../i18n';
import { href, onLeave, type Route } from '../router';
import { LiveChart, windowSeconds } from '../chart';
import { subscribe } from '../live';
import type { DataPoint, Device, DeviceType } from '../types';
import { empty, errorBox, loading, pageTitle, table, text } from '../ui';
import { stateBadge } from './labels';

export function formatValue(value: DataPoint['value'], unit?: string): string {
  let shown: string;
  if (value.doubleValue !== undefined) shown = formatNumber(value.doubleValue, { maximumFractionDigits: 6 });
  else if (value.intValue !== undefined) shown = formatNumber(Number(value.intValue));
  else if (value.boolValue !== undefined) shown = value.boolValue ? t('common.true') : t('common.false');
  else shown = value.stringValue ?? '';
  return unit ? `${shown} ${unit}` : shown;
}

export async function renderDevice(main: HTMLElement, route: Route): Promise<void> {
  const tenant = route.segments[1];
  const id = route.segments[3];
  pageTitle(main, 'devicePage.title', { device: id });
  const body = h('div', {}, loading());
  main.append(h('p', {}, h('a', { href: href('t', tenant, 'devices') }, t('devicePage.back'))), body);
  let device: Device;
  let units: Record<string, string> = {};
  try {
    device = await call<Device>('GET', tenantPath(tenant, 'devices', id));
    const type = await call<DeviceType>('GET', tenantPath(tenant, 'deviceTypes', device.deviceTypeId)).catch(() => null);
    units = Object.fromEntries((type?.metrics ?? []).map((m) => [m.name, m.unit ?? '']));
  } catch (error) {
    body.replaceChildren(errorBox(error));
    return;
  }
  const facts = h('dl', { class: 'facts' },
    h('dt', {}, t('devices.name')), h('dd', {}, device.displayName || '—'),
    h('dt', {}, t('devices.type')), h('dd', {}, device.deviceTypeId),
    h('dt', {}, t('devices.serial')), h('dd', {}, device.serialNumber),
    h('dt', {}, t('devices.state')), h('dd', {}, stateBadge(device.state)),
    h('dt', {}, t('devices.labels')), h('dd', {}, Object.entries(device.labels ?? {}).map(([k, v]) => `${k}=${v}`).join(', ')),
    h('dt', {}, t('devices.lastSeen')), h('dd', {}, device.lastSeenTime ? formatTime(device.lastSeenTime) : t('devices.never')));
  const latest = h('section', { 'aria-live': 'polite', 'data-testid': 'latest' });
  const chart = new LiveChart(units);
  const refresh = async () => {
    latest.replaceChildren(loading());
    try {
      const response = await call<{ values?: DataPoint[] }>('POST', `${tenantPath(tenant)}/telemetry:latest`, { devices: [id] });
      const values = response.values ?? [];
      chart.add(values);
      latest.replaceChildren(values.length === 0 ? empty('devicePage.noValues') : table(
        ['devicePage.metric', 'devicePage.value', 'devicePage.time'],
        values.map((point) => [text(point.metric), text(formatValue(point.value, units[point.metric])), text(formatTime(point.time))]),
        'devicePage.latest'));
    } catch (error) {
      latest.replaceChildren(errorBox(error));
    }
  };
  body.replaceChildren(facts,
    h('div', { class: 'section-head' }, h('h2', {}, t('devicePage.latest')),
      h('button', { type: 'button', class: 'secondary', onclick: () => void refresh() }, t('devicePage.refresh'))),
    latest,
    h('h2', {}, t('devicePage.live')),
    chart.element);
  // Subscribe first, then read the latest values: a point committed in between is in one or the other.
  const stop = new AbortController();
  onLeave(() => {
    stop.abort();
    chart.destroy();
  });
  subscribe(tenant, [id], {
    onOpen: () => chart.setState('live'),
    onPoints: (points) => chart.add(points),
    onError: (status) => chart.setState(status === 401 || status === 403 || status === 404 ? 'refused' : 'retrying'),
  }, stop.signal);
  await refresh();
  await history();

  // The chart's window before the page opened, from ReadRange (at most a few pages: the chart keeps 6,000 points
  // a metric).
  async function history(): Promise<void> {
    const end = new Date();
    const start = new Date(end.getTime() - windowSeconds * 1000);
    let pageToken = '';
    try {
      for (let page = 0; page < 6 && !stop.signal.aborted; ++page) {
        const response = await call<{ points?: DataPoint[]; nextPageToken?: string }>(
          'POST', `${tenantPath(tenant)}/telemetry:readRange`,
          { device: id, startTime: start.toISOString(), endTime: end.toISOString(), pageSize: 10000, pageToken: pageToken || undefined });
        chart.add(response.points ?? []);
        pageToken = response.nextPageToken ?? '';
        if (!pageToken) break;
      }
    } catch {
      // The latest values and the live stream still show; the table above shows a refusal.
    } finally {
      chart.element.dataset.history = 'loaded';
    }
  }
}
