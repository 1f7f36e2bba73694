/*
 * ws_client.c - minimal blocking WebSocket client for tests (ws_client.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "it.h"
#include "tickpush/b64.h"
#include "tickpush/buf.h"
#include "ws_client.h"

static char *find_crlf2(unsigned char *b, size_t n)
{
	for (size_t i = 0; i + 4 <= n; i++)
		if (!memcmp(b + i, "\r\n\r\n", 4))
			return (char *)b + i;
	return NULL;
}

/* TLS sessions run on a non-blocking socket after the handshake:
 * SSL_read may find only a record that carries no data (a TLS 1.3
 * session ticket) and must not block past the caller's timeout. */
static int wait_fd(int fd, short ev, int ms)
{
	struct pollfd pfd = {fd, ev, 0};

	return poll(&pfd, 1, ms);
}

static int send_all(struct it_ws *ws, const void *p, size_t n)
{
	const unsigned char *b = p;

	while (n) {
		ssize_t w;

		if (ws->ssl) {
			int r = SSL_write(ws->ssl, b, (int)n);

			if (r <= 0) {
				int e = SSL_get_error(ws->ssl, r);

				if ((e != SSL_ERROR_WANT_WRITE && e != SSL_ERROR_WANT_READ) ||
				    wait_fd(ws->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT,
					    5000) <= 0)
					return -1;
				continue; /* the same bytes again, as OpenSSL requires */
			}
			w = r;
		} else {
			w = send(ws->fd, b, n, MSG_NOSIGNAL);
		}
		if (w <= 0)
			return -1;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Reads more bytes into ws->buf; 1 ok, 0 timeout, -1 eof/error. */
static int fill(struct it_ws *ws, double timeout_s)
{
	double end = it_now() + timeout_s;
	ssize_t n;

	for (;;) {
		int r = 1, left = (int)((end - it_now()) * 1000);

		if (!ws->ssl || !SSL_pending(ws->ssl))
			r = wait_fd(ws->fd, POLLIN, left > 0 ? left : 0);
		if (r == 0)
			return 0;
		if (r < 0)
			return -1;
		if (ws->cap - ws->len < 65536) {
			ws->cap = ws->cap ? ws->cap * 2 : 131072;
			ws->buf = realloc(ws->buf, ws->cap);
		}
		if (!ws->ssl) {
			n = recv(ws->fd, ws->buf + ws->len, ws->cap - ws->len, 0);
		} else {
			n = SSL_read(ws->ssl, ws->buf + ws->len, (int)(ws->cap - ws->len));
			if (n <= 0 && SSL_get_error(ws->ssl, (int)n) == SSL_ERROR_WANT_READ)
				continue; /* a record without data */
		}
		if (n <= 0) {
			ws->closed = true;
			return -1;
		}
		ws->len += (size_t)n;
		return 1;
	}
}

static void tls_free(struct it_ws *ws)
{
	if (ws->ssl)
		SSL_free(ws->ssl);
	if (ws->ssl_ctx)
		SSL_CTX_free(ws->ssl_ctx);
	ws->ssl = NULL;
	ws->ssl_ctx = NULL;
}

/* TLS client handshake on ws->fd, verifying the server's certificate
 * against cafile and the address 127.0.0.1. */
static int tls_start(struct it_ws *ws, const char *cafile)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	X509 *peer;

	ws->ssl_ctx = SSL_CTX_new(TLS_client_method());
	if (!ws->ssl_ctx || SSL_CTX_load_verify_locations(ws->ssl_ctx, cafile, NULL) != 1)
		return -1;
	SSL_CTX_set_verify(ws->ssl_ctx, SSL_VERIFY_PEER, NULL);
	ws->ssl = SSL_new(ws->ssl_ctx);
	if (!ws->ssl ||
	    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ws->ssl), "127.0.0.1") != 1 ||
	    SSL_set_fd(ws->ssl, ws->fd) != 1 || SSL_connect(ws->ssl) != 1) {
		ERR_print_errors_fp(stderr);
		return -1;
	}
	peer = SSL_get1_peer_certificate(ws->ssl);
	if (peer && X509_digest(peer, EVP_sha256(), md, &mdlen) == 1)
		for (unsigned i = 0, w = 0; i < mdlen && w + 4 < sizeof(ws->peer_sha256); i++)
			w += (unsigned)snprintf(ws->peer_sha256 + w, sizeof(ws->peer_sha256) - w,
						i ? ":%02X" : "%02X", md[i]);
	X509_free(peer);
	return fcntl(ws->fd, F_SETFL, fcntl(ws->fd, F_GETFL) | O_NONBLOCK);
}

