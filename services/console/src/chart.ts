// The device page's charts (uPlot: small, fast on canvas, no dependencies). LiveChart: one line per numeric metric
// over the last ten minutes, fed by live.ts; its container says how many points it holds and whether the stream is
// live (data-points, data-state), for people through its status line and for the end-to-end test. RangeChart: the
// Aggregate buckets of an hour, day or week, the average as a line and a band from minimum to maximum; its
// container says how many metrics and buckets it drew (data-series, data-buckets).
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { h } from './dom';
import { formatNumber, formatTime, locale, t } from './i18n';
import type { Bucket, DataPoint } from './types';

// What the chart keeps: ten minutes, and at most this many points a metric (a 10 Hz metric fills it in 10 min).
export const windowSeconds = 600;
const maxPointsPerMetric = 6000;
// Line colours with at least 3:1 contrast on white (WCAG's figure for graphics).
const palette = ['#0b5cad', '#b3261e', '#1d7a3a', '#8a4b00', '#6b2fa3', '#005f73'];

export type LiveState = 'connecting' | 'live' | 'retrying' | 'refused';

export class LiveChart {
  readonly element: HTMLElement;
  private readonly plotHost: HTMLElement;
  private readonly status: HTMLElement;
  private readonly series = new Map<string, Map<number, number>>();
  private plot: uPlot | null = null;
  private count = 0;

  constructor(private readonly units: Record<string, string>) {
    this.plotHost = h('div', { class: 'chart', role: 'img', 'aria-label': t('devicePage.chartLabel') });
    this.status = h('p', { class: 'muted', role: 'status' });
    this.element = h('div', { 'data-testid': 'live-chart', 'data-points': 0 }, this.status, this.plotHost);
    this.setState('connecting');
  }

  setState(state: LiveState): void {
    this.element.dataset.state = state;
    const key = ({ connecting: 'live.connecting', live: 'live.live', retrying: 'live.retrying', refused: 'live.refused' } as const)[state];
    this.status.textContent = t(key);
  }

  add(points: DataPoint[]): void {
    for (const point of points) {
      const value = point.value.doubleValue ?? (point.value.intValue !== undefined ? Number(point.value.intValue) : undefined);
      if (value === undefined) continue;
      const time = Date.parse(point.time) / 1000;
      let metric = this.series.get(point.metric);
      if (!metric) this.series.set(point.metric, (metric = new Map()));
      if (!metric.has(time)) this.count++;
      metric.set(time, value);
      if (metric.size > maxPointsPerMetric) {
        metric.delete(metric.keys().next().value as number);
        this.count--;
      }
    }
    this.element.dataset.points = String(this.count);
    this.draw();
  }

  private draw(): void {
    const now = Date.now() / 1000;
    const names = [...this.series.keys()].sort();
    const times = [...new Set(names.flatMap((name) => [...this.series.get(name)!.keys()]))]
      .filter((time) => time >= now - windowSeconds).sort((a, b) => a - b);
    const data: uPlot.AlignedData = [times, ...names.map((name) => times.map((time) => this.series.get(name)!.get(time) ?? null))];
    const shape = names.join('\n');
    if (this.plot && this.plotHost.dataset.shape === shape) {
      this.plot.setData(data);
      return;
    }
    this.plot?.destroy();
    this.plotHost.dataset.shape = shape;
    const clock = new Intl.DateTimeFormat(locale(), { hour: '2-digit', minute: '2-digit' });
    this.plot = new uPlot({
      width: Math.max(280, Math.min(1100, this.plotHost.clientWidth || 760)),
      height: 280,
      // Always the last ten minutes, so one point or a burst does not stretch the axis to years or milliseconds.
      scales: { x: { time: true, range: () => [Date.now() / 1000 - windowSeconds, Date.now() / 1000 + 5] } },
      series: [
        { label: t('devicePage.time'), value: (_: uPlot, time: number | null) => (time === null ? '' : formatTime(new Date(time * 1000).toISOString())) },
        ...names.map((name, i) => ({
          label: this.units[name] ? `${name} (${this.units[name]})` : name,
          stroke: palette[i % palette.length],
          width: 2,
          spanGaps: true,
          value: (_: uPlot, value: number | null) => (value === null ? '' : formatNumber(value, { maximumFractionDigits: 6 })),
        })),
      ],
      // Axis labels in the user's language (uPlot's own are English).
      axes: [
        { stroke: '#1b1f24', values: (_: uPlot, splits: number[]) => splits.map((time) => clock.format(time * 1000)) },
        { stroke: '#1b1f24', values: (_: uPlot, splits: number[]) => splits.map((value) => formatNumber(value)) },
      ],
    }, data, this.element);
  }

