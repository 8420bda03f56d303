// A tenant's view of the marketplace: the catalogue (SearchApps: words, a category, an order, paging, all in the
// URL), and an app's page: what it is and asks for, install with a grant (InstallApp; the app credential shown
// once), uninstall, and ratings (RateApp for a tenant that installed it, ListRatings).
import { ApiError, call, resourcePath, tenantPath } from '../api';
import { h } from '../dom';
import { formatNumber, formatTime, t } from '../i18n';
import { href, navigate, type Route } from '../router';
import type { App, AppVersion, Installation, Rating } from '../types';
import { confirmDialog, empty, errorBox, field, formErrorSlot, loading, pageTitle, showSecret, submitting, table, text } from '../ui';
import { categories, enumName, scopeName, stateBadge } from './labels';
import { dataScopeText, grantFrom, priceText, ratingText } from './market';
import { pager } from './tenants';
import { renderApp } from '../app';

const orders = ['SEARCH_ORDER_RELEVANCE', 'SEARCH_ORDER_INSTALLS', 'SEARCH_ORDER_RATING'] as const;
const orderKeys = { SEARCH_ORDER_RELEVANCE: 'market.orderRelevance', SEARCH_ORDER_INSTALLS: 'market.orderInstalls', SEARCH_ORDER_RATING: 'market.orderRating' } as const;

// The console page of an app: /console/t/<tenant>/marketplace/<provider>/<app>.
function appHref(tenant: string, app: App | string): string {
  const [, provider, , appId] = (typeof app === 'string' ? app : app.name).split('/');
  return href('t', tenant, 'marketplace', provider, appId);
}

// tenants/<provider>/apps/<app> -> <provider>/<app>
function appLabel(app: string): string {
  const [, provider, , appId] = app.split('/');
  return `${provider}/${appId}`;
}

export async function renderCatalogue(main: HTMLElement, route: Route): Promise<void> {
  const tenant = route.segments[1];
  pageTitle(main, 'market.title');
  const query = route.query.get('q') ?? '';
  const category = route.query.get('category') ?? '';
  const order = route.query.get('order') ?? '';
  const queryInput = h('input', { type: 'search', name: 'q', value: query });
  const categorySelect = h('select', { name: 'category' },
    h('option', { value: '' }, t('common.all')),
    ...categories.map((c) => h('option', { value: c, selected: c === category }, enumName(c))));
  const orderSelect = h('select', { name: 'order' },
    h('option', { value: '' }, t('market.orderDefault')),
    ...orders.map((o) => h('option', { value: o, selected: o === order }, t(orderKeys[o]))));
  const filters = h('form', { class: 'filters', role: 'search' },
    field('market.search', queryInput, 'market.searchHint'),
    field('market.category', categorySelect),
    field('market.order', orderSelect),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, t('market.searchButton'))));
  filters.addEventListener('submit', (event) => {
    event.preventDefault();
    const next = new URLSearchParams();
    if (queryInput.value.trim()) next.set('q', queryInput.value.trim());
    if (categorySelect.value) next.set('category', categorySelect.value);
    if (orderSelect.value) next.set('order', orderSelect.value);
    navigate(`${href('t', tenant, 'marketplace')}${next.size ? `?${next}` : ''}`);
  });
  const results = h('section', { 'aria-live': 'polite' }, loading());
  main.append(filters, results);
  try {
    const response = await call<{ apps?: App[]; nextPageToken?: string }>('GET', '/v1/apps:search', undefined, {
      query, categories: category, order, pageSize: 20, pageToken: route.query.get('page') ?? '',
    });
    const apps = response.apps ?? [];
    results.replaceChildren(
      apps.length === 0 ? empty('market.empty') : table(
        ['market.app', 'market.provider', 'market.category', 'market.price', 'market.ratings', 'market.installs'],
        apps.map((app) => [
          h('div', {}, h('a', { href: appHref(tenant, app) }, app.displayName), h('div', { class: 'muted' }, app.summary ?? '')),
          text(app.vendor || app.provider),
          text(enumName(app.category)),
          text(priceText(app.pricing)),
          text(ratingText(app.ratingMilli, app.ratingCount)),
          text(formatNumber(Number(app.installCount ?? 0))),
        ]), 'market.title'),
      pager(route, response.nextPageToken));
  } catch (error) {
    results.replaceChildren(errorBox(error));
  }
}

// The installation of `app` by `tenant`: the active one, else the newest uninstalled one, else undefined.
async function installationOf(tenant: string, app: string): Promise<Installation | undefined> {
  const response = await call<{ installations?: Installation[] }>('GET', tenantPath(tenant, 'installations'), undefined,
    { pageSize: 1000, showUninstalled: 'true' });
  const mine = (response.installations ?? []).filter((i) => i.app === app);
  return mine.find((i) => i.state === 'INSTALLATION_STATE_ACTIVE') ?? mine[0];
}

