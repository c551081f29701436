// `hactl web` in a real browser: headless Chromium (Debian's package, driven by puppeteer-core)
// against a loopback cluster of real agents. The page loads; when the owner's host dies, the page
// shows the set on its new host without a reload (pushed, not polled); a switchover done through
// the page (select, click, confirm) completes and leaves the CLI's event; and a console started
// with an observer's etcd credentials sees the cluster but is refused an action with exactly the
// line and exit code the CLI gives that observer. Screenshots go to $HACTL_WEB_RESULTS (default:
// <tmpdir>/hactl-web-results); they are not part of the repository.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { Etcd3, Range } from 'etcd3';
import { HACTL_JS } from '../../cli/dev/local-cluster.js';
import { registerCleanup } from '../lib/cleanup.js';
import { dummySetYaml, runHactl, startTestCluster, type TestCluster } from '../lib/cluster.js';

const CHROMIUM = process.env.HACTL_CHROMIUM ?? '/usr/bin/chromium';
const RESULTS = process.env.HACTL_WEB_RESULTS ?? join(tmpdir(), 'hactl-web-results');

interface WebProcess {
  child: ChildProcess;
  url: string;
  stderr: () => string;
}

/** Starts `hactl web` on a free loopback port and returns the URL it prints. */
async function startWeb(args: string[], env: Record<string, string>): Promise<WebProcess> {
  const child = spawn(process.execPath, [HACTL_JS, 'web', '--listen', '127.0.0.1:0', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`hactl web printed no URL within 20 s; stderr: ${err}`)), 20_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /(http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`hactl web exited ${code}: ${err}`));
    });
  });
  return { child, url, stderr: () => err };
}

function stopWeb(w: WebProcess | undefined): Promise<void> {
  if (!w || w.child.exitCode !== null || w.child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => w.child.kill('SIGKILL'), 5000);
    w.child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    w.child.kill('SIGTERM');
  });
}

/** What the page shows for a set: its state label and its host. */
async function shownSet(page: Page, set: string): Promise<{ state: string; node: string } | null> {
  // A string: it runs in the page (this file is compiled without the DOM's types).
  return page.evaluate(`(() => {
    const card = document.getElementById(${JSON.stringify(`set-${set}`)});
    if (!card) return null;
    return { state: card.querySelector('.set-state')?.getAttribute('data-state') ?? '', node: card.querySelector('.node')?.textContent ?? '' };
  })()`) as Promise<{ state: string; node: string } | null>;
}

async function waitShown(page: Page, set: string, what: string, pred: (s: { state: string; node: string }) => boolean, timeoutMs: number): Promise<{ state: string; node: string }> {
  const deadline = performance.now() + timeoutMs;
  let last: { state: string; node: string } | null = null;
  while (performance.now() < deadline) {
    last = await shownSet(page, set);
    if (last && pred(last)) return last;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`the page did not show ${what} within ${timeoutMs} ms; it shows ${JSON.stringify(last)}`);
}

/** Clicks an action button, checks the confirmation text, confirms, and returns the notice line. */
async function act(page: Page, buttonSelector: string, expectText: RegExp): Promise<string> {
  // Clicked inside the page, in one step: a redraw between finding the button and clicking it
  // (the page redraws when the cluster changes) cannot detach it. Real key presses are tested below.
  await page.$eval(buttonSelector, (b) => (b as unknown as { click(): void }).click());
  await page.waitForSelector('#confirm[open]', { timeout: 10_000 });
  const text = await page.$eval('#confirm-text', (e) => e.textContent ?? '');
  assert.match(text, expectText);
  await page.click('#confirm-ok');
  await page.waitForFunction(`/^(Done|Refused|Failed|Not found|Bad input|Timed out)/.test(document.getElementById('notice')?.textContent ?? '')`, { timeout: 30_000 });
  return page.$eval('#notice', (e) => e.textContent ?? '');
}

