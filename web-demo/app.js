/*
 * app.js - the tickpush demo page. Everything live goes through the client
 * library (tickpush.js); this file only renders: the live table, the
 * preset/watchlist editors, the status bar, charts, backtests and health.
 *
 * URL options (for trying things out): ?transports=sse,poll limits the
 * transports the client may use, in that order.
 *
 * Accessibility (WCAG 2.1 AA): every control is a native one (sort headers
 * are buttons, aria-sort says the order); the status bar, which changes
 * every second, is not a live region: announce() speaks only changes a
 * user must know (connection lost or back, a gap, a finished backtest);
 * field errors are tied to their inputs (aria-describedby, aria-invalid);
 * charts carry a text version; progress bars are progressbars; motion
 * follows prefers-reduced-motion (style.css).
 */
import { TickpushClient, ApiError } from './tickpush.js';
import { drawRate, drawDist } from './charts.js';

const PATTERN_TYPES = ['Doji', 'Hammer', 'Engulfing', 'Volume_Spike', 'Support_Test', 'Momentum_Shift',
	'Gap_Fill', 'Resistance_Break', 'Trendline_Hold', 'Bull_Flag', 'Reversal_Signal', 'Weekly_Breakout',
	'Ascending_Triangle'];
const SECTORS = ['Communication Services', 'Consumer Discretionary', 'Consumer Staples', 'Energy',
	'Financials', 'Health Care', 'Industrials', 'Information Technology', 'Materials', 'Real Estate',
	'Utilities'];
const TRANSPORT_LABEL = { ws: 'WebSocket', sse: 'SSE', poll: 'long-poll' };
const STORE_KEY = 'tickpush.demo.session';
const MAIN = 'main';
const RATE_SPAN = 300;

const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

function h(tag, attrs = {}, ...children) {
	const e = document.createElement(tag);
	for (const [k, v] of Object.entries(attrs)) {
		if (v == null || v === false)
			continue;
		if (k === 'class')
			e.className = v;
		else if (k === 'text')
			e.textContent = v;
		else if (k.startsWith('on'))
			e.addEventListener(k.slice(2), v);
		else
			e.setAttribute(k, v === true ? '' : String(v));
	}
	for (const c of children.flat())
		if (c != null)
			e.append(c);
	return e;
}

const params = new URLSearchParams(location.search);
const transports = (params.get('transports') || 'ws,sse,poll').split(',').filter((t) => ['ws', 'sse', 'poll'].includes(t));
const client = new TickpushClient({ baseUrl: '', transports: transports.length ? transports : undefined, getToken });

const state = {
	user: null,
	presets: [],
	watchlists: [],
	universes: [],
	presetId: null,     /* the preset shown in the form and subscribed */
	newPreset: false,   /* the form holds a preset not saved yet */
	editWatchlist: null,
	rows: new Map(),    /* id -> {row, tr, goneTimer} */
	sort: { key: 'age', dir: 'asc' },
	sortDue: false,
	perSecond: [],      /* events per second, oldest first */
	thisSecond: 0,
	latencies: [],
	clockSkew: 0,       /* server_time - local time, seconds */
	jobs: new Map(),    /* job_id -> {data, li, lastEvent} */
	pushedHealth: null,
	restHealth: null,
	subLabel: '',
};

const nowS = () => Date.now() / 1000 + state.clockSkew;

/* ------------------------------------------------------------ tokens */

/*
 * Where the page's tokens come from (the client's getToken, asked when a
 * token expires or is refused). tickpush issues tokens only through POST
 * /api/auth/login (there is no refresh endpoint), so the demo signs in
 * again with the password typed into its sign-in dialog, which it keeps
 * in this tab's memory for that alone: never in storage, forgotten on
 * sign-out. A real application must not do this; it would call a refresh
 * endpoint (or its identity provider's silent renewal) here. Without the
 * password (after a reload) the dialog asks for it again; cancelling it
 * signs out.
 */
const auth = {
	password: null,   /* for renewals, in memory only */
	pending: null,    /* resolve() of a renewal waiting for the dialog */
};

async function getToken({ reason }) {
	if (!state.user || reason === 'connect')
		return null; /* anonymous: the public stream */
	if (auth.password) {
		try {
			const r = await client.authenticate(state.user.username, auth.password);
			saveSession(r.token, r.user, r.expires_at);
			return r.token;
		} catch (err) {
			if (!(err instanceof ApiError) || err.status !== 401)
				throw err; /* network, 429, 503: the client retries */
			auth.password = null; /* the password no longer works */
		}
	}
	return askToSignInAgain();
}

function askToSignInAgain() {
	if (auth.pending)
		auth.pending(null);
	return new Promise((resolve) => {
		auth.pending = resolve;
		openSignIn(true);
	});
}

/* ------------------------------------------------------------ announcements */

/* The one live region: short messages, and only when something changed. */
function announce(text) {
	const el = $('#announce');
	if (el.textContent === text)
		el.textContent = '';
	/* A fresh node change, so the same message can be heard again. */
	requestAnimationFrame(() => { el.textContent = text; });
}

/* Connection changes are spoken once they last: a token renewal or a
 * quick reconnect (under 2 s) is not worth interrupting anyone for. The
 * first connection says nothing: the page is simply starting. */
const conn = { spoken: null, pending: null, timer: null };

function announceConnection(s) {
	const what = s.state === 'open' ? 'open' : s.state === 'closed' ? 'closed' : 'down';
	if (conn.spoken == null && what === 'open')
		conn.spoken = 'open';
	if (conn.spoken == null || what === conn.pending)
		return; /* starting, or already due (retries must not postpone it) */
	clearTimeout(conn.timer);
	conn.pending = null;
	if (what === conn.spoken)
		return;
	conn.pending = what;
	conn.timer = setTimeout(() => {
		if (what === 'open')
			announce(`Live again via ${TRANSPORT_LABEL[client.transportName] || client.transportName}.`);
		else if (what === 'down')
			announce('Connection lost: reconnecting. No events are lost.');
		else
			announce('Disconnected.');
		conn.spoken = what;
		conn.pending = null;
	}, 2000);
}

