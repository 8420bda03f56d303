// What the marketplace pages share: prices in CNY from integer fen, ratings from thousandths of a star, and the
// install form's grant as InstallAppRequest.grant wants it.
import { formatNumber, t } from '../i18n';
import type { Grant, Pricing } from '../types';
import { enumName } from './labels';
import { parseLabels } from './devices';

// "¥30.00 per device a month"; fen are integers (int64 as a string in JSON) and stay exact up to 2^53.
export function priceText(pricing: Pricing | undefined): string {
  if (!pricing?.model) return '';
  if (pricing.model === 'PRICING_MODEL_FREE') return enumName(pricing.model);
  const amount = formatNumber(Number(pricing.priceFen ?? 0) / 100, { style: 'currency', currency: 'CNY' });
  return `${amount} ${enumName(pricing.model)}`;
}

// "4.5 ★ (2)", or that there is no rating yet.
export function ratingText(milli: number | undefined, count: number | undefined): string {
  if (!count) return t('market.noRatings');
  return t('market.rating', { stars: formatNumber((milli ?? 0) / 1000, { maximumFractionDigits: 1 }), count });
}

// The grant of the install form: the ticked scopes, a device label selector ("line=a, zone=3") and metrics
// ("temp, rpm"). Null when the labels are not key=value pairs.
export function grantFrom(scopes: string[], labelsText: string, metricsText: string): Grant | null {
  const labels = parseLabels(labelsText);
  if (!labels) return null;
  const metrics = metricsText.split(',').map((m) => m.trim()).filter(Boolean);
  const dataScope: NonNullable<Grant['dataScope']> = {};
  if (Object.keys(labels).length > 0) dataScope.deviceLabels = labels;
  if (metrics.length > 0) dataScope.metrics = metrics;
  return Object.keys(dataScope).length > 0 ? { scopes, dataScope } : { scopes };
}

// "line=a; metrics: temp" for a grant's data scope, or that it reaches every device.
export function dataScopeText(grant: Grant | undefined): string {
  const labels = Object.entries(grant?.dataScope?.deviceLabels ?? {}).map(([k, v]) => `${k}=${v}`).join(', ');
  const metrics = (grant?.dataScope?.metrics ?? []).join(', ');
  const parts = [labels ? t('market.scopeDevices', { labels }) : t('market.scopeAllDevices')];
  if (metrics) parts.push(t('market.scopeMetrics', { metrics }));
  return parts.join('; ');
}
