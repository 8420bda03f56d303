// @vitest-environment jsdom
// The console's small pieces of logic: reading a key's scope, the API's error model, the devices filter, the quota
// form's update, the device page's ranges and their buckets.
import { describe, expect, it } from 'vitest';
import { errorFromBody } from '../src/api';
import { authorization, parseKey, session, signIn, signOut } from '../src/auth';
import { deviceFilter, latestSummary, parseLabels } from '../src/pages/devices';
import { SseParser } from '../src/live';
import { setLocale } from '../src/i18n';
import { scopeName } from '../src/pages/labels';
import { dataScopeText, grantFrom, priceText, ratingText } from '../src/pages/market';
import { quotaUpdate } from '../src/pages/quota';
import { ApiError } from '../src/api';
import type { DataPoint, Tenant } from '../src/types';
import { aggregateWindow, parseRange, rangeSpecs, summarize } from '../src/ranges';
import { formatBytes, formatDuration } from '../src/i18n';
import { figureNode, nearLimit, usageFigures } from '../src/usage';

describe('auth', () => {
  it('reads the scope from the key and keeps it in sessionStorage only', () => {
    expect(parseKey('pbk.park.0123.abcd')).toEqual({ scope: 'park', tenant: 'park' });
    expect(parseKey(' pbk.acme.0123.abcd ')).toEqual({ scope: 'tenant', tenant: 'acme' });
    expect(parseKey('pbk.acme.0123')).toBeNull();
    expect(parseKey('Bearer pbk.acme.1.2')).toBeNull();
    expect(signIn('nonsense')).toBeNull();
    expect(session()).toBeNull();
    signIn('pbk.acme.0123.abcd');
    expect(session()).toEqual({ scope: 'tenant', tenant: 'acme' });
    expect(sessionStorage.getItem('parkbase.apiKey')).toBe('pbk.acme.0123.abcd');
    expect(localStorage.length).toBe(0);
    expect(authorization()).toEqual({ Authorization: 'Bearer pbk.acme.0123.abcd' });
    signOut();
    expect(session()).toBeNull();
    expect(authorization()).toEqual({});
  });
});