/* ------------------------------------------------------------ formatting */

function typeLabel(t) {
	return String(t || '').replace(/_/g, ' ');
}

function fmtDur(s) {
	s = Math.max(0, Math.floor(s));
	if (s < 60)
		return `${s}s`;
	if (s < 3600)
		return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
	if (s < 86400)
		return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
	return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

function fmtAge(s) {
	s = Math.max(0, Math.floor(s));
	if (s < 60)
		return `${s}s`;
	if (s < 3600)
		return `${Math.floor(s / 60)}m`;
	if (s < 86400)
		return `${Math.floor(s / 3600)}h`;
	return `${Math.floor(s / 86400)}d`;
}

function num(v, digits = 2) {
	return typeof v === 'number' && Number.isFinite(v) ? v.toFixed(digits) : '–';
}

/* ------------------------------------------------------------ live table */

function sortValue(row, key) {
	const ind = row.indicators || {};
	switch (key) {
	case 'symbol': return row.symbol || '';
	case 'pattern': return row.pattern_type || row.pattern || '';
	case 'confidence': return row.confidence ?? row.conf ?? 0;
	case 'rs': return ind.relative_strength ?? 0;
	case 'vol': return ind.relative_volume ?? 0;
	case 'price': return row.current_price ?? 0;
	case 'chg': return row.price_change ?? 0;
	case 'age': return -(row.detected_at ?? 0);
	case 'exp': return row.expires_at ?? 0;
	default: return 0;
	}
}

function compareRows(a, b) {
	const { key, dir } = state.sort;
	const va = sortValue(a, key), vb = sortValue(b, key);
	let c = typeof va === 'string' ? va.localeCompare(vb) : va - vb;
	if (dir === 'desc')
		c = -c;
	return c || (b.detected_at ?? 0) - (a.detected_at ?? 0) || (a.id < b.id ? -1 : 1);
}

function rowCells(tr) {
	if (!tr._cells) {
		tr._cells = {
			sym: h('td', { class: 'sym' }),
			pat: h('td', { class: 'pat' }),
			conf: h('td', { class: 'num' }),
			rs: h('td', { class: 'num c-rs' }),
			vol: h('td', { class: 'num c-vol' }),
			price: h('td', { class: 'num c-price' }),
			chg: h('td', { class: 'num' }),
			age: h('td', { class: 'num c-age' }),
			exp: h('td', { class: 'num' }),
		};
		tr.append(...Object.values(tr._cells));
	}
	return tr._cells;
}

function fillRow(tr, row) {
	const c = rowCells(tr);
	const ind = row.indicators || {};
	tr.dataset.id = row.id;
	tr.dataset.symbol = row.symbol;
	tr.dataset.type = row.pattern_type || '';
	c.sym.textContent = row.symbol;
	c.pat.replaceChildren(h('span', { class: 'long', text: typeLabel(row.pattern_type || row.pattern) }),
		h('span', { class: 'short', text: row.pattern || typeLabel(row.pattern_type) }));
	c.pat.title = `${row.pattern_type} · ${row.source || ''}`;
	const conf = row.confidence ?? row.conf ?? 0;
	c.conf.replaceChildren(h('span', { class: 'conf' },
		h('span', { class: 'bar' }, h('i', { style: `width:${Math.round(conf * 100)}%` })),
		h('span', { text: conf.toFixed(2) })));
	c.rs.textContent = row.rs ?? num(ind.relative_strength, 1);
	c.vol.textContent = row.vol ?? num(ind.relative_volume, 1);
	c.price.textContent = row.price ?? num(row.current_price);
	c.chg.textContent = row.chg ?? num(row.price_change, 1);
	c.chg.className = 'num ' + ((row.price_change ?? 0) > 0 ? 'up' : (row.price_change ?? 0) < 0 ? 'down' : '');
	tickRow(tr, row, nowS());
}

function tickRow(tr, row, now) {
	const c = rowCells(tr);
	c.age.textContent = typeof row.detected_at === 'number' ? fmtAge(now - row.detected_at) : (row.time || '');
	if (typeof row.expires_at === 'number') {
		const left = row.expires_at - now;
		c.exp.textContent = left > 0 ? fmtDur(left) : 'expired';
		c.exp.className = 'num' + (left < 300 ? ' soon' : '');
	} else {
		c.exp.textContent = row.exp || '';
	}
}

function flash(tr, cls) {
	tr.classList.remove('row-new', 'row-upd');
	void tr.offsetWidth; /* restart the animation */
	tr.classList.add(cls);
	/* The class outlives the animation; with reduced motion it is the
	 * (still) highlight itself, so it has to end by the clock. */
	clearTimeout(tr._flashTimer);
	tr._flashTimer = setTimeout(() => tr.classList.remove(cls), cls === 'row-new' ? 3000 : 1600);
}

function resetTable(rows) {
	for (const r of state.rows.values())
		clearTimeout(r.goneTimer);
	state.rows.clear();
	$('#tbody').replaceChildren();
	for (const row of rows) {
		const tr = h('tr');
		fillRow(tr, row);
		state.rows.set(row.id, { row, tr, goneTimer: null });
	}
	scheduleSort();
	updateCounts();
}

function upsertRow(row, isNew) {
	let r = state.rows.get(row.id);
	if (r && r.goneTimer) {
		clearTimeout(r.goneTimer);
		r.goneTimer = null;
		r.tr.classList.remove('row-gone');
	}
	if (!r) {
		r = { row, tr: h('tr'), goneTimer: null };
		state.rows.set(row.id, r);
	}
	r.row = row;
	fillRow(r.tr, row);
	flash(r.tr, isNew ? 'row-new' : 'row-upd');
	scheduleSort();
	updateCounts();
}

function removeRow(id) {
	const r = state.rows.get(id);
	if (!r || r.goneTimer)
		return;
	r.tr.classList.add('row-gone');
	r.goneTimer = setTimeout(() => {
		if (state.rows.get(id) === r) {
			state.rows.delete(id);
			r.tr.remove();
			updateCounts();
		}
	}, 1000);
	updateCounts();
}

function scheduleSort() {
	if (state.sortDue)
		return;
	state.sortDue = true;
	requestAnimationFrame(() => {
		state.sortDue = false;
		const tbody = $('#tbody');
		const list = [...state.rows.values()].sort((a, b) => compareRows(a.row, b.row));
		/* Move only what is out of place, so running highlight
		 * animations are not restarted for every row. */
		let cur = tbody.firstElementChild;
		for (const r of list) {
			if (cur === r.tr) {
				cur = cur.nextElementSibling;
				continue;
			}
			tbody.insertBefore(r.tr, cur);
		}
	});
}

function updateCounts() {
	let live = 0;
	const dist = {};
	for (const r of state.rows.values()) {
		if (r.goneTimer)
			continue;
		live++;
		const k = r.row.pattern || r.row.pattern_type;
		dist[k] = (dist[k] || 0) + 1;
	}
	$('#st-rows').textContent = String(live);
	const empty = $('#empty');
	empty.hidden = live > 0;
	if (!live)
		empty.textContent = state.loading ? 'Loading…'
			: 'Nothing matches this filter right now: new patterns appear here the moment they are detected.' +
			(state.user && state.presets.length > 1 ? ' Or choose another preset.' : '');
	state.dist = dist;
	state.distDue = true;
}

function setSort(key) {
	if (state.sort.key === key)
		state.sort.dir = state.sort.dir === 'asc' ? 'desc' : 'asc';
	else
		state.sort = { key, dir: ['symbol', 'pattern', 'age', 'exp'].includes(key) ? 'asc' : 'desc' };
	renderSort();
}

function renderSort() {
	for (const th of $$('#tbl th')) {
		const on = th.dataset.sort === state.sort.key;
		if (on)
			th.setAttribute('aria-sort', state.sort.dir === 'asc' ? 'ascending' : 'descending');
		else
			th.removeAttribute('aria-sort');
		$('.arrow', th).textContent = on ? (state.sort.dir === 'asc' ? ' ▲' : ' ▼') : '';
		if (on)
			$('#tbl-caption').textContent = `Live patterns, sorted by ${$('.sort', th).textContent.trim()}, ` +
				`${state.sort.dir === 'asc' ? 'ascending' : 'descending'}. Sort buttons are in the column headers.`;
	}
	scheduleSort();
}

/* ------------------------------------------------------------ status bar */

function renderStatus(st) {
	const s = st || { state: client.state, transport: client.transportName };
	$('#conn-dot').className = 'dot ' + s.state;
	let label = s.state;
	if (s.authenticating)
		label = 'renewing sign-in';
	else if (s.state === 'reconnecting' && s.delayMs != null)
		label = `reconnecting in ${(s.delayMs / 1000).toFixed(1)} s`;
	$('#conn-state').textContent = label;
	$('#conn-transport').textContent = s.transport ? `via ${TRANSPORT_LABEL[s.transport] || s.transport}` : '';
	$('#statusbar').dataset.state = s.state;
	$('#statusbar').dataset.transport = s.transport || '';
	$('#st-resumes').textContent = String(client.stats.resumes);
	$('#st-gaps').textContent = String(client.stats.gaps);
	const pos = client.position(MAIN);
	$('#st-pos').textContent = pos ? `${pos.epoch}:${pos.seq}` : '–';
}

function everySecond() {
	state.perSecond.push(state.thisSecond);
	state.thisSecond = 0;
	if (state.perSecond.length > RATE_SPAN)
		state.perSecond.shift();
	const last = state.perSecond.slice(-10);
	const rate = (last.reduce((a, b) => a + b, 0) / Math.max(1, last.length)).toFixed(1);
	$('#st-rate').textContent = rate;
	/* The chart's text version (and a caption for everyone). */
	const peak = Math.max(0, ...state.perSecond);
	$('#rate-text').textContent = peak ? `${rate}/s over the last 10 s · peak ${peak}/s in the last ${Math.round(RATE_SPAN / 60)} min` : 'no events in the last 5 min';
	if (state.latencies.length) {
		const sorted = [...state.latencies].sort((a, b) => a - b);
		$('#st-latency').textContent = `${Math.round(sorted[Math.floor(sorted.length / 2)])} ms`;
		$('#st-latency-wrap').title = `publish-to-screen latency, median of the last ${sorted.length} events (from published_at)`;
	} else {
		$('#st-latency').textContent = 'n/a';
		$('#st-latency-wrap').title = 'publish-to-screen latency: these events carry no published_at (start tickpush-sim with --stamp)';
	}
	const now = nowS();
	for (const r of state.rows.values())
		tickRow(r.tr, r.row, now);
	renderStatus(null);
	drawRate($('#chart-rate'), state.perSecond, RATE_SPAN);
	if (state.distDue) {
		state.distDue = false;
		drawDist($('#chart-dist'), state.dist || {});
		const parts = Object.entries(state.dist || {}).sort((a, b) => b[1] - a[1]).map(([k, n]) => `${typeLabel(k)} ${n}`);
		$('#dist-text').textContent = parts.length ? `Rows per pattern type: ${parts.join(', ')}.` : 'No rows yet.';
	}
}

/* ------------------------------------------------------------ forms */

const CONTROLS = 'input, select, textarea, [role=group]';

/* Each field's message element describes its controls, so a screen
 * reader reads the error with the input it belongs to. */
function linkErrors() {
	for (const box of $$('.field')) {
		const err = $('.err', box);
		const controls = $$(CONTROLS, box);
		if (!err || !controls.length)
			continue;
		err.id = `${controls[0].id || box.dataset.field}-err`;
		for (const c of controls)
			c.setAttribute('aria-describedby', err.id);
	}
}

function clearErrors(form) {
	for (const f of $$('.field', form))
		f.classList.remove('invalid');
	for (const c of $$('[aria-invalid]', form))
		c.removeAttribute('aria-invalid');
	for (const e of $$('.err', form))
		e.textContent = '';
}

/* The server names the field it rejects: show its message next to it. */
function showError(form, err) {
	const field = err && err.field ? String(err.field).replace(/^filters\./, '') : null;
	let msg = err && err.message ? err.message : String(err);
	const box = field && $(`.field[data-field="${field}"]`, form);
	if (form.closest('#filters'))
		setFilterOpen(true); /* folded on a phone: the message must show */
	if (box && !box.closest('[hidden]') && getComputedStyle(box).display !== 'none') {
		msg = msg.replace(/^[\w.]+: /, '');
		box.classList.add('invalid');
		$('.err', box).textContent = msg;
		for (const c of $$(CONTROLS, box))
			c.setAttribute('aria-invalid', 'true');
		const input = $('input, select, textarea, .chip', box);
		if (input)
			input.focus();
	} else {
		$('.form-err', form).textContent = msg;
	}
}

function buildChips(container, values, label = typeLabel) {
	container.replaceChildren(...values.map((v) => h('button', {
		type: 'button', class: 'chip', 'aria-pressed': 'false', 'data-value': v, text: label(v),
		onclick: (e) => {
			const b = e.currentTarget;
			b.setAttribute('aria-pressed', b.getAttribute('aria-pressed') === 'true' ? 'false' : 'true');
		},
	})));
}

function setChips(container, values) {
	const set = new Set((values || []).map((v) => String(v).toLowerCase()));
	for (const b of $$('.chip', container))
		b.setAttribute('aria-pressed', set.has(b.dataset.value.toLowerCase()) ? 'true' : 'false');
}

function chipValues(container) {
	return $$('.chip[aria-pressed=true]', container).map((b) => b.dataset.value);
}

/* Numbers pass as numbers; anything else goes to the server as typed, so
 * its validation message (naming the field) is what the user sees. */
function numOrRaw(v) {
	const t = String(v).trim();
	if (t === '')
		return undefined;
	const n = Number(t);
	return Number.isFinite(n) ? n : t;
}

function splitSymbols(s) {
	return String(s || '').split(/[\s,;]+/).map((x) => x.trim().toUpperCase()).filter(Boolean);
}

function readFilters() {
	const f = {};
	const types = chipValues($('#f-types'));
	if (types.length)
		f.pattern_types = types;
	f.confidence_min = Number($('#f-conf').value);
	const rs = numOrRaw($('#f-rs').value);
	if (rs !== undefined)
		f.rs_min = rs;
	const vol = numOrRaw($('#f-vol').value);
	if (vol !== undefined)
		f.vol_min = vol;
	const lo = numOrRaw($('#f-rsi-lo').value), hi = numOrRaw($('#f-rsi-hi').value);
	if (lo !== undefined || hi !== undefined)
		f.rsi_range = [lo ?? 0, hi ?? 100];
	f.timeframe = $('#f-timeframe').value;
	const syms = splitSymbols($('#f-symbols').value);
	if (syms.length)
		f.symbols = syms;
	const sectors = chipValues($('#f-sectors'));
	if (sectors.length)
		f.sectors = sectors;
	if (state.user) {
		if ($('#f-watchlist').value)
			f.watchlist_id = Number($('#f-watchlist').value);
		if ($('#f-universe').value)
			f.universe = $('#f-universe').value;
	}
	return f;
}

function writeFilters(f = {}) {
	setChips($('#f-types'), f.pattern_types);
	$('#f-conf').value = f.confidence_min ?? 0.5;
	$('#f-conf-out').textContent = Number($('#f-conf').value).toFixed(2);
	$('#f-rs').value = f.rs_min ?? '';
	$('#f-vol').value = f.vol_min ?? '';
	const rsi = Array.isArray(f.rsi_range) ? f.rsi_range : typeof f.rsi_range === 'string' ? f.rsi_range.split(',') : null;
	$('#f-rsi-lo').value = rsi ? rsi[0] : '';
	$('#f-rsi-hi').value = rsi ? rsi[1] : '';
	$('#f-timeframe').value = f.timeframe || 'All';
	$('#f-symbols').value = (f.symbols || []).join(', ');
	setChips($('#f-sectors'), f.sectors);
	$('#f-watchlist').value = f.watchlist_id != null ? String(f.watchlist_id) : '';
	$('#f-universe').value = f.universe || '';
}

function describeFilter(f = {}) {
	const parts = [];
	if (f.pattern_types && f.pattern_types.length)
		parts.push(f.pattern_types.length <= 2 ? f.pattern_types.map(typeLabel).join(', ') : `${f.pattern_types.length} types`);
	if (f.confidence_min != null)
		parts.push(`conf ≥ ${f.confidence_min}`);
	if (f.symbols && f.symbols.length)
		parts.push(f.symbols.slice(0, 3).join(', ') + (f.symbols.length > 3 ? '…' : ''));
	if (f.watchlist_id != null) {
		const wl = state.watchlists.find((w) => w.id === f.watchlist_id);
		parts.push(`watchlist ${wl ? wl.name : '#' + f.watchlist_id}`);
	}
	if (f.timeframe && f.timeframe !== 'All')
		parts.push(f.timeframe);
	return parts.join(' · ');
}

function flashMsg(text) {
	const m = $('#filter-msg');
	m.textContent = text;
	clearTimeout(flashMsg.t);
	flashMsg.t = setTimeout(() => { m.textContent = ''; }, 2500);
}

/* ------------------------------------------------------------ subscriptions */

async function subscribeMain(spec, label) {
	state.loading = true;
	state.subLabel = label;
	$('#live-sub').textContent = label ? `· ${label}` : '';
	updateCounts();
	try {
		await client.subscribe({ id: MAIN, ...spec });
		return true;
	} catch (err) {
		state.loading = false;
		updateCounts();
		if (err instanceof ApiError && err.status === 400)
			showError($('#filter-form'), err);
		else
			$('#live-note').textContent = `could not load: ${err.message}`;
		return false;
	} finally {
		state.loading = false;
	}
}

function subscribePreset(id) {
	const p = state.presets.find((x) => x.id === id);
	state.presetId = id;
	state.newPreset = false;
	return subscribeMain({ presetId: id }, p ? p.name : `preset ${id}`);
}

/* ------------------------------------------------------------ presets */

function renderPresetSelect() {
	const sel = $('#preset-select');
	sel.replaceChildren(...state.presets.map((p) => h('option', { value: p.id, text: (p.is_default ? '★ ' : '') + p.name })));
	if (state.newPreset)
		sel.append(h('option', { value: 'new', text: '(new preset)' }));
	sel.value = state.newPreset ? 'new' : String(state.presetId ?? '');
	$('#btn-preset-delete').disabled = state.newPreset || state.presetId == null;
}

function showPresetInForm(p) {
	clearErrors($('#filter-form'));
	$('#f-name').value = p ? p.name : '';
	$('#f-default').checked = !!(p && p.is_default);
	writeFilters(p ? p.filters : { confidence_min: 0.6 });
	$('#live-note').textContent = p ? describeFilter(p.filters) : '';
}

async function loadPresets() {
	state.presets = await client.listPresets();
}

async function choosePreset(id) {
	const p = state.presets.find((x) => x.id === id);
	state.presetId = p ? p.id : null;
	state.newPreset = false;
	renderPresetSelect();
	showPresetInForm(p);
	if (p)
		await subscribePreset(p.id);
	else
		await subscribeMain({ filter: { confidence_min: 0.5 } }, 'all patterns');
}

async function onFilterSubmit(ev) {
	ev.preventDefault();
	const form = $('#filter-form');
	clearErrors(form);
	const filters = readFilters();
	if (!state.user) {
		/* Anonymous: an inline filter; the scan validates it. */
		$('#live-note').textContent = describeFilter(filters);
		await subscribeMain({ filter: filters }, 'inline filter');
		return;
	}
	const body = { name: $('#f-name').value.trim(), filters, is_default: $('#f-default').checked };
	const btn = $('#btn-filter-save');
	btn.disabled = true;
	try {
		const saved = state.newPreset || state.presetId == null
			? await client.createPreset(body)
			: await client.updatePreset(state.presetId, body);
		await loadPresets();
		state.presetId = saved.id;
		state.newPreset = false;
		renderPresetSelect();
		showPresetInForm(state.presets.find((p) => p.id === saved.id) || saved);
		flashMsg('saved');
		/* The server already applies the change to the live subscription;
		 * re-subscribing also reloads the rows the old filter chose. */
		await subscribePreset(saved.id);
	} catch (err) {
		showError(form, err);
	} finally {
		btn.disabled = false;
	}
}

async function onPresetDelete() {
	if (state.presetId == null || !confirm('Delete this preset?'))
		return;
	try {
		await client.deletePreset(state.presetId);
		await loadPresets();
		const next = state.presets.find((p) => p.is_default) || state.presets[0];
		await choosePreset(next ? next.id : null);
	} catch (err) {
		showError($('#filter-form'), err);
	}
}

function onPresetNew() {
	state.newPreset = true;
	renderPresetSelect();
	showPresetInForm(null);
	$('#f-name').focus();
}

/* ------------------------------------------------------------ watchlists */

function renderWatchlists() {
	$('#wl-list').replaceChildren(...state.watchlists.map((w) => h('li', { 'data-id': w.id },
		h('button', { type: 'button', onclick: () => editWatchlist(w) },
			h('span', {}, h('span', { class: 'sr-only', text: 'Edit watchlist ' }), w.name),
			h('span', { class: 'syms', text: w.symbols.join(' ') })))));
	if (!state.watchlists.length)
		$('#wl-list').append(h('li', { class: 'muted', text: 'No watchlists yet.' }));
	const sel = $('#f-watchlist');
	const v = sel.value;
	sel.replaceChildren(h('option', { value: '', text: '(any symbol)' }),
		...state.watchlists.map((w) => h('option', { value: w.id, text: w.name })));
	sel.value = v;
}

function editWatchlist(w) {
	const form = $('#wl-form');
	clearErrors(form);
	state.editWatchlist = w ? w.id : null;
	$('#wl-name').value = w ? w.name : '';
	$('#wl-symbols').value = w ? w.symbols.join(', ') : '';
	$('#btn-wl-delete').hidden = !w;
	form.hidden = false;
	$('#wl-name').focus();
}

async function reloadWatchlists() {
	state.watchlists = await client.listWatchlists();
	renderWatchlists();
}

/* A watchlist the current preset uses changed: reload its rows. */
async function refreshIfUsing(wlId) {
	const p = state.presets.find((x) => x.id === state.presetId);
	if (p && p.filters && p.filters.watchlist_id === wlId)
		await subscribePreset(p.id);
}

async function onWatchlistSubmit(ev) {
	ev.preventDefault();
	const form = $('#wl-form');
	clearErrors(form);
	const body = { name: $('#wl-name').value.trim(), symbols: splitSymbols($('#wl-symbols').value) };
	try {
		const saved = state.editWatchlist == null
			? await client.createWatchlist(body)
			: await client.updateWatchlist(state.editWatchlist, body);
		form.hidden = true;
		await reloadWatchlists();
		$('#btn-wl-new').focus();
		await refreshIfUsing(saved.id);
	} catch (err) {
		showError(form, err);
	}
}

async function onWatchlistDelete() {
	if (state.editWatchlist == null || !confirm('Delete this watchlist?'))
		return;
	try {
		await client.deleteWatchlist(state.editWatchlist);
		$('#wl-form').hidden = true;
		await reloadWatchlists();
		$('#btn-wl-new').focus();
	} catch (err) {
		showError($('#wl-form'), err);
	}
}

/* ------------------------------------------------------------ backtests */

const FINAL = ['completed', 'failed', 'cancelled'];

function jobLi(job) {
	const li = h('li', { 'data-job': job.job_id, 'aria-label': `Backtest ${job.job_id}` },
		h('div', { class: 'head' }, h('span', { class: 'id', text: job.job_id }), h('span', { class: 'st' }),
			h('button', { type: 'button', class: 'btn small cancel', 'aria-label': `Cancel backtest ${job.job_id}`,
				onclick: () => cancelJob(job.job_id) }, 'Cancel')),
		h('div', { class: 'progress', role: 'progressbar', 'aria-label': `Backtest ${job.job_id} progress`,
			'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': 0 }, h('i')),
		h('div', { class: 'detail small muted' }),
		h('div', { class: 'results' }));
	return li;
}

async function cancelJob(id) {
	const j = state.jobs.get(id);
	if (!j)
		return;
	const btn = $('.cancel', j.li);
	btn.disabled = true;
	try {
		const r = await client.cancelBacktest(id);
		/* The producer confirms with a cancelled result (pushed). */
		if (!FINAL.includes(j.data.status))
			j.data = { ...j.data, status: r.status || 'cancel_requested' };
		renderJob(j);
		announce(`Cancelling backtest ${id}.`);
	} catch (err) {
		btn.disabled = false;
		$('.detail', j.li).textContent = `could not cancel: ${err.message || err}`;
	}
}

function pct(v) {
	return typeof v === 'number' ? `${(v * (Math.abs(v) <= 1 ? 100 : 1)).toFixed(1)}%` : '–';
}

function renderJob(j) {
	const d = j.data;
	if (!j.li) {
		j.li = jobLi(d);
		$('#bt-jobs').prepend(j.li);
	}
	const status = d.status || (d.progress >= 1 ? 'completed' : 'running');
	const final = FINAL.includes(status);
	let p = typeof d.progress === 'number' ? d.progress : 0;
	if (p > 1)
		p /= 100;
	if (status === 'completed')
		p = 1;
	j.li.className = status === 'completed' ? 'done' : final ? 'failed' : '';
	j.li.dataset.status = status;
	const shown = status === 'cancel_requested' ? 'cancelling' : final ? status : `${Math.round(p * 100)}%`;
	$('.st', j.li).textContent = shown;
	$('.st', j.li).className = `st status-${status}`;
	$('.progress i', j.li).style.width = `${Math.round(p * 100)}%`;
	const bar = $('.progress', j.li);
	bar.setAttribute('aria-valuenow', String(Math.round(p * 100)));
	bar.setAttribute('aria-valuetext', final || status === 'cancel_requested' ? shown : `${Math.round(p * 100)}%`);
	const cancel = $('.cancel', j.li);
	cancel.hidden = final;
	if (status === 'cancel_requested')
		cancel.disabled = true;
	if (final && !j.announced) {
		j.announced = true;
		if (j.seenRunning)
			announce(`Backtest ${d.job_id} ${status}.`);
	} else if (!final) {
		j.seenRunning = true;
	}
	const detail = [];
	if (!final && d.current_symbol)
		detail.push(`testing ${d.current_symbol}`);
	if (d.processed_symbols != null && d.total_symbols != null)
		detail.push(`${d.processed_symbols}/${d.total_symbols} symbols`);
	if (d.error)
		detail.push(String(d.error));
	if (!final && !detail.length)
		detail.push('queued for the producer…');
	$('.detail', j.li).textContent = detail.join(' · ');
	const r = d.results || d.result;
	if (r && typeof r === 'object') {
		const cells = [['win rate', pct(r.win_rate)], ['trades', r.total_trades ?? '–'], ['ROI', pct(r.roi)],
			['Sharpe', num(r.sharpe_ratio)], ['max DD', pct(r.max_drawdown)]];
		$('.results', j.li).replaceChildren(...cells.map(([k, v]) => h('span', {}, h('b', { text: String(v) }), k)));
	}
}

function onBacktest(e) {
	const d = e.data || {};
	if (!d.job_id)
		return;
	let j = state.jobs.get(d.job_id);
	if (!j) {
		j = { data: { job_id: d.job_id }, li: null };
		state.jobs.set(d.job_id, j);
	}
	if (!e.final && FINAL.includes(j.data.status))
		return; /* a late progress after the result */
	j.data = { ...j.data, ...d };
	if (e.final && !d.status)
		j.data.status = 'completed';
	j.lastEvent = Date.now();
	renderJob(j);
}

async function onBacktestSubmit(ev) {
	ev.preventDefault();
	const form = $('#bt-form');
	clearErrors(form);
	const p = state.presets.find((x) => x.id === state.presetId);
	const body = {
		symbols: splitSymbols($('#bt-symbols').value),
		patterns: (p && p.filters && p.filters.pattern_types) || ['Hammer', 'Doji', 'Bull_Flag'],
		start_date: $('#bt-start').value,
		end_date: $('#bt-end').value,
		parameters: { preset_id: state.presetId },
	};
	$('#btn-bt-run').disabled = true;
	try {
		const r = await client.submitBacktest(body);
		const id = r.job_id;
		if (!state.jobs.has(id))
			state.jobs.set(id, { data: { ...r, status: r.status || 'queued', progress: 0 }, li: null, lastEvent: Date.now() });
		renderJob(state.jobs.get(id));
	} catch (err) {
		showError(form, err);
	} finally {
		$('#btn-bt-run').disabled = false;
	}
}

/* Push delivers progress; if it is silent for a while (a transport
 * without the backtests channel), ask the REST API. */
async function pollJobs() {
	for (const j of state.jobs.values()) {
		const st = j.data.status;
		if (FINAL.includes(st) || Date.now() - (j.lastEvent || 0) < 4000)
			continue;
		try {
			const r = await client.getBacktest(j.data.job_id);
			const d = r.job || r.backtest || r;
			j.data = { ...j.data, ...d };
			j.lastEvent = Date.now();
			renderJob(j);
		} catch { /* next round */ }
	}
}

async function loadJobs() {
	try {
		const r = await client.listBacktests();
		const list = Array.isArray(r) ? r : r.backtests || r.jobs || [];
		for (const d of list.slice(0, 5).reverse()) {
			if (!d.job_id || state.jobs.has(d.job_id))
				continue;
			const j = { data: d, li: null, lastEvent: Date.now() };
			state.jobs.set(d.job_id, j);
			renderJob(j);
		}
	} catch { /* the panel still works for new jobs */ }
}

/* ------------------------------------------------------------ health */

function cls(ok) {
	return ok === true ? 'ok' : ok === false ? 'bad' : 'warn';
}

function renderHealth() {
	const items = [];
	const rh = state.restHealth;
	if (rh) {
		const c = rh.components || {};
		items.push(['server', rh.status, rh.status === 'healthy' ? true : rh.status === 'error' ? false : null]);
		if (c.producer)
			items.push(['producer', c.producer.status + (c.producer.last_heartbeat ? ` · beat ${fmtAge(nowS() - c.producer.last_heartbeat)} ago` : ''),
				c.producer.status === 'online' ? true : c.producer.status === 'offline' ? false : null]);
		if (c.redis)
			items.push(['redis', c.redis.status, c.redis.status === 'healthy']);
		if (c.database)
			items.push(['database', c.database.status + (c.database.stale ? ' (stale)' : ''), c.database.status === 'connected']);
		if (c.pattern_cache)
			items.push(['cached patterns', String(c.pattern_cache.cached_patterns ?? '–'), null, true]);
		if (c.event_subscriber)
			items.push(['events processed', String(c.event_subscriber.events_processed ?? '–'), null, true]);
	} else {
		items.push(['server', 'unknown', null]);
	}
	const ph = state.pushedHealth;
	if (ph) {
		items.push(['producer report', ph.status || 'received', ph.status === 'healthy' ? true : ph.status ? null : true]);
		const m = ph.metrics || {};
		if (m.cpu_usage != null)
			items.push(['producer cpu / mem', `${pct(m.cpu_usage)} / ${pct(m.memory_usage)}`, null, true]);
		if (m.queue_depth != null)
			items.push(['producer queue', String(m.queue_depth), null, true]);
	}
	$('#health').replaceChildren(...items.map(([k, v, ok, plain]) => h('li', {},
		h('span', { class: 'muted', text: k }), h('span', { class: 'v ' + (plain ? '' : cls(ok)), text: v }))));
}

async function refreshHealth() {
	try {
		state.restHealth = await client.health();
		$('#health-time').textContent = new Date().toLocaleTimeString();
	} catch {
		state.restHealth = { status: 'unreachable', components: {} };
	}
	renderHealth();
}

/* ------------------------------------------------------------ sign in/out */

function saveSession(token, user, expires) {
	try {
		sessionStorage.setItem(STORE_KEY, JSON.stringify({ token, user, expires }));
	} catch { /* private mode: sign in again after a reload */ }
}

function loadSession() {
	try {
		const s = JSON.parse(sessionStorage.getItem(STORE_KEY) || 'null');
		/* Valid, or expired within the hour: getToken renews it (after a
		 * reload, by asking for the password). Older: start signed out. */
		if (s && s.token && s.expires > Date.now() / 1000 - 3600)
			return s;
	} catch { /* ignore */ }
	return null;
}

/* The sign-in dialog: a first sign-in, or (renew) the same user again
 * because the token expired and the password is not in memory. */
function openSignIn(renew = false) {
	const dlg = $('#dlg-signin');
	$('#signin-err').textContent = '';
	$('#dlg-title').textContent = renew ? 'Session expired' : 'Sign in';
	$('#dlg-text').textContent = renew
		? 'Sign in again to keep the live stream: it resumes where it stopped, nothing is lost.'
		: 'Sample users: demo/demo, analyst/analyst';
	const user = $('#si-user');
	if (renew)
		user.value = state.user.username;
	user.readOnly = renew;
	if (!dlg.open)
		dlg.showModal();
	(renew || user.value ? $('#si-pass') : user).focus();
}

async function enterUser(user) {
	state.user = user;
	document.body.classList.add('signed-in');
	$('#who-name').textContent = `signed in as ${user.username}`;
	$('#btn-signin').hidden = true;
	$('#btn-signout').hidden = false;
	$('#btn-filter-save').textContent = 'Save';
	const [, , universes] = await Promise.all([loadPresets(), reloadWatchlists(), client.universes().catch(() => [])]);
	state.universes = universes;
	$('#f-universe').replaceChildren(h('option', { value: '', text: '(none)' }),
		...universes.map((u) => h('option', { value: u.key, text: `${u.key} (${u.count})` })));
	client.subscribe({ id: 'backtests', channel: 'backtests' });
	loadJobs();
	const def = state.presets.find((p) => p.is_default) || state.presets[0];
	await choosePreset(def ? def.id : null);
}

async function enterAnonymous() {
	state.user = null;
	state.presets = [];
	state.presetId = null;
	document.body.classList.remove('signed-in');
	$('#who-name').textContent = 'anonymous · public stream';
	$('#btn-signin').hidden = false;
	$('#btn-signout').hidden = true;
	$('#btn-filter-save').textContent = 'Apply';
	for (const j of state.jobs.values())
		j.li && j.li.remove();
	state.jobs.clear();
	const f = { confidence_min: 0.5 };
	writeFilters(f);
	$('#live-note').textContent = describeFilter(f);
	await subscribeMain({ filter: f }, 'public stream');
}

async function onSignIn(ev) {
	ev.preventDefault();
	const err = $('#signin-err');
	err.textContent = '';
	const btn = $('#btn-signin-go');
	btn.disabled = true;
	const username = $('#si-user').value.trim();
	const password = $('#si-pass').value;
	try {
		if (auth.pending) {
			/* The client waits for a new token (see getToken). */
			const r = await client.authenticate(username, password);
			saveSession(r.token, r.user, r.expires_at);
			auth.password = password;
			const resolve = auth.pending;
			auth.pending = null;
			$('#dlg-signin').close();
			$('#si-pass').value = '';
			resolve(r.token);
			return;
		}
		const r = await client.login(username, password);
		auth.password = password;
		saveSession(r.token, r.user, r.expires_at);
		$('#dlg-signin').close();
		$('#si-pass').value = '';
		await enterUser(r.user);
		announce(`Signed in as ${r.user.username}.`);
	} catch (e) {
		err.textContent = e.message || String(e);
		$('#si-pass').focus();
	} finally {
		btn.disabled = false;
	}
}

/* Closing the dialog (Cancel, Escape) during a renewal gives up: the
 * client then reports 'unauthorized' and the page signs out. */
function onSignInClosed() {
	$('#si-user').readOnly = false;
	if (auth.pending) {
		const resolve = auth.pending;
		auth.pending = null;
		resolve(null);
	}
}

async function signOut(message) {
	try {
		sessionStorage.removeItem(STORE_KEY);
	} catch { /* ignore */ }
	auth.password = null;
	client.logout();
	client.subscribe({ id: 'health', channel: 'health' });
	await enterAnonymous();
	if (message)
		$('#live-note').textContent = message;
	announce(message ? `Signed out: ${message}.` : 'Signed out.');
}

/* On a phone the filter panel is folded (style.css) so the table stays
 * near the top while the focus order stays the reading order. */
function setFilterOpen(open) {
	$('#filters').classList.toggle('open', open);
	const btn = $('#btn-filter-toggle');
	btn.setAttribute('aria-expanded', String(open));
	btn.textContent = open ? 'Hide filter' : 'Show filter';
}

/* ------------------------------------------------------------ wiring */

function wire() {
	buildChips($('#f-types'), PATTERN_TYPES);
	buildChips($('#f-sectors'), SECTORS, (s) => s);
	$('#f-conf').addEventListener('input', () => { $('#f-conf-out').textContent = Number($('#f-conf').value).toFixed(2); });
	$('#filter-form').addEventListener('submit', onFilterSubmit);
	$('#preset-select').addEventListener('change', (e) => {
		if (e.target.value !== 'new')
			choosePreset(Number(e.target.value));
	});
	$('#btn-preset-new').addEventListener('click', onPresetNew);
	$('#btn-preset-delete').addEventListener('click', onPresetDelete);
	$('#btn-wl-new').addEventListener('click', () => editWatchlist(null));
	$('#btn-wl-cancel').addEventListener('click', () => { $('#wl-form').hidden = true; });
	$('#btn-wl-delete').addEventListener('click', onWatchlistDelete);
	$('#wl-form').addEventListener('submit', onWatchlistSubmit);
	$('#bt-form').addEventListener('submit', onBacktestSubmit);
	$('#btn-signin').addEventListener('click', () => openSignIn(false));
	$('#btn-signin-cancel').addEventListener('click', () => $('#dlg-signin').close());
	$('#dlg-signin').addEventListener('close', onSignInClosed);
	$('#signin-form').addEventListener('submit', onSignIn);
	$('#btn-signout').addEventListener('click', () => signOut());
	$('#btn-filter-toggle').addEventListener('click', () => setFilterOpen(!$('#filters').classList.contains('open')));
	for (const th of $$('#tbl th'))
		$('.sort', th).addEventListener('click', () => setSort(th.dataset.sort));
	renderSort();
	linkErrors();
	const end = new Date();
	const start = new Date(end.getTime() - 365 * 86400000);
	$('#bt-end').value = end.toISOString().slice(0, 10);
	$('#bt-start').value = start.toISOString().slice(0, 10);

	client.on('reset', (e) => {
		if (e.sub !== MAIN)
			return;
		state.loading = false;
		resetTable(e.rows);
		/* The initial load is one scan page; more matches keep arriving live. */
		const more = e.total > e.rows.length ? ` · top ${e.rows.length} of ${e.total} by confidence` : '';
		$('#live-sub').textContent = (state.subLabel ? `· ${state.subLabel}` : '') + more;
	});
	client.on('row', (e) => {
		if (e.sub !== MAIN)
			return;
		state.thisSecond++;
		if (e.latencyMs != null) {
			state.latencies.push(e.latencyMs);
			if (state.latencies.length > 50)
				state.latencies.shift();
		}
		upsertRow(e.row, e.isNew);
	});
	client.on('removed', (e) => {
		if (e.sub !== MAIN)
			return;
		if (e.reason === 'removed')
			state.thisSecond++;
		removeRow(e.id);
	});
	client.on('status', (s) => {
		renderStatus(s);
		announceConnection(s);
	});
	client.on('resume', () => renderStatus(null));
	client.on('gap', (e) => {
		renderStatus(null);
		if (e.sub === MAIN)
			announce('Some events could not be replayed: the table was reloaded.');
	});
	client.on('backtest', onBacktest);
	client.on('health', (e) => {
		/* Long-poll has no health channel: the library polls REST instead. */
		if (e.data && e.data.source === 'rest')
			state.restHealth = e.data;
		else
			state.pushedHealth = e.data;
		renderHealth();
	});
	client.on('error', (e) => {
		if (e.sub === MAIN && e.code === 'not_found')
			$('#live-note').textContent = 'this preset no longer exists';
	});
	client.on('subscribed', () => {
		if (client.hello && typeof client.hello.server_time === 'number')
			state.clockSkew = client.hello.server_time - Date.now() / 1000;
	});
	client.on('unauthorized', () => {
		if (state.user)
			signOut('your session expired: sign in again');
	});
}

async function main() {
	wire();
	const s = loadSession();
	if (s) {
		/* Before the first connection: if the stored token is about to
		 * expire, getToken renews it for this user. */
		state.user = s.user;
		client.setToken(s.token, s.user);
	}
	client.subscribe({ id: 'health', channel: 'health' });
	refreshHealth();
	setInterval(refreshHealth, 10000);
	setInterval(everySecond, 1000);
	setInterval(pollJobs, 2000);
	if (s) {
		try {
			await enterUser(s.user);
			return;
		} catch {
			state.user = null;
			client.setToken(null);
		}
	}
	await enterAnonymous();
}

/* For the end-to-end test and the curious: window.tickpushDemo. */
window.tickpushDemo = {
	client, state,
	rowIds: () => [...state.rows.entries()].filter(([, r]) => !r.goneTimer).map(([id]) => id),
};
main();
