// CORS in a real browser: a page served from another origin (a tiny node
// server on 127.0.0.2) signs in, scans and reads the SSE stream of a
// tickpush on 127.0.0.1 that lists that origin in cors_origins; the same
// calls from an origin not listed (127.0.0.3) are blocked by Chromium.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';

import { chromium } from 'playwright-core';
import { Services } from './harness.mjs';

const CHROMIUM = process.env.TP_CHROMIUM || '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'];

const svc = new Services({ runName: 'e2e-cors' });
const pages = [];
let browser;
let api;       // the tickpush that allows the good origin
let good;      // http://127.0.0.2:<port>
let bad;       // http://127.0.0.3:<port>

/* A page server on host: every path answers a blank HTML page. */
function pageServer(host) {
	const srv = http.createServer((req, res) => {
		res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
		res.end('<!doctype html><html lang="en"><title>another origin</title><p>app</p></html>');
	});
	return new Promise((resolve, reject) => {
		srv.once('error', reject);
		srv.listen(0, host, () => {
			pages.push(srv);
			resolve(`http://${host}:${srv.address().port}`);
		});
	});
}

before(async () => {
	good = await pageServer('127.0.0.2');
	bad = await pageServer('127.0.0.3');
	await svc.start({ sim: false });
	api = await svc.launch('tickpush-cors', 0, { TICKPUSH_CORS_ORIGINS: good });
	browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
});

after(async () => {
	if (browser)
		await browser.close();
	for (const p of pages)
		p.close();
	const ended = await svc.stop();
	for (const [name, info] of Object.entries(ended))
		assert.deepEqual(info, { code: 0, signal: null }, `${name} must exit cleanly`);
});

async function open(origin) {
	const ctx = await browser.newContext();
	const page = await ctx.newPage();
	await page.goto(`${origin}/app.html`);
	return page;
}

/* Login, an authorised scan and the first SSE pattern, all from the page;
 * each step reports what it got or the error the browser raised. */
async function crossOriginCalls(base) {
	{
		const out = {};
		try {
			const r = await fetch(`${base}/api/auth/login`, {
				method: 'POST', headers: { 'Content-Type': 'application/json' },
				body: JSON.stringify({ username: 'demo', password: 'demo' }),
			});
			out.login = { status: r.status, token: (await r.json()).token };
			window.progress = out;
		} catch (e) {
			out.login = { error: String(e) };
			return out;
		}
		try {
			const r = await fetch(`${base}/api/patterns/scan?symbols=CORS`, {
				headers: { Authorization: `Bearer ${out.login.token}` },
			});
			out.scan = { status: r.status, body: await r.json() };
			window.progress = out;
		} catch (e) {
			out.scan = { error: String(e) };
		}
		out.sse = await new Promise((resolve) => {
			const es = new EventSource(`${base}/api/stream?symbols=CORS&confidence_min=0`,
				{ withCredentials: true });
			const done = (v) => { es.close(); resolve(v); };
			es.addEventListener('subscribed', () => { window.sseSubscribed = true; });
			es.addEventListener('pattern', (e) => done({ pattern: JSON.parse(e.data).data.symbol }));
			es.onerror = () => {
				if (!window.sseSubscribed)
					done(out.sse = { error: 'EventSource failed' });
			};
			setTimeout(() => done({ error: 'timeout' }), 120000);
		});
		return out;
	}
}

test('a page on a listed origin calls login, scan and SSE cross-origin', async () => {
	const page = await open(good);
	const run = page.evaluate(crossOriginCalls, api.baseUrl);
	run.catch(() => {}); /* awaited below */
	/* Publish once the stream is subscribed (its first frame). */
	/* (Signing in takes seconds: 600,000 PBKDF2 rounds, sanitizers.) */
	try {
		await page.waitForFunction(() => window.sseSubscribed === true, null, { timeout: 90000 });
	} catch (e) {
		throw new Error(`never subscribed: ${JSON.stringify(await page.evaluate(() => window.progress))}`);
	}
	await svc.publishPattern({ symbol: 'CORS', confidence: 0.9 });
	const out = await run;
	assert.equal(out.login.status, 200, JSON.stringify(out));
	assert.ok(out.login.token, 'a token');
	assert.equal(out.scan.status, 200, JSON.stringify(out.scan));
	assert.ok(Array.isArray(out.scan.body.patterns));
	assert.deepEqual(out.sse, { pattern: 'CORS' });
});

test('a page on an origin not listed is blocked by the browser', async () => {
	const page = await open(bad);
	const out = await page.evaluate(async (base) => {
		const res = {};
		try {
			await fetch(`${base}/api/patterns/scan`);
			res.scan = 'read';
		} catch (e) {
			res.scan = String(e);
		}
		try {
			await fetch(`${base}/api/auth/login`, {
				method: 'POST', headers: { 'Content-Type': 'application/json' },
				body: JSON.stringify({ username: 'demo', password: 'wrong' }),
			});
			res.login = 'read';
		} catch (e) {
			res.login = String(e);
		}
		return res;
	}, api.baseUrl);
	assert.match(out.scan, /TypeError/);
	assert.match(out.login, /TypeError/);
});