function installForm(tenant: string, app: App, version: AppVersion): HTMLElement {
  const boxes = (version.requestedScopes ?? []).map((scope) =>
    h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'scope', value: scope, checked: true }), scopeName(scope)));
  const labels = h('input', { type: 'text', name: 'labels', placeholder: 'line=a', 'data-api-field': 'grant.data_scope.device_labels' });
  const metrics = h('input', { type: 'text', name: 'metrics', placeholder: 'temp, rpm', 'data-api-field': 'grant.data_scope.metrics' });
  const form = h('form', { class: 'card', novalidate: true },
    h('h2', {}, t('install.title', { version: version.version })),
    h('p', {}, t('install.intro')),
    h('fieldset', { class: 'metrics' }, h('legend', {}, t('install.scopes')), ...boxes),
    h('div', { class: 'row' }, field('install.labels', labels, 'install.labelsHint'), field('install.metrics', metrics, 'install.metricsHint')),
    formErrorSlot(),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, t('install.submit'))));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void submitting(form, async () => {
      const scopes = [...form.querySelectorAll<HTMLInputElement>('input[name=scope]:checked')].map((box) => box.value);
      const grant = grantFrom(scopes, labels.value, metrics.value);
      if (!grant) throw new ApiError(400, 'INVALID_ARGUMENT', t('devices.labelFilterHint'), [{ field: 'grant.data_scope.device_labels', description: t('devices.labelFilterHint') }]);
      const installed = await call<{ credential: string }>('POST', tenantPath(tenant, 'installations'), { app: app.name, version: version.version, grant });
      showSecret(installed.credential, 'install.credentialTitle', 'install.credentialOnce').addEventListener('close', renderApp);
    });
  });
  return form;
}

function installedCard(installation: Installation): HTMLElement {
  const active = installation.state === 'INSTALLATION_STATE_ACTIVE';
  const form = h('form', { class: 'card', novalidate: true },
    h('h2', {}, t('install.installedTitle')),
    h('dl', { class: 'facts' },
      h('dt', {}, t('installations.state')), h('dd', {}, stateBadge(installation.state)),
      h('dt', {}, t('installations.version')), h('dd', {}, installation.version),
      h('dt', {}, t('install.scopes')), h('dd', {}, (installation.grant?.scopes ?? []).map(scopeName).join(', ')),
      h('dt', {}, t('installations.dataScope')), h('dd', {}, dataScopeText(installation.grant)),
      h('dt', {}, t('installations.installed')), h('dd', {}, formatTime(installation.createTime))),
    formErrorSlot(),
    active ? h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'danger' }, t('install.uninstall'))) : null);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void submitting(form, async () => {
      if (!(await confirmDialog('install.uninstallTitle', t('install.uninstallConfirm'), 'install.uninstall'))) return;
      await call('POST', `${resourcePath(installation.name)}:uninstall`, {});
      renderApp();
    });
  });
  return form;
}

function rateForm(tenant: string, app: App, mine: Rating | undefined): HTMLElement {
  const stars = h('select', { name: 'stars', 'data-api-field': 'stars' },
    ...[5, 4, 3, 2, 1].map((n) => h('option', { value: n, selected: n === (mine?.stars ?? 5) }, t('rate.stars', { stars: n }))));
  const review = h('textarea', { name: 'review', rows: 3, 'data-api-field': 'review' });
  review.value = mine?.review ?? '';
  const form = h('form', { class: 'card', novalidate: true },
    h('h2', {}, t(mine ? 'rate.change' : 'rate.title')),
    h('div', { class: 'row' }, field('rate.starsLabel', stars), field('rate.review', review)),
    formErrorSlot(),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, t('rate.submit'))));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void submitting(form, async () => {
      await call('POST', tenantPath(tenant, 'ratings'), { app: app.name, stars: Number(stars.value), review: review.value.trim() });
      renderApp();
    });
  });
  return form;
}

