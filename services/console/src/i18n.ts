// Every string the console shows comes from a message catalogue: Simplified Chinese by default (the park is in
// Suzhou), English by the switch in the header; the choice is kept in localStorage. Dates and numbers are formatted
// with Intl in the same locale. test/i18n.test.ts fails on a key missing in either catalogue or used but absent.
import { en } from './messages/en';
import { zhCN, type MessageKey } from './messages/zh-CN';

export type { MessageKey };
export type Locale = 'zh-CN' | 'en';
export const locales: readonly Locale[] = ['zh-CN', 'en'];
export const catalogues: Record<Locale, Record<MessageKey, string>> = { 'zh-CN': zhCN, en };

const storageKey = 'parkbase.locale';
let current: Locale = readStoredLocale();
const listeners: (() => void)[] = [];

function readStoredLocale(): Locale {
  try {
    const stored = globalThis.localStorage?.getItem(storageKey);
    return stored === 'en' || stored === 'zh-CN' ? stored : 'zh-CN';
  } catch {
    return 'zh-CN';
  }
}

export function locale(): Locale {
  return current;
}

export function setLocale(next: Locale): void {
  current = next;
  try {
    globalThis.localStorage?.setItem(storageKey, next);
  } catch {
    // Private windows may refuse storage; the choice then lasts for this page only.
  }
  for (const listener of listeners) listener();
}

export function onLocaleChange(listener: () => void): void {
  listeners.push(listener);
}

// The message `key` in the current locale, with {name} placeholders filled from `params`.
export function t(key: MessageKey, params: Record<string, string | number> = {}): string {
  const text = catalogues[current][key] ?? key;
  return text.replace(/\{(\w+)\}/g, (whole, name: string) =>
    name in params ? (typeof params[name] === 'number' ? formatNumber(params[name] as number) : String(params[name])) : whole,
  );
}

export function formatNumber(value: number, options: Intl.NumberFormatOptions = {}): string {
  return new Intl.NumberFormat(current, options).format(value);
}

// A byte count in the largest decimal unit that keeps it at 1 or more (kB = 1,000 bytes, as Intl names them).
export function formatBytes(bytes: number): string {
  const units = ['byte', 'kilobyte', 'megabyte', 'gigabyte', 'terabyte'] as const;
  let unit = 0;
  let value = bytes;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return new Intl.NumberFormat(current, { style: 'unit', unit: units[unit], maximumFractionDigits: unit === 0 ? 0 : 1 }).format(value);
}

// An RFC 3339 time from the API in the user's locale and time zone; "" for none.
export function formatTime(rfc3339: string | undefined): string {
  if (!rfc3339) return '';
  const time = new Date(rfc3339);
  if (Number.isNaN(time.getTime())) return rfc3339;
  return new Intl.DateTimeFormat(current, { dateStyle: 'medium', timeStyle: 'medium' }).format(time);
}

// A whole number of seconds as the largest whole unit, in words: 60 -> "1 minute" / "1分钟", 7200 -> "2 hours".
export function formatDuration(seconds: number): string {
  const [value, unit] = seconds % 3600 === 0 ? [seconds / 3600, 'hour'] : seconds % 60 === 0 ? [seconds / 60, 'minute'] : [seconds, 'second'];
  return new Intl.NumberFormat(current, { style: 'unit', unit, unitDisplay: 'long' }).format(value);
}
