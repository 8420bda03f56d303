// One device: its registry entry, its latest value of each metric (GetLatest), refreshed on demand, and a chart of
// its numeric metrics over a range kept in the URL: live (the last ten minutes of raw points, then Subscribe) or the
// last hour, day or week (Aggregate, src/ranges.ts).
import { call, tenantPath } from '../api';
import { h } from '../dom';
import { formatDuration, formatNumber, formatTime, t } from '../i18n';
import { href, onLeave, type Route } from '../router';
import { LiveChart, RangeChart, windowSeconds, type MetricBuckets } from '../chart';
import { subscribe } from '../live';
import { aggregateWindow, parseRange, rangeLabels, ranges, summarize, type Range } from '../ranges';
import type { Bucket, DataPoint, Device, DeviceType } from '../types';
import { empty, errorBox, loading, pageTitle, table, text } from '../ui';
import { stateBadge } from './labels';
import { formatValue } from '../values';

// Links to the page in each range; the current one is marked (aria-current), so the choice is one click and a
// reload or a shared link keeps it.
function rangeSwitch(tenant: string, id: string, current: Range): HTMLElement {
  const page = href('t', tenant, 'devices', id);
  return h('nav', { class: 'range-switch', 'aria-label': t('deviceRange.label') },
    ranges.map((range) => h('a', {
      href: range === 'live' ? page : `${page}?${new URLSearchParams({ range })}`,
      class: range === current ? 'button' : 'button secondary',
      'aria-current': range === current ? 'true' : null,
    }, t(rangeLabels[range]))));
}

export async function renderDevice(main: HTMLElement, route: Route): Promise<void> {
  const tenant = route.segments[1];
  const id = route.segments[3];
  const range = parseRange(route.query.get('range'));
  pageTitle(main, 'devicePage.title', { device: id });
  const body = h('div', {}, loading());
  main.append(h('p', {}, h('a', { href: href('t', tenant, 'devices') }, t('devicePage.back'))), body);
  let device: Device;
  let type: DeviceType | null;
  try {
    device = await call<Device>('GET', tenantPath(tenant, 'devices', id));
    type = await call<DeviceType>('GET', tenantPath(tenant, 'deviceTypes', device.deviceTypeId)).catch(() => null);
  } catch (error) {
    body.replaceChildren(errorBox(error));
    return;
  }
  const units: Record<string, string> = Object.fromEntries((type?.metrics ?? []).map((m) => [m.name, m.unit ?? '']));
  const facts = h('dl', { class: 'facts' },
    h('dt', {}, t('devices.name')), h('dd', {}, device.displayName || '—'),
    h('dt', {}, t('devices.type')), h('dd', {}, device.deviceTypeId),
    h('dt', {}, t('devices.serial')), h('dd', {}, device.serialNumber),
    h('dt', {}, t('devices.state')), h('dd', {}, stateBadge(device.state)),
    h('dt', {}, t('devices.labels')), h('dd', {}, Object.entries(device.labels ?? {}).map(([k, v]) => `${k}=${v}`).join(', ')),
    h('dt', {}, t('devices.lastSeen')), h('dd', {}, device.lastSeenTime ? formatTime(device.lastSeenTime) : t('devices.never')));
  const latest = h('section', { 'aria-live': 'polite', 'data-testid': 'latest' });
  const chart = range === 'live' ? new LiveChart(units) : null;
  let latestValues: DataPoint[] = [];
  const refresh = async () => {
    latest.replaceChildren(loading());
    try {
      const response = await call<{ values?: DataPoint[] }>('POST', `${tenantPath(tenant)}/telemetry:latest`, { devices: [id] });
      const values = (latestValues = response.values ?? []);
      chart?.add(values);
      latest.replaceChildren(values.length === 0 ? empty('devicePage.noValues') : table(
        ['devicePage.metric', 'devicePage.value', 'devicePage.time'],
        values.map((point) => [text(point.metric), text(formatValue(point.value, units[point.metric])), text(formatTime(point.time))]),
        'devicePage.latest'));
    } catch (error) {
      latest.replaceChildren(errorBox(error));
    }
  };
  const stop = new AbortController();
  const chartSection = h('section', {});
  body.replaceChildren(facts,
    h('div', { class: 'section-head' }, h('h2', {}, t('devicePage.latest')),
      h('button', { type: 'button', class: 'secondary', onclick: () => void refresh() }, t('devicePage.refresh'))),
    latest,
    h('div', { class: 'section-head' },
      h('h2', {}, range === 'live' ? t('devicePage.live') : t('deviceRange.title', { range: t(rangeLabels[range]) })),
      rangeSwitch(tenant, id, range)),
    chartSection);
  if (range !== 'live') {
    onLeave(() => stop.abort());
    await refresh();
    // The numeric metrics of the device's type; without the type (not readable), those the latest values show.
    const metrics = type
      ? (type.metrics ?? []).filter((m) => m.valueType === 'VALUE_TYPE_DOUBLE' || m.valueType === 'VALUE_TYPE_INT64').map((m) => m.name)
      : latestValues.filter((p) => p.value.doubleValue !== undefined || p.value.intValue !== undefined).map((p) => p.metric);
    await aggregates(chartSection, tenant, id, range, metrics, units, stop.signal);
    return;
  }
  if (chart) await live(chartSection, tenant, id, chart, refresh, stop);
}

