/*
 * Type declarations for tickpush.js, the tickpush browser client (ES
 * module). They describe the public API documented in docs/client.md;
 * tests/e2e checks them with `tsc --noEmit` (npm test), and a unit test
 * checks that every runtime export and client method is declared here.
 * Server objects (rows, presets, jobs) are typed with the members the
 * server documents; unknown members may appear (read liberally).
 */

export const PROTOCOL: 'tickpush.v1';
export const VERSION: string;

/* ------------------------------------------------------------ data */

/** A stream position: the server's history (`epoch`) and event number (`seq`). */
export interface Position {
	epoch: string;
	seq: number;
}

/** A pattern row, as in GET /api/patterns/scan and `pattern` frames. */
export interface PatternRow {
	id: string;
	symbol: string;
	pattern: string;
	pattern_type: string;
	conf?: number;
	confidence: number;
	rs?: string;
	vol?: string;
	price?: string;
	chg?: string;
	time?: string;
	exp?: string;
	source?: string;
	current_price?: number;
	price_change?: number;
	detected_at?: number;
	expires_at?: number;
	indicators?: { relative_strength?: number; relative_volume?: number; rsi?: number; [k: string]: unknown };
	[k: string]: unknown;
}

/** An inline filter: the same schema as a saved preset's `filters`. */
export interface Filter {
	pattern_types?: string[] | string;
	symbols?: string[] | string;
	sectors?: string[] | string;
	confidence_min?: number | string;
	rs_min?: number | string;
	vol_min?: number | string;
	rsi_range?: [number, number] | string;
	timeframe?: 'All' | 'Daily' | 'Intraday' | 'Combo';
	watchlist_id?: number;
	universe?: string;
}

export interface Preset {
	id: number;
	name: string;
	filters: Filter;
	is_default: boolean;
	created_at?: string | number;
	updated_at?: string | number;
}

export interface PresetInput {
	name: string;
	filters: Filter;
	is_default?: boolean;
}

export interface Watchlist {
	id: number;
	name: string;
	symbols: string[];
	created_at?: string | number;
	updated_at?: string | number;
}

export interface WatchlistInput {
	name: string;
	symbols: string[];
}

export interface Universe {
	key: string;
	description?: string;
	count: number;
	category?: string;
	[k: string]: unknown;
}

export interface BacktestRequest {
	symbols: string[];
	patterns: string[];
	start_date: string;
	end_date: string;
	parameters?: Record<string, unknown>;
}

export interface BacktestJob {
	job_id: string;
	status?: string;
	progress?: number | null;
	results?: Record<string, unknown> | null;
	[k: string]: unknown;
}

export interface User {
	id: number;
	username: string;
}

export interface LoginAnswer {
	token: string;
	/** Seconds since the epoch. */
	expires_at: number;
	user: User;
}

export interface ScanAnswer {
	patterns: PatternRow[];
	pagination?: { page: number; per_page: number; total: number; pages: number };
	stream?: Position;
	[k: string]: unknown;
}

/** A frame in the WebSocket shape (every transport hands these to the client). */
export interface Frame {
	type: string;
	seq?: number | null;
	subs?: string[];
	id?: string | null;
	data?: any;
	[k: string]: any;
}

/* ------------------------------------------------------------ tokens */

/**
 * Why getToken is asked:
 * - `connect`: the client holds no token and is about to connect
 *   (answer null to connect anonymously);
 * - `expired`: the token expired (close 4001) or will within
 *   `tokenMarginMs` by the server's clock;
 * - `unauthorized`: the server refused it (HTTP 401, a refused auth frame).
 */
export type TokenReason = 'connect' | 'expired' | 'unauthorized';

export interface TokenRequest {
	reason: TokenReason;
	/** The token that expired or was refused; null for `connect`. */
	token: string | null;
}

