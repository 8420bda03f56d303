// The message catalogues: the same keys in Chinese and English with the same {placeholders}, and every key the code
// names present. A key is any quoted 'namespace.name' whose namespace is one of the catalogues' (so API field paths
// such as 'device.serial_number' are not keys: no catalogue namespace is 'device' or 'tenant').
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { en } from '../src/messages/en';
import { zhCN } from '../src/messages/zh-CN';

const zh: Record<string, string> = zhCN;
const english: Record<string, string> = en;

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === 'messages' ? [] : sources(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

function placeholders(text: string): string[] {
  return [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
}

describe('message catalogues', () => {
  it('have the same keys', () => {
    expect(Object.keys(english).filter((k) => !(k in zh)), 'in en.ts, missing in zh-CN.ts').toEqual([]);
    expect(Object.keys(zh).filter((k) => !(k in english)), 'in zh-CN.ts, missing in en.ts').toEqual([]);
  });

  it('have no empty message and the same placeholders in both languages', () => {
    for (const key of Object.keys(zh)) {
      expect(zh[key].trim(), key).not.toBe('');
      expect(english[key]?.trim(), key).not.toBe('');
      expect(placeholders(english[key] ?? ''), key).toEqual(placeholders(zh[key]));
    }
  });

  it('hold every key the code uses', () => {
    const namespaces = new Set(Object.keys(zh).map((k) => k.split('.')[0]));
    const used = new Set<string>();
    for (const file of sources(new URL('../src', import.meta.url).pathname)) {
      for (const match of readFileSync(file, 'utf8').matchAll(/['"`]([a-zA-Z]+)\.([A-Za-z0-9_]+)['"`]/g)) {
        if (namespaces.has(match[1])) used.add(`${match[1]}.${match[2]}`);
      }
    }
    expect(used.size).toBeGreaterThan(50);
    expect([...used].filter((k) => !(k in zh)), 'used in src/, missing in zh-CN.ts').toEqual([]);
    expect([...used].filter((k) => !(k in english)), 'used in src/, missing in en.ts').toEqual([]);
  });
});