  destroy(): void {
    this.plot?.destroy();
    this.plot = null;
  }
}

// A metric's buckets as Aggregate answers them (non-empty buckets only, in time order).
export interface MetricBuckets {
  metric: string;
  buckets: Bucket[];
}

// Band fills: the line's colour at 15 % opacity, so overlapping bands of two metrics stay readable.
function bandFill(colour: string): string {
  return `${colour}26`;
}

export class RangeChart {
  // The plot's host, an image to assistive technology (the page's summary table gives the figures as text).
  readonly element: HTMLElement;
  private plot: uPlot | null = null;

  constructor(label: string, private readonly units: Record<string, string>) {
    this.element = h('div', { class: 'chart', role: 'img', 'aria-label': label, 'data-testid': 'range-plot', 'data-series': 0, 'data-buckets': 0 });
  }

  // Draws `series` over [startMs, endMs); an axis label shows the date too when the range spans days.
  draw(series: MetricBuckets[], startMs: number, endMs: number): void {
    this.plot?.destroy();
    const drawn = series.filter((s) => s.buckets.length > 0).sort((a, b) => a.metric.localeCompare(b.metric));
    const times = [...new Set(drawn.flatMap((s) => s.buckets.map((b) => Date.parse(b.startTime) / 1000)))].sort((a, b) => a - b);
    const data: uPlot.AlignedData = [times];
    const options: uPlot.Series[] = [];
    const bands: uPlot.Band[] = [];
    drawn.forEach(({ metric, buckets }, i) => {
      const byTime = new Map(buckets.map((b) => [Date.parse(b.startTime) / 1000, b]));
      const column = (pick: (b: Bucket) => number | undefined) => times.map((time) => {
        const bucket = byTime.get(time);
        // proto3 JSON leaves out zeros: a bucket that is there but lacks `min` has a minimum of 0.
        return bucket ? pick(bucket) ?? 0 : null;
      });
      const colour = palette[i % palette.length];
      const unit = this.units[metric] ? ` (${this.units[metric]})` : '';
      const value = (_: uPlot, v: number | null) => (v === null ? '' : formatNumber(v, { maximumFractionDigits: 6 }));
      const first = data.length;
      data.push(column((b) => b.avg), column((b) => b.min), column((b) => b.max));
      options.push(
        { label: t('deviceRange.seriesAvg', { metric }) + unit, stroke: colour, width: 2, value },
        { label: t('deviceRange.seriesMin', { metric }) + unit, stroke: colour, width: 1, dash: [4, 4], value },
        { label: t('deviceRange.seriesMax', { metric }) + unit, stroke: colour, width: 1, dash: [4, 4], value },
      );
      bands.push({ series: [first + 2, first + 1], fill: bandFill(colour) });
    });
    this.element.dataset.series = String(drawn.length);
    this.element.dataset.buckets = String(drawn.reduce((sum, s) => sum + s.buckets.length, 0));
    const spansDays = endMs - startMs > 86_400_000;
    const clock = new Intl.DateTimeFormat(locale(), spansDays
      ? { month: 'numeric', day: 'numeric', hour: '2-digit' }
      : { hour: '2-digit', minute: '2-digit' });
    this.plot = new uPlot({
      width: Math.max(280, Math.min(1100, this.element.clientWidth || 760)),
      height: 280,
      scales: { x: { time: true, range: () => [startMs / 1000, endMs / 1000] } },
      series: [
        { label: t('devicePage.time'), value: (_: uPlot, time: number | null) => (time === null ? '' : formatTime(new Date(time * 1000).toISOString())) },
        ...options,
      ],
      bands,
      axes: [
        { stroke: '#1b1f24', values: (_: uPlot, splits: number[]) => splits.map((time) => clock.format(time * 1000)) },
        { stroke: '#1b1f24', values: (_: uPlot, splits: number[]) => splits.map((value) => formatNumber(value)) },
      ],
    }, data, this.element);
  }

  destroy(): void {
    this.plot?.destroy();
    this.plot = null;
  }
}
