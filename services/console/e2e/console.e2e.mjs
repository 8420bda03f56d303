// The park console end to end in Debian's headless Chromium (playwright-core, no browser download), against a
// `parkbase serve --console_dir` that tests/e2e/console_e2e.sh started: a park administrator onboards a tenant and
// mints its key; the tenant signs in, creates a device type and a device, sees points written through the API as
// latest values and a point written later on the live chart within a second, filters and pages devices with the filter in the URL, creates and revokes a key; the park suspends
// the tenant and the tenant's session is refused; the language switches to English; axe-core finds no serious or
// critical violation on any page. A screenshot of each page goes to PARKBASE_SCREENSHOTS.
import { appendFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const consoleUrl = process.env.PARKBASE_CONSOLE_URL;
const parkKey = process.env.PARKBASE_PARK_KEY;
const shots = process.env.PARKBASE_SCREENSHOTS;
const secretsFile = process.env.PARKBASE_SECRETS_FILE;
if (!consoleUrl || !parkKey || !shots) throw new Error('run through tests/e2e/console_e2e.sh');
const origin = new URL(consoleUrl).origin;
const tenantId = `e2e-${process.pid}`;

// The catalogues' texts, read from their sources so the test follows the messages.
function catalogue(file) {
  const text = readFileSync(new URL(`../src/messages/${file}`, import.meta.url), 'utf8');
  return Object.fromEntries([...text.matchAll(/^\s*'([\w.]+)':\s*'((?:[^'\\]|\\.)*)',?$/gm)].map((m) => [m[1], m[2].replace(/\\'/g, "'")]));
}
const zh = catalogue('zh-CN.ts');
const en = catalogue('en.ts');
const fill = (text, params) => text.replace(/\{(\w+)\}/g, (_, name) => params[name]);

const axeSource = readFileSync(new URL('../node_modules/axe-core/axe.min.js', import.meta.url), 'utf8');
const failures = [];
function check(condition, what) {
  if (!condition) failures.push(what);
  console.log(`${condition ? 'ok  ' : 'FAIL'} ${what}`);
}

const browser = await chromium.launch({
  executablePath: process.env.PARKBASE_CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  // Chromium's own network chatter (updates, sync, QUIC probes) would flood a closed network; Playwright gives
  // each launch a fresh profile directory.
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const pageErrors = [];
const openPages = [];

async function newPage(viewport = { width: 1280, height: 800 }) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  openPages.push(page);
  page.setDefaultTimeout(10_000);
  page.on('pageerror', (error) => pageErrors.push(String(error)));
  page.on('console', (message) => {
    if (message.type() === 'error' && !/Failed to load resource/.test(message.text())) pageErrors.push(message.text());
  });
  return page;
}

async function shot(page, name) {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
}

// axe-core in the page: no serious or critical violation.
async function axe(page, name) {
  if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => (await window.axe.run(document, { resultTypes: ['violations'] })).violations
    .map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 3) })));
  const bad = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  check(bad.length === 0, `axe: ${name} has no serious or critical violation ${bad.length ? JSON.stringify(bad) : ''}`);
}

async function heading(page, text) {
  await page.getByRole('heading', { level: 1, name: text, exact: true }).waitFor();
}

