// Client-side routes under /console/ (the server answers index.html for any of them, common/static_files.h). Links
// are ordinary <a href>s; a click on one is turned into history.pushState so the page is not reloaded.
export const base = '/console/';

export interface Route {
  // Path segments after /console/, decoded.
  segments: string[];
  query: URLSearchParams;
}

let onNavigate: () => void = () => {};

export function currentRoute(): Route {
  const path = location.pathname.startsWith(base) ? location.pathname.slice(base.length) : '';
  return {
    segments: path.split('/').filter((s) => s.length > 0).map((s) => decodeURIComponent(s)),
    query: new URLSearchParams(location.search),
  };
}

// The URL of a console page: href('t', 'acme', 'devices') -> /console/t/acme/devices.
export function href(...segments: string[]): string {
  return base + segments.map((s) => encodeURIComponent(s)).join('/');
}

export function navigate(url: string, replace = false): void {
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  onNavigate();
}

export function startRouter(render: () => void): void {
  onNavigate = render;
  addEventListener('popstate', render);
  document.addEventListener('click', (event) => {
    const link = (event.target as Element | null)?.closest?.('a');
    if (!link || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
    const url = new URL(link.href, location.href);
    if (url.origin !== location.origin || !url.pathname.startsWith(base) || link.target) return;
    event.preventDefault();
    navigate(url.pathname + url.search);
  });
  render();
}

// Work a page started that must stop when the user leaves it (a live subscription): run before the next render.
let leaving: (() => void)[] = [];

export function onLeave(cleanup: () => void): void {
  leaving.push(cleanup);
}

export function leavePage(): void {
  const cleanups = leaving;
  leaving = [];
  for (const cleanup of cleanups) cleanup();
}
