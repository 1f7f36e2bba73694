// End-to-end test of the demo page in headless Chromium (Debian's
// /usr/bin/chromium driven by playwright-core): private Redis, PostgreSQL
// (sample users and presets), tickpush serving web-demo/, tickpush-sim for
// the backtest side; pattern events are published to Redis by the test.
// Screenshots go to tests/e2e/output/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { chromium } from 'playwright-core';
import { Services, OUTPUT } from './harness.mjs';

const CHROMIUM = process.env.TP_CHROMIUM || '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'];
/* The promise: a published event is on screen within a second. */
const ON_SCREEN_MS = 1000;
const TECH = ['AAPL', 'MSFT', 'NVDA', 'GOOGL', 'AMZN', 'META', 'TSLA', 'AMD']; // demo's watchlist
const WATCHLIST_PRESET = 'My watchlist, any pattern';

const svc = new Services();
let browser;
let page;
let token;
let consoleErrors = [];

async function shot(p, name) {
	await p.screenshot({ path: path.join(OUTPUT, `${name}.png`) });
}

const rowIds = (p = page) => p.evaluate(() => window.tickpushDemo.rowIds());

async function waitRow(id, p = page, timeout = ON_SCREEN_MS) {
	await p.waitForFunction((rid) => window.tickpushDemo.rowIds().includes(rid), id, { timeout, polling: 'raf' });
}

async function status(p = page) {
	return p.evaluate(() => ({
		state: window.tickpushDemo.client.state,
		transport: window.tickpushDemo.client.transportName,
		stats: { ...window.tickpushDemo.client.stats },
		bar: document.querySelector('#statusbar').dataset.state,
		text: document.querySelector('#statusbar').innerText,
	}));
}

async function waitOpen(p, transport, timeout = 15000) {
	await p.waitForFunction((t) => {
		const c = window.tickpushDemo.client;
		return c.state === 'open' && c.transportName === t && c.subs.get('main') && c.subs.get('main').onServer;
	}, transport, { timeout });
}

/* Publishes, and measures until the row is on screen. */
async function publishAndSee(spec, p = page) {
	const t0 = Date.now();
	const id = await svc.publishPattern(spec);
	await waitRow(id, p);
	return { id, ms: Date.now() - t0 };
}

async function newPage(viewport = { width: 1400, height: 900 }) {
	const ctx = await browser.newContext({ viewport });
	const p = await ctx.newPage();
	p.on('pageerror', (e) => consoleErrors.push(`pageerror: ${e.message}`));
	p.on('console', (m) => {
		/* Failed WebSocket handshakes are logged by the browser itself
		 * in the tests that block them on purpose. */
		if (m.type() === 'error' && !/WebSocket|Failed to load resource/.test(m.text()))
			consoleErrors.push(m.text());
	});
	return p;
}

async function signIn(p, user = 'demo', pass = 'demo') {
	await p.click('#btn-signin');
	await p.fill('#si-user', user);
	await p.fill('#si-pass', pass);
	await p.click('#btn-signin-go');
	await p.waitForSelector(`#who-name:has-text("${user}")`);
}

async function selectPreset(p, name) {
	const value = await p.evaluate((n) => {
		const opt = [...document.querySelectorAll('#preset-select option')].find((o) => o.textContent.replace(/^★ /, '') === n);
		return opt ? opt.value : null;
	}, name);
	assert.ok(value, `preset "${name}" is listed`);
	await p.selectOption('#preset-select', value);
	await p.waitForFunction((v) => {
		const s = window.tickpushDemo.client.subs.get('main');
		return s && String(s.presetId) === v && s.epoch != null && !s.loading;
	}, value);
	return Number(value);
}

before(async () => {
	await svc.start();
	browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
	token = (await svc.api('POST', '/api/auth/login', { username: 'demo', password: 'demo' })).token;
});

after(async () => {
	if (browser)
		await browser.close().catch(() => {});
	await svc.stop();
});

