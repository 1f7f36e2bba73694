/*
 * tickpush.js - a small client library for tickpush (ES module, no
 * dependencies). Any dashboard can use it; the demo page (app.js) is one.
 *
 *   import { TickpushClient } from './tickpush.js';
 *   const tp = new TickpushClient({ baseUrl: '' });
 *   await tp.login('demo', 'demo');
 *   tp.on('reset', e => draw(e.rows));        // initial load (and reload after a gap)
 *   tp.on('row', e => upsert(e.row));         // live: new or updated pattern
 *   tp.on('removed', e => remove(e.id));      // expired or withdrawn
 *   await tp.subscribe({ id: 'main', presetId: 7 });
 *
 * How a subscription works: an initial load through GET /api/patterns/scan,
 * whose "stream" {epoch, seq} is the position that result reflects; then the
 * live stream is opened with since = that position, so the server replays
 * exactly what changed after the load (no gap, no duplicate). The client
 * tracks the last seq it applied per subscription; after a disconnect it
 * reconnects with exponential backoff and jitter and resumes with since.
 * If the server answers "gap" (position too old, or the server restarted),
 * the subscription reloads through scan and continues; live frames that
 * arrive meanwhile are held and applied only if newer than the reload.
 *
 * Transports: WebSocket (/ws, subprotocol tickpush.v1), Server-Sent Events
 * (/api/stream) and long-poll (/api/patterns/poll). They all hand the state
 * machine frames in the WebSocket shape (websocket.md), so the state logic
 * below does not know which one is in use. A transport that fails to
 * connect `failuresBeforeFallback` times in a row (or is not available,
 * e.g. no WebSocket) is replaced by the next one in `transports`.
 *
 * Tokens: never in a URL unless `tokenInUrl` says so. The WebSocket sends
 * it in an {"op":"auth"} frame as soon as the socket opens (the server
 * accepts auth only within ws_auth_timeout of connecting, so the token is
 * obtained before the socket is made); REST, long-poll and SSE (read with
 * fetch when a token is needed: EventSource cannot send headers) send
 * Authorization: Bearer. A token provider, `getToken`, is asked before a
 * connection when the client holds no usable token, and whenever the
 * server refuses the token (close 4001 when it expires mid-session, HTTP
 * 401, a refused auth frame); with a fresh token the stream reconnects and
 * resumes with since, so an expiring token costs a reconnect, not a gap.
 *
 * Everything environmental (fetch, WebSocket, EventSource, timers, clock,
 * random, and the transport factories themselves) can be injected, which is
 * how the node unit tests drive the state machine without browser or server.
 */

export const PROTOCOL = 'tickpush.v1';
export const VERSION = '1.0.0';

/* ---------------------------------------------------------------- events */

export class Emitter {
	constructor() {
		this._handlers = new Map();
	}

	on(type, fn) {
		if (!this._handlers.has(type))
			this._handlers.set(type, new Set());
		this._handlers.get(type).add(fn);
		return () => this.off(type, fn);
	}

	off(type, fn) {
		const set = this._handlers.get(type);
		if (set)
			set.delete(fn);
	}

	once(type, fn) {
		const off = this.on(type, (e) => {
			off();
			fn(e);
		});
		return off;
	}

	emit(type, detail) {
		const set = this._handlers.get(type);
		if (!set)
			return;
		for (const fn of [...set]) {
			try {
				fn(detail);
			} catch (err) {
				/* A page handler's bug must not break the stream. */
				if (typeof console !== 'undefined')
					console.error(`tickpush: '${type}' handler failed`, err);
			}
		}
	}
}

/* --------------------------------------------------------------- helpers */

export class ApiError extends Error {
	constructor(status, body, fallback) {
		super((body && body.error) || fallback || `HTTP ${status}`);
		this.name = 'ApiError';
		this.status = status;
		this.body = body || null;
		/* The server names the offending field ("confidence_min", "name",
		 * "symbols") so a form can show the message next to it. */
		this.field = (body && body.field) || null;
	}
}

/* Delay before reconnect attempt `attempt` (0-based): exponential, capped,
 * with "equal jitter" (half fixed, half random) so a crowd of clients does
 * not reconnect in lockstep after a server restart. */
export function backoffDelay(attempt, opts = {}, random = Math.random) {
	const min = opts.min ?? 500;
	const max = opts.max ?? 15000;
	const factor = opts.factor ?? 2;
	const jitter = opts.jitter ?? 0.5;
	const base = Math.min(max, min * Math.pow(factor, Math.max(0, attempt)));
	return base * (1 - jitter) + base * jitter * random();
}

const LIST_FIELDS = ['pattern_types', 'symbols', 'sectors'];
const NUM_FIELDS = ['confidence_min', 'rs_min', 'vol_min'];

/* A preset-style filter object ({pattern_types:[..], confidence_min, ...,
 * rsi_range:[a,b]}) as scan/poll/stream query parameters. watchlist_id and
 * universe have no scan parameter: they work through saved presets. */
export function filterToParams(filter = {}) {
	const p = new URLSearchParams();
	for (const k of LIST_FIELDS) {
		const v = filter[k];
		if (Array.isArray(v) ? v.length : v)
			p.set(k, Array.isArray(v) ? v.join(',') : String(v));
	}
	for (const k of NUM_FIELDS) {
		if (filter[k] !== undefined && filter[k] !== null && filter[k] !== '')
			p.set(k, String(filter[k]));
	}
	if (Array.isArray(filter.rsi_range) && filter.rsi_range.length === 2)
		p.set('rsi_range', filter.rsi_range.join(','));
	else if (typeof filter.rsi_range === 'string' && filter.rsi_range)
		p.set('rsi_range', filter.rsi_range);
	if (filter.timeframe)
		p.set('timeframe', filter.timeframe);
	return p;
}

/* Query parameters that select a subscription's patterns. */
export function subParams(sub) {
	const p = sub.presetId != null ? new URLSearchParams() : filterToParams(sub.filter || {});
	if (sub.presetId != null)
		p.set('preset_id', String(sub.presetId));
	return p;
}

/* "<epoch>:<seq>" as used by SSE ids and Last-Event-ID. */
export function formatPosition(pos) {
	return `${pos.epoch}:${pos.seq}`;
}

export function parsePosition(s) {
	if (typeof s !== 'string')
		return null;
	const i = s.lastIndexOf(':');
	if (i <= 0)
		return null;
	const seq = Number(s.slice(i + 1));
	return Number.isFinite(seq) ? { epoch: s.slice(0, i), seq } : null;
}

