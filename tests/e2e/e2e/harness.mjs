// Services for the end-to-end test: a private Redis and PostgreSQL (through
// the repository's fixture scripts), tickpush on a free port serving
// web-demo/, tickpush-sim for the producer's backtest side, and a tiny RESP
// client that publishes events over the Redis unix socket.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const E2E_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const REPO = path.resolve(E2E_DIR, '../..');
export const OUTPUT = path.join(E2E_DIR, 'output');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function findBin(envName, rel) {
	if (process.env[envName])
		return process.env[envName];
	const build = process.env.TP_BUILD_DIR || path.join(REPO, 'build-asan');
	return path.join(build, rel);
}

/* Folder for sockets and data: under the build folder when given (so
 * scripts/test's stale-service cleanup covers it) and short enough for a
 * unix socket path, else a fresh /tmp folder. */
function runDir(name) {
	const build = process.env.TP_BUILD_DIR;
	if (build) {
		const d = path.join(path.resolve(build), name);
		if (d.length < 60) {
			fs.mkdirSync(d, { recursive: true });
			return d;
		}
	}
	return fs.mkdtempSync(path.join(os.tmpdir(), 'tp-e2e-'));
}

function sh(script, args, log) {
	try {
		return execFileSync('bash', [path.join(REPO, script), ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
	} catch (err) {
		throw new Error(`${script} ${args[0]} failed: ${err.stderr || err.message}${log ? `\n(log: ${log})` : ''}`);
	}
}

/* A minimal RESP client: enough for PUBLISH, SET and GET. */
export class Resp {
	constructor(socketPath) {
		this.path = socketPath;
		this.sock = null;
		this.buf = Buffer.alloc(0);
		this.waiters = [];
	}

	async connect() {
		await new Promise((resolve, reject) => {
			this.sock = net.createConnection({ path: this.path }, resolve);
			this.sock.once('error', reject);
		});
		this.sock.on('data', (d) => {
			this.buf = Buffer.concat([this.buf, d]);
			this._drain();
		});
	}

	_drain() {
		for (;;) {
			const i = this.buf.indexOf('\r\n');
			if (i < 0 || !this.waiters.length)
				return;
			const line = this.buf.subarray(0, i).toString();
			let consumed = i + 2;
			let value;
			if (line[0] === '$') {
				const n = Number(line.slice(1));
				if (n < 0) {
					value = null;
				} else {
					if (this.buf.length < consumed + n + 2)
						return;
					value = this.buf.subarray(consumed, consumed + n).toString();
					consumed += n + 2;
				}
			} else if (line[0] === ':') {
				value = Number(line.slice(1));
			} else if (line[0] === '-') {
				value = new Error(line.slice(1));
			} else {
				value = line.slice(1);
			}
			this.buf = this.buf.subarray(consumed);
			const w = this.waiters.shift();
			if (value instanceof Error)
				w.reject(value);
			else
				w.resolve(value);
		}
	}

	command(...args) {
		const parts = [`*${args.length}\r\n`];
		for (const a of args) {
			const s = String(a);
			parts.push(`$${Buffer.byteLength(s)}\r\n${s}\r\n`);
		}
		return new Promise((resolve, reject) => {
			this.waiters.push({ resolve, reject });
			this.sock.write(parts.join(''));
		});
	}

	publish(channel, obj) {
		return this.command('PUBLISH', channel, typeof obj === 'string' ? obj : JSON.stringify(obj));
	}

	close() {
		if (this.sock)
			this.sock.destroy();
	}
}

const usedIds = new Set();

/* A TickStockPL pattern_detected event (shape A of events.md), detected
 * just now; a symbol/pattern pair used before in the same second moves a
 * second back, so every call is a new pattern. Returns the event and the id
 * tickpush gives it (SYMBOL:Pattern_Type:int(detected_at)). */
export function patternEvent({ symbol, pattern = 'Hammer', confidence = 0.8, price = 100, change = 1.0,
	rs = 1.3, vol = 1.6, rsi = 55, tier = 'intraday', ttl = 3600, stamp = true }) {
	const now = Date.now() / 1000;
	let second = Math.floor(now - 0.5);
	while (usedIds.has(`${symbol}:${pattern}:${second}`))
		second--;
	usedIds.add(`${symbol}:${pattern}:${second}`);
	const detected = second + 0.25;
	const data = {
		symbol, pattern, confidence, current_price: price, price_change: change,
		timestamp: detected, expires_at: now + ttl,
		indicators: { relative_strength: rs, relative_volume: vol, rsi, sma_20: price * 0.98 },
		source: tier, tier,
	};
	if (stamp)
		data.published_at = now;
	return {
		event: { event_type: 'pattern_detected', source: 'TickStockPL', timestamp: now, data },
		id: `${symbol}:${pattern}:${Math.floor(detected)}`,
	};
}

export class Services {
	/* runName: the run folder's name, distinct per test file (node --test
	 * may run files side by side). */
	constructor({ runName = 'e2e-run' } = {}) {
		this.runName = runName;
		this.dir = null;
		this.procs = [];
		this.port = null;
		this.baseUrl = null;
		this.redis = null;
		this.started = { redis: false, pg: false };
		this.stopped = null;
	}

	get redisSocket() { return path.join(this.dir, 'redis.sock'); }
	get databaseUri() { return `postgresql://tickpush@/tickpush?host=${path.join(this.dir, 'pg', 'pg')}&port=${process.env.TP_PG_PORT || 54329}`; }

	async start({ sim = true } = {}) {
		fs.mkdirSync(OUTPUT, { recursive: true });
		this.dir = runDir(this.runName);
		const bin = findBin('TICKPUSH_BIN', 'server/tickpush');
		const simBin = findBin('TICKPUSH_SIM_BIN', 'tools/tickpush-sim');
		if (!fs.existsSync(bin))
			throw new Error(`tickpush binary not found at ${bin} (set TICKPUSH_BIN or TP_BUILD_DIR)`);

		sh('tests/fixtures/redis.sh', ['start', this.dir]);
		this.started.redis = true;
		sh('tests/fixtures/pg.sh', ['start', path.join(this.dir, 'pg'),
			path.join(REPO, 'server/sql/schema.sql'), path.join(REPO, 'server/sql/sample.sql')]);
		this.started.pg = true;

		this.bin = bin;
		await this.startServer('tickpush', 0);

		this.redis = new Resp(this.redisSocket);
		await this.redis.connect();
		if (sim && fs.existsSync(simBin)) {
			/* The producer's other duties: heartbeat, health reports and
			 * the backtest side. Its own pattern stream is nearly off so
			 * the test controls every pattern the page sees. */
			this.spawn('tickpush-sim', simBin, ['--socket', this.redisSocket, '--rate', '0.0001',
				'--health-interval', '2', '--seed', '7', '-q']);
		}
	}

	/* The main tickpush on `port` (0 = any free one, then remembered). */
	async startServer(name, port) {
		const s = await this.launch(name, port);
		this.server = s.proc;
		this.port = s.port;
		this.baseUrl = s.baseUrl;
	}

	/* A tickpush on the same Redis and PostgreSQL, with extra settings
	 * (e.g. TICKPUSH_TOKEN_TTL), ready to serve: {proc, port, baseUrl}. */
	async launch(name, port = 0, env = {}) {
		const portFile = path.join(this.dir, `${name}.port`);
		fs.rmSync(portFile, { force: true });
		const proc = this.spawn(name, this.bin, [], {
			TICKPUSH_PORT: String(port),
			TICKPUSH_PORT_FILE: portFile,
			TICKPUSH_BIND: '127.0.0.1',
			TICKPUSH_WEB_DEMO_DIR: path.join(REPO, 'web-demo'),
			TICKPUSH_REDIS_SOCKET: this.redisSocket,
			DATABASE_URI: this.databaseUri,
			TICKPUSH_JWT_SECRET: 'e2e-secret-0123456789abcdef0123456789abcdef',
			...env,
		});
		let got = null;
		for (let i = 0; i < 300 && !got; i++) {
			this.checkAlive();
			try {
				const p = Number(fs.readFileSync(portFile, 'utf8').trim());
				if (p > 0)
					got = p;
			} catch { /* not yet */ }
			if (!got)
				await sleep(100);
		}
		if (!got)
			throw new Error(`${name} did not write its port file`);
		const baseUrl = `http://127.0.0.1:${got}`;
		await this.waitHttp('/healthz', baseUrl);
		/* The symbol directory (PostgreSQL) must be loaded for watchlists. */
		await this.waitFor(async () => {
			const r = await fetch(`${baseUrl}/api/symbols/AAPL`);
			return r.ok;
		}, 'symbols directory loaded');
		await this.waitHttp('/readyz', baseUrl);
		return { proc, port: got, baseUrl };
	}

	/* Stops tickpush (SIGTERM) and starts it again on the same port: its
	 * history (and so the epoch) is gone, the Redis cache warms it. */
	async restartServer() {
		const old = this.server;
		const port = this.port;
		old.stopping = true;
		old.kill('SIGTERM');
		await new Promise((r) => (old.exitInfo ? r() : old.once('exit', r)));
		await this.startServer('tickpush-restarted', port);
		return old.exitInfo;
	}

	/* Its log: named after the run too when the run is not the default
	 * one, so test files run side by side do not write the same file. */
	logPath(name) {
		const base = this.runName === 'e2e-run' ? name : `${this.runName}-${name}`;
		return path.join(OUTPUT, `${base}.log`);
	}

	spawn(name, bin, args, env = {}) {
		const log = fs.openSync(this.logPath(name), 'w');
		/* tickpush refuses TICKPUSH_* variables that are not its options
		 * (typos fail loudly), and scripts/test exports TICKPUSH_BIN and
		 * TICKPUSH_SIM_BIN for this harness: pass on only what we set. */
		const inherited = Object.fromEntries(Object.entries(process.env)
			.filter(([k]) => !k.startsWith('TICKPUSH_')));
		const child = spawn(bin, args, {
			env: { ...inherited, ...env }, stdio: ['ignore', log, log], cwd: REPO,
		});
		fs.closeSync(log);
		child.tpName = name;
		child.exitInfo = null;
		child.on('exit', (code, signal) => { child.exitInfo = { code, signal }; });
		this.procs.push(child);
		return child;
	}

	checkAlive() {
		for (const c of this.procs) {
			if (c.exitInfo && !c.stopping)
				throw new Error(`${c.tpName} exited (${JSON.stringify(c.exitInfo)}); see ${this.logPath(c.tpName)}`);
		}
	}

	async waitHttp(p, baseUrl = this.baseUrl) {
		await this.waitFor(async () => {
			try {
				return (await fetch(baseUrl + p)).ok;
			} catch {
				return false;
			}
		}, `GET ${p}`);
	}

	async waitFor(fn, what, ms = 30000) {
		const end = Date.now() + ms;
		while (Date.now() < end) {
			this.checkAlive();
			if (await fn())
				return;
			await sleep(100);
		}
		throw new Error(`timed out waiting for ${what}`);
	}

	async api(method, p, body, token) {
		const headers = { 'Content-Type': 'application/json' };
		if (token)
			headers.Authorization = `Bearer ${token}`;
		const r = await fetch(this.baseUrl + p, { method, headers, body: body ? JSON.stringify(body) : undefined });
		const json = await r.json();
		if (!r.ok)
			throw new Error(`${method} ${p}: ${r.status} ${JSON.stringify(json)}`);
		return json;
	}

	async publishPattern(spec) {
		const { event, id } = patternEvent(spec);
		const receivers = await this.redis.publish('tickstock.events.patterns', event);
		if (receivers < 1)
			throw new Error('nobody subscribed to tickstock.events.patterns');
		return id;
	}

	/* Stops everything (idempotent); returns how each process ended. */
	async stop() {
		if (this.stopped)
			return this.stopped;
		if (this.redis)
			this.redis.close();
		for (const c of this.procs.reverse()) {
			if (c.exitInfo)
				continue;
			c.stopping = true;
			c.kill('SIGTERM');
			const gone = await Promise.race([
				new Promise((r) => c.once('exit', () => r(true))),
				sleep(10000).then(() => false),
			]);
			if (!gone)
				c.kill('SIGKILL');
		}
		const ended = Object.fromEntries(this.procs.map((c) => [c.tpName, c.exitInfo]));
		this.stopped = ended;
		try {
			if (this.started.pg)
				sh('tests/fixtures/pg.sh', ['stop', path.join(this.dir, 'pg')]);
		} finally {
			if (this.started.redis)
				sh('tests/fixtures/redis.sh', ['stop', this.dir]);
		}
		return ended;
	}
}