static int upgrade(struct it_ws *ws, int port, const char *path,
		   const char *extra_headers);

int it_ws_connect(struct it_ws *ws, int port, const char *path,
		  const char *extra_headers, int rcvbuf)
{
	memset(ws, 0, sizeof(*ws));
	ws->fd = it_connect_rcvbuf(port, rcvbuf);
	if (ws->fd < 0)
		return -1;
	return upgrade(ws, port, path, extra_headers);
}

int it_wss_connect(struct it_ws *ws, int port, const char *path,
		   const char *extra_headers, int rcvbuf, const char *cafile)
{
	memset(ws, 0, sizeof(*ws));
	ws->fd = it_connect_rcvbuf(port, rcvbuf);
	if (ws->fd < 0)
		return -1;
	if (tls_start(ws, cafile)) {
		it_ws_close(ws);
		return -1;
	}
	return upgrade(ws, port, path, extra_headers);
}

int it_tls_peer_sha256(int port, const char *cafile, char *out, size_t n)
{
	struct it_ws ws;
	int rc;

	memset(&ws, 0, sizeof(ws));
	ws.fd = it_connect(port);
	if (ws.fd < 0)
		return -1;
	rc = tls_start(&ws, cafile);
	snprintf(out, n, "%s", ws.peer_sha256);
	it_ws_close(&ws);
	return rc ? -1 : 0;
}

int it_https_get(int port, const char *cafile, const char *path, char *body,
		 size_t n)
{
	struct it_ws ws;
	char req[512], *end;
	int status = -1;

	memset(&ws, 0, sizeof(ws));
	ws.fd = it_connect(port);
	if (ws.fd < 0)
		return -1;
	snprintf(req, sizeof(req),
		 "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n",
		 path, port);
	if (tls_start(&ws, cafile) || send_all(&ws, req, strlen(req)))
		goto out;
	while (fill(&ws, 5) > 0)
		;
	if (!ws.buf || ws.len >= ws.cap)
		goto out;
	ws.buf[ws.len] = '\0';
	if (sscanf((char *)ws.buf, "HTTP/1.%*d %d", &status) != 1)
		status = -1;
	end = strstr((char *)ws.buf, "\r\n\r\n");
	if (body && n)
		snprintf(body, n, "%s", end ? end + 4 : "");
out:
	it_ws_close(&ws);
	return status;
}

static int upgrade(struct it_ws *ws, int port, const char *path,
		   const char *extra_headers)
{
	unsigned char nonce[16], sha[SHA_DIGEST_LENGTH];
	struct tp_buf key, accept_b64;
	char req[8192], expect[128], *hdr_end;
	int n;

	RAND_bytes(nonce, sizeof(nonce));
	tp_buf_init(&key, 0);
	tp_b64_encode(nonce, sizeof(nonce), &key);
	n = snprintf(req, sizeof(req),
		     "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
		     "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
		     "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: tickpush.v1\r\n%s\r\n",
		     path, port, tp_buf_cstr(&key), extra_headers ? extra_headers : "");
	/* The accept value the server must send back. */
	snprintf(expect, sizeof(expect), "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11",
		 tp_buf_cstr(&key));
	SHA1((const unsigned char *)expect, strlen(expect), sha);
	tp_buf_init(&accept_b64, 0);
	tp_b64_encode(sha, sizeof(sha), &accept_b64);
	if (send_all(ws, req, (size_t)n))
		goto fail;
	/* Generous: an upgrade with a token may wait on a database query. */
	while (!(ws->buf && (hdr_end = find_crlf2(ws->buf, ws->len))))
		if (fill(ws, 20) <= 0)
			goto fail;
	if (sscanf((char *)ws->buf, "HTTP/1.%*d %d", &ws->http_status) != 1)
		goto fail;
	if (ws->http_status != 101) {
		size_t hl = (size_t)(hdr_end + 4 - (char *)ws->buf);
		size_t want = 0;

		for (const char *p = (char *)ws->buf; p < hdr_end; p++)
			if (!strncasecmp(p, "\r\ncontent-length:", 17)) {
				want = hl + strtoul(p + 17, NULL, 10);
				break;
			}

		/* Collect the body: up to its Content-Length (it may come in a
		 * later write than the head), else until close or a short
		 * wait. */
		while ((!want || ws->len < want) && fill(ws, want ? 20 : 0.5) > 0)
			;
		snprintf(ws->http_body, sizeof(ws->http_body), "%.*s",
			 (int)(ws->len - hl), (char *)ws->buf + hl);
		goto fail;
	}
	*hdr_end = '\0';
	if (!strstr((char *)ws->buf, tp_buf_cstr(&accept_b64))) {
		fprintf(stderr, "ws: bad Sec-WebSocket-Accept\n");
		goto fail;
	}
	{
		size_t hl = (size_t)(hdr_end + 4 - (char *)ws->buf);

		memmove(ws->buf, ws->buf + hl, ws->len - hl);
		ws->len -= hl;
	}
	tp_buf_cleanup(&key);
	tp_buf_cleanup(&accept_b64);
	return 0;
fail:
	tp_buf_cleanup(&key);
	tp_buf_cleanup(&accept_b64);
	it_ws_close(ws);
	return -1;
}