async function api(method, path, key, body) {
  const response = await fetch(`${origin}${path}`, {
    method, headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: await response.json().catch(() => ({})) };
}

async function readSecret(page) {
  const dialog = page.getByRole('dialog', { name: zh['secret.title'] });
  await dialog.waitFor();
  const secret = await dialog.getByRole('textbox').inputValue();
  if (secretsFile) appendFileSync(secretsFile, `${secret}\n`);
  return { dialog, secret };
}

try {
  // --- The park administrator -------------------------------------------------------------------------------
  const park = await newPage();
  await park.goto(consoleUrl);
  await heading(park, zh['signin.title']);
  check(await park.evaluate(() => document.documentElement.lang) === 'zh-CN', 'Chinese is the default language');
  check(new URL(park.url()).pathname === '/console/signin', 'an unsigned visitor lands on the sign-in page');
  await shot(park, '01-signin');
  await axe(park, 'sign-in');

  await park.getByLabel(zh['signin.key']).fill('pbk.park.0000.wrong');
  await park.getByRole('button', { name: zh['signin.submit'] }).click();
  await park.getByRole('alert').filter({ hasText: zh['error.UNAUTHENTICATED'] }).waitFor();
  check(true, 'a wrong key is refused in Chinese');
  await park.getByLabel(zh['signin.key']).fill(parkKey);
  await park.getByRole('button', { name: zh['signin.submit'] }).click();
  await heading(park, zh['tenants.title']);
  check(await park.evaluate(() => sessionStorage.getItem('parkbase.apiKey')) === parkKey, 'the key is kept in sessionStorage');
  check(await park.evaluate(() => Object.values(localStorage).every((v) => !v.includes('pbk.'))), 'and not in localStorage');

  // Onboarding: the API's field violation appears beside its field.
  await park.getByRole('link', { name: zh['tenants.onboard'] }).click();
  await heading(park, zh['tenantNew.title']);
  await park.getByLabel(zh['tenantNew.id']).fill('Not A Valid Id!');
  await park.getByLabel(zh['tenantNew.name']).fill('苏州精密制造有限公司');
  await park.getByRole('button', { name: zh['tenantNew.submit'] }).click();
  const idError = park.locator('[data-error-for="tenant_id"]');
  await idError.filter({ hasText: zh['form.invalid'] }).waitFor();
  check(await park.getByLabel(zh['tenantNew.id']).getAttribute('aria-invalid') === 'true', 'the tenant id field is marked invalid');
  await shot(park, '02-tenant-new-invalid');
  await axe(park, 'onboarding form with errors');
  await park.getByLabel(zh['tenantNew.id']).fill(tenantId);
  await park.getByLabel(zh['tenantNew.plan']).selectOption('PLAN_STANDARD');
  await park.getByRole('button', { name: zh['tenantNew.submit'] }).click();
  await heading(park, fill(zh['tenantPage.title'], { tenant: tenantId }));
  check((await park.locator('.facts').innerText()).includes(zh['plan.standard']), 'the new tenant shows its plan');

  // Its administrator key, shown once with a copy button.
  await park.getByRole('button', { name: zh['tenantPage.mint'] }).click();
  const { dialog: keyDialog, secret: tenantKey } = await readSecret(park);
  check(tenantKey.startsWith(`pbk.${tenantId}.`), 'the minted key belongs to the tenant');
  check(await keyDialog.getByRole('button', { name: zh['secret.copy'] }).isVisible(), 'the secret has a copy button');
  await shot(park, '03-tenant-key-minted');
  await axe(park, 'secret dialog');
  await keyDialog.getByRole('button', { name: zh['common.close'] }).click();
  await shot(park, '04-tenant');
  await axe(park, 'tenant page');

  // The tenants list, with a search and a state filter kept in the URL.
  await park.getByRole('link', { name: zh['nav.tenants'], exact: true }).click();
  await heading(park, zh['tenants.title']);
  await park.getByLabel(zh['tenants.search']).fill(tenantId);
  await park.getByLabel(zh['tenants.state']).selectOption('ACTIVE');
  await park.getByRole('button', { name: zh['common.apply'] }).click();
  await park.getByRole('link', { name: tenantId }).waitFor();
  check(new URL(park.url()).searchParams.get('state') === 'ACTIVE', 'the tenants filter is in the URL');
  await shot(park, '05-tenants');
  await axe(park, 'tenants list');
  await park.getByLabel(zh['tenants.state']).selectOption('SUSPENDED');
  await park.getByRole('button', { name: zh['common.apply'] }).click();
  await park.getByText(zh['tenants.empty']).waitFor();
  check(true, 'no suspended tenant: the empty state shows');

  // --- The tenant, at tablet size ---------------------------------------------------------------------------
  const tenant = await newPage({ width: 820, height: 1180 });
  await tenant.goto(consoleUrl);
  await tenant.getByLabel(zh['signin.key']).fill(tenantKey);
  await tenant.getByRole('button', { name: zh['signin.submit'] }).click();
  await heading(tenant, zh['devices.title']);
  await tenant.getByText(zh['devices.empty']).waitFor();

  await tenant.getByRole('link', { name: zh['nav.deviceTypes'], exact: true }).click();
  await heading(tenant, zh['deviceTypes.title']);
  await tenant.getByLabel(zh['deviceTypes.id']).fill('press');
  await tenant.getByLabel(zh['deviceTypes.name'], { exact: true }).fill('冲压机');
  await tenant.getByLabel(zh['deviceTypes.metricName']).fill('temp');
  await tenant.getByLabel(zh['deviceTypes.metricUnit']).fill('°C');
  await tenant.getByRole('button', { name: zh['deviceTypes.createButton'], exact: true }).click();
  await tenant.getByRole('cell', { name: 'press', exact: true }).waitFor();
  await shot(tenant, '06-device-types');
  await axe(tenant, 'device types');

  await tenant.getByRole('link', { name: zh['nav.devices'], exact: true }).click();
  await heading(tenant, zh['devices.title']);
  for (const [id, line] of [['press-1', '3'], ['press-2', '3'], ['press-3', '4']]) {
    await tenant.getByLabel(zh['devices.id']).fill(id);
    await tenant.getByLabel(zh['devices.serial']).fill(`SN-${id}`);
    await tenant.getByLabel(zh['devices.labels'], { exact: true }).fill(`line=${line}`);
    await tenant.getByRole('button', { name: zh['devices.createButton'] }).click();
    await heading(tenant, fill(zh['devicePage.title'], { device: id }));
    await tenant.getByRole('link', { name: zh['devicePage.back'] }).click();
    await heading(tenant, zh['devices.title']);
  }
  // The label filter and paging (one device a page) keep the filter in the URL.
  await tenant.getByLabel(zh['devices.labelFilter']).fill('line=3');
  await tenant.getByRole('button', { name: zh['common.apply'] }).click();
  await tenant.getByRole('link', { name: 'press-1' }).waitFor();
  check(await tenant.getByRole('link', { name: 'press-3' }).count() === 0, 'the label filter leaves out line 4');
  const filtered = new URL(tenant.url());
  filtered.searchParams.set('size', '1');
  await tenant.goto(filtered.toString());
  await tenant.getByRole('link', { name: 'press-1' }).waitFor();
  await tenant.getByRole('link', { name: zh['common.nextPage'] }).click();
  await tenant.getByRole('link', { name: 'press-2' }).waitFor();
  const paged = new URL(tenant.url()).searchParams;
  check(paged.get('labels') === 'line=3' && paged.get('page'), 'the second page keeps the filter in the URL');
  check(await tenant.getByRole('link', { name: 'press-1' }).count() === 0, 'the second page shows the second device');
  await shot(tenant, '07-devices-filtered');
  await axe(tenant, 'devices list');

  // Points written through the API show as latest values.
  const now = Date.now();
  const written = await api('POST', `/v1/tenants/${tenantId}/telemetry:write`, tenantKey, {
    series: [{ device: 'press-1', metric: 'temp', timestampsMs: [String(now - 1000), String(now)], doubleValues: [20.25, 1234.5] }],
  });
  check(written.status === 200, `telemetry write answers 200 (${written.status} ${JSON.stringify(written.body)})`);
  await tenant.goto(`${consoleUrl}t/${tenantId}/devices/press-1`);
  await heading(tenant, fill(zh['devicePage.title'], { device: 'press-1' }));
  const latest = tenant.getByTestId('latest');
  await latest.getByRole('cell', { name: 'temp' }).waitFor();
  const zhValue = `${new Intl.NumberFormat('zh-CN').format(1234.5)} °C`;
  check((await latest.innerText()).includes(zhValue), `the latest value shows as ${zhValue}`);
  // The live chart: subscribed over SSE (fetch streaming), a point written now is on it within a second.
  const chart = tenant.getByTestId('live-chart');
  // Subscribed, and the history read: from here on only the live stream adds points.
  await tenant.locator('[data-testid="live-chart"][data-state="live"][data-history="loaded"]').waitFor();
  const before = Number(await chart.getAttribute('data-points'));
  check(before >= 2, `the chart opens with the last ten minutes from ReadRange, not only the latest value (${before} points)`);
  const sent = Date.now();
  const live = await api('POST', `/v1/tenants/${tenantId}/telemetry:write`, tenantKey, {
    series: [{ device: 'press-1', metric: 'temp', timestampsMs: [String(sent)], doubleValues: [1240.75] }],
  });
  check(live.status === 200, 'a live point is written');
  await tenant.waitForFunction((count) => Number(document.querySelector('[data-testid="live-chart"]').dataset.points) > count,
    before, { timeout: 1000 });
  check(true, `the live point is on the chart ${Date.now() - sent} ms after the write (limit 1000 ms)`);
  check(await tenant.locator('[data-testid="live-chart"] canvas').count() >= 1, 'the chart is drawn');
  await shot(tenant, '08-device');
  await axe(tenant, 'device page');

  // Keys: create (secret once), revoke.
  await tenant.getByRole('link', { name: zh['nav.keys'], exact: true }).click();
  await heading(tenant, zh['keys.title']);
  await tenant.getByLabel(zh['keys.name']).fill('ci');
  await tenant.getByRole('button', { name: zh['keys.createButton'], exact: true }).click();
  const { dialog: devDialog, secret: devKey } = await readSecret(tenant);
  check((await api('GET', `/v1/tenants/${tenantId}/devices`, devKey)).status === 200, 'the new developer key works');
  await devDialog.getByRole('button', { name: zh['common.close'] }).click();
  await tenant.getByRole('cell', { name: 'ci', exact: true }).waitFor();
  await shot(tenant, '09-keys');
  await axe(tenant, 'keys');
  await tenant.getByRole('button', { name: fill(zh['keys.revokeNamed'], { name: 'ci' }) }).click();
  await tenant.getByRole('dialog').getByRole('button', { name: zh['keys.revoke'] }).click();
  await tenant.getByText(zh['keys.revokedAt'].split('{')[0]).first().waitFor();
  check((await api('GET', `/v1/tenants/${tenantId}/devices`, devKey)).status === 401, 'the revoked key is refused');

  // English by the switch; numbers follow the language.
  await tenant.getByRole('button', { name: zh['app.switchLanguage'] }).click();
  await heading(tenant, en['keys.title']);
  check(await tenant.evaluate(() => document.documentElement.lang) === 'en', 'the page is in English');
  await tenant.goto(`${consoleUrl}t/${tenantId}/devices/press-1`);
  await heading(tenant, fill(en['devicePage.title'], { device: 'press-1' }));
  await latest.getByRole('cell', { name: 'temp' }).waitFor();
  check((await latest.innerText()).includes('1,240.75 °C'), 'English formats the latest value, 1,240.75');
  await shot(tenant, '10-device-en');
  await axe(tenant, 'device page in English');

  // --- The park suspends the tenant: its session is refused -------------------------------------------------
  await park.goto(`${consoleUrl}tenants/${tenantId}`);
  await heading(park, fill(zh['tenantPage.title'], { tenant: tenantId }));
  await park.getByLabel(zh['tenantPage.reason'], { exact: true }).fill('欠费');
  await park.getByRole('button', { name: zh['tenantPage.suspend'], exact: true }).click();
  await park.locator('.facts').getByText(zh['state.suspended']).waitFor();
  await shot(park, '11-tenant-suspended');
  await tenant.goto(`${consoleUrl}t/${tenantId}/devices`);
  await tenant.getByRole('alert').filter({ hasText: en['error.PERMISSION_DENIED'] }).waitFor();
  check(true, 'the suspended tenant\'s session is refused, in English');
  await shot(tenant, '12-suspended-refused');
  await axe(tenant, 'refused page');
  await park.getByRole('button', { name: zh['tenantPage.resume'], exact: true }).click();
  await park.locator('.facts').getByText(zh['state.active']).waitFor();
  await tenant.reload();
  await tenant.getByRole('link', { name: 'press-1' }).waitFor();
  check(true, 'resumed, the tenant works again');

  // Delete: only a suspended tenant, and only after typing its id.
  check((await park.locator('.danger-zone').innerText()).includes(zh['tenantPage.deleteNeedsSuspend']), 'an active tenant cannot be deleted');
  await park.getByLabel(zh['tenantPage.reason'], { exact: true }).fill('合同结束');
  await park.getByRole('button', { name: zh['tenantPage.suspend'], exact: true }).click();
  await park.locator('.facts').getByText(zh['state.suspended']).waitFor();
  await park.getByRole('button', { name: zh['tenantPage.delete'] }).click();
  const confirm = park.getByRole('dialog');
  await confirm.getByRole('textbox').fill('wrong');
  await confirm.getByRole('button', { name: zh['tenantPage.delete'] }).click();
  await confirm.getByText(fill(zh['confirm.mismatch'], { text: tenantId })).waitFor();
  check((await api('GET', `/v1/tenants/${tenantId}`, parkKey)).status === 200, 'a wrong confirmation deletes nothing');
  await shot(park, '13-delete-confirm');
  await confirm.getByRole('textbox').fill(tenantId);
  await confirm.getByRole('button', { name: zh['tenantPage.delete'] }).click();
  await heading(park, zh['tenants.title']);
  check((await api('GET', `/v1/tenants/${tenantId}`, parkKey)).status === 404, 'the tenant is deleted');

  // A client route reloads to the same page (the server answers index.html).
  const deep = await fetch(`${consoleUrl}t/x/devices/y`);
  check(deep.status === 200 && (await deep.text()).includes('<div id="app">'), 'a client route is served index.html');
  check(pageErrors.length === 0, `no script errors or CSP violations in the pages ${JSON.stringify(pageErrors)}`);
} catch (error) {
  for (const page of openPages) await shot(page, `failure-${openPages.indexOf(page)}`).catch(() => {});
  failures.push(String(error?.stack ?? error));
  console.log(`FAIL ${error?.stack ?? error}`);
} finally {
  await browser.close();
}
if (failures.length) {
  console.log(`${failures.length} failure(s)`);
  process.exit(1);
}
console.log('console e2e: all checks passed');