test('hactl web: live view in Chromium, the set moves without reload, switchover through the page, observer refused like the CLI', async (t) => {
  assert.ok(existsSync(CHROMIUM), `no Chromium at ${CHROMIUM}: install Debian's chromium (npm run bootstrap -- --for test) or set HACTL_CHROMIUM`);
  await mkdir(RESULTS, { recursive: true });
  const dir = await mkdtemp(join(tmpdir(), 'hactl-web-test-'));
  let tc: TestCluster | undefined;
  let browser: Browser | undefined;
  let root: Etcd3 | undefined;
  const webs: WebProcess[] = [];
  const startedMs = performance.now();
  const phase = (name: string): void => t.diagnostic(`${((performance.now() - startedMs) / 1000).toFixed(1)} s: ${name}`);
  const unregister = registerCleanup(
    async () => {
      await browser?.close().catch(() => undefined);
      for (const w of webs) await stopWeb(w);
    },
    () => {
      for (const w of webs) if (w.child.pid) w.child.kill('SIGKILL');
      const pid = browser?.process()?.pid;
      if (pid) process.kill(pid, 'SIGKILL');
    },
  );
  try {
    tc = await startTestCluster({ nodes: 3, cluster: 'webc' });
    await tc.applyConfig(dummySetYaml({ prefer: ['n1', 'n2', 'n3'], resources: 2 }));
    const first = await tc.waitRunning('S1', 30_000);
    const a = first.node!;
    const env = tc.lc.cliEnv();

    phase('cluster running');
    const launching = puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
    // Chromium starts while hactl web connects; kept in `browser` as soon as it is up, for the cleanup.
    launching.then((b) => (browser = b), () => undefined);
    const operator = await startWeb([], env);
    webs.push(operator);
    browser = await launching;
    // Any script error or failed load (a CSP violation too) in either page fails the test at the end.
    const pageErrors: string[] = [];
    const watchErrors = (p: Page): void => {
      p.on('pageerror', (e) => pageErrors.push(`${p.url()}: ${String(e)}`));
      p.on('console', (m) => {
        if (m.type() === 'error') pageErrors.push(`${p.url()}: ${m.text()}`);
      });
    };
    const page = await browser.newPage();
    watchErrors(page);
    await page.setViewport({ width: 1280, height: 900 });
    await page.goto(operator.url, { waitUntil: 'domcontentloaded' });
    assert.ok(!page.url().includes('token='), 'the token is traded for a cookie and leaves the address bar');
    await waitShown(page, 'S1', `S1 running on ${a}`, (s) => s.state === 'running' && s.node === a, 15_000);
    assert.match(await page.$eval('#conn-text', (e) => e.textContent ?? ''), /^live$/);
    await page.screenshot({ path: join(RESULTS, '1-loaded.png'), fullPage: true });

    // Only the holder of the printed token (now a cookie) gets in, and only the page's own origin may act.
    const base = new URL(operator.url).origin;
    assert.equal((await fetch(`${base}/`)).status, 401);
    assert.equal((await fetch(`${base}/api/stream`)).status, 401);
    assert.equal((await fetch(`${base}/?token=wrong`, { redirect: 'manual' })).status, 403);
    const cookie = (await page.cookies()).map((x) => `${x.name}=${x.value}`).join('; ');
    const maintenanceOn = JSON.stringify({ action: 'maintenance-on' });
    const evil = await fetch(`${base}/api/action`, { method: 'POST', headers: { cookie, 'content-type': 'application/json', origin: 'http://evil.example' }, body: maintenanceOn });
    assert.equal(evil.status, 403);
    const form = await fetch(`${base}/api/action`, { method: 'POST', headers: { cookie, 'content-type': 'text/plain' }, body: maintenanceOn });
    assert.equal(form.status, 415);
    assert.equal((await tc.client.get(tc.keys.maintenance()).string()) ?? null, null, 'no refused request reached etcd');
    // The port is taken: one line, exit 2.
    const taken = await runHactl(['web', '--listen', new URL(base).host], env, 30_000);
    assert.equal(taken.code, 2, taken.stderr);
    assert.equal(taken.stderr, `hactl: --listen ${new URL(base).host}: address in use (choose another with --listen)\n`);

    phase('page loaded, access checks done');
    // The owner's host dies: the page follows the takeover by itself (the marker proves no reload).
    await page.evaluate('window.hactlMarker = 42');
    await tc.lc.killHost(a);
    const moved = await waitShown(page, 'S1', `S1 running on another host than ${a}`, (s) => s.state === 'running' && s.node !== a && s.node !== '', 30_000);
    const b = moved.node;
    assert.equal(await page.evaluate('window.hactlMarker'), 42, 'the page was not reloaded');
    assert.equal((await tc.set('S1'))?.node, b);
    await page.screenshot({ path: join(RESULTS, '2-after-host-loss.png'), fullPage: true });

    phase('set moved after host loss');
    // A switchover through the page: choose the host, click, read what will happen, confirm.
    const c = ['n1', 'n2', 'n3'].find((n) => n !== a && n !== b)!;
    await page.select('#target-S1', c);
    const said = await act(page, '#switch-S1', new RegExp(`^Planned switchover of S1 from ${b} to ${c}: ${b} stops s1-r2, s1-r1 \\(reverse order\\)`));
    assert.equal(said, `Done: failover of S1 from ${b} to ${c} requested`);
    await waitShown(page, 'S1', `S1 running on ${c}`, (s) => s.state === 'running' && s.node === c, 30_000);
    const events = await tc.hactl(['events', '--set', 'S1', '--json']);
    const handedOff = events.stdout.trim().split('\n').map((l) => JSON.parse(l) as { what: string; node: string; reason: string });
    assert.ok(handedOff.some((e) => e.what === 'handed-off' && e.node === b), `the switchover left the CLI's handed-off event: ${events.stdout}`);
    assert.match(operator.stderr(), new RegExp(`hactl failover S1 --to ${c}: done: failover of S1 from ${b} to ${c} requested`));
    // The event history, filtered in the page: only the hand-over.
    await page.waitForFunction(`document.querySelectorAll('#events-body tbody tr').length > 0`);
    await page.select('#f-what', 'handed-off');
    const kinds = (await page.evaluate(`Array.from(document.querySelectorAll('#events-body tbody tr')).map((r) => r.children[3].textContent)`)) as string[];
    assert.deepEqual(kinds, ['handed-off']);
    await page.select('#f-what', '');
    // The availability view: the lost host (unplanned) and the switchover (planned) on S1's timeline.
    await page.waitForFunction(`document.querySelectorAll('#availability-body svg.timeline rect[fill^="url"]').length === 2`, { timeout: 10_000 });
    const outages = (await page.evaluate(`Array.from(document.querySelectorAll('#availability-body svg.timeline rect[fill^="url"]')).map((r) => r.getAttribute('fill'))`)) as string[];
    assert.deepEqual(outages, ['url(#unplanned)', 'url(#planned)']);
    await page.screenshot({ path: join(RESULTS, '3-after-switchover.png'), fullPage: true });
    // A ban through the page shows up in the set's card (pushed), and Clear bans removes it.
    await page.select('#ban-S1', a);
    assert.equal(await act(page, '#banbtn-S1', new RegExp(`^Keep S1 off ${a} until it is cleared`)), `Done: ${a} banned for S1 until hactl clear`);
    await page.waitForFunction(`Array.from(document.querySelectorAll('#set-S1 caption')).some((c) => c.textContent === 'Bans' && c.closest('table').textContent.includes(${JSON.stringify(a)} + 'until cleared'))`, { timeout: 10_000 });
    assert.equal(await act(page, '#clear-S1', new RegExp(`^Remove every ban \\(on ${a}\\)`)), 'Done: cleared bans and pending moves of S1');
    await page.waitForFunction(`document.querySelector('#set-S1').textContent.includes('No bans.')`, { timeout: 10_000 });
    // 200 % zoom of a 1280 px window: the page reflows to 640 CSS px, nothing is cut off sideways
    // (wide tables scroll inside their own box).
    await page.setViewport({ width: 640, height: 900, deviceScaleFactor: 2 });
    assert.ok((await page.evaluate('document.documentElement.scrollWidth <= window.innerWidth')) === true, 'no horizontal scrolling of the page at 200 %');
    await page.screenshot({ path: join(RESULTS, '5-zoom-200.png') });
    // What docs/web.md shows: the first screen only, small.
    await page.setViewport({ width: 1000, height: 760 });
    await page.evaluate('window.scrollTo(0, 0)');
    await page.screenshot({ path: join(RESULTS, 'web-console.png') });
    await page.close();
    await stopWeb(operator);

    phase('switchover done, filters, availability and bans checked');
    // An observer: etcd authentication on (the agents log in as hactl-agent-<node>, read-write on the
    // cluster's keys), and a user `watcher` whose role may only read them. The agents stop cleanly
    // (SIGTERM), get their credentials and come back, so the observer faces a running set.
    await Promise.all(['n1', 'n2', 'n3'].map((n) => tc!.lc.stopAgent(n)));
    const prefix = tc.keys.prefix;
    const pwFile = join(dir, 'watcher.pw');
    const agentPwFile = join(dir, 'agent.pw');
    await writeFile(pwFile, 'watcher-secret\n', { mode: 0o600 });
    await writeFile(agentPwFile, 'agent-secret\n', { mode: 0o600 });
    await tc.client.role('root').create();
    await tc.client.role('hactl-agent').create();
    await tc.client.role('hactl-agent').grant({ permission: 'Readwrite', range: Range.prefix(prefix) });
    await tc.client.role('hactl-observer').create();
    await tc.client.role('hactl-observer').grant({ permission: 'Read', range: Range.prefix(prefix) });
    await tc.client.auth.userAdd({ name: 'root', password: 'root-secret' });
    await tc.client.user('root').addRole('root');
    await tc.client.auth.userAdd({ name: 'watcher', password: 'watcher-secret' });
    await tc.client.user('watcher').addRole('hactl-observer');
    for (const agent of tc.lc.agents) {
      await tc.client.auth.userAdd({ name: `hactl-agent-${agent.node}`, password: 'agent-secret' });
      await tc.client.user(`hactl-agent-${agent.node}`).addRole('hactl-agent');
      const yaml = await readFile(agent.configFile, 'utf8');
      const withAuth = yaml.replace(/^etcd: \{ endpoints: \[([^\]]*)\] \}$/m, `etcd: { endpoints: [$1], auth: { username: hactl-agent-${agent.node}, passwordFile: ${agentPwFile} } }`);
      assert.notEqual(withAuth, yaml, `the etcd line of ${agent.configFile}`);
      await writeFile(agent.configFile, withAuth);
    }
    await tc.client.auth.authEnable();
    root = new Etcd3({ hosts: tc.lc.endpoints, auth: { username: 'root', password: 'root-secret' } });
    for (const agent of tc.lc.agents) await tc.lc.startAgent(agent.node);

    const creds = ['--user', 'watcher', '--password-file', pwFile];
    const observer = await startWeb(creds, env);
    webs.push(observer);
    const page2 = await browser.newPage();
    watchErrors(page2);
    await page2.setViewport({ width: 1280, height: 900 });
    await page2.goto(observer.url, { waitUntil: 'domcontentloaded' });
    const owned = await waitShown(page2, 'S1', 'S1 running again, to the observer', (s) => s.state === 'running', 30_000);
    assert.match(await page2.$eval('#who', (e) => e.textContent ?? ''), /^acting as watcher /);
    phase('observer console loaded, S1 running again');
    // The observer asks for a switchover: refused with the line `hactl failover` gives this user.
    const elsewhere = ['n1', 'n2', 'n3'].find((n) => n !== owned.node)!;
    await page2.select('#target-S1', elsewhere);
    const failoverRefusal = await act(page2, '#switch-S1', new RegExp(`^Planned switchover of S1 from ${owned.node} to ${elsewhere}`));
    const cliFailover = await runHactl(['failover', 'S1', '--to', elsewhere, ...creds], env);
    assert.equal(cliFailover.code, 4, cliFailover.stderr);
    assert.equal(cliFailover.stderr, `hactl: watcher cannot fail over: etcd permission denied on ${prefix}intents/\n`);
    assert.equal(failoverRefusal, `Refused (exit 4): watcher cannot fail over: etcd permission denied on ${prefix}intents/`);
    assert.equal((await root.get(tc.keys.failoverIntent('S1')).string()) ?? null, null, 'no intent was written');
    await page2.setViewport({ width: 1000, height: 420 });
    await page2.evaluate('window.scrollTo(0, 0)');
    await page2.screenshot({ path: join(RESULTS, 'web-observer-refused.png') });
    await page2.setViewport({ width: 1280, height: 900 });
    // By keyboard only: Enter opens the confirmation with the focus on Cancel; Escape closes it,
    // runs nothing and gives the focus back; then Enter, Tab to the confirm button, Enter.
    await page2.focus('#maint-S1');
    await page2.keyboard.press('Enter');
    await page2.waitForSelector('#confirm[open]', { timeout: 10_000 });
    assert.equal(await page2.evaluate('document.activeElement.id'), 'confirm-cancel');
    await page2.keyboard.press('Escape');
    await page2.waitForFunction(`!document.getElementById('confirm').open`, { timeout: 5000 });
    assert.equal(await page2.evaluate('document.activeElement.id'), 'maint-S1');
    assert.equal(await page2.$eval('#notice', (e) => e.textContent ?? ''), failoverRefusal, 'Escape ran nothing');
    await page2.keyboard.press('Enter');
    await page2.waitForSelector('#confirm[open]', { timeout: 10_000 });
    assert.match(await page2.$eval('#confirm-text', (e) => e.textContent ?? ''), /^Maintenance on for S1: /);
    await page2.keyboard.press('Tab');
    assert.equal(await page2.evaluate('document.activeElement.id'), 'confirm-ok');
    await page2.keyboard.press('Enter');
    await page2.waitForFunction(`/^(Done|Refused|Failed)/.test(document.getElementById('notice')?.textContent ?? '') && !document.getElementById('notice').textContent.includes('fail over')`, { timeout: 30_000 });
    const refusal = await page2.$eval('#notice', (e) => e.textContent ?? '');
    const cli = await runHactl(['maintenance', 'on', 'S1', ...creds], env);
    assert.equal(cli.code, 4, cli.stderr);
    const line = cli.stderr.trim().replace(/^hactl: /, '');
    assert.match(line, /permission denied/);
    assert.equal(refusal, `Refused (exit 4): ${line}`, 'the page gives the CLI line and exit code');
    assert.equal((await root.get(tc.keys.maintenance('S1')).string()) ?? null, null, 'the observer wrote nothing');
    await page2.screenshot({ path: join(RESULTS, '4-observer-refused.png'), fullPage: true });
    assert.deepEqual(pageErrors, [], 'no script errors or failed loads in the pages');
    t.diagnostic(`screenshots in ${RESULTS}`);
  } finally {
    await browser?.close().catch(() => undefined);
    for (const w of webs) await stopWeb(w);
    if (root) {
      await root.auth.authDisable().catch(() => undefined);
      root.close();
    }
    await tc?.dispose();
    unregister();
    await rm(dir, { recursive: true, force: true });
  }
});
