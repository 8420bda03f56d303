// Names of the API's enum values in the user's language.
import { t, type MessageKey } from '../i18n';
import { badge } from '../ui';

const names: Record<string, MessageKey> = {
  TENANT_STATE_ACTIVE: 'state.active',
  TENANT_STATE_SUSPENDED: 'state.suspended',
  PLAN_FREE: 'plan.free',
  PLAN_STANDARD: 'plan.standard',
  PLAN_ENTERPRISE: 'plan.enterprise',
  ROLE_PARK_ADMIN: 'role.parkAdmin',
  ROLE_TENANT_ADMIN: 'role.tenantAdmin',
  ROLE_DEVELOPER: 'role.developer',
  ROLE_DEVICE: 'role.device',
  ROLE_PROVIDER: 'role.provider',
  ROLE_APP: 'role.app',
  DEVICE_STATE_PROVISIONED: 'deviceState.provisioned',
  DEVICE_STATE_ACTIVE: 'deviceState.active',
  DEVICE_STATE_DISABLED: 'deviceState.disabled',
  VALUE_TYPE_DOUBLE: 'valueType.double',
  VALUE_TYPE_INT64: 'valueType.int64',
  VALUE_TYPE_BOOL: 'valueType.bool',
  VALUE_TYPE_STRING: 'valueType.string',
};

export function enumName(value: string | undefined): string {
  return value && names[value] ? t(names[value]) : (value ?? '');
}

export function stateBadge(state: string | undefined): HTMLElement {
  const tone = state === 'TENANT_STATE_ACTIVE' || state === 'DEVICE_STATE_ACTIVE' ? 'ok' : state?.endsWith('SUSPENDED') || state?.endsWith('DISABLED') ? 'warn' : 'off';
  return badge(enumName(state), tone);
}