describe('api errors', () => {
  it('carry the BadRequest field violations', () => {
    const error = errorFromBody(400, {
      error: {
        code: 400, status: 'INVALID_ARGUMENT', message: 'tenant_id: bad',
        details: [
          { '@type': 'type.googleapis.com/google.rpc.BadRequest', fieldViolations: [{ field: 'tenant_id', description: 'bad' }] },
          { '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'X' },
        ],
      },
    });
    expect(error.status).toBe('INVALID_ARGUMENT');
    expect(error.message).toBe('tenant_id: bad');
    expect(error.violations).toEqual([{ field: 'tenant_id', description: 'bad' }]);
    expect(errorFromBody(502, 'not json').status).toBe('HTTP_502');
  });
});

describe('devices filter', () => {
  it('turns labels into the ListDevices filter', () => {
    expect(parseLabels('line=3, zone = A')).toEqual({ line: '3', zone: 'A' });
    expect(parseLabels('')).toEqual({});
    expect(parseLabels('line')).toBeNull();
    expect(deviceFilter('press', { line: '3', zone: 'a "b"' })).toBe('device_type = press AND labels.line = "3" AND labels.zone = "a \\"b\\""');
    expect(deviceFilter('', {})).toBe('');
  });
});

describe('server-sent events', () => {
  it('splits the stream into events across chunk boundaries', () => {
    const parser = new SseParser();
    expect(parser.push(': heartbeat\n\nid: 1\ndata: {"points":')).toEqual([]);
    expect(parser.push('[]}\n\nid: 2\r\ndata: {"a":1}\r\n\r\nevent: error\ndata: {"error":{}}\n\n')).toEqual([
      { event: 'message', data: '{"points":[]}' },
      { event: 'message', data: '{"a":1}' },
      { event: 'error', data: '{"error":{}}' },
    ]);
  });
});

describe('marketplace', () => {
  it('builds the install grant from the form', () => {
    expect(grantFrom(['telemetry.read'], '', '')).toEqual({ scopes: ['telemetry.read'] });
    expect(grantFrom(['telemetry.read', 'telemetry.write'], 'line=a, zone=3', ' temp, rpm ,')).toEqual({
      scopes: ['telemetry.read', 'telemetry.write'],
      dataScope: { deviceLabels: { line: 'a', zone: '3' }, metrics: ['temp', 'rpm'] },
    });
    expect(grantFrom(['devices.read'], 'line', '')).toBeNull();
  });

  it('shows prices from fen, ratings from thousandths, scopes and data scopes by name', () => {
    setLocale('en');
    expect(priceText({ model: 'PRICING_MODEL_PER_DEVICE_MONTHLY', priceFen: '3000' })).toBe('CN¥30.00 per device a month');
    expect(priceText({ model: 'PRICING_MODEL_FLAT_MONTHLY', priceFen: '123456' })).toBe('CN¥1,234.56 a month');
    expect(priceText({ model: 'PRICING_MODEL_FREE' })).toBe('Free');
    expect(ratingText(4500, 2)).toBe('4.5 stars (2 ratings)');
    expect(ratingText(0, 0)).toBe('Not rated yet');
    expect(scopeName('telemetry.write')).toBe('Write telemetry (telemetry.write)');
    expect(scopeName('unknown.scope')).toBe('unknown.scope');
    expect(dataScopeText({ scopes: [], dataScope: { deviceLabels: { line: 'a' }, metrics: ['temp'] } })).toBe('devices labelled line=a; metrics: temp');
    expect(dataScopeText({ scopes: [] })).toBe('every device');
    setLocale('zh-CN');
    expect(priceText({ model: 'PRICING_MODEL_PER_DEVICE_MONTHLY', priceFen: '3000' })).toBe('¥30.00 每台设备每月');
  });
});

describe('quota form', () => {
  const tenant: Tenant = {
    name: 'tenants/acme', tenantId: 'acme', displayName: 'Acme', plan: 'PLAN_STANDARD', etag: 'e1',
    quota: { maxDevices: '10000', maxIngestPointsPerSecond: '100000', retentionDays: 90, maxInstalledApps: 20 },
  };
  const unchanged = { maxDevices: '10000', maxIngestPointsPerSecond: '100000', retentionDays: '90', maxInstalledApps: '20' };

  it('sends only the changed fields, in the mask, with the etag read', () => {
    expect(quotaUpdate(tenant, { plan: 'PLAN_STANDARD', quota: unchanged })).toBeNull();
    expect(quotaUpdate(tenant, { plan: 'PLAN_STANDARD', quota: { ...unchanged, maxDevices: ' 2500 ', retentionDays: '30' } })).toEqual({
      body: { name: 'tenants/acme', etag: 'e1', quota: { maxDevices: '2500', retentionDays: '30' } },
      mask: ['quota.maxDevices', 'quota.retentionDays'],
    });
    expect(quotaUpdate(tenant, { plan: 'PLAN_ENTERPRISE', quota: unchanged })).toEqual({
      body: { name: 'tenants/acme', etag: 'e1', plan: 'PLAN_ENTERPRISE' },
      mask: ['plan'],
    });
  });

  it('leaves range checks to the API but refuses what is not a whole number beside its field', () => {
    expect(quotaUpdate(tenant, { plan: 'PLAN_STANDARD', quota: { ...unchanged, retentionDays: '0' } })?.mask).toEqual(['quota.retentionDays']);
    let error: unknown;
    try {
      quotaUpdate(tenant, { plan: 'PLAN_STANDARD', quota: { ...unchanged, maxInstalledApps: '1.5' } });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).violations.map((v) => v.field)).toEqual(['tenant.quota.max_installed_apps']);
  });
});

