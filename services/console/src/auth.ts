// Sign-in: the one module that knows how the console holds its credential. Today it is an API key the user pastes,
// kept in sessionStorage (gone when the tab closes, never in a URL, never sent to another origin); single sign-on
// through OIDC can replace this module without touching the pages, which only call session() and authorization().
const storageKey = 'parkbase.apiKey';

export interface Session {
  // 'park': a park key (pbk.park.…), the park administrator's pages; 'tenant': one tenant's pages.
  scope: 'park' | 'tenant';
  // The key's tenant (for a park key, "park").
  tenant: string;
}

// A key's scope from its text, pbk.<tenant>.<key id>.<secret>; null when it is not shaped like a key.
export function parseKey(key: string): Session | null {
  const parts = key.trim().split('.');
  if (parts.length !== 4 || parts[0] !== 'pbk' || parts.some((part) => part.length === 0)) return null;
  return parts[1] === 'park' ? { scope: 'park', tenant: 'park' } : { scope: 'tenant', tenant: parts[1] };
}

export function session(): Session | null {
  const key = sessionStorage.getItem(storageKey);
  return key ? parseKey(key) : null;
}

// Keeps `key` for this tab. The caller has checked it with a call first (pages/signin.ts).
export function signIn(key: string): Session | null {
  const parsed = parseKey(key);
  if (parsed) sessionStorage.setItem(storageKey, key.trim());
  return parsed;
}

export function signOut(): void {
  sessionStorage.removeItem(storageKey);
}

// The headers that authenticate a call: the key travels in Authorization only.
export function authorization(key?: string): Record<string, string> {
  const value = key ?? sessionStorage.getItem(storageKey);
  return value ? { Authorization: `Bearer ${value}` } : {};
}