/**
 * Returns the token to use (a new one after `expired`/`unauthorized`), or
 * null/undefined for none: anonymous at `connect`; after a refusal, the
 * session is over (`unauthorized` event). Throwing means "failed, try again
 * later": the client retries with backoff (and emits `error`, code
 * `token_failed`). It is never called from inside a client method (always
 * after a microtask), so code that signs in and sets state may finish first.
 */
export type TokenProvider = (req: TokenRequest) => string | null | undefined | Promise<string | null | undefined>;

/* ------------------------------------------------------------ options */

export type TransportName = 'ws' | 'sse' | 'poll';

export interface BackoffOptions {
	min?: number;
	max?: number;
	factor?: number;
	jitter?: number;
}

export interface Timers {
	setTimeout(fn: () => void, ms: number): unknown;
	clearTimeout(id: unknown): void;
	setInterval(fn: () => void, ms: number): unknown;
	clearInterval(id: unknown): void;
}

export interface TransportContext {
	client: TickpushClient;
	onOpen(info: { hello?: Frame }): void;
	onFrame(frame: Frame): void;
	onClose(info: { opened?: boolean; code?: number; reason?: string; unauthorized?: boolean; byClient?: boolean }): void;
}

export interface SubscribeRequest {
	id: string;
	channel: Channel;
	presetId: number | null;
	filter: Filter | null;
	since?: Position;
}

export interface Transport {
	name: string;
	open(): void;
	subscribe(req: SubscribeRequest): void;
	unsubscribe(id: string): void;
	close(): void;
}

export type TransportFactory = (ctx: TransportContext) => Transport;

export interface ClientOptions {
	/** Server URL, e.g. `http://127.0.0.1:8080`; '' = same origin. */
	baseUrl?: string;
	/** A token to start with (e.g. from /api/auth/login). */
	token?: string | null;
	user?: User | null;
	/** Where fresh tokens come from: asked at connect and when the token expires or is refused. */
	getToken?: TokenProvider | null;
	/**
	 * Put the token in WebSocket and EventSource URLs (`?token=`) instead
	 * of the auth frame / Authorization header. Only for servers that
	 * require a token on the WebSocket upgrade (TICKPUSH_REQUIRE_AUTH) or
	 * browsers without fetch streaming; URLs end up in proxy logs.
	 */
	tokenInUrl?: boolean;
	/** A token expiring within this many ms (JWT exp) is renewed before connecting. Default 1000. */
	tokenMarginMs?: number;
	transports?: TransportName[];
	backoff?: BackoffOptions;
	failuresBeforeFallback?: number;
	upgradeAfterMs?: number;
	scanLimit?: number;
	maxRows?: number;
	helloTimeoutMs?: number;
	pingIntervalMs?: number;
	pongTimeoutMs?: number;
	pollTimeoutS?: number;
	sweepIntervalMs?: number;
	fetch?: typeof fetch;
	WebSocket?: typeof WebSocket | null;
	EventSource?: typeof EventSource | null;
	timers?: Partial<Timers>;
	now?: () => number;
	random?: () => number;
	transportFactories?: Partial<Record<TransportName, TransportFactory>>;
}

/* ------------------------------------------------------------ subscriptions */

export type Channel = 'patterns' | 'backtests' | 'health';

export interface SubscribeSpec {
	/** Your name for it; subscribing the same id again replaces it. */
	id?: string;
	channel?: Channel;
	/** One of the signed-in user's presets (patterns only). */
	presetId?: number | null;
	/** An inline filter (patterns only). */
	filter?: Filter | null;
	/** Rows in the initial load (1..100). */
	limit?: number;
}

export interface Subscription {
	readonly id: string;
	readonly channel: Channel;
	readonly presetId: number | null;
	readonly filter: Filter | null;
	readonly rows: Map<string, PatternRow>;
	readonly epoch: string | null;
	readonly seq: number | null;
	readonly loading: boolean;
	readonly onServer: boolean;
}

export type ConnectionState = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed';

