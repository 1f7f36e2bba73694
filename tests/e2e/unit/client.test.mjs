// Unit tests for web-demo/tickpush.js: the client's state machine driven by
// fake transports, fake timers and a fake fetch (no browser, no server),
// plus the WebSocket/SSE/long-poll adapters against fake globals.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';

import {
	TickpushClient, ApiError, backoffDelay, filterToParams, sseToFrame, pollToFrames,
	parsePosition, formatPosition, wsTransport, sseTransport, pollTransport,
	tokenExpiry, sseParser,
} from '../../../web-demo/tickpush.js';

/* ---- fakes ---- */

function fakeTimers() {
	let now = 1_000_000;
	let next = 1;
	const pending = new Map();
	const t = {
		setTimeout(fn, ms) {
			const id = next++;
			pending.set(id, { fn, at: now + (ms || 0) });
			return id;
		},
		clearTimeout(id) { pending.delete(id); },
		setInterval(fn, ms) {
			const id = next++;
			const tick = () => { pending.set(id, { fn: () => { tick(); fn(); }, at: now + ms }); };
			tick();
			return id;
		},
		clearInterval(id) { pending.delete(id); },
		now: () => now,
		/* Runs everything due up to now+ms, in time order. */
		advance(ms) {
			const end = now + ms;
			for (;;) {
				let best = null;
				for (const [id, p] of pending)
					if (p.at <= end && (!best || p.at < best[1].at))
						best = [id, p];
				if (!best)
					break;
				pending.delete(best[0]);
				now = best[1].at;
				best[1].fn();
			}
			now = end;
		},
		delays() { return [...pending.values()].map((p) => p.at - now); },
		get count() { return pending.size; },
	};
	return t;
}

/* Every transport the client makes, with what it was asked to do. */
function fakeTransports() {
	const made = [];
	const factory = (name) => (ctx) => {
		const t = {
			name, ctx, opened: false, closed: false, subs: [], unsubs: [],
			open() { this.opened = true; this.token = ctx.client.token; },
			subscribe(req) { this.subs.push(structuredClone(req)); },
			unsubscribe(id) { this.unsubs.push(id); },
			close() { this.closed = true; ctx.onClose({ opened: false, byClient: true }); },
			/* test side */
			connect(info = {}) { ctx.onOpen(info); },
			frame(f) { ctx.onFrame(f); },
			drop(opened = true, code = 1006) { ctx.onClose({ opened, code }); },
		};
		made.push(t);
		return t;
	};
	return {
		made,
		factories: { ws: factory('ws'), sse: factory('sse'), poll: factory('poll') },
		get last() { return made[made.length - 1]; },
	};
}

function row(id, extra = {}) {
	const [symbol, type] = id.split(':');
	return { id, symbol, pattern_type: type, confidence: 0.8, expires_at: 9e9, detected_at: 1, ...extra };
}

/* fetch answering from a route table: path prefix -> (url, init) => [status, body]. */
function fakeFetch(routes) {
	const calls = [];
	const fn = async (url, init = {}) => {
		calls.push({ url, init });
		const path = url.replace(/^https?:\/\/[^/]+/, '');
		for (const [prefix, h] of Object.entries(routes)) {
			if (path.startsWith(prefix)) {
				const r = await h(path, init);
				const [status, body] = r;
				return {
					ok: status >= 200 && status < 300, status,
					text: async () => (typeof body === 'string' ? body : JSON.stringify(body)),
				};
			}
		}
		return { ok: false, status: 404, text: async () => '{"error":"Not found"}' };
	};
	fn.calls = calls;
	return fn;
}

function scanAnswer(rows, epoch = 'e1', seq = 100) {
	return [200, { patterns: rows, pagination: { page: 1, per_page: 100, total: rows.length, pages: 1 },
		stream: { epoch, seq } }];
}

function makeClient(extra = {}) {
	const timers = fakeTimers();
	const tr = fakeTransports();
	const scans = [];
	let nextScan = () => scanAnswer([row('AAPL:Hammer:1'), row('MSFT:Doji:2')]);
	const fetch = fakeFetch({
		'/api/patterns/scan': (path) => { scans.push(path); return nextScan(path); },
		...(extra.routes || {}),
	});
	const client = new TickpushClient({
		baseUrl: 'http://tp.test', fetch, timers, now: timers.now, random: () => 0.5,
		transportFactories: tr.factories, WebSocket: class {}, EventSource: class {},
		sweepIntervalMs: 0, ...(extra.opts || {}),
	});
	const events = [];
	for (const type of ['reset', 'row', 'removed', 'status', 'gap', 'resume', 'backtest', 'health',
		'error', 'fallback', 'subscribed'])
		client.on(type, (e) => events.push({ ...e, type }));
	return {
		client, timers, tr, fetch, scans, events,
		setScan(f) { nextScan = f; },
		of(type) { return events.filter((e) => e.type === type); },
	};
}

async function flush() {
	for (let i = 0; i < 10; i++)
		await new Promise((r) => setImmediate(r));
}

/* ---- the declarations match the module ---- */