void it_ws_close(struct it_ws *ws)
{
	tls_free(ws);
	if (ws->fd >= 0)
		close(ws->fd);
	ws->fd = -1;
	free(ws->buf);
	ws->buf = NULL;
	ws->len = ws->cap = 0;
}

int it_ws_send(struct it_ws *ws, int opcode, const void *data, size_t len,
	       bool fin)
{
	unsigned char hdr[14], mask[4];
	unsigned char *frame;
	size_t h = 0;
	int rc;

	RAND_bytes(mask, sizeof(mask));
	hdr[h++] = (unsigned char)((fin ? 0x80 : 0) | (opcode & 0x0f));
	if (len < 126) {
		hdr[h++] = (unsigned char)(0x80 | len);
	} else if (len < 65536) {
		hdr[h++] = 0x80 | 126;
		hdr[h++] = (unsigned char)(len >> 8);
		hdr[h++] = (unsigned char)len;
	} else {
		hdr[h++] = 0x80 | 127;
		for (int i = 7; i >= 0; i--)
			hdr[h++] = (unsigned char)((uint64_t)len >> (8 * i));
	}
	memcpy(hdr + h, mask, 4);
	h += 4;
	frame = malloc(h + len + 1);
	memcpy(frame, hdr, h);
	for (size_t i = 0; i < len; i++)
		frame[h + i] = ((const unsigned char *)data)[i] ^ mask[i % 4];
	rc = send_all(ws, frame, h + len);
	free(frame);
	return rc;
}

int it_ws_send_text(struct it_ws *ws, const char *text)
{
	return it_ws_send(ws, 1, text, strlen(text), true);
}

/* Parses one complete frame at the head of buf; 1 when one is there. */
static int take_frame(struct it_ws *ws, int *opcode, bool *fin,
		      unsigned char **payload, size_t *plen)
{
	size_t h = 2, len;

	if (ws->len < 2)
		return 0;
	*fin = ws->buf[0] & 0x80;
	*opcode = ws->buf[0] & 0x0f;
	len = ws->buf[1] & 0x7f;
	if (len == 126) {
		if (ws->len < 4)
			return 0;
		len = ((size_t)ws->buf[2] << 8) | ws->buf[3];
		h = 4;
	} else if (len == 127) {
		if (ws->len < 10)
			return 0;
		len = 0;
		for (int i = 0; i < 8; i++)
			len = (len << 8) | ws->buf[2 + i];
		h = 10;
	}
	if (ws->len < h + len)
		return 0;
	*payload = malloc(len + 1);
	memcpy(*payload, ws->buf + h, len);
	(*payload)[len] = '\0';
	*plen = len;
	memmove(ws->buf, ws->buf + h + len, ws->len - h - len);
	ws->len -= h + len;
	return 1;
}

