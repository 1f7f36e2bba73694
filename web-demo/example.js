// @ts-check
/*
 * example.js - the smallest useful page on top of tickpush.js (and nothing
 * else): sign in, subscribe with an inline filter, render what arrives.
 * Type-checked against tickpush.d.ts (tests/e2e: npm test runs tsc).
 *
 * Tokens: the page gives the client a token provider (getToken). The
 * client asks it before connecting when it holds no token (here: null,
 * anonymous) and when the server refuses or expires the token; the page
 * then shows the sign-in form again and answers with the new token once
 * the user has signed in, so the stream resumes instead of dying. The
 * password is never kept.
 */
import { TickpushClient, ApiError } from './tickpush.js';

/** @typedef {import('./tickpush.js').PatternRow} PatternRow */
/** @typedef {import('./tickpush.js').TokenRequest} TokenRequest */

/** @param {string} id */
function byId(id) {
	const el = document.getElementById(id);
	if (!el)
		throw new Error(`#${id} missing`);
	return el;
}
/** @param {string} id */
const input = (id) => /** @type {HTMLInputElement} */ (byId(id));

/** A sign-in the client is waiting for (its token expired), if any.
 * @type {((token: string | null) => void) | null} */
let renewal = null;

/** @param {TokenRequest} req */
function getToken(req) {
	if (req.reason === 'connect')
		return null; /* not signed in: the public stream */
	/* Expired or refused: ask the user, and let the stream wait. */
	renewal?.(null);
	byId('signin-title').textContent = 'Your session expired: sign in again to go on';
	showSignIn(true);
	input('pass').focus();
	return new Promise((resolve) => { renewal = resolve; });
}

const client = new TickpushClient({ getToken });

/** @type {Map<string, PatternRow>} */
const rows = new Map();
let drawDue = false;

function draw() {
	drawDue = false;
	const list = [...rows.values()].sort((a, b) => (b.detected_at ?? 0) - (a.detected_at ?? 0));
	byId('rows').replaceChildren(...list.map((r) => {
		const tr = document.createElement('tr');
		tr.dataset.id = r.id;
		const cells = [r.symbol, r.pattern_type, r.confidence.toFixed(2), r.price ?? '',
			r.detected_at ? new Date(r.detected_at * 1000).toLocaleTimeString() : ''];
		cells.forEach((text, i) => {
			const td = document.createElement('td');
			td.textContent = String(text);
			if (i === 2 || i === 3)
				td.className = 'num';
			tr.append(td);
		});
		return tr;
	}));
	byId('count').textContent = String(rows.size);
}

function redraw() {
	if (!drawDue) {
		drawDue = true;
		requestAnimationFrame(draw);
	}
}

client.on('reset', (e) => {
	rows.clear();
	for (const r of e.rows)
		rows.set(r.id, r);
	redraw();
});
client.on('row', (e) => {
	rows.set(e.row.id, e.row);
	redraw();
});
client.on('removed', (e) => {
	rows.delete(e.id);
	redraw();
});
/* Announce the connection state when it changes, not on every event. */
client.on('status', (e) => {
	const text = e.state === 'open' ? `live via ${e.transport}` : e.state;
	if (byId('status').textContent !== text)
		byId('status').textContent = text;
});
client.on('unauthorized', () => signedOut('Signed out: the session could not be renewed.'));
/* The server refused something on the stream (e.g. a filter): say so. */
client.on('error', (e) => {
	if (e.sub === 'main')
		byId('filter-msg').textContent = e.message;
});

/** @param {boolean} on */
function showSignIn(on) {
	byId('signin').hidden = !on;
	byId('who').hidden = on;
}

/** @param {string} message */
function signedOut(message) {
	showSignIn(true);
	byId('signin-title').textContent = 'Sign in';
	byId('signin-msg').textContent = message;
}

byId('signin').addEventListener('submit', async (ev) => {
	ev.preventDefault();
	byId('signin-msg').textContent = '';
	const user = input('user').value.trim();
	const pass = input('pass').value;
	try {
		if (renewal) {
			/* The client is waiting for a new token: hand it over. */
			const r = await client.authenticate(user, pass);
			const done = renewal;
			renewal = null;
			done(r.token);
			byId('who-name').textContent = r.user.username;
		} else {
			const r = await client.login(user, pass);
			byId('who-name').textContent = r.user.username;
		}
		input('pass').value = '';
		showSignIn(false);
	} catch (err) {
		byId('signin-msg').textContent = err instanceof Error ? err.message : String(err);
	}
});

byId('signout').addEventListener('click', () => {
	client.setToken(null);
	signedOut('');
});

/** Subscribes with the form's inline filter; a 400 names the field. */
async function subscribe() {
	byId('filter-msg').textContent = '';
	const symbols = input('symbols').value.split(/[\s,]+/).filter(Boolean).map((s) => s.toUpperCase());
	const conf = input('conf').value.trim();
	/* A number goes as a number; anything else as typed, so the server's
	 * message (naming the field) is what the user reads. */
	const confidence = conf === '' ? 0.5 : Number.isFinite(Number(conf)) ? Number(conf) : conf;
	try {
		await client.subscribe({ id: 'main', filter: { symbols, confidence_min: confidence } });
	} catch (err) {
		const msg = err instanceof ApiError && err.field ? `${err.field}: ${err.message.replace(/^[\w.]+: /, '')}` : String(err);
		byId('filter-msg').textContent = msg;
		if (err instanceof ApiError && err.field === 'confidence_min')
			input('conf').setAttribute('aria-invalid', 'true');
		return;
	}
	input('conf').removeAttribute('aria-invalid');
}

byId('filter').addEventListener('submit', (ev) => {
	ev.preventDefault();
	subscribe();
});

subscribe();

/* For the end-to-end test. */
Object.assign(window, { tickpushExample: { client, rows } });
