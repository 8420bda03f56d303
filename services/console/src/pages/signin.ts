// Sign-in with an API key (auth.ts keeps it); the key is checked with one call before it is kept.
import { call, tenantPath } from '../api';
import { parseKey, signIn, type Session } from '../auth';
import { h } from '../dom';
import { t } from '../i18n';
import { href, navigate } from '../router';
import { field, formErrorSlot, pageTitle, submitting } from '../ui';
import { ApiError } from '../api';

export function renderSignIn(main: HTMLElement): void {
  pageTitle(main, 'signin.title');
  const key = h('input', { type: 'password', name: 'key', required: true, autocomplete: 'off', spellcheck: 'false' });
  const form = h(
    'form',
    { class: 'card narrow', novalidate: true },
    h('p', {}, t('signin.intro')),
    field('signin.key', key, 'signin.keyHint'),
    formErrorSlot(),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, t('signin.submit'))),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void submitting(form, async () => {
      const value = key.value.trim();
      const parsed: Session | null = parseKey(value);
      if (!parsed) {
        throw new ApiError(400, 'INVALID_ARGUMENT', t('signin.malformed'), [{ field: 'key', description: t('signin.malformed') }]);
      }
      // A call the key's scope may make: it proves the key and that its tenant is not suspended.
      if (parsed.scope === 'park') await call('GET', '/v1/tenants', undefined, { pageSize: 1 }, value);
      else await call('GET', tenantPath(parsed.tenant), undefined, {}, value);
      signIn(value);
      navigate(href(''), true);
    });
  });
  main.append(form);
}