test('demo page end to end', { timeout: 300000 }, async (t) => {
	/* Patterns present before the page opens: the initial load shows them. */
	const before = [];
	for (const [i, symbol] of ['AAPL', 'MSFT', 'NVDA', 'META'].entries())
		before.push(await svc.publishPattern({ symbol, pattern: ['Hammer', 'Doji', 'Bull_Flag', 'Gap_Fill'][i], confidence: 0.7 + i * 0.05 }));
	const outside = await svc.publishPattern({ symbol: 'JPM', pattern: 'Hammer', confidence: 0.9 });
	const lowConf = await svc.publishPattern({ symbol: 'TSLA', pattern: 'Doji', confidence: 0.4 });
	for (const [i, symbol] of ['XOM', 'CVX', 'UNH', 'LLY', 'BA', 'GS'].entries())
		await svc.publishPattern({ symbol, pattern: ['Volume_Spike', 'Support_Test', 'Engulfing', 'Doji', 'Hammer', 'Weekly_Breakout'][i], confidence: 0.6 + i * 0.06 });
	await svc.waitFor(async () => {
		const r = await svc.api('GET', '/api/patterns/scan?confidence_min=0&per_page=100');
		return r.patterns.length >= 12;
	}, 'the published patterns in the cache');

	page = await newPage();
	/* Every WebSocket goes through a route the test can cut. */
	const wsState = { blocked: false, live: [] };
	await page.routeWebSocket(/\/ws/, (ws) => {
		if (wsState.blocked) {
			ws.close({ code: 4000, reason: 'blocked by test' });
			return;
		}
		const server = ws.connectToServer();
		wsState.live.push({ ws, server });
	});
	await page.goto(svc.baseUrl + '/');

	await t.test('anonymous visitors see the public stream', async () => {
		await page.waitForFunction(() => window.tickpushDemo.rowIds().length > 0);
		const ids = await rowIds();
		assert.ok(ids.includes(outside), 'public stream shows JPM');
		assert.ok(!ids.includes(lowConf), 'default inline filter (confidence >= 0.5) hides the 0.4 pattern');
		await waitOpen(page, 'ws');
		await shot(page, '01-anonymous');
	});

	await t.test('sign in as demo; the table fills from the initial load', async () => {
		await signIn(page);
		await selectPreset(page, WATCHLIST_PRESET);
		await waitOpen(page, 'ws');
		const ids = new Set(await rowIds());
		const want = (await svc.api('GET', `/api/patterns/scan?preset_id=${await page.evaluate(() => window.tickpushDemo.state.presetId)}&per_page=100`, null, token)).patterns.map((r) => r.id);
		assert.deepEqual([...ids].sort(), [...want].sort(), 'table = the preset\'s scan');
		for (const id of before)
			assert.ok(ids.has(id), `${id} loaded`);
		assert.ok(!ids.has(outside), 'JPM is not in the watchlist');
		assert.ok(!ids.has(lowConf), 'confidence 0.4 is below the preset\'s 0.6');
		const rowsShown = await page.locator('#tbody tr').count();
		assert.equal(rowsShown, ids.size);
		await shot(page, '02-signed-in');
	});

	await t.test('published events appear within a second, only when they match the preset', async () => {
		const miss1 = await svc.publishPattern({ symbol: 'JPM', pattern: 'Doji', confidence: 0.95 });
		const miss2 = await svc.publishPattern({ symbol: 'AMZN', pattern: 'Doji', confidence: 0.45 });
		const seen = [];
		for (const [i, symbol] of ['GOOGL', 'AMD', 'TSLA'].entries())
			seen.push(await publishAndSee({ symbol, pattern: ['Engulfing', 'Momentum_Shift', 'Resistance_Break'][i], confidence: 0.75 + i * 0.05 }));
		/* Events arrive in order: the misses were published first. */
		const ids = await rowIds();
		assert.ok(!ids.includes(miss1) && !ids.includes(miss2), 'non-matching events are not shown');
		const highlighted = await page.locator(`#tbody tr[data-id="${seen[2].id}"].row-new`).count();
		assert.equal(highlighted, 1, 'a new row is highlighted');
		t.diagnostic(`publish-to-screen: ${seen.map((s) => s.ms + ' ms').join(', ')}`);
		await shot(page, '03-live');
	});

	await t.test('a validation error is shown next to its field', async () => {
		await page.fill('#f-rs', '-1');
		await page.click('#btn-filter-save');
		const err = page.locator('.field[data-field="rs_min"] .err');
		await err.waitFor({ state: 'visible' });
		assert.match(await err.innerText(), /rs_min|number|0/i);
		await shot(page, '04-validation');
		await page.fill('#f-rs', '');
	});

	await t.test('editing the preset changes what appears', async () => {
		const presetId = await page.evaluate(() => window.tickpushDemo.state.presetId);
		await page.evaluate(() => {
			const r = document.querySelector('#f-conf');
			r.value = '0.9';
			r.dispatchEvent(new Event('input'));
		});
		await page.click('#btn-filter-save');
		await page.waitForFunction(() => document.querySelector('#filter-msg').textContent === 'saved');
		const saved = await svc.api('GET', `/api/users/filter-presets/${presetId}`, null, token);
		assert.equal(saved.filters.confidence_min, 0.9, 'saved through the REST API');
		await page.waitForFunction(() => {
			const s = window.tickpushDemo.client.subs.get('main');
			return s && !s.loading && s.onServer && [...s.rows.values()].every((r) => r.confidence >= 0.9);
		});
		const below = await svc.publishPattern({ symbol: 'NVDA', pattern: 'Hammer', confidence: 0.85 });
		const { id: above } = await publishAndSee({ symbol: 'MSFT', pattern: 'Bull_Flag', confidence: 0.93 });
		const ids = await rowIds();
		assert.ok(ids.includes(above));
		assert.ok(!ids.includes(below), 'confidence 0.85 no longer matches');
		for (const id of ids)
			assert.ok(TECH.includes(id.split(':')[0]), `${id} is in the watchlist`);
		await shot(page, '05-edited');
		/* back to 0.6 for the next steps */
		await page.evaluate(() => {
			const r = document.querySelector('#f-conf');
			r.value = '0.6';
			r.dispatchEvent(new Event('input'));
		});
		await page.click('#btn-filter-save');
		await page.waitForFunction(() => {
			const s = window.tickpushDemo.client.subs.get('main');
			return s && !s.loading && s.onServer && [...s.rows.values()].some((r) => r.confidence < 0.9);
		});
	});

	await t.test('the WebSocket is cut and the page resumes without losing an event', async () => {
		await waitOpen(page, 'ws');
		const resumes0 = (await status()).stats.resumes;
		wsState.blocked = true;
		for (const { ws } of wsState.live.splice(0))
			ws.close({ code: 4000, reason: 'cut by test' });
		await page.waitForFunction(() => window.tickpushDemo.client.state !== 'open');
		/* Published while the page has no connection. */
		const during = await svc.publishPattern({ symbol: 'AMZN', pattern: 'Ascending_Triangle', confidence: 0.88 });
		const missDuring = await svc.publishPattern({ symbol: 'BAC', pattern: 'Hammer', confidence: 0.9 });
		await shot(page, '06-disconnected');
		wsState.blocked = false;
		await waitOpen(page, 'ws');
		await waitRow(during, page, 15000);
		const st = await status();
		assert.equal(st.stats.resumes, resumes0 + 1, 'resumed once');
		assert.equal(st.stats.gaps, 0, 'no gap');
		assert.ok(!(await rowIds()).includes(missDuring));
		/* and live again afterwards */
		await publishAndSee({ symbol: 'META', pattern: 'Trendline_Hold', confidence: 0.77 });
		await shot(page, '07-resumed');
	});

	await t.test('a backtest submitted from the page completes', async () => {
		await page.fill('#bt-symbols', 'AAPL, MSFT');
		await page.click('#btn-bt-run');
		const li = page.locator('#bt-jobs li').first();
		await li.waitFor();
		const jobId = await li.getAttribute('data-job');
		assert.ok(jobId, 'job listed');
		await page.waitForFunction((id) => {
			const el = document.querySelector(`#bt-jobs li[data-job="${id}"] .progress i`);
			return el && parseFloat(el.style.width) > 0;
		}, jobId, { timeout: 30000 });
		await shot(page, '08-backtest-progress');
		await page.waitForFunction((id) => {
			const el = document.querySelector(`#bt-jobs li[data-job="${id}"]`);
			return el && ['completed', 'failed', 'cancelled'].includes(el.dataset.status);
		}, jobId, { timeout: 120000 });
		const st = await li.getAttribute('data-status');
		assert.equal(st, 'completed', 'the simulator completed the job');
		assert.match(await li.locator('.results').innerText(), /win rate/);
		const job = await svc.api('GET', `/api/backtests/${jobId}`, null, token);
		assert.equal(job.status, 'completed');
		await shot(page, '09-backtest-done');
	});

	await t.test('phone-sized screen', async () => {
		const phone = await newPage({ width: 390, height: 844 });
		await phone.goto(svc.baseUrl + '/');
		await phone.waitForFunction(() => window.tickpushDemo.rowIds().length > 0);
		const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
		assert.ok(overflow <= 0, `no horizontal scrolling (overflow ${overflow}px)`);
		await shot(phone, '10-phone');
		await phone.context().close();
	});

	await t.test('with WebSocket blocked the page falls back to SSE', async () => {
		const p = await newPage();
		await p.routeWebSocket(/\/ws/, (ws) => ws.close({ code: 4000, reason: 'WebSocket blocked by test' }));
		await p.goto(svc.baseUrl + '/');
		await signIn(p);
		await selectPreset(p, WATCHLIST_PRESET);
		await waitOpen(p, 'sse', 30000);
		const st = await status(p);
		assert.ok(st.stats.fallbacks >= 1);
		assert.match(st.text, /SSE/);
		const seen = await publishAndSee({ symbol: 'NVDA', pattern: 'Gap_Fill', confidence: 0.81 }, p);
		const miss = await svc.publishPattern({ symbol: 'C', pattern: 'Gap_Fill', confidence: 0.81 });
		const { id: after } = await publishAndSee({ symbol: 'AAPL', pattern: 'Reversal_Signal', confidence: 0.82 }, p);
		const ids = await rowIds(p);
		assert.ok(ids.includes(seen.id) && ids.includes(after));
		assert.ok(!ids.includes(miss));
		await shot(p, '11-sse-fallback');
		await p.context().close();
	});

	await t.test('after a server restart (new epoch) the page reloads on the gap and stays exact', async () => {
		const gaps0 = (await status()).stats.gaps;
		const epoch0 = await page.evaluate(() => window.tickpushDemo.client.position('main').epoch);
		const first = await svc.restartServer();
		assert.deepEqual(first, { code: 0, signal: null }, 'first tickpush exit status');
		await page.waitForFunction((g) => window.tickpushDemo.client.stats.gaps > g, gaps0, { timeout: 30000 });
		await page.waitForFunction((e) => {
			const c = window.tickpushDemo.client;
			const s = c.subs.get('main');
			return c.state === 'open' && s && !s.loading && s.epoch !== e && s.onServer;
		}, epoch0, { timeout: 30000 });
		const presetId = await page.evaluate(() => window.tickpushDemo.state.presetId);
		const want = (await svc.api('GET', `/api/patterns/scan?preset_id=${presetId}&per_page=100`, null, token)).patterns.map((r) => r.id);
		assert.deepEqual((await rowIds()).sort(), want.sort(), 'table = the preset\'s scan after the reload');
		await publishAndSee({ symbol: 'GOOGL', pattern: 'Doji', confidence: 0.7 });
		await shot(page, '12-after-restart');
	});

	await t.test('no errors in the page', () => {
		assert.deepEqual(consoleErrors, []);
	});

	await t.test('tickpush shuts down cleanly', async () => {
		await browser.close();
		browser = null;
		const ended = await svc.stop();
		assert.deepEqual(ended['tickpush-restarted'], { code: 0, signal: null }, 'tickpush exit status (sanitizers report through it)');
	});
	fs.writeFileSync(path.join(OUTPUT, 'README.txt'), 'Screenshots and logs of the last end-to-end run (tests/e2e).\n');
});