/* Publish-to-screen latency needs the producer's publication time, which
 * only tickpush-sim --stamp adds (published_at); a row or frame may or may
 * not carry it through. Returns ms, or null when unknown. */
export function publishedAt(frame) {
	const c = [frame && frame.published_at, frame && frame.data && frame.data.published_at,
		frame && frame.data && frame.data.indicators && frame.data.indicators.published_at];
	for (const v of c) {
		if (typeof v === 'number' && Number.isFinite(v) && v > 0)
			return v;
	}
	return null;
}

/* SSE message -> WebSocket-shaped frame. The data is either the WS frame
 * itself or the bare payload (row, id, job data); both are accepted. */
export function sseToFrame(eventName, dataText, lastEventId, subId) {
	let data;
	try {
		data = JSON.parse(dataText);
	} catch {
		return null;
	}
	const pos = parsePosition(lastEventId || '');
	let frame;
	if (data && typeof data === 'object' && typeof data.type === 'string' && data.type === eventName) {
		frame = { ...data };
	} else if (eventName === 'pattern_removed') {
		frame = { type: eventName, id: typeof data === 'string' ? data : data && data.id, data };
	} else if (eventName === 'gap') {
		frame = { type: 'gap', ...(data && typeof data === 'object' ? data : {}) };
	} else {
		frame = { type: eventName, data };
	}
	if (frame.seq == null && pos)
		frame.seq = pos.seq;
	if (frame.epoch == null && pos)
		frame.epoch = pos.epoch;
	/* One stream per subscription: the server names the channel in subs
	 * and id; the client knows it by its own id. */
	frame.subs = [subId];
	if (['gap', 'subscribed', 'snapshot', 'error'].includes(frame.type))
		frame.id = subId;
	if (frame.type === 'pattern_removed' && frame.id == null && frame.data)
		frame.id = frame.data.id;
	return frame;
}

/* Long-poll answer -> frames. The poll carries a seq only; an answer from
 * another epoch than the subscription's, or gap:true, becomes a "gap". */
export function pollToFrames(body, subId, epoch) {
	const frames = [];
	if (!body || typeof body !== 'object')
		return frames;
	if (body.gap || (epoch != null && body.epoch != null && body.epoch !== epoch)) {
		frames.push({ type: 'gap', id: subId, epoch: body.epoch, seq: body.seq });
		return frames;
	}
	for (const ev of body.events || []) {
		if (!ev || typeof ev.type !== 'string')
			continue;
		const f = { type: ev.type, seq: ev.seq, subs: [subId], data: ev.data };
		if (ev.type === 'pattern_removed')
			f.id = ev.id ?? (ev.data && ev.data.id);
		if (ev.published_at != null)
			f.published_at = ev.published_at;
		frames.push(f);
	}
	return frames;
}

/* A JWT's exp (seconds since the epoch), or null when the token is not a
 * JWT with a numeric exp. Reads the claim only: the server verifies. */
export function tokenExpiry(token) {
	if (typeof token !== 'string')
		return null;
	const parts = token.split('.');
	if (parts.length !== 3)
		return null;
	try {
		const b64 = parts[1].replace(/-/g, '+').replace(/_/g, '/');
		const claims = JSON.parse(atob(b64 + '==='.slice((b64.length + 3) % 4)));
		return claims && typeof claims.exp === 'number' && Number.isFinite(claims.exp) ? claims.exp : null;
	} catch {
		return null;
	}
}

/*
 * An EventSource look-alike over fetch, for event streams that need an
 * Authorization header (EventSource cannot send headers). Same surface as
 * far as the SSE transport uses it: onopen, onerror (once, also at the end
 * of the stream), addEventListener(type, fn) with {data, lastEventId},
 * close(). `status` is the HTTP status (401: the token was refused). It
 * never reconnects by itself; the client does, with since.
 */
export class FetchEventSource {
	constructor(url, { fetch, headers = {} }) {
		this.url = url;
		this.status = 0;
		this.readyState = 0; /* 0 connecting, 1 open, 2 closed */
		this.onopen = null;
		this.onerror = null;
		this._listeners = new Map();
		this._ac = typeof AbortController !== 'undefined' ? new AbortController() : null;
		this._run(fetch, headers);
	}

	addEventListener(type, fn) {
		if (!this._listeners.has(type))
			this._listeners.set(type, []);
		this._listeners.get(type).push(fn);
	}

	close() {
		this.readyState = 2;
		if (this._ac)
			this._ac.abort();
	}

	_fail() {
		if (this.readyState === 2)
			return;
		this.readyState = 2;
		if (this.onerror)
			this.onerror({ status: this.status });
	}

	async _run(fetch, headers) {
		let res;
		try {
			res = await fetch(this.url, { headers: { Accept: 'text/event-stream', ...headers },
				cache: 'no-store', signal: this._ac ? this._ac.signal : undefined });
		} catch {
			this._fail();
			return;
		}
		this.status = res.status;
		if (this.readyState === 2)
			return;
		if (!res.ok || !res.body || typeof res.body.getReader !== 'function') {
			this._fail();
			return;
		}
		this.readyState = 1;
		if (this.onopen)
			this.onopen({});
		const reader = res.body.getReader();
		const decoder = new TextDecoder();
		const parser = sseParser((type, data, lastEventId) => {
			if (this.readyState !== 1)
				return;
			for (const fn of this._listeners.get(type) || [])
				fn({ type, data, lastEventId });
		});
		try {
			for (;;) {
				const { value, done } = await reader.read();
				if (done || this.readyState !== 1)
					break;
				parser(decoder.decode(value, { stream: true }));
			}
		} catch { /* aborted or cut: reported below */ }
		this._fail();
	}
}

/* text/event-stream parser (the HTML spec's rules for event, data, id and
 * comments; retry is ignored). Feed it text as it arrives; it calls
 * dispatch(type, data, lastEventId) for every complete event. */
export function sseParser(dispatch) {
	let buf = '';
	let type = '';
	let data = [];
	let lastId = '';
	const line = (l) => {
		if (l === '') {
			if (data.length)
				dispatch(type || 'message', data.join('\n'), lastId);
			type = '';
			data = [];
			return;
		}
		if (l[0] === ':')
			return;
		const i = l.indexOf(':');
		const field = i < 0 ? l : l.slice(0, i);
		let value = i < 0 ? '' : l.slice(i + 1);
		if (value[0] === ' ')
			value = value.slice(1);
		if (field === 'event')
			type = value;
		else if (field === 'data')
			data.push(value);
		else if (field === 'id' && !value.includes('\0'))
			lastId = value;
	};
	return (chunk) => {
		buf += chunk;
		for (;;) {
			const m = /\r\n|\r|\n/.exec(buf);
			/* A lone \r at the end may be the first half of \r\n. */
			if (!m || (m[0] === '\r' && m.index === buf.length - 1))
				return;
			line(buf.slice(0, m.index));
			buf = buf.slice(m.index + m[0].length);
		}
	};
}

