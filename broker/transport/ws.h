/* broker/transport/ws.h - MQTT over WebSocket (RFC 6455; MQTT 5.0 / 3.1.1 section 6): the HTTP
 * upgrade and a streaming frame decoder that unmasks in place. No I/O: broker/xport.c feeds bytes
 * in and sends what comes out. One struct ws per connection, used by one loop at a time.
 *
 * Why not wslay's event API: it reassembles whole messages into its own buffers and queues
 * copies of what is sent, while MQTT over WebSocket is a byte stream whose packets may span
 * frames and frames may hold several packets [MQTT-6.0.0-2]; its frame API reads through a
 * 4 KB buffer per connection. This decoder unmasks payloads where they were read and hands
 * them on in place, and a batch of outgoing packets becomes one frame behind a 2-10 byte
 * header, so WebSocket keeps the zero-copy paths of plain TCP. */
#ifndef WS_H
#define WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/base/sl_buf.h"

/* Largest upgrade request accepted; a bigger one is refused (400) and the connection closed. */
#define WS_HS_MAX 8192
/* Longest frame header: 2 bytes, 8 of extended length, 4 of mask. */
#define WS_HDR_MAX 14

/* The upgrade in progress (freed once it is done). */
struct ws_hs;

/* Frame decoder state. Plain data: it may move between loops with its connection. */
struct ws {
	uint8_t hdr[WS_HDR_MAX];
	uint8_t hdr_len; /* header bytes collected so far */
	bool in_frame;   /* the header is complete: reading the payload */
	uint8_t opcode;  /* of the frame being read */
	bool fin;        /* of the frame being read */
	bool in_message; /* a binary message was started and not finished */
	uint8_t mask[4];
	uint8_t mask_pos; /* payload bytes read so far, mod 4 */
	uint64_t left;    /* payload bytes of the current frame still to come */
	uint8_t ctl_len;  /* control frame payload collected */
	int err;          /* 0, or why the stream ended (ws_input()) */
	uint8_t ctl[125]; /* a control frame's payload (at most 125 bytes, RFC 6455 5.5) */
};

/* Starts an upgrade. Returns NULL when out of memory. */
struct ws_hs *ws_hs_new(void);
void ws_hs_free(struct ws_hs *hs);

/* Feeds request bytes data[0, len). Returns 1 when the request is complete: the 101 response
 * was appended to reply and *used says how many of the bytes belonged to the request (the
 * rest are frames); 0 when more is needed (all consumed); -EPROTO when the request is not a
 * valid MQTT WebSocket upgrade and -EMSGSIZE when it exceeds WS_HS_MAX: a 400 response was
 * appended to reply then. -ENOMEM when reply could not grow. */
int ws_hs_input(struct ws_hs *hs, const uint8_t *data, size_t len, struct sl_buf *reply,
                size_t *used);

/* Writes base64(SHA-1(key + RFC 6455 GUID)) and a NUL into accept[29] (RFC 6455 4.2.2). */
void ws_accept_key(const char *key, size_t key_len, char accept[29]);

/* Decodes frames in data[0, len) in place: the payloads of binary frames (and their
 * continuations), unmasked, are moved to the front of data. Returns how many MQTT bytes are
 * there now (0..len): they come before whatever ended the stream, so they are to be handled
 * even when w->err is set. Answers pings by appending pongs to reply. Sets w->err and stops
 * (for good) when the client sent a close frame (-ECONNRESET; its echo appended to reply),
 * on a protocol violation (-EPROTO; a close frame 1002 or 1003 appended) or when reply could
 * not grow (-ENOMEM): the connection is to be closed after writing reply. */
int ws_input(struct ws *w, uint8_t *data, size_t len, struct sl_buf *reply);

/* Writes the header of an unmasked, final binary frame of len payload bytes into hdr (at
 * most 10 bytes). Returns the header's length. */
size_t ws_frame_hdr(uint8_t hdr[10], uint64_t len);

#endif
