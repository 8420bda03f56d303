// A tenant's API keys: create (the secret shown once), list, revoke.
import { call, tenantPath } from '../api';
import { h } from '../dom';
import { formatTime, t } from '../i18n';
import { type Route } from '../router';
import type { ApiKey } from '../types';
import { confirmDialog, empty, errorBox, field, formErrorSlot, loading, pageTitle, showSecret, submitting, table, text } from '../ui';
import { enumName } from './labels';
import { renderApp } from '../app';

export async function renderKeys(main: HTMLElement, route: Route): Promise<void> {
  const tenant = route.segments[1];
  pageTitle(main, 'keys.title');
  const name = h('input', { type: 'text', name: 'display_name', 'data-api-field': 'api_key.display_name' });
  const role = h('select', { name: 'role', 'data-api-field': 'api_key.role' },
    ...['ROLE_DEVELOPER', 'ROLE_TENANT_ADMIN'].map((r) => h('option', { value: r }, enumName(r))));
  const form = h('form', { class: 'card', novalidate: true },
    h('h2', {}, t('keys.create')),
    h('div', { class: 'row' }, field('keys.name', name), field('keys.role', role)),
    formErrorSlot(),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, t('keys.createButton'))));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void submitting(form, async () => {
      const created = await call<{ secret: string }>('POST', tenantPath(tenant, 'apiKeys'), { displayName: name.value.trim(), role: role.value });
      showSecret(created.secret).addEventListener('close', renderApp);
    });
  });
  const list = h('section', { 'aria-live': 'polite' }, loading());
  main.append(form, h('h2', {}, t('keys.list')), list);
  try {
    const response = await call<{ apiKeys?: ApiKey[] }>('GET', tenantPath(tenant, 'apiKeys'), undefined, { pageSize: 200 });
    const keys = response.apiKeys ?? [];
    list.replaceChildren(keys.length === 0 ? empty('keys.empty') : table(
      ['keys.id', 'keys.name', 'keys.role', 'keys.created', 'keys.state', 'common.actions'],
      keys.map((key) => [
        h('code', {}, key.keyId),
        text(key.displayName),
        text(enumName(key.role)),
        text(formatTime(key.createTime)),
        text(key.revokeTime ? t('keys.revokedAt', { time: formatTime(key.revokeTime) }) : t('keys.active')),
        key.revokeTime ? text('') : h('button', {
          type: 'button', class: 'danger small', 'aria-label': t('keys.revokeNamed', { name: key.displayName }),
          onclick: async () => {
            if (!(await confirmDialog('keys.revokeTitle', t('keys.revokeConfirm', { name: key.displayName }), 'keys.revoke'))) return;
            try {
              await call('POST', `${tenantPath(tenant, 'apiKeys', key.keyId)}:revoke`, {});
              renderApp();
            } catch (error) {
              list.prepend(errorBox(error));
            }
          },
        }, t('keys.revoke')),
      ]), 'keys.list'));
  } catch (error) {
    list.replaceChildren(errorBox(error));
  }
}