function joinUrl(base, path, params) {
	const q = params && String(params);
	return `${base}${path}${q ? (path.includes('?') ? '&' : '?') + q : ''}`;
}

function httpToWs(base) {
	if (/^https?:/i.test(base))
		return base.replace(/^http/i, 'ws');
	const loc = globalThis.location;
	if (loc && loc.host)
		return `${loc.protocol === 'https:' ? 'wss' : 'ws'}://${loc.host}${base}`;
	return base;
}

/* ------------------------------------------------------------ transports */
/*
 * A transport factory is (ctx) => transport, where ctx offers
 *   ctx.client        the TickpushClient (urls, token, injected globals)
 *   ctx.onOpen(info)  connected (info.hello for WebSocket)
 *   ctx.onFrame(f)    one frame in the WebSocket shape
 *   ctx.onClose(info) gone: {opened: bool, code, reason, unauthorized?};
 *                     called once; unauthorized = the token was refused
 * and the transport offers open(), subscribe(req), unsubscribe(id), close().
 * A transport reads client.token once, in open(): the client obtains the
 * token before it makes the transport.
 * req = {id, channel, presetId, filter, since: {epoch, seq} | undefined}.
 */

export function wsTransport(ctx) {
	const client = ctx.client;
	const WS = client.WebSocket;
	let ws = null;
	let opened = false;
	let done = false;
	let helloTimer = null;
	let pingTimer = null;
	let pongDue = null;

	function finish(info) {
		if (done)
			return;
		done = true;
		client.clearTimeout(helloTimer);
		client.clearInterval(pingTimer);
		client.clearTimeout(pongDue);
		if (ws) {
			ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
			try {
				ws.close(1000);
			} catch { /* already closed */ }
		}
		ctx.onClose({ opened, ...info });
	}

	/* Frames wait for the server's hello: subscriptions are sent right
	 * after open() and must not race the handshake. */
	const queue = [];
	function send(obj) {
		if (!opened) {
			queue.push(obj);
			return;
		}
		if (ws && ws.readyState === 1)
			ws.send(JSON.stringify(obj));
	}

	return {
		name: 'ws',
		open() {
			const params = new URLSearchParams();
			const token = client.token;
			/* The auth frame, unless the token must ride in the URL. */
			const authFrame = token && !client.opts.tokenInUrl;
			if (token && !authFrame)
				params.set('token', token);
			try {
				ws = new WS(joinUrl(httpToWs(client.baseUrl), '/ws', params), PROTOCOL);
			} catch (err) {
				client.setTimeout(() => finish({ code: 0, reason: String(err) }), 0);
				return;
			}
			helloTimer = client.setTimeout(() => finish({ code: 0, reason: 'no hello' }),
				client.opts.helloTimeoutMs);
			/* First frame, at once: the server takes auth only within
			 * ws_auth_timeout of connecting. It answers with a second
			 * hello naming the user, or an error (id null). */
			ws.onopen = () => {
				if (authFrame)
					ws.send(JSON.stringify({ op: 'auth', token }));
			};
			ws.onmessage = (m) => {
				let f;
				try {
					f = JSON.parse(typeof m.data === 'string' ? m.data : '');
				} catch {
					return;
				}
				if (!f || typeof f !== 'object')
					return;
				if (authFrame && !opened && f.type === 'error' && f.id == null) {
					finish({ code: 0, reason: `auth refused: ${f.message || f.code}`, unauthorized: true });
					return;
				}
				if (f.type === 'hello' && authFrame && !opened && f.user == null)
					return; /* the anonymous hello before our auth frame is read */
				if (f.type === 'hello' && !opened) {
					opened = true;
					client.clearTimeout(helloTimer);
					/* Our own keepalive: a dead path (laptop sleep, NAT
					 * drop) shows up as a missing pong, then we resume. */
					pingTimer = client.setInterval(() => {
						send({ op: 'ping', t: client.now() });
						if (pongDue == null)
							pongDue = client.setTimeout(() => finish({ code: 0, reason: 'ping timeout' }),
								client.opts.pongTimeoutMs);
					}, client.opts.pingIntervalMs);
					ctx.onOpen({ hello: f });
					for (const q of queue.splice(0))
						send(q);
					return;
				}
				if (f.type === 'pong') {
					client.clearTimeout(pongDue);
					pongDue = null;
					return;
				}
				ctx.onFrame(f);
			};
			ws.onerror = () => { /* onclose follows */ };
			ws.onclose = (e) => finish({ code: e.code, reason: e.reason });
		},
		subscribe(req) {
			const msg = { op: 'subscribe', id: req.id, channel: req.channel };
			if (req.presetId != null)
				msg.preset_id = req.presetId;
			else if (req.channel === 'patterns')
				msg.filter = req.filter || {};
			if (req.since)
				msg.since = { epoch: req.since.epoch, seq: req.since.seq };
			send(msg);
		},
		unsubscribe(id) {
			const i = queue.findIndex((q) => q.op === 'subscribe' && q.id === id);
			if (i >= 0)
				queue.splice(i, 1);
			else
				send({ op: 'unsubscribe', id });
		},
		close() {
			finish({ code: 1000, reason: 'closed by client', byClient: true });
		},
	};
}

/* One EventSource per subscription (each has its own filter and position).
 * The browser's own EventSource reconnect is switched off by closing on the
 * first error: the client reconnects with its own backoff and since. */
