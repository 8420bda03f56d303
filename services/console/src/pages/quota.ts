// The park administrator's plan and quota form on the tenant page (UpdateTenant). Only the fields the user changed
// go in `update_mask`, with the etag the page read, so a change made meanwhile elsewhere is ABORTED, not overwritten.
import { ApiError, call, tenantPath } from '../api';
import { h } from '../dom';
import { t, type MessageKey } from '../i18n';
import type { Quota, Tenant } from '../types';
import { field, formErrorSlot, submitting } from '../ui';
import { enumName } from './labels';

export type QuotaField = keyof Quota;

// The quota's fields as the form shows them: the JSON name (in the body and the mask), the proto name (in the API's
// field violations) and the range the API accepts, copied from proto/parkbase/tenant/v1/tenant.proto's Quota. The
// API stays the judge; the range here only says the rule in the user's language beside the field.
export const quotaFields: readonly { name: QuotaField; proto: string; label: MessageKey; min: number; max: number }[] = [
  { name: 'maxDevices', proto: 'max_devices', label: 'tenantQuota.maxDevices', min: 1, max: 10_000_000 },
  { name: 'maxIngestPointsPerSecond', proto: 'max_ingest_points_per_second', label: 'tenantQuota.maxIngest', min: 1, max: 100_000_000 },
  { name: 'retentionDays', proto: 'retention_days', label: 'tenantQuota.retentionDays', min: 1, max: 3650 },
  { name: 'maxInstalledApps', proto: 'max_installed_apps', label: 'tenantQuota.maxInstalledApps', min: 0, max: 1000 },
];

export const plans = ['PLAN_FREE', 'PLAN_STANDARD', 'PLAN_ENTERPRISE'] as const;

export interface QuotaEdit {
  plan: string;
  // The inputs' text, as typed.
  quota: Partial<Record<QuotaField, string>>;
}

// The UpdateTenant body and `update_mask` for what differs from `tenant`: null when nothing does. A quota field is
// sent only when it changed, so one stale field cannot undo another administrator's change to a different one
// (the etag refuses the whole update anyway when anything changed). Throws an ApiError with a field violation when
// a field is not a whole number, as the API would.
export function quotaUpdate(tenant: Tenant, edit: QuotaEdit): { body: Partial<Tenant>; mask: string[] } | null {
  const mask: string[] = [];
  const quota: Quota = {};
  if (edit.plan !== (tenant.plan ?? 'PLAN_FREE')) mask.push('plan');
  for (const { name, proto } of quotaFields) {
    const typed = (edit.quota[name] ?? '').trim();
    if (typed === String(tenant.quota?.[name] ?? '')) continue;
    if (!/^-?\d{1,12}$/.test(typed)) {
      throw new ApiError(400, 'INVALID_ARGUMENT', `tenant.quota.${proto}: must be a whole number`, [
        { field: `tenant.quota.${proto}`, description: t('tenantQuota.wholeNumber') },
      ]);
    }
    // int64 travels as a string in proto3 JSON, int32 as a number; the API reads either.
    (quota as Record<string, string>)[name] = typed;
    mask.push(`quota.${name}`);
  }
  if (mask.length === 0) return null;
  const body: Partial<Tenant> = { name: tenant.name, etag: tenant.etag };
  if (mask.includes('plan')) body.plan = edit.plan as Tenant['plan'];
  if (Object.keys(quota).length > 0) body.quota = quota;
  return { body, mask };
}

// `onSaved` runs after the API accepted the change (the tenant page renders itself again from the stored tenant).
export function quotaForm(id: string, tenant: Tenant, onSaved: () => void): HTMLFormElement {
  const plan = h('select', { name: 'plan', 'data-api-field': 'tenant.plan' },
    ...plans.map((p) => h('option', { value: p, selected: p === (tenant.plan ?? 'PLAN_FREE') }, enumName(p))));
  const inputs = quotaFields.map((spec) => {
    const input = h('input', {
      type: 'number', name: spec.proto, inputmode: 'numeric', min: spec.min, max: spec.max, step: 1,
      value: String(tenant.quota?.[spec.name] ?? ''), 'data-api-field': `tenant.quota.${spec.proto}`,
      // What a violation on this field means, in the user's language (ui.ts puts it beside the field).
      'data-rule': t('tenantQuota.range', { min: spec.min, max: spec.max }),
    });
    return { spec, input };
  });
  const status = h('p', { class: 'muted', role: 'status', 'data-testid': 'quota-status' });
  const form = h('form', { class: 'card', novalidate: true, 'aria-labelledby': 'quota-title', 'data-testid': 'quota-form' },
    h('h2', { id: 'quota-title' }, t('tenantQuota.title')),
    h('p', {}, t('tenantQuota.hint')),
    h('div', { class: 'narrow' }, field('tenants.plan', plan, 'tenantQuota.planHint')),
    h('div', { class: 'quota-fields' }, inputs.map(({ spec, input }) => field(spec.label, input))),
    formErrorSlot(),
    status,
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, t('tenantQuota.save'))));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    status.textContent = '';
    void submitting(form, async () => {
      const update = quotaUpdate(tenant, {
        plan: plan.value,
        quota: Object.fromEntries(inputs.map(({ spec, input }) => [spec.name, input.value])),
      });
      if (!update) {
        status.textContent = t('tenantQuota.unchanged');
        return;
      }
      await call<Tenant>('PATCH', tenantPath(id), update.body, { updateMask: update.mask.join(',') });
      onSaved();
    });
  });
  return form;
}
