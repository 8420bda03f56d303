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
  CATEGORY_MES: 'category.mes',
  CATEGORY_EAM: 'category.eam',
  CATEGORY_ENERGY_MANAGEMENT: 'category.energyManagement',
  CATEGORY_QUALITY_INSPECTION: 'category.qualityInspection',
  CATEGORY_PREDICTIVE_MAINTENANCE: 'category.predictiveMaintenance',
  CATEGORY_AI_MODEL: 'category.aiModel',
  CATEGORY_OTHER: 'category.other',
  PRICING_MODEL_FREE: 'pricing.free',
  PRICING_MODEL_PER_DEVICE_MONTHLY: 'pricing.perDeviceMonthly',
  PRICING_MODEL_FLAT_MONTHLY: 'pricing.flatMonthly',
  VERSION_STATE_DRAFT: 'versionState.draft',
  VERSION_STATE_SUBMITTED: 'versionState.submitted',
  VERSION_STATE_APPROVED: 'versionState.approved',
  VERSION_STATE_REJECTED: 'versionState.rejected',
  VERSION_STATE_PUBLISHED: 'versionState.published',
  VERSION_STATE_DEPRECATED: 'versionState.deprecated',
  INSTALLATION_STATE_ACTIVE: 'installationState.active',
  INSTALLATION_STATE_UNINSTALLED: 'installationState.uninstalled',
};

// The grant scopes by their camel-cased names (devices.read -> devicesRead): quoted with its dot, a scope would read
// as a message key of the devices namespace to test/i18n.test.ts.
const scopes: Record<string, MessageKey> = {
  devicesRead: 'scope.devicesRead',
  telemetryRead: 'scope.telemetryRead',
  telemetryWrite: 'scope.telemetryWrite',
};

// A grant scope in the user's language, with the scope itself in brackets: "读取遥测 (telemetry.read)".
export function scopeName(scope: string): string {
  const key = scopes[scope.replace(/\.(\w)/g, (_, c: string) => c.toUpperCase())];
  return key ? `${t(key)} (${scope})` : scope;
}

export const categories = ['CATEGORY_MES', 'CATEGORY_EAM', 'CATEGORY_ENERGY_MANAGEMENT', 'CATEGORY_QUALITY_INSPECTION',
  'CATEGORY_PREDICTIVE_MAINTENANCE', 'CATEGORY_AI_MODEL', 'CATEGORY_OTHER'];

export function enumName(value: string | undefined): string {
  return value && names[value] ? t(names[value]) : (value ?? '');
}

export function stateBadge(state: string | undefined): HTMLElement {
  const tone = state === 'TENANT_STATE_ACTIVE' || state === 'DEVICE_STATE_ACTIVE' || state === 'INSTALLATION_STATE_ACTIVE' ? 'ok' : state?.endsWith('SUSPENDED') || state?.endsWith('DISABLED') ? 'warn' : 'off';
  return badge(enumName(state), tone);
}
