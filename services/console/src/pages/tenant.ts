// One tenant, for the park administrator: its state, plan and use of its quota, its plan and quota to edit, suspend (with a reason)
// and resume, delete after typing its id, and minting its first tenant administrator key (the secret shown once).
import { call, tenantPath } from '../api';
import type { Session } from '../auth';
import { h } from '../dom';
import { formatTime, t } from '../i18n';
import { href, navigate, type Route } from '../router';
import type { Tenant } from '../types';
import { confirmDialog, errorBox, field, formErrorSlot, loading, pageTitle, showSecret, submitting } from '../ui';
import { enumName, stateBadge } from './labels';
import { quotaForm } from './quota';
import { fetchUsage, figureNode, usageFigures } from '../usage';
import { renderApp } from '../app';

export async function renderTenant(main: HTMLElement, route: Route, session: Session): Promise<void> {
  const id = route.segments[1];
  pageTitle(main, 'tenantPage.title', { tenant: id });
  const body = h('div', {}, loading());
  main.append(h('p', { class: 'links' },
    h('a', { href: href('tenants') }, t('tenantPage.back')),
    h('a', { href: `${href('audit')}?${new URLSearchParams({ tenant: id })}` }, t('tenantPage.audit'))), body);
  let tenant: Tenant;
  try {
    tenant = await call<Tenant>('GET', tenantPath(id));
  } catch (error) {
    body.replaceChildren(errorBox(error));
    return;
  }
  const suspended = tenant.state === 'TENANT_STATE_SUSPENDED';
  const facts = h('dl', { class: 'facts' },
    h('dt', {}, t('tenants.name')), h('dd', {}, tenant.displayName),
    h('dt', {}, t('tenants.state')), h('dd', {}, stateBadge(tenant.state)),
    suspended ? h('dt', {}, t('tenantPage.reason')) : null, suspended ? h('dd', {}, tenant.suspendReason ?? '') : null,
    h('dt', {}, t('tenants.plan')), h('dd', {}, enumName(tenant.plan)),
    h('dt', {}, t('tenantPage.code')), h('dd', {}, tenant.code ?? ''),
    h('dt', {}, t('tenantNew.email')), h('dd', {}, tenant.contactEmail ?? ''),
    h('dt', {}, t('tenants.created')), h('dd', {}, formatTime(tenant.createTime)));

  // Suspend with a reason, or resume.
  const reason = h('input', { type: 'text', name: 'reason' });
  const stateForm = h('form', { class: 'card', novalidate: true },
    h('h2', {}, suspended ? t('tenantPage.resumeTitle') : t('tenantPage.suspendTitle')),
    suspended ? h('p', {}, t('tenantPage.resumeHint')) : field('tenantPage.reason', reason, 'tenantPage.reasonHint'),
    formErrorSlot(),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: suspended ? '' : 'danger' }, suspended ? t('tenantPage.resume') : t('tenantPage.suspend'))));
  stateForm.addEventListener('submit', (event) => {
    event.preventDefault();
    void submitting(stateForm, async () => {
      if (suspended) await call('POST', `${tenantPath(id)}:resume`, {});
      else await call('POST', `${tenantPath(id)}:suspend`, { reason: reason.value.trim() });
      renderApp();
    });
  });

  // The tenant's administrator key.
  const keyName = h('input', { type: 'text', name: 'display_name', value: t('tenantPage.keyDefaultName'), 'data-api-field': 'api_key.display_name' });
  const keyForm = h('form', { class: 'card', novalidate: true },
    h('h2', {}, t('tenantPage.mintTitle')),
    h('p', {}, t('tenantPage.mintHint')),
    field('keys.name', keyName),
    formErrorSlot(),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, t('tenantPage.mint'))));
  keyForm.addEventListener('submit', (event) => {
    event.preventDefault();
    void submitting(keyForm, async () => {
      const created = await call<{ secret: string }>('POST', tenantPath(id, 'apiKeys'), {
        displayName: keyName.value.trim(),
        role: 'ROLE_TENANT_ADMIN',
      });
      showSecret(created.secret);
    });
  });

  // Delete, after typing the id; the API deletes only a suspended tenant, so that it always takes two steps.
  const deleteForm = h('form', { class: 'card danger-zone' },
    h('h2', {}, t('tenantPage.deleteTitle')),
    h('p', {}, t(suspended ? 'tenantPage.deleteHint' : 'tenantPage.deleteNeedsSuspend')),
    formErrorSlot(),
    suspended ? h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'danger' }, t('tenantPage.delete'))) : null);
  deleteForm.addEventListener('submit', (event) => {
    event.preventDefault();
    void submitting(deleteForm, async () => {
      if (!(await confirmDialog('tenantPage.deleteTitle', t('tenantPage.deleteConfirm', { tenant: id }), 'tenantPage.delete', id))) return;
      await call('DELETE', tenantPath(id), undefined, { etag: tenant.etag });
      navigate(href('tenants'));
    });
  });
  // The router opens this page to park keys only; the check repeats it here because a tenant administrator may
  // change only the display name and contact email (UpdateTenant refuses the rest), so is never offered the quota.
  const quota = session.scope === 'park' ? [quotaForm(id, tenant, renderApp)] : [];
  body.replaceChildren(facts, usageSection(id), ...quota, h('div', { class: 'grid' }, stateForm, keyForm), deleteForm);
}

// What the tenant uses of its quota, read when the page opens.
function usageSection(id: string): HTMLElement {
  const section = h('section', { class: 'card', 'data-testid': 'usage', 'aria-labelledby': 'usage-title' },
    h('h2', { id: 'usage-title' }, t('usage.title')), loading());
  fetchUsage(id).then(
    (usage) => {
      const list = h('dl', { class: 'usage-list' },
        ...usageFigures(usage).flatMap((figure) => [h('dt', {}, t(figure.label)), h('dd', {}, figureNode(figure))]));
      section.replaceChildren(section.firstChild as Node, list,
        h('p', { class: 'muted' }, t('usage.readAt', { time: formatTime(usage.readTime) })));
    },
    (error) => section.replaceChildren(section.firstChild as Node, errorBox(error)),
  );
  return section;
}
