// docs/openapi.json against the running server.
//
//  - The document: OpenAPI 3.1, every schema compiles (JSON Schema 2020-12,
//    ajv strict), and its paths and methods are exactly the routes of the
//    route table in server/io/routes.c: a route added there without being
//    documented (or documented without existing) fails here.
//  - The server: a real request for every documented operation, and for
//    the error answers (400, 401, 404, 405, 409, 413, 429, 503), each
//    validated against the schema the document gives for its status
//    (or the operation's `default`); a body the server accepted must match
//    the documented request body. Objects the document describes with
//    `properties` are checked closed (no undocumented members) unless the
//    document says `additionalProperties`, so a new field must be
//    documented too. 503s come from stopping the test's own PostgreSQL and
//    Redis at the end, 429 from the login rate limit.
//  - Filter input accepts what the scan displays: abbreviations and 8-byte
//    cuts (`Cup_Hand`) over REST, presets, the WebSocket and SSE; an
//    ambiguous one is a 400 / error frame naming the candidates.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import Ajv2020 from 'ajv/dist/2020.js';

import { Services, REPO } from '../e2e/harness.mjs';
import { WsClient } from './wsclient.mjs';

const DOC_TEXT = fs.readFileSync(path.join(REPO, 'docs/openapi.json'), 'utf8');
const doc = JSON.parse(DOC_TEXT);
const METHODS = ['get', 'post', 'put', 'delete'];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/* ---- the server's routes, from the route table in routes.c ---- */

