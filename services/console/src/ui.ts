// Pieces every page uses: the page frame's heading, loading and empty states, errors in the user's language, forms
// that show the API's field violations beside their fields, the secret shown once, and confirmation dialogs.
import { ApiError } from './api';
import { append, clear, h } from './dom';
import { t, type MessageKey } from './i18n';

const errorKeys: Record<string, MessageKey> = {
  INVALID_ARGUMENT: 'error.INVALID_ARGUMENT',
  NOT_FOUND: 'error.NOT_FOUND',
  ALREADY_EXISTS: 'error.ALREADY_EXISTS',
  PERMISSION_DENIED: 'error.PERMISSION_DENIED',
  UNAUTHENTICATED: 'error.UNAUTHENTICATED',
  FAILED_PRECONDITION: 'error.FAILED_PRECONDITION',
  RESOURCE_EXHAUSTED: 'error.RESOURCE_EXHAUSTED',
  UNAVAILABLE: 'error.UNAVAILABLE',
  ABORTED: 'error.ABORTED',
  NETWORK: 'error.NETWORK',
};

// What went wrong, in the user's language; the API's own text (which names the field and rule) follows as detail.
export function errorText(error: unknown): { summary: string; detail: string } {
  if (error instanceof ApiError) {
    return { summary: t(errorKeys[error.status] ?? 'error.other', { status: error.status }), detail: error.message };
  }
  return { summary: t('error.other', { status: '' }), detail: String(error) };
}

export function errorBox(error: unknown): HTMLElement {
  const { summary, detail } = errorText(error);
  return h('div', { class: 'error', role: 'alert' }, h('strong', {}, summary), detail ? h('p', { class: 'detail' }, detail) : null);
}

export function loading(): HTMLElement {
  return h('p', { class: 'muted', role: 'status' }, t('common.loading'));
}

export function empty(key: MessageKey): HTMLElement {
  return h('p', { class: 'empty', role: 'status' }, t(key));
}

let fieldCount = 0;

export function field(label: MessageKey, input: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement, hint?: MessageKey): HTMLElement {
  // Unique per page: two forms on one page may have inputs of the same name (the filter's and the form's labels).
  const id = input.id || `f-${input.name.replace(/\W/g, '-')}-${++fieldCount}`;
  input.id = id;
  const hintId = `${id}-hint`;
  const errorId = `${id}-error`;
  input.setAttribute('aria-describedby', hint ? `${hintId} ${errorId}` : errorId);
  return h(
    'div',
    { class: 'field' },
    h('label', { for: id }, t(label)),
    input,
    hint ? h('small', { id: hintId, class: 'muted' }, t(hint)) : null,
    h('small', { id: errorId, class: 'field-error', 'data-error-for': input.name }),
  );
}

// Shows `error` on `form`: each BadRequest violation beside the input whose data-api-field (or name) it names (with
// the input's data-rule, the rule in the user's language, first), the rest in the form's error box. Returns nothing;
// clears earlier errors first.
export function showFormError(form: HTMLFormElement, error: unknown): void {
  for (const slot of form.querySelectorAll('[data-error-for]')) slot.textContent = '';
  for (const input of form.querySelectorAll('[aria-invalid]')) input.removeAttribute('aria-invalid');
  const box = form.querySelector('.form-error') as HTMLElement;
  clear(box);
  let unplaced = true;
  if (error instanceof ApiError) {
    for (const violation of error.violations) {
      const input = [...form.querySelectorAll<HTMLInputElement>('[name]')].find(
        (candidate) => (candidate.dataset.apiField ?? candidate.name) === violation.field,
      );
      const slot = input && form.querySelector(`[data-error-for="${CSS.escape(input.name)}"]`);
      if (input && slot) {
        input.setAttribute('aria-invalid', 'true');
        // A field may say its rule in the user's language (data-rule); the API's own words follow in brackets.
        const rule = input.dataset.rule;
        slot.textContent = rule
          ? `${t('form.invalid')} ${rule} (${violation.description})`
          : `${t('form.invalid')} ${violation.description}`;
        unplaced = false;
      }
    }
  }
  if (unplaced || !(error instanceof ApiError) || error.violations.length === 0) append(box, errorBox(error));
  else append(box, h('div', { class: 'error', role: 'alert' }, h('strong', {}, errorText(error).summary)));
}

export function formErrorSlot(): HTMLElement {
  return h('div', { class: 'form-error', 'aria-live': 'polite' });
}