export function sseTransport(ctx) {
	const client = ctx.client;
	const ES = client.EventSource;
	const sources = new Map();
	let opened = false;
	let done = false;
	const TYPES = ['pattern', 'pattern_removed', 'backtest_progress', 'backtest_result',
		'system_health', 'gap', 'error', 'subscribed'];

	function finish(info) {
		if (done)
			return;
		done = true;
		for (const es of sources.values())
			es.close();
		sources.clear();
		ctx.onClose({ opened, ...info });
	}

	let token = null;

	return {
		name: 'sse',
		open() {
			token = client.token;
			/* Nothing to connect until there is a subscription: the
			 * client's subscriptions follow at once, and the first event
			 * stream that opens makes the transport open. */
		},
		subscribe(req) {
			if (done)
				return;
			const p = req.channel === 'patterns' ? subParams(req) : new URLSearchParams();
			p.set('channels', req.channel);
			if (req.since)
				p.set('since', formatPosition(req.since));
			if (token && client.opts.tokenInUrl)
				p.set('token', token);
			const old = sources.get(req.id);
			if (old)
				old.close();
			const url = joinUrl(client.baseUrl, '/api/stream', p);
			let es;
			if (token && !client.opts.tokenInUrl) {
				/* EventSource cannot send Authorization: read the stream
				 * with fetch, or give way to the next transport. */
				if (!client.fetch || typeof TextDecoder === 'undefined') {
					client.setTimeout(() => finish({ code: 0,
						reason: 'SSE with a token needs fetch streaming (or tokenInUrl)' }), 0);
					return;
				}
				es = new FetchEventSource(url, { fetch: client.fetch,
					headers: { Authorization: `Bearer ${token}` } });
			} else {
				es = new ES(url);
			}
			sources.set(req.id, es);
			es.onopen = () => {
				if (done || sources.get(req.id) !== es)
					return;
				if (!opened) {
					opened = true;
					ctx.onOpen({});
				}
			};
			/* The browser would reconnect by itself, without our since
			 * bookkeeping and backoff: stop it and let the client decide. */
			es.onerror = () => {
				if (sources.get(req.id) !== es)
					return;
				if (es.status === 401)
					finish({ code: 401, reason: 'token refused', unauthorized: true });
				else
					finish({ code: es.status || 0, reason: 'event stream error' });
			};
			for (const t of TYPES) {
				es.addEventListener(t, (m) => {
					if (sources.get(req.id) !== es)
						return;
					const f = sseToFrame(t, m.data, m.lastEventId, req.id);
					if (f)
						ctx.onFrame(f);
				});
			}
		},
		unsubscribe(id) {
			const es = sources.get(id);
			if (es) {
				es.close();
				sources.delete(id);
			}
		},
		close() {
			finish({ code: 1000, reason: 'closed by client', byClient: true });
		},
	};
}

/* Long-poll for pattern subscriptions; health and backtests are polled
 * through their REST endpoints (a slower but complete picture). */
export function pollTransport(ctx) {
	const client = ctx.client;
	const loops = new Map();
	let opened = false;
	let done = false;
	let token = null;

	function finish(info) {
		if (done)
			return;
		done = true;
		for (const l of loops.values())
			l.stop();
		loops.clear();
		ctx.onClose({ opened, ...info });
	}

	function patternLoop(req) {
		let stopped = false;
		let since = req.since ? req.since.seq : null;
		let epoch = req.since ? req.since.epoch : null;
		let first = true;
		const ac = typeof AbortController !== 'undefined' ? new AbortController() : null;
		(async () => {
			while (!stopped && !done) {
				const p = subParams(req);
				if (since != null)
					p.set('since', epoch != null ? `${epoch}:${since}` : String(since));
				p.set('timeout', String(client.opts.pollTimeoutS));
				let body;
				try {
					body = await client.request('GET', '/api/patterns/poll?' + p, undefined,
						{ signal: ac ? ac.signal : undefined, token, stream: true });
				} catch (err) {
					if (!stopped)
						finish({ code: err.status || 0, reason: String(err.message || err),
							unauthorized: err.status === 401 });
					return;
				}
				if (stopped || done)
					return;
				if (first) {
					first = false;
					if (!opened) {
						opened = true;
						ctx.onOpen({});
					}
					const lost = !!body.gap || (epoch != null && body.epoch != null && body.epoch !== epoch);
					ctx.onFrame({ type: 'subscribed', id: req.id, epoch: body.epoch, seq: body.seq,
						recovered: req.since ? !lost : false, via: 'poll' });
				}
				for (const f of pollToFrames(body, req.id, epoch))
					ctx.onFrame(f);
				if (typeof body.seq === 'number')
					since = body.seq;
				if (body.epoch != null)
					epoch = body.epoch;
			}
		})();
		return {
			stop() {
				stopped = true;
				if (ac)
					ac.abort();
			},
		};
	}

	function markOpen() {
		if (!opened && !done) {
			opened = true;
			ctx.onOpen({});
		}
	}

	function restLoop(req) {
		let stopped = false;
		const seen = new Map();
		let timer = null;
		const tick = async () => {
			try {
				if (req.channel === 'health') {
					const h = await client.request('GET', '/api/pattern-discovery/health', undefined,
						{ okStatuses: [503] });
					if (stopped)
						return;
					markOpen();
					ctx.onFrame({ type: 'system_health', subs: [req.id], data: { source: 'rest', ...h } });
				} else if (req.channel === 'backtests') {
					const r = await client.request('GET', '/api/backtests');
					if (stopped)
						return;
					markOpen();
					for (const job of (r && (r.backtests || r.jobs)) || []) {
						const key = JSON.stringify([job.status, job.progress]);
						if (stopped || seen.get(job.job_id) === key)
							continue;
						seen.set(job.job_id, key);
						const final = ['completed', 'failed', 'cancelled'].includes(job.status);
						ctx.onFrame({ type: final ? 'backtest_result' : 'backtest_progress',
							subs: [req.id], data: job });
					}
				}
			} catch { /* transient: the next tick retries */ }
			if (!stopped)
				timer = client.setTimeout(tick, req.channel === 'health' ? 10000 : 1000);
		};
		tick();
		return {
			stop() {
				stopped = true;
				client.clearTimeout(timer);
			},
		};
	}

	return {
		name: 'poll',
		open() {
			/* Opens with the first answer to a subscription's request. */
			token = client.token;
		},
		subscribe(req) {
			const old = loops.get(req.id);
			if (old)
				old.stop();
			loops.set(req.id, req.channel === 'patterns' ? patternLoop(req) : restLoop(req));
		},
		unsubscribe(id) {
			const l = loops.get(id);
			if (l) {
				l.stop();
				loops.delete(id);
			}
		},
		close() {
			finish({ code: 1000, reason: 'closed by client', byClient: true });
		},
	};
}

export const TRANSPORTS = { ws: wsTransport, sse: sseTransport, poll: pollTransport };

/* ---------------------------------------------------------------- client */

const DEFAULTS = {
	transports: ['ws', 'sse', 'poll'],
	backoff: { min: 500, max: 15000, factor: 2, jitter: 0.5 },
	failuresBeforeFallback: 3,
	helloTimeoutMs: 10000,
	pingIntervalMs: 25000,
	pongTimeoutMs: 10000,
	pollTimeoutS: 25,
	upgradeAfterMs: 60000,
	scanLimit: 100,
	maxRows: 500,
	sweepIntervalMs: 1000,
	getToken: null,
	tokenInUrl: false,
	tokenMarginMs: 1000,
};