export interface Stats {
	events: number;
	duplicates: number;
	resumes: number;
	gaps: number;
	reconnects: number;
	fallbacks: number;
	/** Tokens replaced by getToken after they expired or were refused. */
	renewals: number;
	lastLatencyMs: number | null;
}

/* ------------------------------------------------------------ events */

export interface ClientEvents {
	reset: { sub: string; rows: PatternRow[]; position: Position | null; total: number };
	row: { sub: string; row: PatternRow; isNew: boolean; seq: number | null | undefined; latencyMs: number | null };
	removed: { sub: string; id: string; reason: 'removed' | 'expired' | 'trimmed'; seq?: number | null };
	status: {
		state: ConnectionState;
		transport: TransportName | null;
		delayMs?: number;
		code?: number;
		reason?: string;
		/** Waiting for getToken before connecting. */
		authenticating?: boolean;
		stats: Stats;
	};
	subscribed: { sub: string; transport: TransportName | null; recovered?: boolean };
	resume: { sub: string; transport: TransportName | null; position: Position | null };
	gap: { sub: string; epoch: string; seq: number; transport: TransportName | null };
	fallback: { from: TransportName | null; to: TransportName };
	upgrade: { from: TransportName | null; to: TransportName };
	backtest: { type: 'backtest_progress' | 'backtest_result'; final: boolean; data: BacktestJob; seq?: number };
	health: { data: Record<string, any>; seq?: number };
	/** Server error frames; `reload_failed`; `token_failed` (getToken threw). */
	error: { sub: string | null; code: string; message: string };
	/** A token was set, cleared or renewed (`reason` = why getToken was asked). */
	auth: { user: User | null; reason?: TokenReason };
	/** The token was refused or expired and no new one came: signed out. */
	unauthorized: { path: string | null; reason: 'expired' | 'unauthorized' };
}

export type EventName = keyof ClientEvents;

export class Emitter<Events extends object = Record<string, any>> {
	on<K extends keyof Events & string>(type: K, fn: (detail: Events[K]) => void): () => void;
	off<K extends keyof Events & string>(type: K, fn: (detail: Events[K]) => void): void;
	once<K extends keyof Events & string>(type: K, fn: (detail: Events[K]) => void): () => void;
	emit<K extends keyof Events & string>(type: K, detail: Events[K]): void;
}

/* ------------------------------------------------------------ errors */

export class ApiError extends Error {
	constructor(status: number, body?: any, fallback?: string);
	/** HTTP status; 0 = network error. */
	status: number;
	/** The server's JSON answer, if any. */
	body: any;
	/** The field the server names (e.g. `confidence_min`), for showing the message next to it. */
	field: string | null;
	cause?: unknown;
}

/* ------------------------------------------------------------ the client */

export interface RequestOptions {
	anonymous?: boolean;
	okStatuses?: number[];
	signal?: AbortSignal;
}

export class TickpushClient extends Emitter<ClientEvents> {
	constructor(opts?: ClientOptions);

	readonly opts: Required<Pick<ClientOptions, 'transports' | 'failuresBeforeFallback' | 'upgradeAfterMs' |
		'scanLimit' | 'maxRows' | 'tokenMarginMs' | 'tokenInUrl'>> & ClientOptions;
	readonly baseUrl: string;
	/** The current token (null: anonymous). Change it with setToken. */
	readonly token: string | null;
	readonly user: User | null;
	readonly state: ConnectionState;
	readonly transportName: TransportName | null;
	/** The last WebSocket hello frame. */
	readonly hello: Frame | null;
	readonly stats: Stats;
	readonly subs: ReadonlyMap<string, Subscription>;

