/*
 * app.js - the tickpush demo page. Everything live goes through the client
 * library (tickpush.js); this file only renders: the live table, the
 * preset/watchlist editors, the status bar, charts, backtests and health.
 *
 * URL options (for trying things out): ?transports=sse,poll limits the
 * transports the client may use, in that order.
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
const client = new TickpushClient({ baseUrl: '', transports: transports.length ? transports : undefined });

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
		th.classList.toggle('sorted', th.dataset.sort === state.sort.key);
		th.classList.toggle('asc', th.dataset.sort === state.sort.key && state.sort.dir === 'asc');
	}
	scheduleSort();
}

/* ------------------------------------------------------------ status bar */

function renderStatus(st) {
	const s = st || { state: client.state, transport: client.transportName };
	$('#conn-dot').className = 'dot ' + s.state;
	let label = s.state;
	if (s.state === 'reconnecting' && s.delayMs != null)
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
	$('#st-rate').textContent = (last.reduce((a, b) => a + b, 0) / Math.max(1, last.length)).toFixed(1);
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
	}
}

/* ------------------------------------------------------------ forms */

function clearErrors(form) {
	for (const f of $$('.field', form))
		f.classList.remove('invalid');
	for (const e of $$('.err', form))
		e.textContent = '';
}

/* The server names the field it rejects: show its message next to it. */
function showError(form, err) {
	const field = err && err.field ? String(err.field).replace(/^filters\./, '') : null;
	let msg = err && err.message ? err.message : String(err);
	const box = field && $(`.field[data-field="${field}"]`, form);
	if (box && !box.closest('[hidden]') && getComputedStyle(box).display !== 'none') {
		msg = msg.replace(/^[\w.]+: /, '');
		box.classList.add('invalid');
		$('.err', box).textContent = msg;
		const input = $('input, select, textarea', box);
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
	$('#wl-list').replaceChildren(...state.watchlists.map((w) => h('li', {
		'data-id': w.id, onclick: () => editWatchlist(w),
	}, h('span', { text: w.name }), h('span', { class: 'syms', text: w.symbols.join(' ') }))));
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
	} catch (err) {
		showError($('#wl-form'), err);
	}
}

/* ------------------------------------------------------------ backtests */

function jobLi(job) {
	const li = h('li', { 'data-job': job.job_id },
		h('div', { class: 'head' }, h('span', { class: 'id', text: job.job_id }), h('span', { class: 'st' })),
		h('div', { class: 'progress' }, h('i')),
		h('div', { class: 'detail small muted' }),
		h('div', { class: 'results' }));
	return li;
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
	const final = ['completed', 'failed', 'cancelled'].includes(status);
	let p = typeof d.progress === 'number' ? d.progress : 0;
	if (p > 1)
		p /= 100;
	if (status === 'completed')
		p = 1;
	j.li.className = status === 'completed' ? 'done' : final ? 'failed' : '';
	j.li.dataset.status = status;
	$('.st', j.li).textContent = final ? status : `${Math.round(p * 100)}%`;
	$('.st', j.li).className = `st status-${status}`;
	$('.progress i', j.li).style.width = `${Math.round(p * 100)}%`;
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
	if (!e.final && ['completed', 'failed', 'cancelled'].includes(j.data.status))
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
		if (['completed', 'failed', 'cancelled'].includes(st) || Date.now() - (j.lastEvent || 0) < 4000)
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
		if (s && s.token && s.expires > Date.now() / 1000 + 60)
			return s;
	} catch { /* ignore */ }
	return null;
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
	try {
		const r = await client.login($('#si-user').value.trim(), $('#si-pass').value);
		saveSession(r.token, r.user, r.expires_at);
		$('#dlg-signin').close();
		$('#si-pass').value = '';
		await enterUser(r.user);
	} catch (e) {
		err.textContent = e.message || String(e);
	} finally {
		btn.disabled = false;
	}
}

async function signOut(message) {
	try {
		sessionStorage.removeItem(STORE_KEY);
	} catch { /* ignore */ }
	client.logout();
	client.subscribe({ id: 'health', channel: 'health' });
	await enterAnonymous();
	if (message)
		$('#live-note').textContent = message;
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
	$('#btn-signin').addEventListener('click', () => { $('#signin-err').textContent = ''; $('#dlg-signin').showModal(); $('#si-pass').focus(); });
	$('#btn-signin-cancel').addEventListener('click', () => $('#dlg-signin').close());
	$('#signin-form').addEventListener('submit', onSignIn);
	$('#btn-signout').addEventListener('click', () => signOut());
	for (const th of $$('#tbl th'))
		th.addEventListener('click', () => setSort(th.dataset.sort));
	renderSort();
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
	client.on('status', renderStatus);
	client.on('resume', () => renderStatus(null));
	client.on('gap', () => renderStatus(null));
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
	client.subscribe({ id: 'health', channel: 'health' });
	refreshHealth();
	setInterval(refreshHealth, 10000);
	setInterval(everySecond, 1000);
	setInterval(pollJobs, 2000);
	const s = loadSession();
	if (s) {
		client.setToken(s.token, s.user);
		try {
			await enterUser(s.user);
			return;
		} catch {
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