int it_ws_recv(struct it_ws *ws, double timeout_s, char **msg, size_t *len)
{
	double end = it_now() + timeout_s;
	unsigned char *acc = NULL;
	size_t acc_len = 0;

	for (;;) {
		int opcode, r;
		bool fin;
		unsigned char *p;
		size_t n;

		while (take_frame(ws, &opcode, &fin, &p, &n)) {
			if (opcode == 8) {
				ws->close_code = n >= 2 ? (p[0] << 8) | p[1] : 1005;
				snprintf(ws->close_reason, sizeof(ws->close_reason), "%.*s",
					 n > 2 ? (int)(n - 2) : 0, (const char *)p + 2);
				free(p);
				free(acc);
				return -1;
			}
			if (opcode == 9) {
				it_ws_send(ws, 10, p, n, true);
				free(p);
				continue;
			}
			if (opcode == 10) {
				free(p);
				continue;
			}
			acc = realloc(acc, acc_len + n + 1);
			memcpy(acc + acc_len, p, n);
			acc_len += n;
			acc[acc_len] = '\0';
			free(p);
			if (fin) {
				*msg = (char *)acc;
				*len = acc_len;
				return 1;
			}
		}
		if (ws->closed) {
			free(acc);
			return -1;
		}
		if (it_now() >= end) {
			free(acc);
			return 0;
		}
		r = fill(ws, end - it_now());
		if (r < 0) {
			free(acc);
			return -1;
		}
	}
}

cJSON *it_ws_recv_json(struct it_ws *ws, double timeout_s)
{
	char *msg;
	size_t len;
	cJSON *j;

	if (it_ws_recv(ws, timeout_s, &msg, &len) != 1)
		return NULL;
	j = cJSON_ParseWithLength(msg, len);
	free(msg);
	return j;
}

cJSON *it_ws_wait_type(struct it_ws *ws, const char *type, double timeout_s)
{
	double end = it_now() + timeout_s;

	while (it_now() < end) {
		cJSON *j = it_ws_recv_json(ws, end - it_now());
		cJSON *t;

		if (!j)
			return NULL;
		t = cJSON_GetObjectItemCaseSensitive(j, "type");
		if (cJSON_IsString(t) && !strcmp(t->valuestring, type))
			return j;
		cJSON_Delete(j);
	}
	return NULL;
}

int it_ws_wait_close(struct it_ws *ws, double timeout_s)
{
	double end = it_now() + timeout_s;

	while (it_now() < end) {
		char *msg;
		size_t len;
		int r = it_ws_recv(ws, end - it_now(), &msg, &len);

		if (r == 1) {
			free(msg);
			continue;
		}
		if (r < 0)
			return ws->close_code ? ws->close_code : -1;
	}
	/* Timed out; a partial frame may be buffered (ws->len). */
	return -1;
}

int it_ws_next_frame(struct it_ws *ws, double timeout_s, int *opcode,
		     unsigned char **payload, size_t *len)
{
	double end = it_now() + timeout_s;
	bool fin;

	while (!take_frame(ws, opcode, &fin, payload, len)) {
		int r;

		if (ws->closed)
			return -1;
		if (it_now() >= end)
			return 0;
		r = fill(ws, end - it_now());
		if (r < 0)
			return -1;
	}
	return 1;
}

int it_ws_send_raw(struct it_ws *ws, const void *bytes, size_t len)
{
	return send_all(ws, bytes, len);
}

bool it_ws_wait_eof(struct it_ws *ws, double timeout_s)
{
	double end = it_now() + timeout_s;

	while (!ws->closed) {
		size_t before = ws->len;

		if (it_now() >= end || fill(ws, end - it_now()) == 0)
			return false;
		if (ws->len != before)
			return false; /* more bytes instead of the end */
	}
	return true;
}

int it_ws_hello_and_subscribe(struct it_ws *ws, const char *sym)
{
	char sub[200];
	cJSON *j = it_ws_wait_type(ws, "hello", 10);

	if (!j)
		return -1;
	cJSON_Delete(j);
	if (!sym)
		return 0;
	snprintf(sub, sizeof(sub), "{\"op\":\"subscribe\",\"id\":\"s\",\"channel\":\"patterns\","
		 "\"filter\":{\"symbols\":[\"%s\"],\"confidence_min\":0}}", sym);
	if (it_ws_send_text(ws, sub) || !(j = it_ws_wait_type(ws, "subscribed", 10)))
		return -1;
	cJSON_Delete(j);
	return 0;
}

int it_ws_follow(struct it_ws *ws, int port, const char *symbol, int rcvbuf)
{
	if (it_ws_connect(ws, port, "/ws", NULL, rcvbuf))
		return -1;
	return it_ws_hello_and_subscribe(ws, symbol);
}