describe('device page ranges', () => {
  it('choose a bucket per range that gives 50 to 100 points, in whole minutes so rollups answer', () => {
    expect(rangeSpecs.hour.bucketSeconds).toBe(60);
    expect(rangeSpecs.day.bucketSeconds).toBe(15 * 60);
    expect(rangeSpecs.week.bucketSeconds).toBe(2 * 3600);
    for (const [range, { seconds, bucketSeconds }] of Object.entries(rangeSpecs)) {
      const points = seconds / bucketSeconds;
      expect(points, range).toBeGreaterThanOrEqual(50);
      expect(points, range).toBeLessThanOrEqual(100);
      expect(bucketSeconds % 60, range).toBe(0);
    }
    expect(rangeSpecs.week.bucketSeconds % 3600).toBe(0);
  });

  it('widen the window to whole epoch-aligned buckets that hold now', () => {
    const now = Date.parse('2026-03-05T10:37:12.345Z');
    expect(aggregateWindow('hour', now)).toEqual({
      startMs: Date.parse('2026-03-05T09:37:00Z'), endMs: Date.parse('2026-03-05T10:38:00Z'), bucketSeconds: 60 });
    expect(aggregateWindow('day', now)).toEqual({
      startMs: Date.parse('2026-03-04T10:30:00Z'), endMs: Date.parse('2026-03-05T10:45:00Z'), bucketSeconds: 900 });
    const week = aggregateWindow('week', now);
    expect([new Date(week.startMs).toISOString(), new Date(week.endMs).toISOString()]).toEqual(['2026-02-26T10:00:00.000Z', '2026-03-05T12:00:00.000Z']);
    expect((week.endMs - week.startMs) / 1000 / week.bucketSeconds).toBe(85);
  });

  it('read the range from the URL, live by default', () => {
    expect(parseRange('hour')).toBe('hour');
    expect(parseRange('week')).toBe('week');
    expect(parseRange(null)).toBe('live');
    expect(parseRange('year')).toBe('live');
  });

  it('sum the buckets up over the range, zeros left out of the JSON included', () => {
    expect(summarize([])).toBeNull();
    expect(summarize([
      { startTime: '2026-03-05T10:00:00Z', count: '3', min: -2, max: 4, avg: 1, sum: 3 },
      { startTime: '2026-03-05T10:01:00Z', count: '1', max: 9, avg: 9, sum: 9 },
    ])).toEqual({ count: 4, min: -2, max: 9, avg: 3 });
    expect(summarize([{ startTime: '2026-03-05T10:00:00Z', count: '2', min: 5, max: 7, avg: 6, sum: 12 }, { startTime: '2026-03-05T10:01:00Z', count: '1' }]))
      .toEqual({ count: 3, min: 0, max: 7, avg: 4 });
  });

  it("name the bucket in the user's language", () => {
    setLocale('en');
    expect([formatDuration(60), formatDuration(900), formatDuration(7200)]).toEqual(['1 minute', '15 minutes', '2 hours']);
    setLocale('zh-CN');
    expect(formatDuration(900)).toBe('15分钟');
  });
});

describe('usage', () => {
  it('puts each figure beside its limit and marks the ones near it', () => {
    setLocale('en');
    const figures = usageFigures({
      name: 'tenants/acme/usage', devices: '95', ingestPointsPerSecond: 12.34, storedBytes: '1234567', installedApps: 0,
      quota: { maxDevices: '100', maxIngestPointsPerSecond: '5000', retentionDays: 30, maxInstalledApps: 20 },
    });
    expect(figures.map((figure) => figure.text)).toEqual(['95 / 100', '12.3 / 5,000', '1.2 MB', '0 / 20']);
    expect(figures[0].ratio).toBeGreaterThanOrEqual(nearLimit);
    expect(figureNode(figures[0]).classList.contains('near-limit')).toBe(true);
    expect(figureNode(figures[3]).classList.contains('near-limit')).toBe(false);
  });
  it('reads the zero values the JSON leaves out as zero, and an uncounted ingest rate as such', () => {
    setLocale('zh-CN');
    const figures = usageFigures({ name: 'tenants/acme/usage', quota: { maxDevices: '10', maxInstalledApps: 0 } });
    expect(figures.map((figure) => figure.text)).toEqual(['0 / 10', '未统计', formatBytes(0), '0 / 0']);
    expect(formatBytes(0)).toMatch(/^0\s?(B|byte|字节)$/);
    expect(figures[3].ratio).toBe(0);
    setLocale('en');
  });
  it('formats bytes in decimal units', () => {
    setLocale('en');
    // ICU spells the byte unit "byte" or "B" depending on its version.
    expect(formatBytes(999)).toMatch(/^999\s?(byte|B)$/);
    expect(formatBytes(1000)).toBe('1 kB');
    expect(formatBytes(2_500_000_000)).toBe('2.5 GB');
  });
});

describe('devices list', () => {
  it('sums up a device\'s latest values in metric order with units, the rest counted', () => {
    setLocale('en');
    const point = (metric: string, value: DataPoint['value']): DataPoint => ({ device: 'd', metric, time: '2026-12-04T00:00:00Z', value });
    const points = [point('temp', { doubleValue: 1240.75 }), point('count', { intValue: '12000' }), point('on', { boolValue: true }),
      point('state', { stringValue: 'run' })];
    expect(latestSummary(points, { temp: '°C' })).toBe('count 12,000; on yes; state run +1 more');
    expect(latestSummary(points.slice(0, 1), { temp: '°C' })).toBe('temp 1,240.75 °C');
    expect(latestSummary([], {})).toBe('—');
  });
});
