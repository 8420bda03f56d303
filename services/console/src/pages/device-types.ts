// A tenant's device types and their metric schemas; a form creates one with its metrics.
import { call, tenantPath } from '../api';
import { h } from '../dom';
import { t } from '../i18n';
import { type Route } from '../router';
import type { DeviceType } from '../types';
import { empty, errorBox, field, formErrorSlot, loading, pageTitle, submitting, table, text } from '../ui';
import { enumName } from './labels';
import { renderApp } from '../app';

const valueTypes = ['VALUE_TYPE_DOUBLE', 'VALUE_TYPE_INT64', 'VALUE_TYPE_BOOL', 'VALUE_TYPE_STRING'];

export async function renderDeviceTypes(main: HTMLElement, route: Route): Promise<void> {
  const tenant = route.segments[1];
  pageTitle(main, 'deviceTypes.title');
  const id = h('input', { type: 'text', name: 'device_type_id', autocomplete: 'off' });
  const name = h('input', { type: 'text', name: 'display_name', 'data-api-field': 'device_type.display_name' });
  const metrics = h('fieldset', { class: 'metrics' }, h('legend', {}, t('deviceTypes.metrics')));
  let rows = 0;
  const addMetric = () => {
    const n = rows++;
    metrics.append(h('div', { class: 'row' },
      field('deviceTypes.metricName', h('input', { type: 'text', name: `metric_name_${n}`, 'data-api-field': `device_type.metrics[${n}].name` })),
      field('deviceTypes.metricUnit', h('input', { type: 'text', name: `metric_unit_${n}`, 'data-api-field': `device_type.metrics[${n}].unit` })),
      field('deviceTypes.metricType', h('select', { name: `metric_type_${n}`, 'data-api-field': `device_type.metrics[${n}].value_type` },
        ...valueTypes.map((v) => h('option', { value: v }, enumName(v)))))));
  };
  addMetric();
  const form = h('form', { class: 'card', novalidate: true },
    h('h2', {}, t('deviceTypes.create')),
    h('div', { class: 'row' }, field('deviceTypes.id', id), field('deviceTypes.name', name)),
    metrics,
    h('div', { class: 'actions' }, h('button', { type: 'button', class: 'secondary', onclick: addMetric }, t('deviceTypes.addMetric'))),
    formErrorSlot(),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, t('deviceTypes.createButton'))));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void submitting(form, async () => {
      const specs = [];
      for (let n = 0; n < rows; ++n) {
        const value = (suffix: string) => (form.elements.namedItem(`metric_${suffix}_${n}`) as HTMLInputElement).value.trim();
        if (!value('name')) continue;
        specs.push({ name: value('name'), unit: value('unit') || undefined, valueType: value('type') });
      }
      await call('POST', tenantPath(tenant, 'deviceTypes'), { displayName: name.value.trim(), metrics: specs }, { deviceTypeId: id.value.trim() });
      renderApp();
    });
  });
  const list = h('section', { 'aria-live': 'polite' }, loading());
  main.append(h('h2', {}, t('deviceTypes.list')), list, form);
  try {
    const response = await call<{ deviceTypes?: DeviceType[] }>('GET', tenantPath(tenant, 'deviceTypes'), undefined, { pageSize: 200 });
    const types = response.deviceTypes ?? [];
    list.replaceChildren(types.length === 0 ? empty('deviceTypes.empty') : table(
      ['deviceTypes.id', 'deviceTypes.name', 'deviceTypes.version', 'deviceTypes.metrics'],
      types.map((type) => [
        h('code', {}, type.deviceTypeId),
        text(type.displayName),
        text(type.version ?? ''),
        text((type.metrics ?? []).map((m) => `${m.name}${m.unit ? ` (${m.unit})` : ''}: ${enumName(m.valueType)}`).join(', ')),
      ]), 'deviceTypes.list'));
  } catch (error) {
    list.replaceChildren(errorBox(error));
  }
}
