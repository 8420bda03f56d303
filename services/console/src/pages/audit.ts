// The audit log (TenantService.ListAuditEvents), newest first with paging: for a tenant its own, for the park
// administrator any tenant's, chosen by its id (kept in the URL with the page token, like the other lists).
import { call, tenantPath } from '../api';
import { h } from '../dom';
import { formatTime, t } from '../i18n';
import { href, navigate, type Route } from '../router';
import type { Session } from '../auth';
import type { AuditEvent } from '../types';
import { empty, errorBox, field, loading, pageTitle, table, text } from '../ui';
import { enumName } from './labels';
import { pager } from './tenants';

// Events a page unless the URL says otherwise (?size=): enough for a screen, few enough that paging is used.
const kPageSize = 20;

export async function renderAudit(main: HTMLElement, route: Route, current: Session): Promise<void> {
  const park = current.scope === 'park';
  const tenant = park ? (route.query.get('tenant') ?? '').trim() : route.segments[1];
  pageTitle(main, 'audit.title');
  if (park) {
    const tenantInput = h('input', { type: 'text', name: 'tenant', value: tenant, autocomplete: 'off' });
    const form = h('form', { class: 'filters', role: 'search' },
      field('audit.tenant', tenantInput),
      h('div', { class: 'actions' }, h('button', { type: 'submit' }, t('audit.show'))));
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const id = tenantInput.value.trim();
      navigate(`${href('audit')}${id ? `?${new URLSearchParams({ tenant: id })}` : ''}`);
    });
    main.append(form);
  }
  const list = h('section', { 'aria-live': 'polite' }, tenant ? loading() : empty('audit.chooseTenant'));
  main.append(list);
  if (!tenant) return;
  try {
    const response = await call<{ auditEvents?: AuditEvent[]; nextPageToken?: string }>('GET', tenantPath(tenant, 'auditEvents'), undefined, {
      pageSize: Number(route.query.get('size') ?? kPageSize),
      pageToken: route.query.get('page') ?? '',
    });
    const events = response.auditEvents ?? [];
    list.replaceChildren(
      events.length === 0 ? empty('audit.empty') : table(
        ['audit.time', 'audit.actor', 'audit.role', 'audit.action', 'audit.resource', 'audit.details'],
        events.map((event) => [
          text(formatTime(event.time)),
          h('code', {}, event.actor ?? ''),
          text(enumName(event.actorRole)),
          h('strong', {}, event.action ?? ''),
          h('code', {}, event.resource ?? ''),
          h('code', { class: 'details' }, event.detailsJson ?? ''),
        ]), 'audit.title'),
      pager(route, response.nextPageToken));
  } catch (error) {
    list.replaceChildren(errorBox(error));
  }
}
