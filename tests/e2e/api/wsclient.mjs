// A minimal WebSocket client for the API tests (node 18/20 have no
// WebSocket global without flags): the opening handshake with the
// tickpush.v1 subprotocol, masked text frames out, text frames in as
// parsed JSON, pings answered. Enough to subscribe and read frames; not a
// general-purpose client (no fragmented messages from the server, which
// tickpush never sends).
import crypto from 'node:crypto';
import net from 'node:net';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export class WsClient {
	constructor(sock) {
		this.sock = sock;
		this.buf = Buffer.alloc(0);
		this.frames = [];
		this.closed = null;
		sock.on('data', (d) => {
			this.buf = Buffer.concat([this.buf, d]);
			this._parse();
		});
		sock.on('close', () => { this.closed = this.closed || { code: 1006 }; });
		sock.on('error', () => {});
	}

	/* Connects to baseUrl + path; resolves once the server switched
	 * protocols, rejects with the HTTP status line otherwise. */
	static async connect(baseUrl, path = '/ws') {
		const u = new URL(baseUrl);
		const sock = net.createConnection({ host: u.hostname, port: Number(u.port) });
		await new Promise((resolve, reject) => {
			sock.once('connect', resolve);
			sock.once('error', reject);
		});
		const key = crypto.randomBytes(16).toString('base64');
		sock.write(`GET ${path} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
			`Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: tickpush.v1\r\n\r\n`);
		let head = Buffer.alloc(0);
		const rest = await new Promise((resolve, reject) => {
			const onData = (d) => {
				head = Buffer.concat([head, d]);
				const end = head.indexOf('\r\n\r\n');
				if (end < 0)
					return;
				sock.off('data', onData);
				const status = head.subarray(0, head.indexOf('\r\n')).toString();
				if (!/^HTTP\/1\.1 101 /.test(status))
					reject(new Error(`WebSocket handshake refused: ${status}`));
				else
					resolve(head.subarray(end + 4));
			};
			sock.on('data', onData);
			sock.once('error', reject);
		});
		const c = new WsClient(sock);
		if (rest.length) {
			c.buf = rest;
			c._parse();
		}
		return c;
	}

	_parse() {
		for (;;) {
			if (this.buf.length < 2)
				return;
			const op = this.buf[0] & 0x0f;
			let len = this.buf[1] & 0x7f;
			let off = 2;
			if (len === 126) {
				if (this.buf.length < 4)
					return;
				len = this.buf.readUInt16BE(2);
				off = 4;
			} else if (len === 127) {
				if (this.buf.length < 10)
					return;
				len = Number(this.buf.readBigUInt64BE(2));
				off = 10;
			}
			if (this.buf.length < off + len)
				return;
			const payload = this.buf.subarray(off, off + len);
			this.buf = this.buf.subarray(off + len);
			if (op === 0x1)
				this.frames.push(JSON.parse(payload.toString('utf8')));
			else if (op === 0x9)
				this._send(0xa, payload);
			else if (op === 0x8)
				this.closed = { code: len >= 2 ? payload.readUInt16BE(0) : 1005, reason: payload.subarray(2).toString() };
		}
	}

	_send(op, payload) {
		const mask = crypto.randomBytes(4);
		const n = payload.length;
		const head = n < 126 ? Buffer.from([0x80 | op, 0x80 | n])
			: Buffer.concat([Buffer.from([0x80 | op, 0x80 | 126]), Buffer.from([n >> 8, n & 0xff])]);
		const body = Buffer.alloc(n);
		for (let i = 0; i < n; i++)
			body[i] = payload[i] ^ mask[i % 4];
		this.sock.write(Buffer.concat([head, mask, body]));
	}

	send(obj) {
		this._send(0x1, Buffer.from(JSON.stringify(obj)));
	}

	/* The first frame (oldest first) that pred accepts, removed from the
	 * queue; waits for it up to ms. */
	async next(pred, what, ms = 10000) {
		const end = Date.now() + ms;
		for (;;) {
			const i = this.frames.findIndex(pred);
			if (i >= 0)
				return this.frames.splice(i, 1)[0];
			if (this.closed)
				throw new Error(`connection closed (${JSON.stringify(this.closed)}) waiting for ${what}`);
			if (Date.now() > end)
				throw new Error(`timed out waiting for ${what}; frames: ${JSON.stringify(this.frames).slice(0, 500)}`);
			await sleep(20);
		}
	}

	close() {
		if (!this.sock.destroyed) {
			this._send(0x8, Buffer.from([0x03, 0xe8]));
			this.sock.end();
		}
	}
}
