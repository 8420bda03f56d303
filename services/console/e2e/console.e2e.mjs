// The park console end to end in Debian's headless Chromium (playwright-core, no browser download), against a
// `parkbase serve --console_dir` that tests/e2e/console_e2e.sh started: a park administrator onboards a tenant and
// mints its key, edits its quota (saved, refused beside a field, ABORTED after a concurrent change); the tenant signs
// in, creates a device type and a device, sees points written through the API as latest values and a point written
// later on the live chart within a second, the last hour's aggregates with the range kept in the URL, filters and
// pages devices with the filter in the URL, creates and revokes a key;
// a provider publishes apps through the API, the park approves one and rejects one in the review queue, the tenant
// finds the approved one in the catalogue, installs it with a grant, rates it, sees it in its audit log and
// uninstalls it, and the park pages the audit logs; the park suspends
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

// Keyboard only: Tab from the top of the page reaches every visible link, button and field, each showing the focus
// outline (:focus-visible).
async function keyboardReach(page, name) {
  const count = await page.evaluate(() => {
    const targets = [...document.querySelectorAll('a[href], button, input, select, textarea')]
      .filter((e) => !e.disabled && e.getClientRects().length > 0 && e.tabIndex >= 0);
    targets.forEach((e, i) => { e.dataset.kbd = String(i); });
    document.activeElement?.blur();
    return targets.length;
  });
  const reached = new Set();
  let outlined = true;
  for (let i = 0; i < count + 3; i++) {
    await page.keyboard.press('Tab');
    const focus = await page.evaluate(() => {
      const e = document.activeElement;
      return e?.dataset?.kbd === undefined ? null : { kbd: e.dataset.kbd, outline: getComputedStyle(e).outlineStyle };
    });
    if (!focus) continue;
    reached.add(focus.kbd);
    if (focus.outline === 'none') outlined = false;
  }
  check(count > 0 && reached.size === count && outlined,
    `keyboard: Tab reaches all ${count} links, buttons and fields of the ${name}, each with a focus outline (${reached.size} reached)`);
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

  await keyboardReach(park, 'sign-in page');
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

  // Plan and quota: the park changes two fields; after a reload the page (and the API) hold the new values.
  const quotaForm = park.getByTestId('quota-form');
  check((await quotaForm.getByLabel(zh['tenantQuota.maxDevices']).inputValue()) === '10000', 'the quota form shows the standard plan\'s quota');
  await quotaForm.getByLabel(zh['tenantQuota.maxDevices']).fill('2500');
  await quotaForm.getByLabel(zh['tenantQuota.retentionDays']).fill('30');
  await quotaForm.getByRole('button', { name: zh['tenantQuota.save'] }).click();
  await park.waitForFunction(() => document.querySelector('[data-testid="quota-form"] input[name="max_devices"]')?.value === '2500'
    && !document.querySelector('[data-testid="quota-form"] button[type="submit"]')?.disabled);
  await park.reload();
  await heading(park, fill(zh['tenantPage.title'], { tenant: tenantId }));
  check((await quotaForm.getByLabel(zh['tenantQuota.maxDevices']).inputValue()) === '2500'
    && (await quotaForm.getByLabel(zh['tenantQuota.retentionDays']).inputValue()) === '30', 'after a reload the quota form holds the new values');
  const storedQuota = (await api('GET', `/v1/tenants/${tenantId}`, parkKey)).body.quota ?? {};
  check(storedQuota.maxDevices === '2500' && storedQuota.retentionDays === 30 && storedQuota.maxIngestPointsPerSecond === '100000',
    `the API stores the two changed fields and keeps the others (${JSON.stringify(storedQuota)})`);
  await shot(park, '04b-tenant-quota-saved');
  // An out-of-range value: the API's field violation, beside that field only, with the rule in Chinese.
  await quotaForm.getByLabel(zh['tenantQuota.retentionDays']).fill('99999');
  await quotaForm.getByRole('button', { name: zh['tenantQuota.save'] }).click();
  const retentionError = park.locator('[data-testid="quota-form"] [data-error-for="retention_days"]');
  await retentionError.filter({ hasText: fill(zh['tenantQuota.range'], { min: '1', max: '3,650' }) }).waitFor();
  check(await quotaForm.getByLabel(zh['tenantQuota.retentionDays']).getAttribute('aria-invalid') === 'true'
    && await quotaForm.locator('[aria-invalid="true"]').count() === 1, 'retention_days 99999 is marked invalid beside its field, and only there');
  check((await retentionError.innerText()).startsWith(zh['form.invalid']), 'the field error is in Chinese');
  check((await api('GET', `/v1/tenants/${tenantId}`, parkKey)).body.quota?.retentionDays === 30, 'the refused value is not stored');
  await shot(park, '04c-tenant-quota-invalid');
  await axe(park, 'quota form with a field error');
  // A change made elsewhere since the page read the tenant: the save is ABORTED, shown, and changes nothing.
  await park.reload();
  await heading(park, fill(zh['tenantPage.title'], { tenant: tenantId }));
  check((await api('PATCH', `/v1/tenants/${tenantId}?updateMask=contactEmail`, parkKey, { contactEmail: 'ops@example.com' })).status === 200,
    'meanwhile the contact email is changed through the API');
  await quotaForm.getByLabel(zh['tenantQuota.maxInstalledApps']).fill('5');
  await quotaForm.getByRole('button', { name: zh['tenantQuota.save'] }).click();
  await quotaForm.getByRole('alert').filter({ hasText: zh['error.ABORTED'] }).waitFor();
  check((await api('GET', `/v1/tenants/${tenantId}`, parkKey)).body.quota?.maxInstalledApps === 20, 'the stale save is ABORTED and stores nothing');
  await shot(park, '04d-tenant-quota-aborted');

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

  // The last hour as aggregates: eleven more points spread over the hour, written through the API, then the range
  // switch. The summary table's figures are the API's buckets summed up, so they check the data, not only a canvas.
  const spreadFrom = Date.now();
  const spread = Array.from({ length: 11 }, (_, i) => spreadFrom - (i + 1) * 5 * 60_000);
  const older = await api('POST', `/v1/tenants/${tenantId}/telemetry:write`, tenantKey, {
    series: [{ device: 'press-1', metric: 'temp', timestampsMs: spread.map(String), doubleValues: spread.map((_, i) => 100 + i) }],
  });
  check(older.status === 200, `eleven points over the last hour are written (${older.status})`);
  const rangeLinks = tenant.getByRole('navigation', { name: zh['deviceRange.label'] });
  await rangeLinks.getByRole('link', { name: zh['deviceRange.hour'] }).click();
  const hourChart = tenant.locator('[data-testid="range-chart"][data-range="hour"][data-state="loaded"]');
  await hourChart.waitFor();
  check(new URL(tenant.url()).searchParams.get('range') === 'hour', 'the range is in the URL (?range=hour)');
  const zhNumber = (value) => `${new Intl.NumberFormat('zh-CN', { maximumFractionDigits: 6 }).format(value)} °C`;
  // 20.25, 1234.5 and 1240.75 written before, and 100 to 110: 14 points, their mean 3650.5 / 14.
  async function checkSummary(what) {
    const plot = tenant.getByTestId('range-plot');
    const buckets = Number(await plot.getAttribute('data-buckets'));
    check(await plot.getAttribute('data-series') === '1' && buckets >= 12 && buckets <= 14 && await plot.locator('canvas').count() >= 1,
      `${what}: the chart draws one metric in ${buckets} one-minute buckets (12 to 14)`);
    const summary = await hourChart.getByRole('region', { name: zh['deviceRange.summary'] }).innerText();
    check(/(^|\s)14(\s|$)/.test(summary) && [zhNumber(20.25), zhNumber(260.75), zhNumber(1240.75)].every((part) => summary.includes(part)),
      `${what}: the summary shows 14 points, min 20.25, mean 260.75, max 1,240.75 (${summary.replace(/\s+/g, ' ')})`);
  }
  await checkSummary('last hour');
  await shot(tenant, '08b-device-hour');
  await axe(tenant, 'device page, last hour');
  await tenant.reload();
  await hourChart.waitFor();
  check(await rangeLinks.getByRole('link', { name: zh['deviceRange.hour'] }).getAttribute('aria-current') === 'true',
    'after a reload the page is still on the last hour');
  await checkSummary('after a reload');
  // The last day: 15-minute buckets (from the one-minute rollups where they are settled), the same 14 points.
  await rangeLinks.getByRole('link', { name: zh['deviceRange.day'] }).click();
  const dayChart = tenant.locator('[data-testid="range-chart"][data-range="day"][data-state="loaded"]');
  await dayChart.waitFor();
  const daySummary = await dayChart.getByRole('region', { name: zh['deviceRange.summary'] }).innerText();
  check(new URL(tenant.url()).searchParams.get('range') === 'day' && daySummary.includes(zhNumber(260.75)) && /(^|\s)14(\s|$)/.test(daySummary),
    `the last day sums up the same 14 points (${daySummary.replace(/\s+/g, ' ')})`);
  // A device without points: the empty state; back to live: the live chart and no range in the URL.
  await tenant.goto(`${consoleUrl}t/${tenantId}/devices/press-2?range=week`);
  await tenant.locator('[data-testid="range-chart"][data-range="week"][data-state="empty"]').getByText(zh['deviceRange.empty']).waitFor();
  check(true, 'a device without points shows the empty state for the last week');
  await shot(tenant, '08c-device-week-empty');
  await axe(tenant, 'device page, empty week');
  await rangeLinks.getByRole('link', { name: zh['deviceRange.live'] }).click();
  await tenant.locator('[data-testid="live-chart"][data-state="live"]').waitFor();
  check(!new URL(tenant.url()).searchParams.has('range'), 'live again: the range leaves the URL');

  // The devices list shows each device's latest values, with units: press-1's newest point, nothing for press-2.
  await tenant.goto(`${consoleUrl}t/${tenantId}/devices`);
  await heading(tenant, zh['devices.title']);
  const latestOf = (device) => tenant.getByRole('row').filter({ has: tenant.getByRole('link', { name: device, exact: true }) })
    .getByTestId('device-latest');
  await tenant.locator('[data-testid="device-latest"]:not([aria-busy])').first().waitFor();
  const listedLatest = await latestOf('press-1').innerText();
  check(listedLatest === `temp ${new Intl.NumberFormat('zh-CN').format(1240.75)} °C`, `the list shows press-1's latest value (${listedLatest})`);
  check(await latestOf('press-2').innerText() === '—', 'a device without points shows a dash');
  await shot(tenant, '07b-devices-latest');
  await keyboardReach(tenant, 'devices list');

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

  // --- The marketplace: a provider publishes through the API, the park reviews in the console -----------------
  const vendorId = `vendor-${process.pid}`;
  check((await api('POST', `/v1/tenants?tenantId=${vendorId}`, parkKey, { displayName: 'VibroTech 振动科技', provider: true })).status === 200,
    'the park onboards a provider tenant');
  const vendorKey = (await api('POST', `/v1/tenants/${vendorId}/apiKeys`, parkKey, { displayName: 'releases', role: 'ROLE_PROVIDER' })).body.secret;
  if (secretsFile && vendorKey) appendFileSync(secretsFile, `${vendorKey}\n`);
  const appName = `tenants/${vendorId}/apps/vibration-ai`;
  const badName = `tenants/${vendorId}/apps/crypto-miner`;
  for (const [appId, displayName] of [['vibration-ai', '振动异常检测 Vibration AI'], ['crypto-miner', 'Idle CPU miner']]) {
    const app = await api('POST', `/v1/tenants/${vendorId}/apps?appId=${appId}`, vendorKey, {
      displayName, summary: 'Flags abnormal vibration of fans and pumps', category: 'CATEGORY_AI_MODEL', tags: ['振动', 'anomaly'], vendor: 'VibroTech' });
    const version = await api('POST', `/v1/tenants/${vendorId}/apps/${appId}/versions?versionId=1.0.0`, vendorKey, {
      image: `registry.example.com/vibrotech/${appId}:1.0.0`, requestedScopes: ['telemetry.read', 'telemetry.write'],
      writeMetrics: ['anomaly_score'], pricing: { model: 'PRICING_MODEL_PER_DEVICE_MONTHLY', priceFen: '3000' } });
    const submitted = await api('POST', `/v1/tenants/${vendorId}/apps/${appId}/versions/1.0.0:submit`, vendorKey, {});
    check(app.status === 200 && version.status === 200 && submitted.body.state === 'VERSION_STATE_SUBMITTED',
      `the provider creates and submits ${appId} 1.0.0 (${app.status} ${version.status} ${JSON.stringify(submitted.body)})`);
  }
  await park.getByRole('link', { name: zh['nav.review'], exact: true }).click();
  await heading(park, zh['review.title']);
  const approveCard = park.getByRole('form', { name: `${appName}/versions/1.0.0` });
  const rejectCard = park.getByRole('form', { name: `${badName}/versions/1.0.0` });
  await approveCard.waitFor();
  check((await approveCard.innerText()).includes('¥30.00 每台设备每月'), 'the review card shows the price in CNY');
  check((await approveCard.innerText()).includes(`${zh['scope.telemetryWrite']} (telemetry.write)`), 'and the scopes it asks for');
  await shot(park, '14-review-queue');
  await axe(park, 'review queue');
  // Rejecting needs a reason: the API's refusal shows, nothing changes; with a reason it is rejected.
  await rejectCard.getByRole('button', { name: zh['review.reject'] }).click();
  await rejectCard.getByRole('alert').waitFor();
  check((await api('GET', `/v1/${badName}/versions/1.0.0`, parkKey)).body.state === 'VERSION_STATE_SUBMITTED', 'a rejection without a reason is refused');
  await rejectCard.getByLabel(zh['review.reason']).fill('挖矿程序不得上架');
  await rejectCard.getByRole('button', { name: zh['review.reject'] }).click();
  await rejectCard.waitFor({ state: 'detached' });
  const rejected = (await api('GET', `/v1/${badName}/versions/1.0.0`, parkKey)).body;
  check(rejected.state === 'VERSION_STATE_REJECTED' && rejected.reviewReason === '挖矿程序不得上架', 'the rejection and its reason reach the provider');
  await approveCard.getByLabel(zh['review.reason']).fill('只读遥测，仅回写 anomaly_score');
  await approveCard.getByRole('button', { name: zh['review.approve'] }).click();
  await park.getByText(zh['review.empty']).waitFor();
  check((await api('GET', `/v1/${appName}/versions/1.0.0`, parkKey)).body.state === 'VERSION_STATE_APPROVED', 'approved in the console');
  check((await api('POST', `/v1/${appName}/versions/1.0.0:publish`, vendorKey, {})).body.state === 'VERSION_STATE_PUBLISHED', 'the provider publishes it');

  // --- The tenant finds it, installs it with a grant, rates it, sees it in its audit log, uninstalls it ------
  await tenant.getByRole('link', { name: zh['nav.marketplace'], exact: true }).click();
  await heading(tenant, zh['market.title']);
  await tenant.getByLabel(zh['market.search']).fill('振动');
  await tenant.getByRole('button', { name: zh['market.searchButton'] }).click();
  await tenant.getByRole('link', { name: '振动异常检测 Vibration AI' }).waitFor();
  check(new URL(tenant.url()).searchParams.get('q') === '振动', 'the catalogue search is in the URL');
  check(await tenant.getByRole('link', { name: 'Idle CPU miner' }).count() === 0, 'the rejected app is not in the catalogue');
  await shot(tenant, '15-catalogue');
  await axe(tenant, 'catalogue');
  await tenant.getByRole('link', { name: '振动异常检测 Vibration AI' }).click();
  await heading(tenant, fill(zh['market.appTitle'], { app: '振动异常检测 Vibration AI' }));
  // The grant: read only (write unticked), and only the devices on line 3.
  await tenant.getByLabel(`${zh['scope.telemetryWrite']} (telemetry.write)`).uncheck();
  await tenant.getByLabel(zh['install.labels']).fill('line=3');
  await shot(tenant, '16-app-install');
  await axe(tenant, 'app page with the install form');
  await tenant.getByRole('button', { name: zh['install.submit'], exact: true }).click();
  const credentialDialog = tenant.getByRole('dialog', { name: zh['install.credentialTitle'] });
  await credentialDialog.waitFor();
  const credential = await credentialDialog.getByRole('textbox').inputValue();
  if (secretsFile) appendFileSync(secretsFile, `${credential}\n`);
  const installations = (await api('GET', `/v1/tenants/${tenantId}/installations`, tenantKey)).body.installations ?? [];
  const installation = installations.find((i) => i.app === appName);
  check(JSON.stringify(installation?.grant) === JSON.stringify({ scopes: ['telemetry.read'], dataScope: { deviceLabels: { line: '3' } } }),
    `the installation holds the grant of the form (${JSON.stringify(installation?.grant)})`);
  check(installation?.grantedDevices === '2', 'which covers the two devices on line 3');
  const appRead = await api('POST', `/v1/tenants/${tenantId}/telemetry:latest`, credential, { devices: ['press-1'] });
  const appWrite = await api('POST', `/v1/tenants/${tenantId}/telemetry:write`, credential, {
    series: [{ device: 'press-1', metric: 'anomaly_score', timestampsMs: [String(Date.now())], doubleValues: [0.5] }] });
  check(appRead.status === 200 && appWrite.status === 403, `the credential reads but may not write (${appRead.status}, ${appWrite.status})`);
  await credentialDialog.getByRole('button', { name: zh['common.close'] }).click();
  await tenant.getByRole('button', { name: zh['install.uninstall'] }).waitFor();

  await tenant.getByLabel(zh['rate.starsLabel']).selectOption('4');
  await tenant.getByLabel(zh['rate.review']).fill('误报少，部署简单');
  await tenant.getByRole('button', { name: zh['rate.submit'] }).click();
  await tenant.getByTestId('rating').filter({ hasText: fill(zh['market.rating'], { stars: '4', count: '1' }) }).waitFor();
  await tenant.getByRole('cell', { name: '误报少，部署简单' }).waitFor();
  check(true, 'the rating shows on the app page, 4 stars from 1 rating');
  await shot(tenant, '17-app-installed-rated');
  await axe(tenant, 'app page, installed and rated');

  await tenant.getByRole('link', { name: zh['nav.installations'], exact: true }).click();
  await heading(tenant, zh['installations.title']);
  await tenant.getByRole('link', { name: `${vendorId}/vibration-ai` }).waitFor();
  check((await tenant.locator('table').innerText()).includes(fill(zh['market.scopeDevices'], { labels: 'line=3' })), 'installed apps show the data scope');
  await shot(tenant, '18-installations');
  await axe(tenant, 'installed apps');

  await tenant.getByRole('link', { name: zh['nav.audit'], exact: true }).click();
  await heading(tenant, zh['audit.title']);
  await tenant.getByRole('cell', { name: 'InstallApp', exact: true }).waitFor();
  check((await tenant.locator('table').innerText()).includes(installation?.name ?? '?'), 'the tenant\'s audit log shows the install with its installation');
  check(await tenant.getByRole('cell', { name: 'RateApp', exact: true }).count() === 1, 'and the rating');
  await shot(tenant, '19-tenant-audit');
  await axe(tenant, 'tenant audit log');

  await tenant.getByRole('link', { name: zh['nav.installations'], exact: true }).click();
  await tenant.getByRole('link', { name: `${vendorId}/vibration-ai` }).click();
  await tenant.getByRole('button', { name: zh['install.uninstall'] }).click();
  await tenant.getByRole('dialog').getByRole('button', { name: zh['install.uninstall'] }).click();
  await tenant.locator('.badge', { hasText: zh['installationState.uninstalled'] }).waitFor();
  check((await api('POST', `/v1/tenants/${tenantId}/telemetry:latest`, credential, { devices: ['press-1'] })).status === 401,
    'uninstalled, the app credential is refused');

  // The park reads any tenant's audit log, a page at a time.
  await park.getByRole('link', { name: zh['nav.audit'], exact: true }).click();
  await heading(park, zh['audit.title']);
  await park.getByText(zh['audit.chooseTenant']).waitFor();
  await park.getByLabel(zh['audit.tenant']).fill(vendorId);
  await park.getByRole('button', { name: zh['audit.show'] }).click();
  await park.getByRole('cell', { name: 'ReviewAppVersion', exact: true }).first().waitFor();
  check(true, 'the provider\'s audit log holds the park\'s review');
  const audited = new URL(park.url());
  audited.searchParams.set('tenant', tenantId);
  audited.searchParams.set('size', '2');
  await park.goto(audited.toString());
  await park.getByRole('cell', { name: 'UninstallApp', exact: true }).waitFor();
  await park.getByRole('link', { name: zh['common.nextPage'] }).click();
  await park.getByRole('cell', { name: 'InstallApp', exact: true }).waitFor();
  check(new URL(park.url()).searchParams.get('tenant') === tenantId && await park.getByRole('cell', { name: 'UninstallApp', exact: true }).count() === 0,
    'the park pages the tenant\'s audit log, the tenant kept in the URL');
  await shot(park, '20-park-audit');
  await axe(park, 'park audit log');
  await tenant.getByRole('link', { name: zh['nav.keys'], exact: true }).click();
  await heading(tenant, zh['keys.title']);

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

  // --- The park sees the tenant's use of its quota (GetTenantUsage), in the list and on the tenant page ---------
  const usage = (await api('GET', `/v1/tenants/${tenantId}/usage`, parkKey)).body;
  check(usage.devices === '3' && Number(usage.storedBytes) > 0 && usage.quota?.maxDevices === '2500'
    && typeof usage.ingestPointsPerSecond === 'number', `the API counts 3 devices and the stored points (${JSON.stringify(usage)})`);
  const appsText = `${usage.installedApps ?? 0} / 20`;
  await park.goto(`${consoleUrl}tenants?q=${tenantId}`);
  await heading(park, zh['tenants.title']);
  const row = park.getByRole('row').filter({ has: park.getByRole('link', { name: tenantId, exact: true }) });
  await row.locator('[data-usage="devices"]').waitFor();
  check(await row.locator('[data-usage="devices"]').innerText() === '3 / 2,500', 'the list shows 3 of 2,500 devices');
  check(await row.locator('[data-usage="apps"]').innerText() === appsText, `the list shows ${appsText} apps`);
  check(/^[\d.,]+ \/ 100,000$/.test(await row.locator('[data-usage="ingest"]').innerText()), 'the list shows the ingest rate beside its limit');
  check(!/^0\s?(B|byte|字节)$/.test(await row.locator('[data-usage="stored"]').innerText()), 'the list shows the stored bytes, not zero');
  await shot(park, '05b-tenants-usage');
  await keyboardReach(park, 'tenants list');
  await axe(park, 'tenants list with usage');
  await park.getByRole('link', { name: tenantId, exact: true }).click();
  await heading(park, fill(zh['tenantPage.title'], { tenant: tenantId }));
  const usageCard = park.getByTestId('usage');
  await usageCard.locator('[data-usage="devices"]').waitFor();
  check(await usageCard.locator('[data-usage="devices"]').innerText() === '3 / 2,500'
    && (await usageCard.innerText()).includes(zh['usage.stored']), 'the tenant page shows its usage beside the quota');

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