// Runs `action` with the form's submit button disabled, showing its error on the form.
export async function submitting(form: HTMLFormElement, action: () => Promise<void>): Promise<void> {
  const button = form.querySelector<HTMLButtonElement>('button[type=submit]');
  if (button) button.disabled = true;
  try {
    await action();
  } catch (error) {
    showFormError(form, error);
  } finally {
    if (button) button.disabled = false;
  }
}

function modal(titleKey: MessageKey, ...content: (Node | null)[]): HTMLDialogElement {
  const titleId = `dialog-title-${Math.random().toString(36).slice(2)}`;
  const dialog = h('dialog', { 'aria-labelledby': titleId }, h('h2', { id: titleId }, t(titleKey)), ...content);
  dialog.addEventListener('close', () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  return dialog;
}

// A new key's secret (or an app credential, with its own title and text), shown once: the server keeps only its hash.
export function showSecret(secret: string, titleKey: MessageKey = 'secret.title', onceKey: MessageKey = 'secret.once'): HTMLDialogElement {
  const status = h('p', { role: 'status', class: 'muted' });
  const value = h('input', { type: 'text', readonly: true, value: secret, class: 'secret', 'aria-label': t('secret.label') });
  const dialog = modal(
    titleKey,
    h('p', {}, t(onceKey)),
    value,
    h(
      'div',
      { class: 'actions' },
      h('button', {
        type: 'button',
        onclick: async () => {
          try {
            await navigator.clipboard.writeText(secret);
            status.textContent = t('secret.copied');
          } catch {
            value.select();
            status.textContent = t('secret.copyFailed');
          }
        },
      }, t('secret.copy')),
      h('button', { type: 'button', class: 'secondary', onclick: () => dialog.close() }, t('common.close')),
    ),
    status,
  );
  return dialog;
}

// Asks before something that cannot be undone; with `typeToConfirm` the user types that text first.
export function confirmDialog(titleKey: MessageKey, message: string, actionKey: MessageKey, typeToConfirm?: string): Promise<boolean> {
  return new Promise((resolve) => {
    let confirmed = false;
    const input = typeToConfirm
      ? h('input', { type: 'text', name: 'confirm', autocomplete: 'off' })
      : null;
    const form = h('form', { method: 'dialog' });
    const dialog = modal(titleKey, form);
    append(
      form,
      h('p', {}, message),
      input ? field('confirm.type', input) : null,
      h(
        'div',
        { class: 'actions' },
        h('button', { type: 'submit', class: 'danger' }, t(actionKey)),
        h('button', { type: 'button', class: 'secondary', onclick: () => dialog.close() }, t('common.cancel')),
      ),
    );
    form.addEventListener('submit', (event) => {
      if (input && input.value.trim() !== typeToConfirm) {
        event.preventDefault();
        const slot = form.querySelector('[data-error-for="confirm"]');
        if (slot) slot.textContent = t('confirm.mismatch', { text: typeToConfirm ?? '' });
        input.setAttribute('aria-invalid', 'true');
        return;
      }
      confirmed = true;
    });
    dialog.addEventListener('close', () => resolve(confirmed));
  });
}

// A table in a wrapper that scrolls sideways when the screen is narrow; the wrapper takes the keyboard focus (a named
// region), so a keyboard user can scroll it too (axe: scrollable-region-focusable).
export function table(headers: MessageKey[], rows: Node[][], captionKey?: MessageKey): HTMLElement {
  return h(
    'div',
    { class: 'table-wrap', tabindex: 0, role: 'region', 'aria-label': captionKey ? t(captionKey) : null },
    h(
      'table',
      {},
      captionKey ? h('caption', { class: 'visually-hidden' }, t(captionKey)) : null,
      h('thead', {}, h('tr', {}, headers.map((key) => h('th', { scope: 'col' }, t(key))))),
      h('tbody', {}, rows.map((cells) => h('tr', {}, cells.map((cell) => h('td', {}, cell))))),
    ),
  );
}

export function text(value: string | undefined): Node {
  return document.createTextNode(value ?? '');
}

export function badge(label: string, tone: 'ok' | 'warn' | 'off'): HTMLElement {
  return h('span', { class: `badge ${tone}` }, label);
}

// Sets the page's <h1> and the tab title.
export function pageTitle(main: HTMLElement, key: MessageKey, params: Record<string, string> = {}): void {
  const title = t(key, params);
  document.title = `${title} · ${t('app.name')}`;
  main.prepend(h('h1', {}, title));
}
