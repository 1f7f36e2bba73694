/*
 * ws_client.h - a minimal blocking WebSocket client for integration tests
 * (RFC 6455 client side: masked frames, fragment reassembly, close codes).
 * It can also misbehave on purpose (binary frames, oversized frames,
 * not reading) to test the server's defences.
 */
#ifndef TICKPUSH_TEST_WS_CLIENT_H
#define TICKPUSH_TEST_WS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

struct cJSON;
struct ssl_st;
struct ssl_ctx_st;

struct it_ws {
	int fd;
	unsigned char *buf;   /* bytes received, not yet consumed */
	size_t len, cap;
	int close_code;       /* set when a close frame arrived, else 0 */
	char close_reason[124]; /* its reason text */
	bool closed;          /* connection ended */
	int http_status;      /* handshake status (101 on success) */
	char http_body[1024]; /* handshake response body when refused */
	struct ssl_st *ssl;   /* wss: the TLS session, else NULL */
	struct ssl_ctx_st *ssl_ctx;
	char peer_sha256[100]; /* wss: "AB:CD:..." of the server's certificate */
};

/* Connects and upgrades; path includes any query. extra_headers is
 * "Name: value\r\n..." or NULL. Returns 0 when upgraded (status 101),
 * -1 otherwise (ws->http_status / http_body tell why). rcvbuf > 0 shrinks
 * the socket receive buffer (slow-consumer tests). */
int it_ws_connect(struct it_ws *ws, int port, const char *path,
		  const char *extra_headers, int rcvbuf);
/* The same over TLS (wss): the server's certificate must verify against
 * cafile (PEM) for the address 127.0.0.1. */
int it_wss_connect(struct it_ws *ws, int port, const char *path,
		   const char *extra_headers, int rcvbuf, const char *cafile);
/* TLS handshake only: the SHA-256 of the certificate the server presents
 * to a new connection ("AB:CD:..."), verified against cafile. 0 or -1. */
int it_tls_peer_sha256(int port, const char *cafile, char *out, size_t n);
/* GET path over TLS (verified as above), Connection: close; returns the
 * status (-1 on a transport or TLS error); the body goes to body[n]
 * (may be NULL). */
int it_https_get(int port, const char *cafile, const char *path, char *body,
		 size_t n);
void it_ws_close(struct it_ws *ws); /* abrupt: just closes the socket */

/* opcode 1 = text, 2 = binary, 9 = ping; fin false sends a fragment. */
int it_ws_send(struct it_ws *ws, int opcode, const void *data, size_t len,
	       bool fin);
int it_ws_send_text(struct it_ws *ws, const char *text);

/* Next text message within timeout_s: 1 with *msg (malloc'd, caller
 * frees), 0 on timeout, -1 when the connection ended (close_code set if a
 * close frame arrived). Pings are answered; pongs skipped. */
int it_ws_recv(struct it_ws *ws, double timeout_s, char **msg, size_t *len);
/* The next message parsed as JSON (NULL on timeout/close/garbage). */
struct cJSON *it_ws_recv_json(struct it_ws *ws, double timeout_s);
/* Reads messages until one of type `type` arrives (others are discarded)
 * or timeout; returns it parsed, or NULL. */
struct cJSON *it_ws_wait_type(struct it_ws *ws, const char *type,
			      double timeout_s);
/* Waits for the hello frame, then (sym != NULL) subscribes to sym's
 * patterns (confidence_min 0) and waits for "subscribed". 0 or -1. */
int it_ws_hello_and_subscribe(struct it_ws *ws, const char *sym);
/* Connects to /ws, waits for hello, subscribes (id "s") to symbol's
 * patterns at any confidence and waits for "subscribed". 0, or -1 (the
 * connect failed: ws->http_status and http_body tell why; or a frame did
 * not come within 10 s). rcvbuf as for it_ws_connect. */
int it_ws_follow(struct it_ws *ws, int port, const char *symbol, int rcvbuf);
/* Waits for the server to close; returns the close code (or -1). */
int it_ws_wait_close(struct it_ws *ws, double timeout_s);

/* Raw access for protocol tests: the next frame as sent (nothing is
 * answered or skipped): 1 with *opcode and *payload (malloc'd,
 * NUL-terminated, caller frees), 0 on timeout, -1 when the connection
 * ended. it_ws_send_raw writes bytes as given (any framing, masked or
 * not). */
int it_ws_next_frame(struct it_ws *ws, double timeout_s, int *opcode,
		     unsigned char **payload, size_t *len);
int it_ws_send_raw(struct it_ws *ws, const void *bytes, size_t len);
/* After the close frame: true when the server ends the connection
 * within timeout_s (EOF or reset, nothing else arriving). */
bool it_ws_wait_eof(struct it_ws *ws, double timeout_s);

#endif
