// The device page's time ranges: live (the last ten minutes of raw points, then what arrives) or the last hour, day
// or week as Aggregate buckets. The range is kept in the URL (?range=hour), so a reload or a shared link keeps it.
import type { MessageKey } from './i18n';
import type { Bucket } from './types';

export type Range = 'live' | 'hour' | 'day' | 'week';
export const ranges: readonly Range[] = ['live', 'hour', 'day', 'week'];

export const rangeLabels: Record<Range, MessageKey> = {
  live: 'deviceRange.live',
  hour: 'deviceRange.hour',
  day: 'deviceRange.day',
  week: 'deviceRange.week',
};

// How far back each aggregated range reaches, and its bucket. The buckets give each range 60 to 96 points: enough
// to show the shape, few enough that each point is several pixels wide on a 760 px chart, so the min–max band stays
// readable. Every bucket is a whole number of minutes (and the week's of hours), so the API answers from its
// 1-minute (1-hour) rollups instead of decoding every raw point of the range:
//   hour: 60 s buckets  -> 60 points
//   day:  15 min buckets -> 96 points (30 min would give 48, a little coarse for a shift's pattern)
//   week: 2 h buckets   -> 84 points (1 h would give 168, more than the chart can show apart)
export const rangeSpecs: Record<Exclude<Range, 'live'>, { seconds: number; bucketSeconds: number }> = {
  hour: { seconds: 3600, bucketSeconds: 60 },
  day: { seconds: 86_400, bucketSeconds: 15 * 60 },
  week: { seconds: 7 * 86_400, bucketSeconds: 2 * 3600 },
};

// The range a URL's ?range= names; anything else (or nothing) is live.
export function parseRange(value: string | null): Range {
  return ranges.includes(value as Range) ? (value as Range) : 'live';
}

// The Aggregate window for `range` at `nowMs`: the API aligns buckets to the Unix epoch, so the window is widened
// to whole buckets (start at a bucket's start, end at the end of the bucket holding now) and no bucket is cut short.
export function aggregateWindow(range: Exclude<Range, 'live'>, nowMs: number): { startMs: number; endMs: number; bucketSeconds: number } {
  const { seconds, bucketSeconds } = rangeSpecs[range];
  const bucketMs = bucketSeconds * 1000;
  const endMs = Math.floor(nowMs / bucketMs) * bucketMs + bucketMs;
  const startMs = Math.floor((nowMs - seconds * 1000) / bucketMs) * bucketMs;
  return { startMs, endMs, bucketSeconds };
}

// A metric's figures over the whole range, from its buckets: points, minimum, maximum and the mean of all points
// (not the mean of the buckets' means, which would weigh a bucket of one point like a bucket of a thousand).
export function summarize(buckets: Bucket[]): { count: number; min: number; max: number; avg: number } | null {
  let count = 0;
  let sum = 0;
  let min = Infinity;
  let max = -Infinity;
  for (const bucket of buckets) {
    const n = Number(bucket.count ?? 0);
    if (n === 0) continue;
    count += n;
    // proto3 JSON leaves out zeros.
    sum += bucket.sum ?? 0;
    min = Math.min(min, bucket.min ?? 0);
    max = Math.max(max, bucket.max ?? 0);
  }
  return count === 0 ? null : { count, min, max, avg: sum / count };
}