export class TickpushClient extends Emitter {
	constructor(opts = {}) {
		super();
		const g = globalThis;
		this.opts = { ...DEFAULTS, ...opts, backoff: { ...DEFAULTS.backoff, ...(opts.backoff || {}) } };
		this.baseUrl = (opts.baseUrl ?? '').replace(/\/+$/, '');
		this.token = opts.token || null;
		this.user = opts.user || null;
		this.fetch = opts.fetch || (g.fetch && g.fetch.bind(g));
		this.WebSocket = 'WebSocket' in opts ? opts.WebSocket : g.WebSocket;
		this.EventSource = 'EventSource' in opts ? opts.EventSource : g.EventSource;
		this.factories = { ...TRANSPORTS, ...(opts.transportFactories || {}) };
		this.random = opts.random || Math.random;
		this.now = opts.now || (() => Date.now());
		const t = opts.timers || {};
		this.setTimeout = t.setTimeout || ((fn, ms) => g.setTimeout(fn, ms));
		this.clearTimeout = t.clearTimeout || ((id) => g.clearTimeout(id));
		this.setInterval = t.setInterval || ((fn, ms) => g.setInterval(fn, ms));
		this.clearInterval = t.clearInterval || ((id) => g.clearInterval(id));

		this.subs = new Map();
		this.transport = null;
		this.transportName = null;
		this.state = 'idle'; /* idle | connecting | open | reconnecting | closed */
		this._tIndex = 0;
		this._failures = 0;
		this._attempt = 0;
		this._retryTimer = null;
		this._sweepTimer = null;
		this._upgradeTimer = null;
		this._upgradeFails = 0;
		this._wanted = false; /* connect() called and not close()d */
		this._everOpened = false;
		this.hello = null;
		/* Tokens: the renewal in flight (shared by everyone who needs
		 * it), the token the server refused ({reason, token}), the one
		 * the current transport was opened with, refusals in a row. */
		this._tokenWait = null;
		this._tokenGen = 0;
		this._connecting = false; /* waiting for getToken before a transport */
		this._tokenRefused = null;
		this._transportToken = null;
		this._authFailures = 0;
		this._skewMs = 0; /* server clock - ours, from the hello */
		this.stats = { events: 0, duplicates: 0, resumes: 0, gaps: 0, reconnects: 0,
			fallbacks: 0, renewals: 0, lastLatencyMs: null };
	}

	/* ------------------------------------------------------------ REST */

	/*
	 * One REST call; resolves with the JSON answer or rejects with an
	 * ApiError. A 401 to a request that carried a token asks getToken for
	 * a fresh one and tries once more. extra: anonymous (send no token),
	 * okStatuses, signal; for the transports: token (the one to send) and
	 * stream (a 401 is the state machine's business, not renewed here).
	 */
	async request(method, path, body, extra = {}) {
		const headers = { Accept: 'application/json' };
		if (body !== undefined)
			headers['Content-Type'] = 'application/json';
		const token = extra.anonymous ? null : extra.token !== undefined ? extra.token : this.token;
		if (token)
			headers.Authorization = `Bearer ${token}`;
		let res;
		try {
			res = await this.fetch(this.baseUrl + path, {
				method, headers, signal: extra.signal,
				body: body !== undefined ? JSON.stringify(body) : undefined,
			});
		} catch (err) {
			const e = new ApiError(0, null, `network error: ${err && err.message ? err.message : err}`);
			e.cause = err;
			throw e;
		}
		let json = null;
		const text = await res.text();
		if (text) {
			try {
				json = JSON.parse(text);
			} catch { /* not JSON: reported below */ }
		}
		const ok = res.ok || (extra.okStatuses || []).includes(res.status);
		if (!ok || json === null) {
			const err = new ApiError(res.status, json, `HTTP ${res.status} from ${path}`);
			if (res.status === 401 && token && !extra.stream) {
				if (!this.opts.getToken) {
					this.emit('unauthorized', { path, reason: 'unauthorized' });
				} else if (!extra.retried) {
					let renewed;
					try {
						renewed = await this._renewToken('unauthorized', token, true, path);
					} catch (cause) {
						err.cause = cause;
						throw err;
					}
					if (renewed && this.token && this.token !== token)
						return this.request(method, path, body, { ...extra, token: undefined, retried: true });
				}
			}
			throw err;
		}
		return json;
	}

	/* POST /api/auth/login: {token, expires_at, user}, without adopting
	 * the token (what a getToken provider that signs in needs). */
	authenticate(username, password) {
		return this.request('POST', '/api/auth/login', { username, password }, { anonymous: true });
	}

	async login(username, password) {
		const r = await this.authenticate(username, password);
		this.setToken(r.token, r.user);
		return r;
	}

	/* A new token (or null: anonymous). A live connection is re-made so the
	 * stream runs as the new identity. */
	setToken(token, user = null) {
		this.token = token || null;
		this.user = token ? user : null;
		this._tokenRefused = null;
		this._tokenWait = null; /* a renewal in flight must not undo this */
		this._authFailures = 0;
		this.emit('auth', { user: this.user });
		if (this.transport || this._connecting)
			this._restartTransport();
	}

	/*
	 * Asks getToken for a token. reason: 'connect' (none held, before a
	 * connection), 'expired' (it has expired or is about to: close 4001,
	 * or its exp by our clock) or 'unauthorized' (refused: HTTP 401, auth
	 * error). refused = the server itself turned `rejected` down, so the
	 * same token again is no answer. Resolves true when there is a token
	 * to go on with (or none was held and none is needed), false when the
	 * token is lost ('unauthorized' emitted); rejects when getToken threw
	 * (a failure worth retrying). Concurrent needs share one call.
	 */
	_renewToken(reason, rejected, refused, path = null) {
		if (rejected != null && this.token !== rejected)
			return Promise.resolve(true); /* someone renewed it meanwhile */
		if (this._tokenWait)
			return this._tokenWait;
		const wait = (async () => {
			/* Never from inside a client method (setToken, subscribe):
			 * the page finishes what it is doing first. */
			await null;
			if (this._tokenWait !== wait)
				return this.token != null; /* setToken() came first */
			const answer = await this.opts.getToken({ reason, token: rejected ?? null });
			const token = typeof answer === 'string' && answer ? answer : null;
			if (this._tokenWait !== wait)
				return this.token != null; /* setToken() won meanwhile */
			if (token && !(refused && token === rejected)) {
				this.token = token;
				this._tokenRefused = null;
				if (rejected != null && token !== rejected)
					this.stats.renewals++;
				this.emit('auth', { user: this.user, reason });
				return true;
			}
			if (rejected == null)
				return true; /* anonymous, as before */
			/* No new token: whoever this was signed in as is gone. */
			this.token = null;
			this.user = null;
			this._tokenRefused = null;
			this.emit('unauthorized', { path, reason });
			return false;
		})();
		this._tokenWait = wait;
		const clear = () => {
			if (this._tokenWait === wait)
				this._tokenWait = null;
		};
		wait.then(clear, clear);
		return wait;
	}