function serverRoutes() {
	const src = fs.readFileSync(path.join(REPO, 'server/io/routes.c'), 'utf8');
	const start = src.indexOf('routes[] = {');
	assert.ok(start > 0, 'routes.c has a route table');
	const table = src.slice(start, src.indexOf('};', start));
	/* path, prefix, methods, handler, metric, public, alt_auth */
	const entry = /\{\s*"([^"]+)"\s*,\s*(true|false)\s*,\s*([A-Z_|\s]+?)\s*,\s*(\w+)\s*,\s*(\w+)\s*,\s*(true|false)\s*,\s*(\w+)\s*\}/g;
	const routes = [...table.matchAll(entry)].map((m) => ({
		path: m[1],
		prefix: m[2] === 'true',
		methods: m[3].split('|').map((s) => s.trim().replace(/^TP_HTTP_/, '')).sort(),
		handler: m[4],
	}));
	/* Every line that opens an entry must have parsed: a differently
	 * written entry is not silently skipped. */
	const opened = (table.match(/^\s*\{\s*"/gm) || []).length;
	assert.equal(routes.length, opened, 'every route table entry parses');
	assert.ok(routes.length >= 20, `found ${routes.length} routes`);
	return routes;
}

/* The document path of a route: the path itself, or for a prefix route
 * the one path that continues it with a single {parameter}. */
function docPathOf(route) {
	if (!route.prefix)
		return doc.paths[route.path] ? route.path : null;
	const found = Object.keys(doc.paths).filter((p) => p.startsWith(route.path) &&
		/^\{[^{}/]+\}$/.test(p.slice(route.path.length)));
	return found.length === 1 ? found[0] : null;
}

const docMethods = (p) => METHODS.filter((m) => doc.paths[p][m]).map((m) => m.toUpperCase()).sort();

/* The document path a concrete request path falls under. */
function docPathFor(reqPath) {
	if (doc.paths[reqPath])
		return reqPath;
	for (const p of Object.keys(doc.paths)) {
		const re = new RegExp(`^${p.replace(/\{[^}]+\}/g, '[^/]+')}$`);
		if (re.test(reqPath))
			return p;
	}
	return null;
}

/* ---- schemas ---- */

const SCHEMAS_ID = 'https://tickpush.invalid/openapi/schemas';

/* Closes every object schema that lists properties and says nothing about
 * others: what the server sends beyond the document fails the test. */
function tighten(s) {
	if (Array.isArray(s))
		return s.map(tighten);
	if (!s || typeof s !== 'object')
		return s;
	const out = {};
	for (const [k, v] of Object.entries(s))
		out[k] = k === 'properties' || k === '$defs'
			? Object.fromEntries(Object.entries(v).map(([n, x]) => [n, tighten(x)]))
			: tighten(v);
	if (out.properties && !('additionalProperties' in out))
		out.additionalProperties = false;
	if (typeof out.$ref === 'string')
		out.$ref = out.$ref.replace('#/components/schemas/', `${SCHEMAS_ID}#/$defs/`);
	return out;
}

const ajv = new Ajv2020({ strict: true, allowUnionTypes: true, allErrors: true });
ajv.addSchema({ $id: SCHEMAS_ID, $defs: tighten(doc.components.schemas) });
const compiled = new Map();
function validator(schema) {
	const key = JSON.stringify(schema);
	if (!compiled.has(key))
		compiled.set(key, ajv.compile(tighten(schema)));
	return compiled.get(key);
}

function deref(x) {
	if (x && x.$ref) {
		const [, kind, name] = x.$ref.match(/^#\/components\/(\w+)\/(.+)$/);
		return doc.components[kind][name];
	}
	return x;
}

function assertValid(schema, value, what) {
	const v = validator(schema);
	if (!v(value))
		assert.fail(`${what} does not match the document: ${ajv.errorsText(v.errors, { separator: '\n  ' })}\n  body: ${JSON.stringify(value).slice(0, 600)}`);
}

/* ---- requests ---- */

const svc = new Services();
const seen = new Set();      /* "GET /api/x 200": what was validated */
const statuses = new Set();
let token;
let token2;

/* Checks one answer against the document: the status is documented for
 * the operation (or its default covers an error), the media type is the
 * documented one and the body matches its schema; the headers an error
 * response documents are there. `response` overrides the operation's
 * (405, unknown paths). */
async function checkAnswer(r, method, docPath, text, response) {
	const op = docPath && doc.paths[docPath][method.toLowerCase()];
	let spec = response;
	if (!spec) {
		assert.ok(op, `${method} ${docPath} is documented`);
		spec = op.responses[String(r.status)];
		if (!spec) {
			assert.ok(r.status >= 400, `${method} ${docPath} answered ${r.status}, which the document does not list`);
			spec = op.responses.default;
		}
	}
	spec = deref(spec);
	const [type, media] = Object.entries(spec.content)[0];
	const ctype = r.headers.get('content-type') || '';
	assert.ok(ctype.startsWith(type), `${method} ${docPath} ${r.status}: content-type ${ctype}, documented ${type}`);
	for (const h of Object.keys(spec.headers || {}))
		if (h === 'Allow' || (h === 'Retry-After' && r.status === 429))
			assert.ok(r.headers.get(h), `${method} ${docPath} ${r.status}: ${h} header`);
	let body = text;
	if (type === 'application/json') {
		body = JSON.parse(text);
		assertValid(media.schema, body, `${method} ${docPath} ${r.status}`);
	} else {
		assert.equal(typeof body, 'string');
	}
	seen.add(`${method} ${docPath} ${r.status}`);
	statuses.add(r.status);
	return body;
}

/* One request, checked against the document; returns {status, body, headers}. */
async function call(method, reqPath, { body, tok, headers = {}, expect, response } = {}) {
	const h = { ...headers };
	if (body !== undefined)
		h['Content-Type'] = 'application/json';
	if (tok)
		h.Authorization = `Bearer ${tok}`;
	const r = await fetch(svc.baseUrl + reqPath, {
		method, headers: h,
		body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
	});
	const text = await r.text();
	const docPath = docPathFor(reqPath.split('?')[0]);
	if (expect !== undefined)
		assert.equal(r.status, expect, `${method} ${reqPath}: ${r.status} ${text.slice(0, 300)}`);
	const parsed = await checkAnswer(r, method, docPath, text, response);
	/* What the server accepted, the document must accept too. */
	const op = docPath && doc.paths[docPath][method.toLowerCase()];
	if (r.ok && op && op.requestBody && body !== undefined)
		assertValid(op.requestBody.content['application/json'].schema,
			typeof body === 'string' ? JSON.parse(body) : body, `${method} ${docPath} request body`);
	return { status: r.status, body: parsed, headers: r.headers };
}

/* Reads an SSE stream until `until(frames)` is true; every message's data
 * is checked against the document's frame schema. */
async function readStream(reqPath, until, { tok, onOpen } = {}) {
	const ac = new AbortController();
	const headers = tok ? { Authorization: `Bearer ${tok}` } : {};
	const r = await fetch(svc.baseUrl + reqPath, { headers, signal: ac.signal });
	const media = doc.paths['/api/stream'].get.responses['200'].content['text/event-stream'];
	assert.equal(r.status, 200, `GET ${reqPath}`);
	assert.ok((r.headers.get('content-type') || '').startsWith('text/event-stream'));
	const reader = r.body.getReader();
	const frames = [];
	let buf = '';
	const timer = setTimeout(() => ac.abort(), 20000);
	try {
		while (!until(frames)) {
			const { value, done } = await reader.read();
			if (done)
				throw new Error('stream ended');
			buf += Buffer.from(value).toString('utf8');
			let end;
			while ((end = buf.indexOf('\n\n')) >= 0) {
				const msg = buf.slice(0, end);
				buf = buf.slice(end + 2);
				const fields = Object.fromEntries(msg.split('\n').filter((l) => !l.startsWith(':'))
					.map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trimStart()]));
				if (!fields.data)
					continue;
				const frame = JSON.parse(fields.data);
				assertValid(media['x-tickpush-event-data'], frame, `SSE ${fields.event} event`);
				assert.equal(frame.type, fields.event);
				if (fields.id)
					assert.equal(fields.id, `${frame.epoch || fields.id.split(':')[0]}:${frame.seq}`);
				frames.push(frame);
				if (frames.length === 1 && onOpen)
					await onOpen();
			}
		}
	} finally {
		clearTimeout(timer);
		ac.abort();
	}
	seen.add('GET /api/stream 200');
	statuses.add(200);
	return frames;
}

const published = [];
async function publish(symbol, pattern, extra = {}) {
	const id = await svc.publishPattern({ symbol, pattern, confidence: 0.8, ...extra });
	published.push(id);
	return id;
}

async function scanIds(query) {
	const { body } = await call('GET', `/api/patterns/scan?${query}`, { expect: 200 });
	return body.patterns.map((p) => p.id).sort();
}

before(async () => {
	/* No simulator: every pattern in the cache is one this test sent. */
	await svc.start({ sim: false });
});

after(async () => {
	const ended = await svc.stop();
	assert.deepEqual(ended.tickpush, { code: 0, signal: null }, 'tickpush exits 0 on SIGTERM');
});

test('the document describes exactly the routes the server has', () => {
	assert.match(doc.openapi, /^3\.1\.\d+$/);
	assert.ok(doc.info && doc.info.title && doc.info.version);
	for (const [p, item] of Object.entries(doc.paths)) {
		for (const m of METHODS.filter((x) => item[x])) {
			const op = item[m];
			assert.ok(op.operationId && op.summary, `${m} ${p}: operationId and summary`);
			assert.ok(op.responses.default, `${m} ${p}: a default (common errors) response`);
			for (const [status, res] of Object.entries(op.responses)) {
				const spec = deref(res);
				assert.ok(spec.description, `${m} ${p} ${status}: description`);
				for (const media of Object.values(spec.content || {}))
					if (media.schema)
						validator(media.schema); /* compiles, strictly */
			}
		}
	}
	for (const name of Object.keys(doc.components.schemas))
		validator({ $ref: `#/components/schemas/${name}` });

	const routes = serverRoutes();
	const covered = new Set();
	for (const r of routes) {
		const p = docPathOf(r);
		assert.ok(p, `route ${r.path}${r.prefix ? '<...>' : ''} (${r.handler}) is documented in docs/openapi.json`);
		assert.deepEqual(docMethods(p), r.methods, `methods of ${p}`);
		covered.add(p);
	}
	for (const p of Object.keys(doc.paths))
		assert.ok(covered.has(p), `documented path ${p} is a route of the server`);
});

test('the server answers as the document says', { timeout: 600000 }, async (t) => {
	await t.test('GET /api/openapi.json serves docs/openapi.json as it is', async () => {
		const r = await fetch(`${svc.baseUrl}/api/openapi.json`);
		assert.equal(r.status, 200);
		assert.equal(await r.text(), DOC_TEXT);
		await call('GET', '/api/openapi.json', { expect: 200 });
	});

	await t.test('empty pattern cache', async () => {
		const { body } = await call('GET', '/api/patterns/health', { expect: 503 });
		assert.equal(body.message, 'No patterns in cache');
		await call('GET', '/api/patterns/stats', { expect: 200 });
	});

	await t.test('sign in', async () => {
		token = (await call('POST', '/api/auth/login', { body: { username: 'demo', password: 'demo' }, expect: 200 })).body.token;
		token2 = (await call('POST', '/api/auth/login', { body: { username: 'analyst', password: 'analyst' }, expect: 200 })).body.token;
		await call('POST', '/api/auth/login', { body: { username: 'demo' }, expect: 400 });
		await call('POST', '/api/auth/login', { body: '[1,2]', expect: 400 });
		await call('POST', '/api/auth/login', { body: { username: 'demo', password: 'wrong' }, expect: 401 });
	});

	for (const [symbol, pattern] of [['AAPL', 'Weekly_Breakout'], ['MSFT', 'Cup_Handle'], ['NVDA', 'TrendingUp'],
		['AMD', 'TrendingDown'], ['JPM', 'Doji'], ['XOM', 'Support_Bounce']])
		await publish(symbol, pattern);
	await svc.waitFor(async () => (await (await fetch(`${svc.baseUrl}/api/patterns/scan?per_page=100`)).json())
		.pagination.total >= published.length, 'the published patterns in the cache');

	await t.test('patterns', async () => {
		const first = await call('GET', '/api/patterns/scan?per_page=2&sort_by=symbol&sort_order=asc', { expect: 200 });
		assert.equal(first.body.patterns.length, 2);
		assert.equal(first.body.patterns[0].symbol, 'AAPL');
		assert.equal(first.body.pagination.total, published.length);
		const again = await call('GET', '/api/patterns/scan?per_page=2&sort_by=symbol&sort_order=asc', { expect: 200 });
		assert.equal(again.body.cache_info.cached, true);
		await call('GET', '/api/patterns/scan?symbols=aapl,msft&confidence_min=0.7&rs_min=1&vol_min=1&rsi_range=70,30' +
			'&timeframe=intraday&page=1&per_page=500&sectors=Information%20Technology,Energy', { expect: 200 });
		const bad = await call('GET', '/api/patterns/scan?rs_min=abc', { expect: 400 });
		assert.equal(bad.body.field, 'rs_min');
		assert.deepEqual(bad.body.patterns, []);
		for (const q of ['confidence_min=1.5', 'rsi_range=x', 'page=1.5', 'sort_by=colour', 'timeframe=Weekly'])
			await call('GET', `/api/patterns/scan?${q}`, { expect: 400 });
		await call('GET', '/api/patterns/scan?preset_id=1', { expect: 401 });
		await call('GET', '/api/patterns/scan?preset_id=999999', { tok: token, expect: 404 });
		await call('GET', '/api/patterns/stats', { expect: 200 });
		await call('GET', '/api/patterns/summary', { expect: 200 });
		await call('GET', '/api/patterns/health', { expect: 200 });
	});

	await t.test('long-poll and SSE', async () => {
		const all = await call('GET', '/api/patterns/poll?since=0&timeout=0', { expect: 200 });
		assert.ok(all.body.events.length >= published.length);
		const none = await call('GET', `/api/patterns/poll?since=${all.body.seq}&timeout=0`, { expect: 200 });
		assert.deepEqual(none.body.events, []);
		await call('GET', '/api/patterns/poll?timeout=31', { expect: 400 });
		await call('GET', '/api/patterns/poll?since=-1', { expect: 400 });
		await call('GET', '/api/patterns/poll?timeout=0&token=not-a-token', { expect: 401 });
		await call('GET', '/api/stream?channels=prices', { expect: 400 });
		await call('GET', '/api/stream?channels=backtests', { expect: 401 });
		/* Resume from 0: the history replays, then a live event follows. */
		let live;
		const frames = await readStream('/api/stream?channels=patterns,health&since=0&confidence_min=0', (f) =>
			live && f.some((x) => x.type === 'pattern' && x.data.id === live), {
			onOpen: async () => { live = await publish('GS', 'Hammer'); },
		});
		assert.equal(frames[0].type, 'subscribed');
		assert.ok(frames.filter((x) => x.type === 'pattern').length > published.length - 1);
	});

	await t.test('reference data', async () => {
		const list = await call('GET', '/api/symbols?limit=3&search=a&market=stocks', { expect: 200 });
		assert.equal(list.body.symbols.length, 3);
		await call('GET', '/api/symbols?limit=0', { expect: 400 });
		await call('GET', '/api/symbols?limit=5001', { expect: 400 });
		await call('GET', '/api/symbols/aapl', { expect: 200 });
		await call('GET', '/api/symbols/ZZZZZZ', { expect: 404 });
		await call('GET', '/api/symbols/not%20a%20symbol', { expect: 400 });
		const u = await call('GET', '/api/users/universe', { expect: 200 });
		assert.ok(u.body.universes.length > 0);
		await call('GET', `/api/users/universe/${encodeURIComponent(u.body.universes[0].key)}`, { expect: 200 });
		await call('GET', '/api/users/universe/no_such_universe', { expect: 404 });
		await call('GET', '/api/dashboard/stats', { expect: 200 });
	});

	await t.test('watchlists', async () => {
		await call('GET', '/api/users/watchlists', { expect: 401 });
		await call('GET', '/api/users/watchlists', { headers: { Authorization: 'Bearer x.y.z' }, expect: 401 });
		await call('GET', '/api/users/watchlists', { tok: token, expect: 200 });
		const wl = (await call('POST', '/api/users/watchlists', { tok: token, body: { name: 'API test', symbols: ['msft', 'aapl', 'AAPL'] }, expect: 201 })).body;
		assert.deepEqual(wl.symbols, ['AAPL', 'MSFT']);
		await call('POST', '/api/users/watchlists', { tok: token, body: { name: 'API test', symbols: [] }, expect: 409 });
		const unknown = await call('POST', '/api/users/watchlists', { tok: token, body: { name: 'x', symbols: ['AAPL', 'NOPE1'] }, expect: 400 });
		assert.deepEqual(unknown.body.unknown, ['NOPE1']);
		await call('POST', '/api/users/watchlists', { tok: token, body: '{"name":', expect: 400 });
		await call('GET', `/api/users/watchlists/${wl.id}`, { tok: token, expect: 200 });
		await call('GET', `/api/users/watchlists/${wl.id}`, { tok: token2, expect: 404 });
		await call('PUT', `/api/users/watchlists/${wl.id}`, { tok: token, body: { symbols: ['NVDA'] }, expect: 200 });
		await call('PUT', `/api/users/watchlists/${wl.id}`, { tok: token, body: {}, expect: 400 });
		await call('DELETE', `/api/users/watchlists/${wl.id}`, { tok: token, expect: 200 });
		await call('DELETE', `/api/users/watchlists/${wl.id}`, { tok: token, expect: 404 });
		await call('GET', '/api/users/watchlists/abc', { tok: token, expect: 404 });
	});

	await t.test('filter presets', async () => {
		await call('GET', '/api/users/filter-presets', { tok: token, expect: 200 });
		const p = (await call('POST', '/api/users/filter-presets', {
			tok: token, body: { name: 'API test', filters: { pattern_types: ['Cup_Hand', 'WeeklyBO'], confidence_min: 0.5 } }, expect: 201,
		})).body;
		const bad = await call('POST', '/api/users/filter-presets', { tok: token, body: { name: 'y', filters: { colour: 'red' } }, expect: 400 });
		assert.match(bad.body.error, /colour/);
		await call('POST', '/api/users/filter-presets', { tok: token, body: { name: 'API test', filters: {} }, expect: 409 });
		await call('GET', `/api/users/filter-presets/${p.id}`, { tok: token, expect: 200 });
		await call('PUT', `/api/users/filter-presets/${p.id}`, { tok: token, body: { is_default: false }, expect: 200 });
		await call('PUT', `/api/users/filter-presets/${p.id}`, { tok: token2, body: { name: 'mine' }, expect: 404 });
		const scan = await call('GET', `/api/patterns/scan?preset_id=${p.id}`, { tok: token, expect: 200 });
		assert.deepEqual(scan.body.patterns.map((x) => x.pattern_type).sort(), ['Cup_Handle', 'Weekly_Breakout']);
		await call('DELETE', `/api/users/filter-presets/${p.id}`, { tok: token, expect: 200 });
	});

	await t.test('backtests', async () => {
		await call('GET', '/api/backtests', { expect: 401 });
		const job = (await call('POST', '/api/backtests', {
			tok: token, body: { symbols: ['aapl'], patterns: ['WeeklyBO', 'Cup_Hand'], start_date: '2024-01-02', end_date: '2024-06-28', parameters: { hold_days: 5 } },
			expect: 201,
		})).body;
		assert.deepEqual(job.patterns, ['Weekly_Breakout', 'Cup_Handle']);
		await call('POST', '/api/backtests', { tok: token, body: { symbols: ['AAPL'], patterns: ['Doji'], start_date: '2024-13-01', end_date: '2024-06-28' }, expect: 400 });
		await call('POST', '/api/backtests', { tok: token, body: { symbols: ['AAPL'], patterns: ['Trending'], start_date: '2024-01-02', end_date: '2024-06-28' }, expect: 400 });
		await call('GET', '/api/backtests', { tok: token, expect: 200 });
		await call('GET', `/api/backtests/${job.job_id}`, { tok: token, expect: 200 });
		await call('GET', `/api/backtests/${job.job_id}`, { tok: token2, expect: 404 });
		await call('DELETE', `/api/backtests/${job.job_id}`, { tok: token, expect: 202 });
		await call('GET', '/api/backtests/job_does_not_exist', { tok: token, expect: 404 });
	});

	await t.test('operations', async () => {
		await call('GET', '/api/health', { expect: 200 });
		await call('GET', '/api/pattern-discovery/health', { expect: 200 });
		await call('GET', '/api/pattern-discovery/performance', { expect: 200 });
		const m = await call('GET', '/metrics', { expect: 200 });
		assert.match(m.body, /^tickpush_events_received_total \d+$/m);
		await call('GET', '/healthz', { expect: 200 });
		await call('GET', '/readyz', { expect: 200 });
	});

	await t.test('405 with Allow on every route; 404 off the map; 413', async () => {
		for (const r of serverRoutes()) {
			const p = docPathOf(r);
			const concrete = p.replace(/\{[^}]+\}/g, 'x1');
			const other = ['DELETE', 'PUT', 'POST', 'GET'].find((m) => !r.methods.includes(m));
			/* A POST/PUT carries a body: how a bodiless one is answered
			 * is the request lifecycle's business, not the document's. */
			const body = other === 'POST' || other === 'PUT' ? {} : undefined;
			const res = await call(other, concrete, { body, response: doc.components.responses.MethodNotAllowed, expect: 405 });
			assert.deepEqual(res.headers.get('allow').split(', ').sort(), docMethods(p), `Allow of ${p}`);
		}
		await call('GET', '/api/no/such/route', { response: doc.components.responses.NotFound, expect: 404 });
		await call('POST', '/api/auth/login', { body: 'x'.repeat(70 * 1024), expect: 413 });
		await call('POST', '/api/users/watchlists', { tok: token, body: JSON.stringify({ name: 'big', symbols: ['A'.repeat(70 * 1024)] }), expect: 413 });
	});

	await t.test('filter input accepts the names the scan displays', async () => {
		const byType = Object.fromEntries((await call('GET', '/api/patterns/scan?per_page=100', { expect: 200 }))
			.body.patterns.map((p) => [p.pattern_type, p]));
		/* What the page shows for each type selects exactly that type. */
		for (const type of ['Weekly_Breakout', 'Cup_Handle', 'Support_Bounce', 'Doji']) {
			const shown = byType[type].pattern;
			assert.deepEqual(await scanIds(`pattern_types=${encodeURIComponent(shown)}`), [byType[type].id], `${shown} selects ${type}`);
			assert.deepEqual(await scanIds(`pattern_types=${encodeURIComponent(shown.toLowerCase())}`), [byType[type].id]);
		}
		assert.equal(byType.Cup_Handle.pattern, 'Cup_Hand');
		assert.deepEqual(await scanIds('pattern_types=Cup_Hand&pattern_types=WeeklyBO'),
			[byType.Cup_Handle.id, byType.Weekly_Breakout.id].sort());
		/* Shared by TrendingUp and TrendingDown: refused, naming both. */
		assert.equal(byType.TrendingUp.pattern, 'Trending');
		const amb = await call('GET', '/api/patterns/scan?pattern_types=Trending', { expect: 400 });
		assert.equal(amb.body.field, 'pattern_types');
		assert.match(amb.body.error, /"Trending" is ambiguous: TrendingDown, TrendingUp/);
		assert.deepEqual(await scanIds('pattern_types=TrendingUp'), [byType.TrendingUp.id]);
		const pre = await call('POST', '/api/users/filter-presets', { tok: token, body: { name: 'amb', filters: { pattern_types: 'Doji,Trending' } }, expect: 400 });
		assert.match(pre.body.error, /TrendingDown, TrendingUp/);

		/* WebSocket inline filters: the same model. */
		const ws = await WsClient.connect(svc.baseUrl);
		try {
			await ws.next((f) => f.type === 'hello', 'hello');
			ws.send({ op: 'subscribe', id: 'cup', channel: 'patterns', filter: { pattern_types: ['Cup_Hand'], confidence_min: 0 } });
			await ws.next((f) => f.type === 'subscribed' && f.id === 'cup', 'subscribed');
			ws.send({ op: 'subscribe', id: 'amb', channel: 'patterns', filter: { pattern_types: ['Trending'] } });
			const e = await ws.next((f) => f.type === 'error', 'error frame');
			assert.equal(e.code, 'bad_request');
			assert.match(e.message, /TrendingDown, TrendingUp/);
			await publish('NVDA', 'Doji');
			const id = await publish('AMZN', 'Cup_Handle');
			const f = await ws.next((x) => x.type === 'pattern', 'pattern frame');
			assert.equal(f.data.id, id, 'the Doji is filtered out, the Cup_Handle comes through');
			assert.deepEqual(f.subs, ['cup']);
		} finally {
			ws.close();
		}

		/* SSE takes the scan's parameters. */
		let live;
		const frames = await readStream('/api/stream?pattern_types=cup_hand&confidence_min=0', (fs_) =>
			live && fs_.some((x) => x.type === 'pattern'), {
			onOpen: async () => {
				await publish('META', 'Doji');
				live = await publish('META', 'Cup_Handle');
			},
		});
		assert.deepEqual(frames.filter((x) => x.type === 'pattern').map((x) => x.data.id), [live]);
	});

	await t.test('PostgreSQL down: 503', async () => {
		execFileSync('bash', [path.join(REPO, 'tests/fixtures/pg.sh'), 'stop', path.join(svc.dir, 'pg')]);
		const r = await call('GET', '/api/users/watchlists', { tok: token });
		assert.equal(r.status, 503);
		assert.match(r.body.error, /^Database (unavailable|timed out)$/);
		await call('GET', '/api/users/filter-presets/1', { tok: token, expect: 503 });
		await call('GET', '/api/patterns/scan?preset_id=1', { tok: token, expect: 503 });
		await call('POST', '/api/auth/login', { body: { username: 'demo', password: 'demo' }, expect: 503 });
		/* Reference data goes on from the in-process copy. */
		await call('GET', '/api/symbols/AAPL', { expect: 200 });
	});

	await t.test('login rate limit: 429 with Retry-After', async () => {
		let r;
		for (let i = 0; i < 20; i++) {
			r = await call('POST', '/api/auth/login', { body: { username: 'demo', password: 'x' } });
			if (r.status === 429)
				break;
		}
		assert.equal(r.status, 429);
		assert.ok(Number(r.headers.get('retry-after')) >= 1);
	});

	await t.test('Redis down: 503', async () => {
		/* Withdraw every pattern first, so nothing is left to serve. */
		for (const id of published)
			await svc.redis.publish('tickstock.events.patterns', { event_type: 'pattern_expired', data: { id } });
		await svc.waitFor(async () => (await (await fetch(`${svc.baseUrl}/api/patterns/stats`)).json())
			.stats.cached_patterns === 0, 'an empty pattern cache');
		svc.redis.close();
		svc.redis = null;
		execFileSync('bash', [path.join(REPO, 'tests/fixtures/redis.sh'), 'stop', svc.dir]);
		await svc.waitFor(async () => (await fetch(`${svc.baseUrl}/readyz`)).status === 503, 'not ready');
		const ready = await call('GET', '/readyz', { expect: 503 });
		assert.equal(ready.body.reason, 'not subscribed to Redis');
		assert.equal((await call('GET', '/api/health', { expect: 503 })).body.status, 'error');
		await call('GET', '/api/pattern-discovery/health', { expect: 503 });
		await call('POST', '/api/backtests', {
			tok: token, body: { symbols: ['AAPL'], patterns: ['Doji'], start_date: '2024-01-02', end_date: '2024-06-28' }, expect: 503,
		});
	});

	await t.test('every operation was seen succeeding, and every error class', (tt) => {
		const missing = [];
		for (const [p, item] of Object.entries(doc.paths))
			for (const m of METHODS.filter((x) => item[x]))
				if (![...seen].some((s) => s.startsWith(`${m.toUpperCase()} ${p} 2`)))
					missing.push(`${m.toUpperCase()} ${p}`);
		assert.deepEqual(missing, [], 'operations never answered with success');
		for (const s of [400, 401, 404, 405, 409, 413, 429, 503])
			assert.ok(statuses.has(s), `an answer with status ${s} was checked`);
		const untried = [];
		for (const [p, item] of Object.entries(doc.paths))
			for (const m of METHODS.filter((x) => item[x]))
				for (const s of Object.keys(item[m].responses))
					if (s !== 'default' && !seen.has(`${m.toUpperCase()} ${p} ${s}`))
						untried.push(`${m.toUpperCase()} ${p} ${s}`);
		tt.diagnostic(`documented answers not produced here: ${untried.join('; ') || 'none'}`);
	});
});