	/* REST */
	request<T = any>(method: string, path: string, body?: unknown, extra?: RequestOptions): Promise<T>;
	/** POST /api/auth/login without adopting the token (for a getToken provider). */
	authenticate(username: string, password: string): Promise<LoginAnswer>;
	/** authenticate, then setToken. */
	login(username: string, password: string): Promise<LoginAnswer>;
	/** A new identity (null: anonymous); a live stream is re-made. */
	setToken(token: string | null, user?: User | null): void;
	logout(): void;
	scan(params?: Record<string, string> | URLSearchParams): Promise<ScanAnswer>;
	listPresets(): Promise<Preset[]>;
	createPreset(p: PresetInput): Promise<Preset>;
	updatePreset(id: number, p: PresetInput): Promise<Preset>;
	deletePreset(id: number): Promise<unknown>;
	listWatchlists(): Promise<Watchlist[]>;
	createWatchlist(w: WatchlistInput): Promise<Watchlist>;
	updateWatchlist(id: number, w: WatchlistInput): Promise<Watchlist>;
	deleteWatchlist(id: number): Promise<unknown>;
	universes(): Promise<Universe[]>;
	symbols(search?: string, limit?: number): Promise<{ symbols: Array<{ symbol: string; name?: string; sector?: string; [k: string]: unknown }>; count: number }>;
	submitBacktest(job: BacktestRequest): Promise<BacktestJob>;
	listBacktests(): Promise<{ backtests?: BacktestJob[]; jobs?: BacktestJob[]; [k: string]: unknown }>;
	getBacktest(id: string): Promise<BacktestJob>;
	/** DELETE /api/backtests/<id>: 202 {job_id, status: 'cancel_requested'}; the result follows as a backtest event. */
	cancelBacktest(id: string): Promise<{ job_id: string; status: string }>;
	health(): Promise<Record<string, any>>;
	performance(): Promise<Record<string, any>>;
	summary(): Promise<Record<string, any>>;

	/* streaming */
	/** Resolves after the initial load (patterns), with the subscription. */
	subscribe(spec?: SubscribeSpec): Promise<Subscription>;
	unsubscribe(id: string): void;
	connect(): void;
	close(): void;
	rows(id?: string): PatternRow[];
	position(id?: string): Position | null;
	/** Removes rows whose expires_at has passed (runs every sweepIntervalMs). */
	sweep(nowMs?: number): void;
}

export default TickpushClient;

/* ------------------------------------------------------------ helpers */

export function backoffDelay(attempt: number, opts?: BackoffOptions, random?: () => number): number;
export function filterToParams(filter?: Filter): URLSearchParams;
export function subParams(sub: { presetId?: number | null; filter?: Filter | null }): URLSearchParams;
export function formatPosition(pos: Position): string;
export function parsePosition(s: string): Position | null;
/** When the producer published the event (seconds since the epoch, `published_at`), or null. */
export function publishedAt(frame: Frame | null | undefined): number | null;
export function sseToFrame(eventName: string, dataText: string, lastEventId: string, subId: string): Frame | null;
export function pollToFrames(body: unknown, subId: string, epoch: string | null): Frame[];
/** A JWT's exp claim (seconds since the epoch), or null. Not verified. */
export function tokenExpiry(token: string | null | undefined): number | null;
/** A text/event-stream parser: feed text; it calls dispatch for every complete event. */
export function sseParser(dispatch: (type: string, data: string, lastEventId: string) => void): (chunk: string) => void;

/** EventSource over fetch, for streams that need headers. */
export class FetchEventSource {
	constructor(url: string, init: { fetch: typeof fetch; headers?: Record<string, string> });
	readonly url: string;
	/** HTTP status of the answer (401: token refused); 0 before it. */
	readonly status: number;
	readonly readyState: 0 | 1 | 2;
	onopen: ((e: object) => void) | null;
	onerror: ((e: { status: number }) => void) | null;
	addEventListener(type: string, fn: (e: { type: string; data: string; lastEventId: string }) => void): void;
	close(): void;
}

export function wsTransport(ctx: TransportContext): Transport;
export function sseTransport(ctx: TransportContext): Transport;
export function pollTransport(ctx: TransportContext): Transport;
export const TRANSPORTS: Record<TransportName, TransportFactory>;