// The live range: the chart subscribed, then the latest values read (`refresh`), then the chart's window before the
// page opened read from ReadRange: a point committed in between is in one or the other.
async function live(section: HTMLElement, tenant: string, id: string, chart: LiveChart, refresh: () => Promise<void>,
                    stop: AbortController): Promise<void> {
  section.append(chart.element);
  onLeave(() => {
    stop.abort();
    chart.destroy();
  });
  subscribe(tenant, [id], {
    onOpen: () => chart.setState('live'),
    onPoints: (points) => chart.add(points),
    onError: (status) => chart.setState(status === 401 || status === 403 || status === 404 ? 'refused' : 'retrying'),
  }, stop.signal);
  await refresh();
  // At most a few pages: the chart keeps 6,000 points a metric.
  const end = new Date();
  const start = new Date(end.getTime() - windowSeconds * 1000);
  let pageToken = '';
  try {
    for (let page = 0; page < 6 && !stop.signal.aborted; ++page) {
      const response = await call<{ points?: DataPoint[]; nextPageToken?: string }>(
        'POST', `${tenantPath(tenant)}/telemetry:readRange`,
        { device: id, startTime: start.toISOString(), endTime: end.toISOString(), pageSize: 10000, pageToken: pageToken || undefined });
      chart.add(response.points ?? []);
      pageToken = response.nextPageToken ?? '';
      if (!pageToken) break;
    }
  } catch {
    // The latest values and the live stream still show; the table above shows a refusal.
  } finally {
    chart.element.dataset.history = 'loaded';
  }
}

// The last hour, day or week of each numeric metric as Aggregate buckets (one call a metric: Aggregate takes one),
// drawn as a chart and summed up in a table. The section says its state in data-state (loading, loaded, empty,
// error) for the end-to-end test.
async function aggregates(section: HTMLElement, tenant: string, id: string, range: Exclude<Range, 'live'>,
                          metrics: string[], units: Record<string, string>, signal: AbortSignal): Promise<void> {
  const box = h('div', { 'data-testid': 'range-chart', 'data-range': range, 'data-state': 'loading', 'aria-live': 'polite' }, loading());
  section.replaceChildren(box);
  const done = (state: string, ...content: Node[]) => {
    box.dataset.state = state;
    box.replaceChildren(...content);
  };
  if (metrics.length === 0) return done('empty', empty('deviceRange.noMetrics'));
  const { startMs, endMs, bucketSeconds } = aggregateWindow(range, Date.now());
  let series: MetricBuckets[];
  try {
    series = await Promise.all(metrics.map(async (metric) => {
      const response = await call<{ buckets?: Bucket[] }>('POST', `${tenantPath(tenant)}/telemetry:aggregate`, {
        devices: [id], metric, startTime: new Date(startMs).toISOString(), endTime: new Date(endMs).toISOString(), bucket: `${bucketSeconds}s`,
      });
      return { metric, buckets: response.buckets ?? [] };
    }));
  } catch (error) {
    return done('error', errorBox(error));
  }
  if (signal.aborted) return;
  const figures = series.map((s) => ({ metric: s.metric, summary: summarize(s.buckets) })).filter((f) => f.summary !== null);
  if (figures.length === 0) return done('empty', empty('deviceRange.empty'));
  const chart = new RangeChart(t('deviceRange.chartLabel', { range: t(rangeLabels[range]) }), units);
  const shown = (value: number, metric: string) => `${formatNumber(value, { maximumFractionDigits: 6 })}${units[metric] ? ` ${units[metric]}` : ''}`;
  done('loaded',
    h('p', { class: 'muted' }, t('deviceRange.window', {
      start: formatTime(new Date(startMs).toISOString()), end: formatTime(new Date(endMs).toISOString()), bucket: formatDuration(bucketSeconds),
    })),
    chart.element,
    table(['devicePage.metric', 'deviceRange.points', 'deviceRange.min', 'deviceRange.avg', 'deviceRange.max'],
      figures.map(({ metric, summary }) => [
        text(metric), text(formatNumber(summary!.count)), text(shown(summary!.min, metric)), text(shown(summary!.avg, metric)), text(shown(summary!.max, metric)),
      ]), 'deviceRange.summary'));
  // Drawn once in the page, so the chart takes the width it has.
  chart.draw(series, startMs, endMs);
  onLeave(() => chart.destroy());
}
