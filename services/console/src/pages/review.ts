// The park administrator's marketplace review queue (ListReviewQueue: submitted versions of every provider, oldest
// first): each version with what it asks for, approved with an optional note or rejected with a reason
// (ReviewAppVersion; the API requires the reason and its violation shows beside the field).
import { call, resourcePath } from '../api';
import { h } from '../dom';
import { formatTime, t } from '../i18n';
import { type Route } from '../router';
import type { App, AppVersion } from '../types';
import { empty, errorBox, field, formErrorSlot, loading, pageTitle, submitting } from '../ui';
import { enumName, scopeName } from './labels';
import { priceText } from './market';
import { pager } from './tenants';

// tenants/p/apps/a/versions/1.0.0 -> tenants/p/apps/a
function appOf(version: string): string {
  return version.split('/versions/')[0];
}

function reviewCard(version: AppVersion, app: App | undefined, onDone: () => void): HTMLElement {
  const reason = h('textarea', { name: 'reason', rows: 2, 'data-api-field': 'reason' });
  const form = h('form', { class: 'card review', novalidate: true, 'aria-label': version.name },
    h('h2', {}, `${app?.displayName ?? appOf(version.name)} ${version.version}`),
    h('dl', { class: 'facts' },
      h('dt', {}, t('review.version')), h('dd', {}, h('code', {}, version.name)),
      h('dt', {}, t('review.provider')), h('dd', {}, app ? `${app.provider}${app.vendor ? ` (${app.vendor})` : ''}` : ''),
      h('dt', {}, t('market.category')), h('dd', {}, enumName(app?.category)),
      h('dt', {}, t('market.summary')), h('dd', {}, app?.summary ?? ''),
      h('dt', {}, t('review.image')), h('dd', {}, h('code', {}, version.image ?? '')),
      h('dt', {}, t('market.scopes')), h('dd', {}, (version.requestedScopes ?? []).map(scopeName).join(', ')),
      h('dt', {}, t('market.writeMetrics')), h('dd', {}, (version.writeMetrics ?? []).join(', ') || t('market.none')),
      h('dt', {}, t('market.price')), h('dd', {}, priceText(version.pricing)),
      h('dt', {}, t('review.changelog')), h('dd', {}, version.changelog ?? ''),
      h('dt', {}, t('review.submitted')), h('dd', {}, formatTime(version.updateTime))),
    field('review.reason', reason, 'review.reasonHint'),
    formErrorSlot());
  const decide = (decision: string) => () => void submitting(form, async () => {
    await call('POST', `${resourcePath(version.name)}:review`, { decision, reason: reason.value.trim() });
    onDone();
  });
  form.append(h('div', { class: 'actions' },
    h('button', { type: 'button', onclick: decide('REVIEW_DECISION_APPROVE') }, t('review.approve')),
    h('button', { type: 'button', class: 'danger', onclick: decide('REVIEW_DECISION_REJECT') }, t('review.reject'))));
  form.addEventListener('submit', (event) => event.preventDefault());
  return form;
}

export async function renderReview(main: HTMLElement, route: Route): Promise<void> {
  pageTitle(main, 'review.title');
  const status = h('p', { role: 'status', class: 'muted' });
  const list = h('section', { 'aria-live': 'polite' }, loading());
  main.append(h('p', { class: 'muted' }, t('review.intro')), status, list);
  try {
    const response = await call<{ versions?: AppVersion[]; nextPageToken?: string }>('GET', '/v1/reviewQueue', undefined, {
      pageSize: 20,
      pageToken: route.query.get('page') ?? '',
    });
    const versions = response.versions ?? [];
    // The apps' names and providers for the cards; a failed read leaves a card with the resource name only.
    const apps = new Map<string, App>();
    await Promise.all([...new Set(versions.map((v) => appOf(v.name)))].map(async (name) => {
      try {
        apps.set(name, await call<App>('GET', resourcePath(name)));
      } catch {
        // Shown without the app's details.
      }
    }));
    const cards = versions.map((version) => {
      const card: HTMLElement = reviewCard(version, apps.get(appOf(version.name)), () => {
        card.remove();
        status.textContent = t('review.done', { version: version.name });
        if (!list.querySelector('form')) list.prepend(empty('review.empty'));
      });
      return card;
    });
    list.replaceChildren(...(cards.length === 0 ? [empty('review.empty')] : cards), pager(route, response.nextPageToken));
  } catch (error) {
    list.replaceChildren(errorBox(error));
  }
}