test('tickpush.d.ts declares every export, client method and option (and nothing that is not there)', async () => {
	const dts = fs.readFileSync(new URL('../../../web-demo/tickpush.d.ts', import.meta.url), 'utf8');
	const mod = await import('../../../web-demo/tickpush.js');
	const declared = [...dts.matchAll(/^export (?:const|function|class) (\w+)/gm)].map((m) => m[1]);
	assert.deepEqual(declared.sort(), Object.keys(mod).filter((k) => k !== 'default').sort());
	assert.match(dts, /^export default TickpushClient;/m);
	const block = (name) => {
		const start = dts.search(new RegExp(`^export (?:class|interface) ${name}\\b`, 'm'));
		assert.ok(start >= 0, `${name} declared`);
		return dts.slice(start, dts.indexOf('\n}\n', start));
	};
	const publicMethods = (proto) => Object.getOwnPropertyNames(proto)
		.filter((n) => n !== 'constructor' && !n.startsWith('_') && typeof proto[n] === 'function');
	const cls = block('TickpushClient');
	const clsMethods = [...cls.matchAll(/^\t(\w+)(?:<[^>]*>)?\(/gm)].map((m) => m[1]).filter((n) => n !== 'constructor');
	assert.deepEqual(clsMethods.sort(), publicMethods(mod.TickpushClient.prototype).sort());
	const em = block('Emitter');
	assert.deepEqual([...em.matchAll(/^\t(\w+)(?:<[^>]*>)?\(/gm)].map((m) => m[1]).sort(), publicMethods(mod.Emitter.prototype).sort());
	const opts = block('ClientOptions');
	const optionNames = [...opts.matchAll(/^\t(\w+)\?:/gm)].map((m) => m[1]);
	const runtime = Object.keys(new mod.TickpushClient({ fetch: () => {} }).opts).filter((k) => k !== 'fetch');
	for (const k of runtime)
		assert.ok(optionNames.includes(k), `option ${k} declared`);
});

/* ---- pure helpers ---- */

test('backoff grows exponentially, is capped and jittered within [half, full]', () => {
	const o = { min: 100, max: 1000, factor: 2, jitter: 0.5 };
	assert.equal(backoffDelay(0, o, () => 0), 50);
	assert.equal(backoffDelay(0, o, () => 1), 100);
	assert.equal(backoffDelay(3, o, () => 1), 800);
	assert.equal(backoffDelay(4, o, () => 1), 1000);
	assert.equal(backoffDelay(20, o, () => 0), 500);
	for (let a = 0; a < 8; a++) {
		const d = backoffDelay(a, o);
		const base = Math.min(1000, 100 * 2 ** a);
		assert.ok(d >= base / 2 && d <= base, `attempt ${a}: ${d}`);
	}
});

test('filters become scan parameters', () => {
	const p = filterToParams({ pattern_types: ['Hammer', 'Doji'], symbols: ['AAPL'], confidence_min: 0.7,
		rs_min: 0, vol_min: '', rsi_range: [20, 80], timeframe: 'Daily', sectors: [] });
	assert.equal(p.get('pattern_types'), 'Hammer,Doji');
	assert.equal(p.get('symbols'), 'AAPL');
	assert.equal(p.get('confidence_min'), '0.7');
	assert.equal(p.get('rs_min'), '0');
	assert.equal(p.has('vol_min'), false);
	assert.equal(p.get('rsi_range'), '20,80');
	assert.equal(p.get('timeframe'), 'Daily');
	assert.equal(p.has('sectors'), false);
});

test('positions round-trip through "<epoch>:<seq>"', () => {
	assert.deepEqual(parsePosition(formatPosition({ epoch: 'k3f9a1', seq: 48213 })), { epoch: 'k3f9a1', seq: 48213 });
	assert.equal(parsePosition('nocolon'), null);
	assert.equal(parsePosition('e:x'), null);
});

test('SSE messages become WebSocket-shaped frames, bare or wrapped', () => {
	const r = row('AAPL:Hammer:1');
	assert.deepEqual(sseToFrame('pattern', JSON.stringify(r), 'e1:7', 's'),
		{ type: 'pattern', data: r, seq: 7, epoch: 'e1', subs: ['s'] });
	const wrapped = sseToFrame('pattern', JSON.stringify({ type: 'pattern', seq: 9, subs: ['x'], data: r }), 'e1:9', 's');
	assert.equal(wrapped.seq, 9);
	assert.deepEqual(wrapped.subs, ['s']);
	assert.equal(sseToFrame('pattern_removed', JSON.stringify({ id: 'A:B:1' }), 'e1:10', 's').id, 'A:B:1');
	const gap = sseToFrame('gap', JSON.stringify({ epoch: 'e2', seq: 50 }), '', 's');
	assert.equal(gap.type, 'gap');
	assert.equal(gap.id, 's');
	assert.equal(gap.seq, 50);
	assert.equal(sseToFrame('pattern', '{bad', 'e1:1', 's'), null);
});

test('long-poll answers become frames; another epoch or gap:true is a gap', () => {
	const r = row('AAPL:Hammer:1');
	const f = pollToFrames({ events: [{ seq: 5, type: 'pattern', data: r },
		{ seq: 6, type: 'pattern_removed', data: { id: r.id } }], seq: 6, epoch: 'e1', gap: false }, 's', 'e1');
	assert.equal(f.length, 2);
	assert.deepEqual(f[0], { type: 'pattern', seq: 5, subs: ['s'], data: r });
	assert.equal(f[1].id, r.id);
	assert.equal(pollToFrames({ events: [], seq: 9, epoch: 'e2', gap: false }, 's', 'e1')[0].type, 'gap');
	assert.equal(pollToFrames({ events: [], seq: 9, epoch: 'e1', gap: true }, 's', 'e1')[0].type, 'gap');
});

/* ---- REST ---- */

test('REST errors carry the status, message and offending field', async () => {
	const { client } = makeClient({ routes: {
		'/api/users/filter-presets': () => [400, { error: 'filters.confidence_min: must be a number between 0 and 1', field: 'confidence_min' }],
		'/api/auth/login': () => [401, { error: 'Invalid username or password' }],
	} });
	await assert.rejects(client.createPreset({ name: 'x', filters: { confidence_min: 2 } }), (e) => {
		assert.ok(e instanceof ApiError);
		assert.equal(e.status, 400);
		assert.equal(e.field, 'confidence_min');
		assert.match(e.message, /between 0 and 1/);
		return true;
	});
	await assert.rejects(client.login('demo', 'wrong'), (e) => e.status === 401 && e.field === null);
	assert.equal(client.token, null);
});

test('login stores the token and later requests send it', async () => {
	const { client, fetch } = makeClient({ routes: {
		'/api/auth/login': () => [200, { token: 'T0K', expires_at: 1, user: { id: 1, username: 'demo' } }],
		'/api/users/watchlists': () => [200, { watchlists: [{ id: 1, name: 'W', symbols: ['AAPL'] }], count: 1 }],
	} });
	await client.login('demo', 'demo');
	assert.equal(client.token, 'T0K');
	assert.equal(client.user.username, 'demo');
	const wl = await client.listWatchlists();
	assert.equal(wl[0].name, 'W');
	const last = fetch.calls[fetch.calls.length - 1];
	assert.equal(last.init.headers.Authorization, 'Bearer T0K');
	assert.equal(fetch.calls[0].init.headers.Authorization, undefined);
});

/* ---- subscription state machine ---- */

test('subscribe: initial load through scan, then the stream from the scan position', async () => {
	const h = makeClient();
	const sub = await h.client.subscribe({ id: 's1', presetId: 7 });
	assert.match(h.scans[0], /preset_id=7/);
	assert.equal(h.of('reset').length, 1);
	assert.deepEqual(h.of('reset')[0].rows.map((r) => r.id), ['AAPL:Hammer:1', 'MSFT:Doji:2']);
	assert.equal(sub.rows.size, 2);
	const t = h.tr.last;
	assert.equal(t.name, 'ws');
	assert.ok(t.opened);
	assert.deepEqual(t.subs, [{ id: 's1', channel: 'patterns', presetId: 7, filter: null,
		since: { epoch: 'e1', seq: 100 } }]);
	t.connect({ hello: { type: 'hello', epoch: 'e1', seq: 100 } });
	assert.equal(h.client.state, 'open');
	assert.equal(h.client.transportName, 'ws');
});

test('live frames: new rows, updates, removals; old and duplicate seqs are ignored', async () => {
	const h = makeClient();
	await h.client.subscribe({ id: 's1', filter: { confidence_min: 0.6 } });
	const t = h.tr.last;
	t.connect();
	t.frame({ type: 'pattern', seq: 101, subs: ['s1'], data: row('NVDA:Hammer:3') });
	t.frame({ type: 'pattern', seq: 102, subs: ['s1'], data: row('AAPL:Hammer:1', { confidence: 0.9 }) });
	t.frame({ type: 'pattern', seq: 102, subs: ['s1'], data: row('TSLA:Doji:9') }); // duplicate seq
	t.frame({ type: 'pattern', seq: 99, subs: ['s1'], data: row('OLD:Doji:9') }); // before the load
	t.frame({ type: 'pattern_removed', seq: 103, subs: ['s1'], id: 'MSFT:Doji:2' });
	t.frame({ type: 'pattern', seq: 104, subs: ['other'], data: row('X:Y:1') }); // not ours
	const rows = h.of('row');
	assert.deepEqual(rows.map((e) => [e.row.id, e.isNew]), [['NVDA:Hammer:3', true], ['AAPL:Hammer:1', false]]);
	assert.deepEqual(h.of('removed').map((e) => e.id), ['MSFT:Doji:2']);
	assert.deepEqual(h.client.rows('s1').map((r) => r.id).sort(), ['AAPL:Hammer:1', 'NVDA:Hammer:3']);
	assert.deepEqual(h.client.position('s1'), { epoch: 'e1', seq: 103 });
	assert.equal(h.client.stats.duplicates, 2);
	assert.equal(rows[0].latencyMs, null); // no published_at: latency unknown
});

test('publish-to-screen latency when the event carries published_at', async () => {
	const h = makeClient();
	await h.client.subscribe({ id: 's1' });
	h.tr.last.connect();
	const pub = (h.timers.now() - 250) / 1000;
	h.tr.last.frame({ type: 'pattern', seq: 101, subs: ['s1'], data: row('A:B:1', { published_at: pub }) });
	assert.equal(Math.round(h.of('row')[0].latencyMs), 250);
	assert.equal(Math.round(h.client.stats.lastLatencyMs), 250);
});

test('a dropped connection reconnects with backoff and resumes from the last seq', async () => {
	const h = makeClient({ opts: { backoff: { min: 1000, max: 8000, jitter: 0 } } });
	await h.client.subscribe({ id: 's1', presetId: 2 });
	h.client.subscribe({ id: 'bt', channel: 'backtests' });
	const t1 = h.tr.last;
	t1.connect();
	t1.frame({ type: 'pattern', seq: 120, subs: ['s1'], data: row('NVDA:Hammer:3') });
	t1.drop(true);
	assert.equal(h.client.state, 'reconnecting');
	assert.deepEqual(h.timers.delays(), [1000]);
	h.timers.advance(999);
	assert.equal(h.tr.made.length, 1);
	h.timers.advance(1);
	assert.equal(h.tr.made.length, 2);
	const t2 = h.tr.last;
	assert.equal(t2.name, 'ws');
	assert.deepEqual(t2.subs.map((s) => [s.id, s.since]),
		[['s1', { epoch: 'e1', seq: 120 }], ['bt', undefined]]);
	t2.connect();
	t2.frame({ type: 'subscribed', id: 's1', epoch: 'e1', seq: 125, recovered: true });
	t2.frame({ type: 'pattern', seq: 123, subs: ['s1'], data: row('AMD:Doji:4') }); // replayed
	assert.equal(h.of('resume').length, 1);
	assert.equal(h.client.stats.resumes, 1);
	assert.equal(h.client.stats.reconnects, 1);
	assert.ok(h.client.rows('s1').some((r) => r.id === 'AMD:Doji:4'));
	assert.equal(h.scans.length, 1); // resumed, not reloaded
});

test('failed attempts back off exponentially; an open connection resets the backoff', async () => {
	const h = makeClient({ opts: { backoff: { min: 100, max: 1000, jitter: 0 }, failuresBeforeFallback: 99 } });
	await h.client.subscribe({ id: 's1' });
	const seen = [];
	for (let i = 0; i < 6; i++) {
		h.tr.last.drop(false);
		seen.push(h.timers.delays()[0]);
		h.timers.advance(seen[i]);
	}
	assert.deepEqual(seen, [100, 200, 400, 800, 1000, 1000]);
	h.tr.last.connect();
	h.tr.last.drop(true);
	assert.deepEqual(h.timers.delays(), [100]);
});

test('gap: reload through scan, hold live frames and keep only the newer ones', async () => {
	const h = makeClient();
	await h.client.subscribe({ id: 's1' });
	const t = h.tr.last;
	t.connect();
	let release;
	h.setScan(() => new Promise((r) => { release = r; }));
	t.frame({ type: 'subscribed', id: 's1', recovered: false });
	t.frame({ type: 'gap', id: 's1', epoch: 'e2', seq: 500 });
	assert.equal(h.of('gap').length, 1);
	assert.equal(h.client.stats.gaps, 1);
	t.frame({ type: 'pattern', seq: 505, subs: ['s1'], data: row('OLD:Doji:5') }); // included in the reload
	t.frame({ type: 'pattern', seq: 512, subs: ['s1'], data: row('NEW:Doji:6') }); // after it
	assert.equal(h.of('row').length, 0, 'held while reloading');
	await flush();
	release(scanAnswer([row('OLD:Doji:5'), row('ZZ:Hammer:7')], 'e2', 510));
	await flush();
	assert.equal(h.scans.length, 2);
	assert.equal(h.of('reset').length, 2);
	assert.deepEqual(h.of('row').map((e) => e.row.id), ['NEW:Doji:6']);
	assert.deepEqual(h.client.rows('s1').map((r) => r.id).sort(), ['NEW:Doji:6', 'OLD:Doji:5', 'ZZ:Hammer:7']);
	assert.deepEqual(h.client.position('s1'), { epoch: 'e2', seq: 512 });
	assert.equal(h.of('resume').length, 0);
});

test('falls back ws -> sse -> poll after repeated connect failures', async () => {
	const h = makeClient({ opts: { failuresBeforeFallback: 2, backoff: { min: 10, max: 10, jitter: 0 } } });
	await h.client.subscribe({ id: 's1' });
	const names = () => h.tr.made.map((t) => t.name);
	h.tr.last.drop(false);
	h.timers.advance(10);
	h.tr.last.drop(false);
	h.timers.advance(10);
	assert.deepEqual(names(), ['ws', 'ws', 'sse']);
	assert.equal(h.of('fallback').length, 1);
	assert.deepEqual(h.tr.last.subs[0].since, { epoch: 'e1', seq: 100 });
	h.tr.last.drop(false);
	h.timers.advance(10);
	h.tr.last.drop(false);
	h.timers.advance(10);
	assert.deepEqual(names(), ['ws', 'ws', 'sse', 'sse', 'poll']);
	h.tr.last.connect();
	assert.equal(h.client.transportName, 'poll');
	assert.equal(h.client.stats.fallbacks, 2);
});

test('on a fallback, a probe of the better transport moves the stream back when it opens', async () => {
	const h = makeClient({ opts: { failuresBeforeFallback: 1, upgradeAfterMs: 60000, backoff: { min: 10, max: 10, jitter: 0 } } });
	await h.client.subscribe({ id: 's1' });
	const upgrades = [];
	h.client.on('upgrade', (e) => upgrades.push(e));
	h.tr.last.drop(false);
	h.timers.advance(10);
	const sse = h.tr.last;
	assert.equal(sse.name, 'sse');
	sse.connect();
	sse.frame({ type: 'pattern', seq: 130, subs: ['s1'], data: row('NVDA:Hammer:3') });
	/* first probe fails: the next one waits twice as long; the stream stays */
	h.timers.advance(60000);
	const probe1 = h.tr.last;
	assert.equal(probe1.name, 'ws');
	assert.deepEqual(probe1.subs, [], 'a probe carries no subscriptions');
	probe1.drop(false);
	assert.equal(h.client.transportName, 'sse');
	assert.ok(!sse.closed);
	h.timers.advance(60000);
	assert.equal(h.tr.last, probe1, 'backed off');
	h.timers.advance(60000);
	const probe2 = h.tr.last;
	assert.notEqual(probe2, probe1);
	probe2.connect();
	assert.ok(probe2.closed, 'the probe itself is closed');
	assert.ok(sse.closed, 'the fallback is closed');
	const ws = h.tr.last;
	assert.equal(ws.name, 'ws');
	assert.deepEqual(ws.subs[0].since, { epoch: 'e1', seq: 130 });
	ws.connect();
	assert.equal(h.client.transportName, 'ws');
	assert.deepEqual(upgrades, [{ from: 'sse', to: 'ws' }]);
	assert.equal(h.client.stats.fallbacks, 1);
	h.timers.advance(600000);
	assert.equal(h.tr.last, ws, 'no probes on the best transport');
});

test('a connection that worked once is retried on the same transport', async () => {
	const h = makeClient({ opts: { failuresBeforeFallback: 2, backoff: { min: 10, max: 10, jitter: 0 } } });
	await h.client.subscribe({ id: 's1' });
	for (let i = 0; i < 5; i++) {
		h.tr.last.connect();
		h.tr.last.drop(true);
		h.timers.advance(10);
	}
	assert.ok(h.tr.made.every((t) => t.name === 'ws'));
});

test('without WebSocket the client starts on SSE; without both on long-poll', async () => {
	const a = makeClient({ opts: { WebSocket: undefined, transportFactories: undefined } });
	a.client.factories.sse = a.tr.factories.sse;
	a.client.factories.poll = a.tr.factories.poll;
	await a.client.subscribe({ id: 's1' });
	assert.equal(a.tr.last.name, 'sse');
	const b = makeClient({ opts: { WebSocket: undefined, EventSource: undefined, transportFactories: undefined } });
	b.client.factories.poll = b.tr.factories.poll;
	await b.client.subscribe({ id: 's1' });
	assert.equal(b.tr.last.name, 'poll');
});

test('switching preset replaces the subscription without reconnecting', async () => {
	const h = makeClient();
	await h.client.subscribe({ id: 'main', presetId: 1 });
	const t = h.tr.last;
	t.connect();
	h.setScan(() => scanAnswer([row('JPM:Hammer:8')], 'e1', 140));
	await h.client.subscribe({ id: 'main', presetId: 2 });
	assert.equal(h.tr.made.length, 1);
	assert.deepEqual(t.unsubs, ['main']);
	assert.deepEqual(t.subs.map((s) => [s.presetId, s.since.seq]), [[1, 100], [2, 140]]);
	assert.match(h.scans[1], /preset_id=2/);
	assert.deepEqual(h.client.rows('main').map((r) => r.id), ['JPM:Hammer:8']);
	t.frame({ type: 'subscribed', id: 'main', recovered: true });
	assert.equal(h.of('resume').length, 0, 'a new subscription is not a resume');
});

test('backtest, health and error frames become events', async () => {
	const h = makeClient();
	h.client.subscribe({ id: 'b', channel: 'backtests' });
	h.client.subscribe({ id: 'h', channel: 'health' });
	const t = h.tr.last;
	assert.deepEqual(t.subs.map((s) => s.channel), ['backtests', 'health']);
	t.connect();
	t.frame({ type: 'backtest_progress', seq: 1, subs: ['b'], data: { job_id: 'j', progress: 0.5 } });
	t.frame({ type: 'backtest_result', seq: 2, subs: ['b'], data: { job_id: 'j', status: 'completed' } });
	t.frame({ type: 'system_health', seq: 3, subs: ['h'], data: { status: 'healthy' } });
	t.frame({ type: 'error', id: 'x', code: 'not_found', message: 'no preset' });
	assert.deepEqual(h.of('backtest').map((e) => [e.data.job_id, e.final]), [['j', false], ['j', true]]);
	assert.equal(h.of('health')[0].data.status, 'healthy');
	assert.equal(h.of('error')[0].code, 'not_found');
});

test('expired rows are swept even without a pattern_removed', async () => {
	const h = makeClient();
	const nowS = h.timers.now() / 1000;
	h.setScan(() => scanAnswer([row('A:B:1', { expires_at: nowS + 5 }), row('C:D:2', { expires_at: nowS + 60 })]));
	await h.client.subscribe({ id: 's1' });
	h.client.sweep(h.timers.now() + 6000);
	assert.deepEqual(h.of('removed').map((e) => [e.id, e.reason]), [['A:B:1', 'expired']]);
	assert.deepEqual(h.client.rows('s1').map((r) => r.id), ['C:D:2']);
});

test('maxRows trims the least confident row', async () => {
	const h = makeClient({ opts: { maxRows: 2 } });
	await h.client.subscribe({ id: 's1' });
	h.tr.last.connect();
	h.tr.last.frame({ type: 'pattern', seq: 101, subs: ['s1'], data: row('LOW:Doji:3', { confidence: 0.1 }) });
	assert.deepEqual(h.of('removed').map((e) => [e.id, e.reason]), [['LOW:Doji:3', 'trimmed']]);
});

test('without a token provider, token expiry (close 4001) stops reconnecting', async () => {
	const h = makeClient();
	await h.client.subscribe({ id: 's1' });
	h.tr.last.connect();
	let unauthorized = 0;
	h.client.on('unauthorized', () => unauthorized++);
	h.tr.last.drop(true, 4001);
	assert.equal(h.client.state, 'closed');
	assert.equal(unauthorized, 1);
	h.timers.advance(60000);
	assert.equal(h.tr.made.length, 1);
});

/* ---- the token provider ---- */

/* A JWT-shaped token (unsigned: the client only reads exp). */
function jwt(exp, n = 0) {
	const b = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
	return `${b({ alg: 'HS256', typ: 'JWT' })}.${b({ sub: '1', exp, n })}.sig${n}`;
}

/* A getToken that records its calls and answers from a script. */
function provider(...answers) {
	const calls = [];
	const fn = (req) => {
		calls.push(structuredClone(req));
		const a = answers.length > 1 ? answers.shift() : answers[0];
		return typeof a === 'function' ? a(req) : a;
	};
	fn.calls = calls;
	return fn;
}

test('tokenExpiry reads a JWT exp and nothing else', () => {
	assert.equal(tokenExpiry(jwt(1725456789.5)), 1725456789.5);
	assert.equal(tokenExpiry('opaque-token'), null);
	assert.equal(tokenExpiry('a.b.c'), null);
	assert.equal(tokenExpiry(`x.${Buffer.from('{"sub":"1"}').toString('base64url')}.y`), null);
	assert.equal(tokenExpiry(null), null);
});

test('getToken is called at connect (sync or async) and its token goes to the transport', async () => {
	for (const asyncProvider of [false, true]) {
		const getToken = provider(asyncProvider ? () => Promise.resolve('T1') : 'T1');
		const h = makeClient({ opts: { getToken } });
		await h.client.subscribe({ id: 's1', presetId: 7 });
		await flush();
		assert.deepEqual(getToken.calls, [{ reason: 'connect', token: null }]);
		assert.equal(h.tr.made.length, 1);
		assert.equal(h.tr.last.token, 'T1', 'the transport opens with the provided token');
		assert.equal(h.client.token, 'T1');
		assert.ok(h.of('status').some((s) => s.authenticating), 'status says it is getting a token');
		/* A connection that drops reconnects with the token it holds. */
		h.tr.last.connect();
		h.tr.last.drop(true, 1006);
		h.timers.advance(60000);
		assert.equal(getToken.calls.length, 1, 'a usable token is not asked for again');
		assert.equal(h.tr.last.token, 'T1');
	}
});

test('getToken returning null at connect means anonymous', async () => {
	const getToken = provider(null);
	const h = makeClient({ opts: { getToken } });
	await h.client.subscribe({ id: 's1' });
	await flush();
	assert.equal(h.tr.made.length, 1);
	assert.equal(h.tr.last.token, null);
	h.tr.last.connect();
	assert.equal(h.client.state, 'open');
});

test('close 4001: a fresh token from getToken, then the stream resumes with since (no gap, no duplicate)', async () => {
	const getToken = provider('T2', 'T3');
	const h = makeClient({ opts: { getToken, token: 'T1' } });
	const unauthorized = [];
	h.client.on('unauthorized', (e) => unauthorized.push(e));
	await h.client.subscribe({ id: 's1', presetId: 7 });
	assert.equal(getToken.calls.length, 0, 'a token was given: nothing to ask at connect');
	const t1 = h.tr.last;
	assert.equal(t1.token, 'T1');
	t1.connect();
	t1.frame({ type: 'pattern', seq: 110, subs: ['s1'], data: row('NVDA:Hammer:3') });
	for (const [i, [old, next]] of [['T1', 'T2'], ['T2', 'T3']].entries()) {
		const t = h.tr.last;
		t.drop(true, 4001);
		h.timers.advance(0);
		await flush();
		assert.deepEqual(getToken.calls[i], { reason: 'expired', token: old });
		const t2 = h.tr.last;
		assert.notEqual(t2, t);
		assert.equal(t2.token, next);
		assert.deepEqual(t2.subs.find((x) => x.id === 's1').since, { epoch: 'e1', seq: 110 + i * 10 });
		t2.connect();
		t2.frame({ type: 'subscribed', id: 's1', epoch: 'e1', seq: 115 + i * 10, recovered: true });
		t2.frame({ type: 'pattern', seq: 110 + i * 10, subs: ['s1'], data: row('NVDA:Hammer:3') }); // overlap
		t2.frame({ type: 'pattern', seq: 120 + i * 10, subs: ['s1'], data: row(`AMD:Doji:${i}`) }); // missed
	}
	assert.equal(h.client.stats.renewals, 2);
	assert.equal(h.client.stats.resumes, 2);
	assert.equal(h.client.stats.gaps, 0);
	assert.equal(h.scans.length, 1, 'resumed, never reloaded');
	assert.deepEqual(h.of('row').map((e) => e.row.id), ['NVDA:Hammer:3', 'AMD:Doji:0', 'AMD:Doji:1'],
		'every event once');
	assert.equal(h.client.stats.duplicates, 2);
	assert.deepEqual(unauthorized, []);
	assert.equal(h.client.state, 'open');
});

test('a token whose exp has passed (by the server clock) is renewed before connecting', async () => {
	const h0 = fakeTimers();
	const nowS = h0.now() / 1000;
	const stale = jwt(nowS - 5);
	const getToken = provider(jwt(nowS + 3600, 1));
	const h = makeClient({ opts: { getToken, token: stale } });
	await h.client.subscribe({ id: 's1' });
	await flush();
	assert.deepEqual(getToken.calls, [{ reason: 'expired', token: stale }]);
	assert.equal(h.tr.last.token, jwt(nowS + 3600, 1));
	/* A provider that disagrees (clocks differ) may answer with the same token. */
	const g2 = provider(() => stale);
	const h2 = makeClient({ opts: { getToken: g2, token: stale } });
	await h2.client.subscribe({ id: 's1' });
	await flush();
	assert.equal(h2.tr.last.token, stale);
});

test('getToken is never called from inside a client method (the page finishes its own step first)', async () => {
	const nowS = fakeTimers().now() / 1000;
	let inside = false;
	const seen = [];
	const getToken = provider(() => { seen.push(inside); return jwt(nowS + 3600, 2); });
	const h = makeClient({ opts: { getToken } });
	inside = true;
	h.client.subscribe({ id: 'h', channel: 'health' }); // connects: no token yet
	h.client.setToken(jwt(nowS + 0.5, 1), { id: 1 }); // about to expire: renewed
	inside = false;
	await flush();
	assert.deepEqual(getToken.calls.map((c) => c.reason), ['expired']);
	assert.deepEqual(seen, [false]);
	assert.equal(h.tr.last.token, jwt(nowS + 3600, 2));
});

test('HTTP 401: getToken is asked once for all concurrent requests, each retried once with the new token', async () => {
	let release;
	const getToken = provider(() => new Promise((r) => { release = r; }));
	const seen = [];
	const h = makeClient({ opts: { getToken, token: 'OLD' }, routes: {
		'/api/users/watchlists': (path, init) => {
			seen.push(init.headers.Authorization);
			return init.headers.Authorization === 'Bearer NEW' ? [200, { watchlists: [{ id: 1 }] }] : [401, { error: 'Token expired' }];
		},
	} });
	const a = h.client.listWatchlists();
	const b = h.client.listWatchlists();
	await flush();
	assert.equal(getToken.calls.length, 1);
	assert.deepEqual(getToken.calls[0], { reason: 'unauthorized', token: 'OLD' });
	release('NEW');
	assert.deepEqual((await a).map((w) => w.id), [1]);
	assert.deepEqual((await b).map((w) => w.id), [1]);
	assert.deepEqual(seen, ['Bearer OLD', 'Bearer OLD', 'Bearer NEW', 'Bearer NEW']);
	assert.equal(h.client.token, 'NEW');
	assert.equal(h.client.stats.renewals, 1);
});

test('HTTP 401 again after a renewal, or no new token: the request fails with 401 and "unauthorized" says why', async () => {
	const getToken = provider('NEW', null);
	const h = makeClient({ opts: { getToken, token: 'OLD' }, routes: {
		'/api/users/watchlists': () => [401, { error: 'Invalid token' }],
	} });
	const unauthorized = [];
	h.client.on('unauthorized', (e) => unauthorized.push(e));
	await assert.rejects(h.client.listWatchlists(), (e) => e instanceof ApiError && e.status === 401);
	assert.equal(getToken.calls.length, 1, 'retried once, not in a loop');
	assert.equal(h.client.token, 'NEW');
	await assert.rejects(h.client.listWatchlists(), (e) => e.status === 401);
	assert.deepEqual(getToken.calls[1], { reason: 'unauthorized', token: 'NEW' });
	assert.equal(h.client.token, null, 'no token to go on with');
	assert.deepEqual(unauthorized, [{ path: '/api/users/watchlists', reason: 'unauthorized' }]);
	/* Login itself never asks for a token. */
	const h2 = makeClient({ opts: { getToken }, routes: { '/api/auth/login': () => [401, { error: 'Invalid username or password' }] } });
	await assert.rejects(h2.client.login('demo', 'x'), (e) => e.status === 401);
	assert.equal(getToken.calls.length, 2);
});

test('an error from getToken: "error" event, the connection retries with backoff and asks again', async () => {
	let n = 0;
	const getToken = provider(() => {
		if (n++ < 2)
			throw new Error('login server down');
		return 'T2';
	});
	const h = makeClient({ opts: { getToken, token: 'T1', backoff: { min: 100, max: 1000, jitter: 0 } } });
	await h.client.subscribe({ id: 's1' });
	h.tr.last.connect();
	h.tr.last.drop(true, 4001);
	h.timers.advance(0);
	await flush();
	assert.equal(h.tr.made.length, 1, 'no transport without a token');
	assert.deepEqual(h.of('error').map((e) => [e.code, e.sub]), [['token_failed', null]]);
	assert.match(h.of('error')[0].message, /login server down/);
	assert.equal(h.client.state, 'reconnecting');
	assert.deepEqual(h.timers.delays(), [100]);
	h.timers.advance(100);
	await flush();
	assert.equal(h.of('error').length, 2);
	assert.deepEqual(h.timers.delays(), [200]);
	h.timers.advance(200);
	await flush();
	assert.equal(h.tr.made.length, 2);
	assert.equal(h.tr.last.token, 'T2');
	assert.deepEqual(getToken.calls.map((c) => c.reason), ['expired', 'expired', 'expired']);
});

test('after a refusal, no new token (null, or the refused one again) ends the stream with "unauthorized"', async () => {
	for (const answer of [null, 'T1']) {
		const getToken = provider(answer);
		const h = makeClient({ opts: { getToken, token: 'T1' } });
		const unauthorized = [];
		h.client.on('unauthorized', (e) => unauthorized.push(e));
		await h.client.subscribe({ id: 's1' });
		h.tr.last.connect();
		h.tr.last.drop(true, 4001);
		h.timers.advance(0);
		await flush();
		assert.equal(h.client.state, 'closed', `answer ${answer}`);
		assert.deepEqual(unauthorized, [{ path: null, reason: 'expired' }]);
		assert.equal(h.client.token, null);
		h.timers.advance(600000);
		assert.equal(h.tr.made.length, 1, 'nothing reconnects');
	}
});

test('a refused auth (not a 4001) asks for a new token; refusals in a row back off', async () => {
	let k = 0;
	const getToken = provider(() => `T${++k}`);
	const h = makeClient({ opts: { getToken, token: 'T0', failuresBeforeFallback: 1, backoff: { min: 100, max: 1000, jitter: 0 } } });
	await h.client.subscribe({ id: 's1' });
	const delays = [];
	for (let i = 0; i < 3; i++) {
		h.tr.last.ctx.onClose({ opened: false, code: 0, unauthorized: true });
		delays.push(h.timers.delays()[0]);
		h.timers.advance(delays[i]);
		await flush();
	}
	assert.deepEqual(delays, [0, 100, 200]);
	assert.deepEqual(getToken.calls.map((c) => [c.reason, c.token]),
		[['unauthorized', 'T0'], ['unauthorized', 'T1'], ['unauthorized', 'T2']]);
	assert.ok(h.tr.made.every((t) => t.name === 'ws'), 'a refused token is no reason to fall back');
	h.tr.last.connect();
	h.tr.last.drop(true, 4001);
	assert.deepEqual(h.timers.delays(), [0], 'a working connection resets the backoff');
});

test('setToken during a pending getToken wins; close() during it stops everything', async () => {
	let release;
	const getToken = provider(() => new Promise((r) => { release = r; }));
	const h = makeClient({ opts: { getToken } });
	await h.client.subscribe({ id: 's1' });
	await flush();
	assert.equal(h.tr.made.length, 0);
	h.client.setToken('MINE', { id: 1 });
	assert.equal(h.tr.made.length, 1);
	assert.equal(h.tr.last.token, 'MINE');
	release('LATE');
	await flush();
	assert.equal(h.client.token, 'MINE');
	assert.equal(h.tr.made.length, 1);
	const h2 = makeClient({ opts: { getToken } });
	await h2.client.subscribe({ id: 's1' });
	await flush();
	h2.client.close();
	release('LATE');
	await flush();
	assert.equal(h2.tr.made.length, 0);
	assert.equal(h2.client.state, 'closed');
});

test('close() stops everything; nothing reconnects afterwards', async () => {
	const h = makeClient();
	await h.client.subscribe({ id: 's1' });
	h.tr.last.connect();
	h.client.close();
	assert.ok(h.tr.last.closed);
	assert.equal(h.client.state, 'closed');
	h.timers.advance(60000);
	assert.equal(h.tr.made.length, 1);
});

/* ---- transport adapters against fake globals ---- */

class FakeWS {
	static last = null;
	constructor(url, proto) {
		this.url = url;
		this.protocol = proto;
		this.readyState = 0;
		this.sent = [];
		FakeWS.last = this;
	}
	send(s) { this.sent.push(JSON.parse(s)); }
	close() { this.readyState = 3; }
	serverOpen() { this.readyState = 1; this.onopen && this.onopen({}); }
	serverSend(obj) { this.onmessage({ data: JSON.stringify(obj) }); }
	serverClose(code) { this.readyState = 3; this.onclose({ code, reason: '' }); }
}

function adapterCtx(client) {
	const log = { opens: [], frames: [], closes: [] };
	return {
		log,
		ctx: {
			client,
			onOpen: (i) => log.opens.push(i),
			onFrame: (f) => log.frames.push(f),
			onClose: (i) => log.closes.push(i),
		},
	};
}

test('WebSocket adapter: token in the auth frame, subscriptions wait for the signed-in hello, frames pass through', () => {
	const timers = fakeTimers();
	const client = new TickpushClient({ baseUrl: 'http://tp.test:8080', token: 'abc', WebSocket: FakeWS, timers, now: timers.now });
	const { ctx, log } = adapterCtx(client);
	const t = wsTransport(ctx);
	t.open();
	const ws = FakeWS.last;
	assert.equal(ws.url, 'ws://tp.test:8080/ws', 'no token in the URL');
	assert.equal(ws.protocol, 'tickpush.v1');
	t.subscribe({ id: 's1', channel: 'patterns', presetId: 3, since: { epoch: 'e', seq: 4 } });
	t.subscribe({ id: 's2', channel: 'patterns', presetId: null, filter: { symbols: ['AAPL'] } });
	ws.serverOpen();
	assert.deepEqual(ws.sent, [{ op: 'auth', token: 'abc' }], 'auth is the first frame, sent on open');
	ws.serverSend({ type: 'hello', protocol: 1, user: null, epoch: 'e', seq: 4 });
	assert.equal(log.opens.length, 0, 'the anonymous hello is not the open');
	assert.equal(ws.sent.length, 1);
	ws.serverSend({ type: 'hello', protocol: 1, user: 42, epoch: 'e', seq: 4 });
	assert.equal(log.opens.length, 1);
	assert.equal(log.opens[0].hello.user, 42);
	assert.deepEqual(ws.sent.slice(1), [
		{ op: 'subscribe', id: 's1', channel: 'patterns', preset_id: 3, since: { epoch: 'e', seq: 4 } },
		{ op: 'subscribe', id: 's2', channel: 'patterns', filter: { symbols: ['AAPL'] } }]);
	ws.serverSend({ type: 'pattern', seq: 5, subs: ['s1'], data: row('A:B:1') });
	assert.equal(log.frames[0].seq, 5);
	t.unsubscribe('s2');
	assert.deepEqual(ws.sent[3], { op: 'unsubscribe', id: 's2' });
	/* keepalive: a ping, and no pong in time closes the connection */
	timers.advance(client.opts.pingIntervalMs);
	assert.equal(ws.sent[4].op, 'ping');
	timers.advance(client.opts.pongTimeoutMs);
	assert.equal(log.closes.length, 1);
	assert.equal(log.closes[0].opened, true);
	assert.equal(log.closes[0].reason, 'ping timeout');
});

test('WebSocket adapter: closed before hello is a failed connection', () => {
	const timers = fakeTimers();
	const client = new TickpushClient({ baseUrl: 'http://h', WebSocket: FakeWS, timers, now: timers.now });
	const { ctx, log } = adapterCtx(client);
	const t = wsTransport(ctx);
	t.open();
	FakeWS.last.serverOpen();
	FakeWS.last.serverClose(1006);
	assert.deepEqual(log.closes.map((c) => [c.opened, c.code]), [[false, 1006]]);
	/* and no hello at all times out */
	const t2 = wsTransport(adapterCtx(client).ctx);
	const c2 = [];
	const t3ctx = { client, onOpen() {}, onFrame() {}, onClose: (i) => c2.push(i) };
	wsTransport(t3ctx).open();
	timers.advance(client.opts.helloTimeoutMs);
	assert.equal(c2[0].reason, 'no hello');
	void t2;
});

class FakeES {
	static all = [];
	constructor(url) {
		this.url = url;
		this.listeners = {};
		this.closed = false;
		FakeES.all.push(this);
	}
	addEventListener(t, fn) { (this.listeners[t] ||= []).push(fn); }
	close() { this.closed = true; }
	dispatch(t, data, id) { for (const fn of this.listeners[t] || []) fn({ data: JSON.stringify(data), lastEventId: id }); }
}

test('SSE adapter: one stream per subscription with its filter and since; any error ends it', () => {
	const client = new TickpushClient({ baseUrl: 'http://h', token: 'tok', tokenInUrl: true, EventSource: FakeES });
	const { ctx, log } = adapterCtx(client);
	const t = sseTransport(ctx);
	t.open();
	t.subscribe({ id: 's1', channel: 'patterns', presetId: 4, since: { epoch: 'e1', seq: 10 } });
	t.subscribe({ id: 'b', channel: 'backtests' });
	const [p, b] = FakeES.all.slice(-2);
	const u = new URL(p.url);
	assert.equal(u.pathname, '/api/stream');
	assert.equal(u.searchParams.get('preset_id'), '4');
	assert.equal(u.searchParams.get('channels'), 'patterns');
	assert.equal(u.searchParams.get('since'), 'e1:10');
	assert.equal(u.searchParams.get('token'), 'tok');
	assert.equal(new URL(b.url).searchParams.get('channels'), 'backtests');
	assert.equal(log.opens.length, 0);
	p.onopen();
	assert.equal(log.opens.length, 1);
	p.dispatch('subscribed', { type: 'subscribed', id: 'patterns', epoch: 'e1', seq: 10, recovered: true });
	p.dispatch('pattern', row('A:B:1'), 'e1:11');
	b.dispatch('backtest_progress', { type: 'backtest_progress', seq: 12, subs: ['backtests'], data: { job_id: 'j', progress: 0.2 } }, 'e1:12');
	assert.deepEqual(log.frames.map((f) => [f.type, f.seq, f.type === 'subscribed' ? f.id : f.subs[0]]),
		[['subscribed', 10, 's1'], ['pattern', 11, 's1'], ['backtest_progress', 12, 'b']]);
	assert.equal(log.frames[0].recovered, true);
	assert.equal(log.frames[2].data.progress, 0.2);
	b.onerror();
	assert.ok(p.closed && b.closed);
	assert.deepEqual(log.closes.map((c) => c.opened), [true]);
});

test('long-poll adapter: polls from since, carries the position forward, reports gaps', async () => {
	const asked = [];
	const answers = [
		{ events: [{ seq: 11, type: 'pattern', data: row('A:B:1') }], seq: 11, epoch: 'e1', gap: false },
		{ events: [], seq: 15, epoch: 'e2', gap: false },
	];
	let hang;
	const fetch = fakeFetch({ '/api/patterns/poll': (path) => {
		asked.push(new URL('http://h' + path).searchParams);
		return answers.length ? [200, answers.shift()] : new Promise((r) => { hang = r; });
	} });
	const client = new TickpushClient({ baseUrl: 'http://h', fetch });
	const { ctx, log } = adapterCtx(client);
	const t = pollTransport(ctx);
	t.open();
	t.subscribe({ id: 's1', channel: 'patterns', presetId: null, filter: { symbols: ['AAPL'] }, since: { epoch: 'e1', seq: 10 } });
	await flush();
	assert.equal(asked[0].get('since'), 'e1:10');
	assert.equal(asked[0].get('symbols'), 'AAPL');
	assert.equal(asked[0].get('timeout'), '25');
	assert.equal(asked[1].get('since'), 'e1:11');
	assert.equal(log.opens.length, 1);
	assert.deepEqual(log.frames.map((f) => f.type), ['subscribed', 'pattern', 'gap']);
	t.close();
	assert.equal(log.closes.length, 1);
	void hang;
});

test('WebSocket adapter: tokenInUrl puts the token in the URL and sends no auth frame', () => {
	const timers = fakeTimers();
	const client = new TickpushClient({ baseUrl: 'http://h', token: 'a b', tokenInUrl: true, WebSocket: FakeWS, timers, now: timers.now });
	const { ctx, log } = adapterCtx(client);
	wsTransport(ctx).open();
	const ws = FakeWS.last;
	assert.equal(ws.url, 'ws://h/ws?token=a+b');
	ws.serverOpen();
	ws.serverSend({ type: 'hello', user: 7 });
	assert.equal(log.opens.length, 1);
	assert.deepEqual(ws.sent, []);
});

test('WebSocket adapter: a refused auth frame closes as unauthorized; anonymous sends no auth', () => {
	const timers = fakeTimers();
	const client = new TickpushClient({ baseUrl: 'http://h', token: 'bad', WebSocket: FakeWS, timers, now: timers.now });
	const { ctx, log } = adapterCtx(client);
	wsTransport(ctx).open();
	const ws = FakeWS.last;
	ws.serverOpen();
	ws.serverSend({ type: 'hello', user: null });
	ws.serverSend({ type: 'error', id: null, code: 'unauthorized', message: 'Token expired' });
	assert.equal(log.opens.length, 0);
	assert.equal(log.closes.length, 1);
	assert.equal(log.closes[0].unauthorized, true);
	assert.match(log.closes[0].reason, /Token expired/);
	const anon = new TickpushClient({ baseUrl: 'http://h', WebSocket: FakeWS, timers, now: timers.now });
	const a = adapterCtx(anon);
	wsTransport(a.ctx).open();
	FakeWS.last.serverOpen();
	FakeWS.last.serverSend({ type: 'hello', user: null });
	assert.equal(a.log.opens.length, 1);
	assert.deepEqual(FakeWS.last.sent, []);
});

/* fetch answering with a streamed body the test writes to. */
function streamingFetch(status = 200) {
	const calls = [];
	const fn = async (url, init) => {
		let ctl;
		const body = new ReadableStream({ start(c) { ctl = c; } });
		init.signal?.addEventListener('abort', () => { try { ctl.error(new Error('aborted')); } catch { /* closed */ } });
		calls.push({ url, init, push: (s) => ctl.enqueue(new TextEncoder().encode(s)), end: () => ctl.close() });
		return { ok: status >= 200 && status < 300, status, body };
	};
	fn.calls = calls;
	return fn;
}

test('SSE adapter: with a token, the stream is read with fetch and Authorization (no token in the URL)', async () => {
	const fetch = streamingFetch();
	const client = new TickpushClient({ baseUrl: 'http://h', token: 'tok', fetch, EventSource: FakeES });
	const before = FakeES.all.length;
	const { ctx, log } = adapterCtx(client);
	const t = sseTransport(ctx);
	t.open();
	t.subscribe({ id: 's1', channel: 'patterns', presetId: 4, since: { epoch: 'e1', seq: 10 } });
	await flush();
	assert.equal(FakeES.all.length, before, 'no EventSource');
	const c = fetch.calls[0];
	assert.equal(new URL(c.url).searchParams.has('token'), false);
	assert.equal(new URL(c.url).searchParams.get('preset_id'), '4');
	assert.equal(c.init.headers.Authorization, 'Bearer tok');
	assert.equal(c.init.headers.Accept, 'text/event-stream');
	assert.equal(log.opens.length, 1);
	c.push(': keepalive\n\nid: e1:11\nevent: pattern\ndata: ');
	c.push(JSON.stringify({ type: 'pattern', seq: 11, subs: ['patterns'], data: row('A:B:1') }) + '\n\n');
	await flush();
	assert.deepEqual(log.frames.map((f) => [f.type, f.seq, f.subs[0]]), [['pattern', 11, 's1']]);
	c.end();
	await flush();
	assert.equal(log.closes.length, 1);
	assert.equal(log.closes[0].opened, true);
	/* 401: the token was refused */
	const f401 = streamingFetch(401);
	const c2 = new TickpushClient({ baseUrl: 'http://h', token: 'old', fetch: f401, EventSource: FakeES });
	const a = adapterCtx(c2);
	const t2 = sseTransport(a.ctx);
	t2.open();
	t2.subscribe({ id: 's1', channel: 'patterns' });
	await flush();
	assert.deepEqual(a.log.closes.map((x) => [x.opened, x.code, x.unauthorized]), [[false, 401, true]]);
});

test('SSE parser: events split anywhere, CRLF, multi-line data, comments, ids that persist', () => {
	const got = [];
	const feed = sseParser((type, data, id) => got.push([type, data, id]));
	const text = ': hi\r\nid: e:1\r\nevent: pattern\r\ndata: {"a":\r\ndata: 1}\r\n\r\ndata: x\n\nevent: gap\ndata:y\n\n';
	for (const ch of text)
		feed(ch);
	assert.deepEqual(got, [['pattern', '{"a":\n1}', 'e:1'], ['message', 'x', 'e:1'], ['gap', 'y', 'e:1']]);
});

test('long-poll adapter: the token goes in Authorization, never in the URL; a 401 is a refusal', async () => {
	const seen = [];
	const fetch = fakeFetch({ '/api/patterns/poll': (path, init) => {
		seen.push({ path, auth: init.headers.Authorization });
		return [401, { error: 'Token expired' }];
	} });
	const client = new TickpushClient({ baseUrl: 'http://h', token: 'tok', fetch, getToken: () => 'never-asked-here' });
	const { ctx, log } = adapterCtx(client);
	const t = pollTransport(ctx);
	t.open();
	t.subscribe({ id: 's1', channel: 'patterns', presetId: 3, since: { epoch: 'e1', seq: 10 } });
	await flush();
	assert.equal(seen.length, 1, 'the state machine, not the request, deals with the 401');
	assert.ok(!seen[0].path.includes('token'));
	assert.equal(seen[0].auth, 'Bearer tok');
	assert.deepEqual(log.closes.map((c) => [c.code, c.unauthorized]), [[401, true]]);
});