	/* What getToken must be asked before connecting, or null. */
	_tokenNeed() {
		if (this._tokenRefused)
			return this._tokenRefused;
		if (!this.token)
			return { reason: 'connect', token: null, refused: false };
		const exp = tokenExpiry(this.token);
		if (exp != null && exp * 1000 <= this.now() + this._skewMs + this.opts.tokenMarginMs)
			return { reason: 'expired', token: this.token, refused: false };
		return null;
	}

	logout() {
		for (const id of [...this.subs.keys()])
			this.unsubscribe(id);
		this.setToken(null);
	}

	scan(params = {}) {
		const p = params instanceof URLSearchParams ? params : new URLSearchParams(params);
		return this.request('GET', `/api/patterns/scan?${p}`);
	}

	listPresets() { return this.request('GET', '/api/users/filter-presets').then((r) => r.presets || []); }
	createPreset(p) { return this.request('POST', '/api/users/filter-presets', p); }
	updatePreset(id, p) { return this.request('PUT', `/api/users/filter-presets/${id}`, p); }
	deletePreset(id) { return this.request('DELETE', `/api/users/filter-presets/${id}`); }
	listWatchlists() { return this.request('GET', '/api/users/watchlists').then((r) => r.watchlists || []); }
	createWatchlist(w) { return this.request('POST', '/api/users/watchlists', w); }
	updateWatchlist(id, w) { return this.request('PUT', `/api/users/watchlists/${id}`, w); }
	deleteWatchlist(id) { return this.request('DELETE', `/api/users/watchlists/${id}`); }
	universes() { return this.request('GET', '/api/users/universe').then((r) => r.universes || []); }
	symbols(search = '', limit = 50) {
		const p = new URLSearchParams({ limit: String(limit) });
		if (search)
			p.set('search', search);
		return this.request('GET', `/api/symbols?${p}`);
	}
	submitBacktest(job) { return this.request('POST', '/api/backtests', job); }
	listBacktests() { return this.request('GET', '/api/backtests'); }
	getBacktest(id) { return this.request('GET', `/api/backtests/${encodeURIComponent(id)}`); }
	cancelBacktest(id) { return this.request('DELETE', `/api/backtests/${encodeURIComponent(id)}`); }
	health() { return this.request('GET', '/api/pattern-discovery/health', undefined, { okStatuses: [503] }); }
	performance() { return this.request('GET', '/api/pattern-discovery/performance'); }
	summary() { return this.request('GET', '/api/patterns/summary'); }

	/* ----------------------------------------------------- subscriptions */

	/*
	 * subscribe({id, presetId | filter, channel}) - channel 'patterns'
	 * (default), 'backtests' or 'health'. For patterns: initial load
	 * (emits 'reset'), then live. Subscribing an id again replaces that
	 * subscription (switching preset needs no reload of the page).
	 * Resolves with the subscription once its initial load is done.
	 */
	async subscribe(spec = {}) {
		const id = spec.id || spec.channel || 'patterns';
		const channel = spec.channel || 'patterns';
		if (this.subs.has(id))
			this.unsubscribe(id);
		const sub = {
			id, channel,
			presetId: spec.presetId ?? null,
			filter: spec.filter ? { ...spec.filter } : null,
			limit: Math.min(100, Math.max(1, spec.limit || this.opts.scanLimit)),
			rows: new Map(),
			epoch: null, seq: null,
			loading: false, buffer: [],
			onServer: false, resuming: false,
			/* A reload (gap) in flight: one at a time. */
			reload: null,
		};
		this.subs.set(id, sub);
		if (channel === 'patterns') {
			try {
				await this._load(sub);
			} catch (err) {
				if (this.subs.get(id) === sub)
					this.subs.delete(id);
				throw err;
			}
			if (this.subs.get(id) !== sub)
				return sub; /* replaced while loading */
			this._ensureSweep();
		}
		if (this.transport)
			this._send(sub);
		else
			this.connect();
		return sub;
	}

	unsubscribe(id) {
		const sub = this.subs.get(id);
		if (!sub)
			return;
		this.subs.delete(id);
		if (sub.onServer && this.transport)
			this.transport.unsubscribe(id);
		if (![...this.subs.values()].some((s) => s.channel === 'patterns'))
			this._stopSweep();
	}

	rows(id = 'patterns') {
		const sub = this.subs.get(id);
		return sub ? [...sub.rows.values()] : [];
	}

	position(id = 'patterns') {
		const sub = this.subs.get(id);
		return sub && sub.epoch != null ? { epoch: sub.epoch, seq: sub.seq } : null;
	}

	async _load(sub) {
		sub.loading = true;
		sub.buffer = [];
		const p = subParams(sub);
		p.set('per_page', String(sub.limit));
		p.set('sort_by', 'confidence');
		let res;
		try {
			res = await this.scan(p);
		} finally {
			sub.loading = false;
		}
		if (this.subs.get(sub.id) !== sub)
			return;
		sub.rows.clear();
		for (const row of res.patterns || [])
			sub.rows.set(row.id, row);
		const stream = res.stream || {};
		sub.epoch = stream.epoch ?? null;
		sub.seq = typeof stream.seq === 'number' ? stream.seq : null;
		this.emit('reset', { sub: sub.id, rows: [...sub.rows.values()], position: this.position(sub.id),
			total: res.pagination ? res.pagination.total : sub.rows.size });
		/* Frames that arrived while loading: only what is newer. */
		const held = sub.buffer;
		sub.buffer = [];
		for (const f of held)
			this._apply(sub, f);
	}

	/* --------------------------------------------------------- connection */

	connect() {
		this._wanted = true;
		if (this.transport || this._retryTimer != null || this._connecting)
			return;
		this._startTransport();
	}

