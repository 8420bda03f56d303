// The page frame (header with the navigation for the signed-in key's scope, the language switch, sign-out) and the
// dispatch from a route to its page.
import { session, signOut, type Session } from './auth';
import { clear, h } from './dom';
import { locale, setLocale, t, type MessageKey } from './i18n';
import { currentRoute, href, leavePage, navigate, type Route } from './router';
import { renderAudit } from './pages/audit';
import { renderAppPage, renderCatalogue, renderInstallations } from './pages/catalogue';
import { renderDevice } from './pages/device';
import { renderDevices } from './pages/devices';
import { renderDeviceTypes } from './pages/device-types';
import { renderKeys } from './pages/keys';
import { renderReview } from './pages/review';
import { renderSignIn } from './pages/signin';
import { renderTenant } from './pages/tenant';
import { renderTenantNew } from './pages/tenant-new';
import { renderTenants } from './pages/tenants';

export type Page = (main: HTMLElement, route: Route, session: Session) => void | Promise<void>;

// The page of a route, or null for an unknown one.
function pageOf(route: Route, current: Session): Page | null {
  const [first, second, third, fourth, fifth, sixth] = route.segments;
  if (current.scope === 'park') {
    if (first === 'review' && second === undefined) return renderReview;
    if (first === 'audit' && second === undefined) return renderAudit;
    if (first === 'tenants' && second === undefined) return renderTenants;
    if (first === 'tenants' && second === 'new' && third === undefined) return renderTenantNew;
    if (first === 'tenants' && second && third === undefined) return renderTenant;
  }
  if (first === 't' && second) {
    if (third === 'keys') return renderKeys;
    if (third === 'device-types') return renderDeviceTypes;
    if (third === 'devices' && fourth === undefined) return renderDevices;
    if (third === 'devices' && fourth) return renderDevice;
    if (third === 'marketplace' && fourth === undefined) return renderCatalogue;
    if (third === 'marketplace' && fourth && fifth && sixth === undefined) return renderAppPage;
    if (third === 'installations' && fourth === undefined) return renderInstallations;
    if (third === 'audit' && fourth === undefined) return renderAudit;
  }
  return null;
}

function homeOf(current: Session): string {
  return current.scope === 'park' ? href('tenants') : href('t', current.tenant, 'devices');
}

function navLink(key: MessageKey, url: string): HTMLElement {
  const active = location.pathname === url || location.pathname.startsWith(`${url}/`);
  return h('li', {}, h('a', { href: url, 'aria-current': active ? 'page' : null }, t(key)));
}

function header(current: Session | null): HTMLElement {
  const other = locale() === 'zh-CN' ? 'en' : 'zh-CN';
  const links: HTMLElement[] = [];
  if (current?.scope === 'park') {
    links.push(navLink('nav.tenants', href('tenants')), navLink('nav.review', href('review')), navLink('nav.audit', href('audit')));
  }
  if (current?.scope === 'tenant') {
    links.push(
      navLink('nav.devices', href('t', current.tenant, 'devices')),
      navLink('nav.deviceTypes', href('t', current.tenant, 'device-types')),
      navLink('nav.keys', href('t', current.tenant, 'keys')),
      navLink('nav.marketplace', href('t', current.tenant, 'marketplace')),
      navLink('nav.installations', href('t', current.tenant, 'installations')),
      navLink('nav.audit', href('t', current.tenant, 'audit')),
    );
  }
  return h(
    'header',
    { class: 'top' },
    h('a', { class: 'brand', href: current ? homeOf(current) : href('signin') }, t('app.name')),
    current ? h('nav', { 'aria-label': t('nav.label') }, h('ul', {}, links)) : null,
    h(
      'div',
      { class: 'top-actions' },
      current ? h('span', { class: 'who' }, current.scope === 'park' ? t('auth.parkScope') : t('auth.tenantScope', { tenant: current.tenant })) : null,
      h('button', { type: 'button', class: 'secondary', lang: other, 'data-testid': 'language', onclick: () => setLocale(other) }, t('app.switchLanguage')),
      current
        ? h('button', { type: 'button', class: 'secondary', onclick: () => { signOut(); navigate(href('signin')); } }, t('auth.signOut'))
        : null,
    ),
  );
}

export function renderApp(): void {
  leavePage();
  const root = document.getElementById('app')!;
  document.documentElement.lang = locale();
  const current = session();
  const route = currentRoute();
  if (!current && route.segments[0] !== 'signin') return navigate(href('signin'), true);
  if (current && (route.segments.length === 0 || route.segments[0] === 'signin')) return navigate(homeOf(current), true);
  clear(root);
  const main = h('main', { id: 'main', tabindex: -1 });
  root.append(h('a', { class: 'skip', href: '#main' }, t('app.skip')), header(current), main);
  const page: Page | null = current ? pageOf(route, current) : renderSignIn;
  if (!page) {
    document.title = `${t('notFound.title')} · ${t('app.name')}`;
    main.append(h('h1', {}, t('notFound.title')), h('p', {}, h('a', { href: homeOf(current!) }, t('notFound.home'))));
    return;
  }
  void page(main, route, current ?? { scope: 'tenant', tenant: '' });
}
