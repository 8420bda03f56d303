// A tenant's use of its quota (TenantService.GetTenantUsage) as "used / limit" figures, for the tenants list and the
// tenant page. The API reads the figures on request, so the list asks once per tenant it shows.
import { call, tenantPath } from './api';
import { h } from './dom';
import { formatBytes, formatNumber, t, type MessageKey } from './i18n';
import type { TenantUsage } from './types';

export function fetchUsage(tenantId: string): Promise<TenantUsage> {
  return call<TenantUsage>('GET', tenantPath(tenantId, 'usage'));
}

export interface UsageFigure {
  label: MessageKey;
  text: string;
  // used / limit, for the figures that have a limit.
  ratio?: number;
}

// From this share of a limit on, a figure is marked: the tenant is about to be refused.
export const nearLimit = 0.9;

function count(value: string | number | undefined): number {
  return Number(value ?? 0);
}

function usedOf(used: number, limit: number, options: Intl.NumberFormatOptions = {}): string {
  return t('usage.ofLimit', { used: formatNumber(used, options), limit: formatNumber(limit) });
}

export function usageFigures(usage: TenantUsage): UsageFigure[] {
  const quota = usage.quota ?? {};
  const devices = count(usage.devices);
  const maxDevices = count(quota.maxDevices);
  const apps = count(usage.installedApps);
  const maxApps = count(quota.maxInstalledApps);
  const maxRate = count(quota.maxIngestPointsPerSecond);
  const rate = usage.ingestPointsPerSecond;
  return [
    { label: 'usage.devices', text: usedOf(devices, maxDevices), ratio: maxDevices ? devices / maxDevices : undefined },
    rate === undefined
      ? { label: 'usage.ingest', text: t('usage.unknown') }
      : { label: 'usage.ingest', text: usedOf(rate, maxRate, { maximumFractionDigits: 1 }), ratio: maxRate ? rate / maxRate : undefined },
    { label: 'usage.stored', text: formatBytes(count(usage.storedBytes)) },
    // A limit of 0 apps means "no marketplace apps": any install is over it.
    { label: 'usage.apps', text: usedOf(apps, maxApps), ratio: maxApps ? apps / maxApps : apps > 0 ? 1 : 0 },
  ];
}

// A figure as a table cell or description: its text, marked (and announced) when near or over its limit.
export function figureNode(figure: UsageFigure): HTMLElement {
  const near = figure.ratio !== undefined && figure.ratio >= nearLimit;
  return h('span', { class: near ? 'usage near-limit' : 'usage', 'data-usage': figure.label.slice('usage.'.length) },
    figure.text, near ? h('span', { class: 'visually-hidden' }, ` (${t('usage.nearLimit')})`) : null);
}
