// Onboarding a tenant: the API validates, and its BadRequest field violations appear beside the fields.
import { call } from '../api';
import { h } from '../dom';
import { t } from '../i18n';
import { href, navigate } from '../router';
import type { Tenant } from '../types';
import { field, formErrorSlot, pageTitle, submitting } from '../ui';
import { enumName } from './labels';

export function renderTenantNew(main: HTMLElement): void {
  pageTitle(main, 'tenantNew.title');
  const id = h('input', { type: 'text', name: 'tenant_id', autocomplete: 'off', spellcheck: 'false' });
  const name = h('input', { type: 'text', name: 'display_name', 'data-api-field': 'tenant.display_name' });
  const email = h('input', { type: 'email', name: 'contact_email', 'data-api-field': 'tenant.contact_email' });
  const plan = h('select', { name: 'plan', 'data-api-field': 'tenant.plan' },
    ...['PLAN_FREE', 'PLAN_STANDARD', 'PLAN_ENTERPRISE'].map((p) => h('option', { value: p }, enumName(p))));
  const form = h('form', { class: 'card', novalidate: true },
    field('tenantNew.id', id, 'tenantNew.idHint'),
    field('tenantNew.name', name),
    field('tenantNew.plan', plan),
    field('tenantNew.email', email),
    formErrorSlot(),
    h('div', { class: 'actions' },
      h('button', { type: 'submit' }, t('tenantNew.submit')),
      h('a', { class: 'button secondary', href: href('tenants') }, t('common.cancel'))));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void submitting(form, async () => {
      const created = await call<Tenant>(
        'POST', '/v1/tenants',
        { displayName: name.value.trim(), plan: plan.value, contactEmail: email.value.trim() || undefined },
        { tenantId: id.value.trim() });
      navigate(href('tenants', created.tenantId));
    });
  });
  main.append(form);
}