	close() {
		this._wanted = false;
		this._tokenGen++;
		this._connecting = false;
		this.clearTimeout(this._retryTimer);
		this._retryTimer = null;
		this.clearTimeout(this._upgradeTimer);
		this._upgradeTimer = null;
		this._stopSweep();
		const t = this.transport;
		this.transport = null;
		for (const s of this.subs.values())
			s.onServer = false;
		if (t)
			t.close();
		this._setState('closed');
	}

	_available(name) {
		if (!this.factories[name])
			return false;
		if (name === 'ws' && !this.WebSocket && this.factories.ws === wsTransport)
			return false;
		if (name === 'sse' && !this.EventSource && this.factories.sse === sseTransport)
			return false;
		return true;
	}

	/* A connection attempt: first a token, when one is needed and a
	 * provider can give it, then the transport. */
	_startTransport() {
		this._retryTimer = null;
		if (!this._wanted)
			return;
		const need = this.opts.getToken ? this._tokenNeed() : null;
		if (!need) {
			this._openTransport();
			return;
		}
		const gen = ++this._tokenGen;
		this._connecting = true;
		this._setState(this._everOpened ? 'reconnecting' : 'connecting', { authenticating: true });
		this._renewToken(need.reason, need.token, need.refused).then((ok) => {
			if (gen !== this._tokenGen || !this._wanted || this.transport)
				return;
			this._connecting = false;
			if (ok) {
				this._openTransport();
				return;
			}
			this._wanted = false;
			this._setState('closed', { reason: 'unauthorized' });
		}, (err) => {
			if (gen !== this._tokenGen || !this._wanted || this.transport)
				return;
			this._connecting = false;
			this.emit('error', { sub: null, code: 'token_failed',
				message: `getToken failed: ${err && err.message ? err.message : err}` });
			const delay = backoffDelay(this._attempt++, this.opts.backoff, this.random);
			this._setState('reconnecting', { delayMs: delay, reason: 'getToken failed' });
			this._retryTimer = this.setTimeout(() => this._startTransport(), delay);
		});
	}

	_openTransport() {
		const list = this.opts.transports;
		let i = this._tIndex;
		while (i < list.length && !this._available(list[i]))
			i++;
		if (i >= list.length) {
			/* Every transport failed: start over from the best one. */
			i = 0;
			while (i < list.length && !this._available(list[i]))
				i++;
			if (i >= list.length) {
				this._setState('closed', { reason: 'no transport available' });
				return;
			}
		}
		const prev = list.indexOf(this.transportName);
		if (prev >= 0 && i > prev) {
			this.stats.fallbacks++;
			this.emit('fallback', { from: this.transportName, to: list[i] });
		}
		this._tIndex = i;
		const name = list[i];
		let t = null;
		const ctx = {
			client: this,
			onOpen: (info) => { if (this.transport === t) this._onOpen(info); },
			onFrame: (f) => { if (this.transport === t) this._onFrame(f); },
			onClose: (info) => { if (this.transport === t) this._onClose(info); },
		};
		t = this.factories[name](ctx);
		this.transport = t;
		this.transportName = name;
		this._transportToken = this.token;
		this._setState(this._everOpened ? 'reconnecting' : 'connecting');
		t.open();
		/* Every loaded subscription goes at once (transports hold them
		 * until connected), with since = the last position applied. */
		for (const sub of this.subs.values()) {
			if (sub.channel === 'patterns' && sub.epoch == null)
				continue; /* initial load still running: subscribe() sends it */
			sub.resuming = this._everOpened && sub.channel === 'patterns';
			this._send(sub);
		}
	}

	_restartTransport() {
		const t = this.transport;
		this.transport = null;
		this._tokenGen++;
		this._connecting = false;
		for (const s of this.subs.values())
			s.onServer = false;
		if (t)
			t.close();
		if (this._wanted && this._retryTimer == null)
			this._startTransport();
	}

	_onOpen(info) {
		if (info && info.hello) {
			this.hello = info.hello;
			if (typeof info.hello.server_time === 'number')
				this._skewMs = info.hello.server_time * 1000 - this.now();
		}
		const reconnect = this._everOpened;
		this._everOpened = true;
		this._failures = 0;
		this._authFailures = 0;
		this._setState('open');
		if (reconnect)
			this.stats.reconnects++;
		this._scheduleUpgrade();
	}

	/* On a fallback transport, try the better one now and then: a probe
	 * connection in parallel, so the page keeps its stream meanwhile. When
	 * the probe opens, the client moves over and resumes with since. */
	_scheduleUpgrade() {
		this.clearTimeout(this._upgradeTimer);
		this._upgradeTimer = null;
		if (!this.opts.upgradeAfterMs || this._tIndex === 0)
			return;
		const delay = this.opts.upgradeAfterMs * Math.pow(2, Math.min(this._upgradeFails || 0, 4));
		this._upgradeTimer = this.setTimeout(() => this._probe(), delay);
	}

	_probe() {
		this._upgradeTimer = null;
		const list = this.opts.transports;
		let i = 0;
		while (i < this._tIndex && !this._available(list[i]))
			i++;
		if (i >= this._tIndex || this.state !== 'open' || !this._wanted)
			return;
		let probe = null;
		let done = false;
		const ctx = {
			client: this,
			onOpen: () => {
				if (done)
					return;
				done = true;
				probe.close();
				if (!this._wanted || this.state !== 'open')
					return;
				this._upgradeFails = 0;
				this._tIndex = i;
				this._failures = 0;
				this.emit('upgrade', { from: this.transportName, to: list[i] });
				this._restartTransport();
			},
			onFrame: () => {},
			onClose: () => {
				if (done)
					return;
				done = true;
				this._upgradeFails = (this._upgradeFails || 0) + 1;
				this._scheduleUpgrade();
			},
		};
		probe = this.factories[list[i]](ctx);
		probe.open();
	}

	_send(sub) {
		const req = { id: sub.id, channel: sub.channel, presetId: sub.presetId, filter: sub.filter };
		if (sub.channel === 'patterns' && sub.epoch != null && sub.seq != null)
			req.since = { epoch: sub.epoch, seq: sub.seq };
		sub.onServer = true;
		this.transport.subscribe(req);
	}

