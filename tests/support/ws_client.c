/*
 * ws_client.c - minimal blocking WebSocket client for tests (ws_client.h).
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "it.h"
#include "tickpush/auth.h"
#include "tickpush/buf.h"
#include "ws_client.h"

static char *find_crlf2(unsigned char *b, size_t n)
{
	for (size_t i = 0; i + 4 <= n; i++)
		if (!memcmp(b + i, "\r\n\r\n", 4))
			return (char *)b + i;
	return NULL;
}

static int send_all(int fd, const void *p, size_t n)
{
	const unsigned char *b = p;

	while (n) {
		ssize_t w = send(fd, b, n, MSG_NOSIGNAL);

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
	struct pollfd pfd = {ws->fd, POLLIN, 0};
	ssize_t n;
	int r = poll(&pfd, 1, (int)(timeout_s * 1000));

	if (r == 0)
		return 0;
	if (r < 0)
		return -1;
	if (ws->cap - ws->len < 65536) {
		ws->cap = ws->cap ? ws->cap * 2 : 131072;
		ws->buf = realloc(ws->buf, ws->cap);
	}
	n = recv(ws->fd, ws->buf + ws->len, ws->cap - ws->len, 0);
	if (n <= 0) {
		ws->closed = true;
		return -1;
	}
	ws->len += (size_t)n;
	return 1;
}

int it_ws_connect(struct it_ws *ws, int port, const char *path,
		  const char *extra_headers, int rcvbuf)
{
	unsigned char nonce[16], sha[SHA_DIGEST_LENGTH];
	struct tp_buf key, accept_b64;
	char req[8192], expect[128], *hdr_end;
	int n;

	memset(ws, 0, sizeof(*ws));
	ws->fd = it_connect_rcvbuf(port, rcvbuf);
	if (ws->fd < 0)
		return -1;
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
	if (send_all(ws->fd, req, (size_t)n))
		goto fail;
	while (!(ws->buf && (hdr_end = find_crlf2(ws->buf, ws->len))))
		if (fill(ws, 5) <= 0)
			goto fail;
	if (sscanf((char *)ws->buf, "HTTP/1.%*d %d", &ws->http_status) != 1)
		goto fail;
	if (ws->http_status != 101) {
		size_t hl = (size_t)(hdr_end + 4 - (char *)ws->buf);

		/* Collect whatever body came (until close or a short wait). */
		while (fill(ws, 0.5) > 0)
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
	close(ws->fd);
	ws->fd = -1;
	free(ws->buf);
	ws->buf = NULL;
	ws->len = ws->cap = 0;
	return -1;
}

void it_ws_close(struct it_ws *ws)
{
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
	rc = send_all(ws->fd, frame, h + len);
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

int it_ws_follow(struct it_ws *ws, int port, const char *symbol, int rcvbuf)
{
	char frame[200];
	cJSON *j;

	if (it_ws_connect(ws, port, "/ws", NULL, rcvbuf))
		return -1;
	if (!(j = it_ws_wait_type(ws, "hello", 10)))
		return -1;
	cJSON_Delete(j);
	snprintf(frame, sizeof(frame), "{\"op\":\"subscribe\",\"id\":\"s\",\"channel\":\"patterns\","
		 "\"filter\":{\"symbols\":[\"%s\"],\"confidence_min\":0}}", symbol);
	if (it_ws_send_text(ws, frame))
		return -1;
	if (!(j = it_ws_wait_type(ws, "subscribed", 10)))
		return -1;
	cJSON_Delete(j);
	return 0;
}
