// Compile-time checks of web-demo/tickpush.d.ts (tsc --noEmit, part of
// npm test): the calls a dashboard makes type-check, and misuse does not
// (each @ts-expect-error fails the build if the line stops being an error).
import TickpushClientDefault, {
	TickpushClient, ApiError, tokenExpiry, filterToParams, backoffDelay, PROTOCOL,
	type TokenProvider, type PatternRow, type Position, type Subscription, type ClientEvents,
} from '../../../web-demo/tickpush.js';

const renew: TokenProvider = async ({ reason, token }) => {
	if (reason === 'connect')
		return null;
	const r = await new TickpushClient().authenticate('demo', 'demo');
	return r.token !== token ? r.token : null;
};

const tp = new TickpushClientDefault({ baseUrl: 'http://127.0.0.1:8080', getToken: renew, transports: ['ws', 'poll'] });
const sync = new TickpushClient({ getToken: () => 'a-token', tokenInUrl: true, tokenMarginMs: 2000 });
void sync;

const rows = new Map<string, PatternRow>();
const off: () => void = tp.on('row', (e) => {
	const conf: number = e.row.confidence;
	const latency: number | null = e.latencyMs;
	rows.set(e.row.id, e.row);
	void conf;
	void latency;
});
off();
tp.on('reset', (e) => e.rows.forEach((r) => rows.set(r.id, r)));
tp.on('removed', (e) => { if (e.reason !== 'trimmed') rows.delete(e.id); });
tp.on('status', (e) => { const s: 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed' = e.state; void s; void e.stats.renewals; });
tp.on('unauthorized', (e) => { const why: 'expired' | 'unauthorized' = e.reason; void why; });
tp.on('error', (e) => { if (e.code === 'token_failed') console.warn(e.message); });
tp.once('gap', (e: ClientEvents['gap']) => { const p: Position = { epoch: e.epoch, seq: e.seq }; void p; });

async function run(): Promise<void> {
	const sub: Subscription = await tp.subscribe({ id: 'main', filter: { symbols: ['AAPL'], confidence_min: 0.8, rsi_range: [30, 70] } });
	await tp.subscribe({ id: 'main', presetId: 7 });
	tp.subscribe({ id: 'bt', channel: 'backtests' });
	const pos: Position | null = tp.position(sub.id);
	void pos;
	const presets = await tp.listPresets();
	await tp.updatePreset(presets[0].id, { name: presets[0].name, filters: presets[0].filters });
	const job = await tp.submitBacktest({ symbols: ['AAPL'], patterns: ['Doji'], start_date: '2024-01-01', end_date: '2024-06-30' });
	await tp.cancelBacktest(job.job_id);
	try {
		await tp.createWatchlist({ name: 'x', symbols: [] });
	} catch (err) {
		if (err instanceof ApiError && err.field)
			console.warn(err.status, err.field, err.message);
	}
	const exp: number | null = tokenExpiry(tp.token);
	void exp;
	const q: URLSearchParams = filterToParams({ pattern_types: ['Hammer'] });
	void q;
	void backoffDelay(3, { min: 100 });
	const proto: 'tickpush.v1' = PROTOCOL;
	void proto;
}
void run;

// @ts-expect-error: unknown event
tp.on('rows', () => {});
// @ts-expect-error: a row event carries a row, not rows
tp.on('row', (e) => e.rows);
// @ts-expect-error: getToken answers with a string (or null), not an object
new TickpushClient({ getToken: () => ({ token: 'x' }) });
// @ts-expect-error: not a transport
new TickpushClient({ transports: ['carrier-pigeon'] });
// @ts-expect-error: presetId is a number
tp.subscribe({ presetId: 'seven' });
// @ts-expect-error: the token is read-only: setToken re-makes the stream
tp.token = 'x';
