// The park administrator's tenants: state and plan filters (the API's ListTenants filter), a search over the id
// and name, each tenant's use of its quota, paging; the filters live in the URL so a reload or a shared link shows the same list.
import { call } from '../api';
import { h } from '../dom';
import { formatTime, t } from '../i18n';
import { href, navigate, type Route } from '../router';
import type { Tenant } from '../types';
import { empty, errorBox, loading, pageTitle, table, text } from '../ui';
import { enumName, stateBadge } from './labels';
import { fetchUsage, figureNode, usageFigures } from '../usage';

interface ListTenantsResponse {
  tenants?: Tenant[];
  nextPageToken?: string;
}

export async function renderTenants(main: HTMLElement, route: Route): Promise<void> {
  pageTitle(main, 'tenants.title');
  const state = route.query.get('state') ?? '';
  const plan = route.query.get('plan') ?? '';
  const search = route.query.get('q') ?? '';
  const page = route.query.get('page') ?? '';

  const stateSelect = h('select', { name: 'state', id: 'f-state' },
    h('option', { value: '' }, t('common.all')),
    h('option', { value: 'ACTIVE', selected: state === 'ACTIVE' }, t('state.active')),
    h('option', { value: 'SUSPENDED', selected: state === 'SUSPENDED' }, t('state.suspended')));
  const planSelect = h('select', { name: 'plan', id: 'f-plan' },
    h('option', { value: '' }, t('common.all')),
    ...(['FREE', 'STANDARD', 'ENTERPRISE'] as const).map((p) =>
      h('option', { value: p, selected: plan === p }, enumName(`PLAN_${p}`))));
  const searchInput = h('input', { type: 'search', name: 'q', id: 'f-q', value: search });
  const filters = h('form', { class: 'filters', role: 'search' },
    h('div', { class: 'field' }, h('label', { for: 'f-q' }, t('tenants.search')), searchInput),
    h('div', { class: 'field' }, h('label', { for: 'f-state' }, t('tenants.state')), stateSelect),
    h('div', { class: 'field' }, h('label', { for: 'f-plan' }, t('tenants.plan')), planSelect),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, t('common.apply'))));
  filters.addEventListener('submit', (event) => {
    event.preventDefault();
    const query = new URLSearchParams();
    if (searchInput.value.trim()) query.set('q', searchInput.value.trim());
    if (stateSelect.value) query.set('state', stateSelect.value);
    if (planSelect.value) query.set('plan', planSelect.value);
    navigate(`${href('tenants')}${query.size ? `?${query}` : ''}`);
  });
  const results = h('section', { 'aria-live': 'polite' }, loading());
  main.append(
    h('div', { class: 'toolbar' }, h('a', { class: 'button', href: href('tenants', 'new') }, t('tenants.onboard'))),
    filters,
    results,
  );

  const conditions = [state && `state = ${state}`, plan && `plan = ${plan}`].filter(Boolean).join(' AND ');
  try {
    const response = await call<ListTenantsResponse>('GET', '/v1/tenants', undefined, { filter: conditions, pageToken: page, pageSize: 50 });
    const needle = search.toLowerCase();
    const tenants = (response.tenants ?? []).filter(
      (tenant) => !needle || tenant.tenantId.toLowerCase().includes(needle) || tenant.displayName.toLowerCase().includes(needle));
    results.replaceChildren(
      tenants.length === 0
        ? empty('tenants.empty')
        : table(['tenants.id', 'tenants.name', 'tenants.state', 'tenants.plan', 'usage.devices', 'usage.ingest',
            'usage.stored', 'usage.apps', 'tenants.created'],
            tenants.map((tenant) => [
              h('a', { href: href('tenants', tenant.tenantId) }, tenant.tenantId),
              text(tenant.displayName),
              stateBadge(tenant.state),
              text(enumName(tenant.plan)),
              ...usageCells(tenant.tenantId),
              text(formatTime(tenant.createTime)),
            ]), 'tenants.title'),
      pager(route, response.nextPageToken),
    );
  } catch (error) {
    results.replaceChildren(errorBox(error));
  }
}

// The four usage cells of a tenant's row, "…" until its GetTenantUsage answers (each row asks on its own, so one slow
// tenant does not hold up the list), "unavailable" if it fails.
function usageCells(tenantId: string): HTMLElement[] {
  const cells = [0, 1, 2, 3].map(() => h('span', { class: 'usage', 'aria-busy': 'true' }, '…'));
  fetchUsage(tenantId).then(
    (usage) => usageFigures(usage).forEach((figure, i) => cells[i].replaceWith(figureNode(figure))),
    () => cells.forEach((cell) => cell.replaceWith(h('span', { class: 'usage' }, t('usage.unavailable')))),
  );
  return cells;
}

// "First page" and "Next page" links that keep the URL's filters.
export function pager(route: Route, next: string | undefined): HTMLElement {
  const links: HTMLElement[] = [];
  if (route.query.get('page')) {
    const first = new URLSearchParams(route.query);
    first.delete('page');
    links.push(h('a', { href: `${location.pathname}${first.size ? `?${first}` : ''}` }, t('common.firstPage')));
  }
  if (next) {
    const query = new URLSearchParams(route.query);
    query.set('page', next);
    links.push(h('a', { href: `${location.pathname}?${query}`, rel: 'next' }, t('common.nextPage')));
  }
  return h('nav', { class: 'pager', 'aria-label': t('common.paging') }, links);
}