	_onClose(info) {
		this.transport = null;
		this.clearTimeout(this._upgradeTimer);
		this._upgradeTimer = null;
		for (const s of this.subs.values())
			s.onServer = false;
		if (!this._wanted || info.byClient)
			return;
		/* 4001: the token expired; unauthorized: it was refused (when
		 * there was none, that is just a failed connection). */
		if (info.code === 4001 || (info.unauthorized && (this.opts.getToken || this._transportToken))) {
			const reason = info.code === 4001 ? 'expired' : 'unauthorized';
			if (!this.opts.getToken) {
				/* Resuming as someone else (or no one) would be wrong. */
				this._wanted = false;
				this._setState('closed', { reason: reason === 'expired' ? 'token expired' : 'token refused' });
				this.emit('unauthorized', { path: '/ws', reason });
				return;
			}
			/* Ask for a fresh token and resume with since; at once the
			 * first time, with backoff if fresh tokens keep being refused. */
			if (this._transportToken && this._transportToken === this.token)
				this._tokenRefused = { reason, token: this.token, refused: true };
			const n = this._authFailures++;
			const delay = n ? backoffDelay(n - 1, this.opts.backoff, this.random) : 0;
			this._setState('reconnecting', { delayMs: delay, code: info.code, reason: info.reason });
			this._retryTimer = this.setTimeout(() => this._startTransport(), delay);
			return;
		}
		if (!info.opened) {
			this._failures++;
			if (this._failures >= this.opts.failuresBeforeFallback &&
			    this._tIndex + 1 < this.opts.transports.length) {
				this._tIndex++;
				this._failures = 0;
				this._attempt = 0;
			}
		} else {
			this._attempt = 0;
		}
		const delay = backoffDelay(this._attempt++, this.opts.backoff, this.random);
		this._setState('reconnecting', { delayMs: delay, code: info.code, reason: info.reason });
		this._retryTimer = this.setTimeout(() => this._startTransport(), delay);
	}

	_setState(state, extra = {}) {
		this.state = state;
		this.emit('status', { state, transport: this.transportName, ...extra, stats: { ...this.stats } });
	}

	/* ------------------------------------------------------------- frames */

	_onFrame(f) {
		switch (f.type) {
		case 'subscribed': {
			const sub = this.subs.get(f.id);
			if (!sub)
				return;
			if (sub.resuming) {
				sub.resuming = false;
				if (f.recovered !== false) {
					this.stats.resumes++;
					this.emit('resume', { sub: sub.id, transport: this.transportName,
						position: this.position(sub.id) });
				}
			}
			this.emit('subscribed', { sub: sub.id, transport: this.transportName, recovered: f.recovered });
			return;
		}
		case 'pattern':
		case 'pattern_removed':
			for (const id of f.subs || []) {
				const sub = this.subs.get(id);
				if (!sub)
					continue;
				if (sub.loading)
					sub.buffer.push(f);
				else
					this._apply(sub, f);
			}
			return;
		case 'snapshot': {
			const sub = this.subs.get(f.id);
			if (sub)
				for (const row of f.patterns || [])
					this._apply(sub, { type: 'pattern', seq: null, data: row });
			return;
		}
		case 'gap':
			this._gap(f);
			return;
		case 'backtest_progress':
		case 'backtest_result':
			this.emit('backtest', { type: f.type, final: f.type === 'backtest_result', data: f.data || {}, seq: f.seq });
			return;
		case 'system_health':
			this.emit('health', { data: f.data || {}, seq: f.seq });
			return;
		case 'error':
			this.emit('error', { sub: f.id ?? null, code: f.code, message: f.message });
			return;
		default:
			return;
		}
	}

	_apply(sub, f) {
		if (typeof f.seq === 'number') {
			if (sub.seq != null && f.seq <= sub.seq) {
				this.stats.duplicates++;
				return;
			}
			sub.seq = f.seq;
		}
		this.stats.events++;
		if (f.type === 'pattern') {
			const row = f.data;
			if (!row || !row.id)
				return;
			const isNew = !sub.rows.has(row.id);
			sub.rows.set(row.id, row);
			const pub = publishedAt(f);
			const latencyMs = pub != null ? Math.max(0, this.now() - pub * 1000) : null;
			if (latencyMs != null)
				this.stats.lastLatencyMs = latencyMs;
			this.emit('row', { sub: sub.id, row, isNew, seq: f.seq, latencyMs });
			if (sub.rows.size > this.opts.maxRows)
				this._trim(sub);
		} else {
			const id = f.id ?? (f.data && f.data.id);
			if (id != null && sub.rows.delete(id))
				this.emit('removed', { sub: sub.id, id, reason: 'removed', seq: f.seq });
		}
	}

	/* Over maxRows: the least confident row goes (the table's default order). */
	_trim(sub) {
		let worst = null;
		for (const r of sub.rows.values())
			if (!worst || (r.confidence ?? 0) < (worst.confidence ?? 0))
				worst = r;
		if (worst) {
			sub.rows.delete(worst.id);
			this.emit('removed', { sub: sub.id, id: worst.id, reason: 'trimmed' });
		}
	}

	_gap(f) {
		const sub = this.subs.get(f.id);
		if (!sub || sub.channel !== 'patterns')
			return;
		sub.resuming = false;
		this.stats.gaps++;
		this.emit('gap', { sub: sub.id, epoch: f.epoch, seq: f.seq, transport: this.transportName });
		if (sub.reload)
			return;
		/* Live frames keep coming on the server's subscription; they are
		 * held until the reload says which of them are already included. */
		sub.loading = true;
		let attempt = 0;
		const run = async () => {
			try {
				await this._load(sub);
				sub.reload = null;
			} catch (err) {
				if (this.subs.get(sub.id) !== sub) {
					sub.reload = null;
					return;
				}
				sub.loading = true;
				this.emit('error', { sub: sub.id, code: 'reload_failed', message: String(err.message || err) });
				await new Promise((r) => this.setTimeout(r, backoffDelay(attempt++, this.opts.backoff, this.random)));
				return run();
			}
		};
		sub.reload = run();
	}

	/* Rows whose expires_at has passed go, even if the server's
	 * pattern_removed is still on its way (or the link is down). */
	sweep(nowMs = this.now()) {
		const now = nowMs / 1000;
		for (const sub of this.subs.values()) {
			for (const [id, r] of sub.rows) {
				if (typeof r.expires_at === 'number' && r.expires_at <= now) {
					sub.rows.delete(id);
					this.emit('removed', { sub: sub.id, id, reason: 'expired' });
				}
			}
		}
	}

	_ensureSweep() {
		if (this._sweepTimer == null && this.opts.sweepIntervalMs > 0)
			this._sweepTimer = this.setInterval(() => this.sweep(), this.opts.sweepIntervalMs);
	}

	_stopSweep() {
		if (this._sweepTimer != null)
			this.clearInterval(this._sweepTimer);
		this._sweepTimer = null;
	}
}

export default TickpushClient;