export async function renderAppPage(main: HTMLElement, route: Route): Promise<void> {
  const [, tenant, , provider, appId] = route.segments;
  const name = `tenants/${provider}/apps/${appId}`;
  const body = h('div', {}, loading());
  main.append(h('p', {}, h('a', { href: href('t', tenant, 'marketplace') }, t('market.back'))), body);
  let app: App;
  let versions: AppVersion[];
  let installation: Installation | undefined;
  let ratings: Rating[];
  try {
    [app, versions, installation, ratings] = await Promise.all([
      call<App>('GET', resourcePath(name)),
      call<{ versions?: AppVersion[] }>('GET', `${resourcePath(name)}/versions`, undefined, { pageSize: 100 }).then((r) => r.versions ?? []),
      installationOf(tenant, name),
      call<{ ratings?: Rating[] }>('GET', `${resourcePath(name)}/ratings`, undefined, { pageSize: 50 }).then((r) => r.ratings ?? []),
    ]);
  } catch (error) {
    pageTitle(main, 'market.title');
    body.replaceChildren(errorBox(error));
    return;
  }
  pageTitle(main, 'market.appTitle', { app: app.displayName });
  const latest = versions.find((v) => v.version === app.latestVersion);
  const facts = h('dl', { class: 'facts' },
    h('dt', {}, t('market.summary')), h('dd', {}, app.summary ?? ''),
    app.description ? h('dt', {}, t('market.description')) : null, app.description ? h('dd', {}, app.description) : null,
    h('dt', {}, t('market.provider')), h('dd', {}, app.vendor ? `${app.vendor} (${app.provider})` : app.provider),
    h('dt', {}, t('market.category')), h('dd', {}, enumName(app.category)),
    (app.tags ?? []).length ? h('dt', {}, t('market.tags')) : null, (app.tags ?? []).length ? h('dd', {}, (app.tags ?? []).join(', ')) : null,
    h('dt', {}, t('market.latestVersion')), h('dd', {}, app.latestVersion ?? ''),
    h('dt', {}, t('market.price')), h('dd', {}, priceText(app.pricing)),
    h('dt', {}, t('market.scopes')), h('dd', {}, (latest?.requestedScopes ?? []).map(scopeName).join(', ')),
    h('dt', {}, t('market.writeMetrics')), h('dd', {}, (latest?.writeMetrics ?? []).join(', ') || t('market.none')),
    h('dt', {}, t('market.ratings')), h('dd', { 'data-testid': 'rating' }, ratingText(app.ratingMilli, app.ratingCount)),
    h('dt', {}, t('market.installs')), h('dd', {}, formatNumber(Number(app.installCount ?? 0))));
  const active = installation?.state === 'INSTALLATION_STATE_ACTIVE';
  const mine = ratings.find((r) => r.tenant === tenant);
  const ratingList = ratings.length === 0 ? empty('rate.empty') : table(['rate.tenant', 'rate.starsLabel', 'rate.review', 'rate.time'],
    ratings.map((r) => [text(r.tenant), text(t('rate.stars', { stars: r.stars })), text(r.review), text(formatTime(r.updateTime))]), 'rate.list');
  body.replaceChildren(
    facts,
    h('div', { class: 'grid' },
      installation ? installedCard(installation) : null,
      !active && latest ? installForm(tenant, app, latest) : null,
      installation ? rateForm(tenant, app, mine) : h('p', { class: 'card muted' }, t('rate.needsInstall'))),
    h('h2', { class: 'section-head' }, t('rate.list')),
    ratingList);
}

// The tenant's installations, active and uninstalled, each linking to its app's page (where it is uninstalled).
export async function renderInstallations(main: HTMLElement, route: Route): Promise<void> {
  const tenant = route.segments[1];
  pageTitle(main, 'installations.title');
  const list = h('section', { 'aria-live': 'polite' }, loading());
  main.append(list);
  try {
    const response = await call<{ installations?: Installation[]; nextPageToken?: string }>('GET', tenantPath(tenant, 'installations'), undefined, {
      pageSize: 50, showUninstalled: 'true', pageToken: route.query.get('page') ?? '',
    });
    const installations = response.installations ?? [];
    list.replaceChildren(
      installations.length === 0 ? empty('installations.empty') : table(
        ['market.app', 'installations.version', 'installations.state', 'install.scopes', 'installations.dataScope', 'installations.devices', 'market.price', 'installations.installed'],
        installations.map((i) => [
          h('a', { href: appHref(tenant, i.app) }, appLabel(i.app)),
          text(i.upgradeAvailable ? t('installations.upgrade', { version: i.version, latest: i.upgradeAvailable }) : i.version),
          stateBadge(i.state),
          text((i.grant?.scopes ?? []).map(scopeName).join(', ')),
          text(dataScopeText(i.grant)),
          text(formatNumber(Number(i.grantedDevices ?? 0))),
          text(priceText(i.pricing)),
          text(formatTime(i.createTime)),
        ]), 'installations.title'),
      pager(route, response.nextPageToken));
  } catch (error) {
    list.replaceChildren(errorBox(error));
  }
}
