/* tests/unit/broker/test_handle.c - packets through a connection without a socket
 * (conn_new_sink()) of a real one-worker node: what the handlers send back. */
#include <check.h>
#include <string.h>

#include "broker/core/conn.h"
#include "broker/core/worker.h"
#include "broker/core/xport.h"
#include "proto/base/sl_alloc.h"
#include "worker_fix.h"

static struct worker_fix fix;
static struct worker *w;
static struct sl_buf out; /* everything the broker wrote to the connection */

static void
on_sink(void *arg, struct conn *c, const uint8_t *data, size_t len)
{
	(void)arg;
	(void)c;
	ck_assert_int_eq(sl_buf_append(&out, data, len), 0);
}

static void
setup(void)
{
	w = worker_fix_up(&fix);
	memset(&out, 0, sizeof(out));
}

static void
teardown(void)
{
	worker_fix_down(&fix);
	sl_buf_fini(&out);
}

static struct conn *
client(void)
{
	struct xport *x = xport_sink_new(on_sink, NULL);
	struct conn *c;

	ck_assert_ptr_nonnull(x);
	c = conn_new_sink(w, 0, x);
	ck_assert_ptr_nonnull(c);
	return c;
}

/* Feeds bytes to c and flushes what the handlers queued. */
static void
feed(struct conn *c, const void *p, size_t len)
{
	conn_input(c, p, len);
	conn_flush_all(w);
}

/* A v5 CONNECT for client id "c" with Maximum Packet Size max. */
static void
connect_v5(struct conn *c, uint8_t max)
{
	const uint8_t pkt[] = {0x10, 0x13, 0x00, 0x04, 'M',  'Q',  'T', 'T',  0x05, 0x02, 0x00,
	                       0x3c, 0x05, 0x27, 0x00, 0x00, 0x00, max, 0x00, 0x01, 'c'};

	feed(c, pkt, sizeof(pkt));
}

/* Found by fuzz_handlers (corpus/handlers/crash_connack_over_client_max_packet_size): the
 * CONNACK's properties made it 24 bytes for a client that takes 18. */
START_TEST(test_connack_within_client_max_packet_size_mqtt_3_1_2_24)
{
	struct mqtt_pkt pkt;
	enum mqtt_rc rc;
	struct conn *c = client();

	connect_v5(c, 18);
	ck_assert_uint_gt(out.len, 0);
	ck_assert_uint_le(out.len, 18);
	ck_assert_int_eq(mqtt_decode(out.data, out.len, MQTT_V5, 0, &pkt, &rc), (int)out.len);
	ck_assert_int_eq(pkt.type, MQTT_CONNACK);
	ck_assert_int_eq(pkt.u.connack.rc, 0);
	/* what restricts the client stays: the topic aliases it may use (default 10) */
	ck_assert(pkt.u.connack.props.present & MQTT_PB(MQTT_PROP_TOPIC_ALIAS_MAX));
}
END_TEST

/* A SUBACK for 30 filters (35 bytes) to a client that takes 24 is discarded, as if sent; the
 * connection goes on (PINGRESP). */
START_TEST(test_suback_over_client_max_packet_size_discarded_mqtt_3_1_2_25)
{
	uint8_t sub[3 + 2 + 1 + 30 * 5] = {0x82, 0x99, 0x01, 0x00, 0x01, 0x00};
	struct conn *c = client();
	size_t connack;
	int i;

	connect_v5(c, 24);
	connack = out.len;
	ck_assert_uint_gt(connack, 0);
	for (i = 0; i < 30; i++)
		memcpy(sub + 6 + 5 * i, (uint8_t[]){0x00, 0x02, 'f', (uint8_t)('A' + i), 0x00}, 5);
	feed(c, sub, sizeof(sub));
	ck_assert_uint_eq(out.len, connack);
	feed(c, "\xc0\x00", 2);
	ck_assert_uint_eq(out.len, connack + 2);
	ck_assert_int_eq(memcmp(out.data + connack, "\xd0\x00", 2), 0);
}
END_TEST

Suite *
handle_suite(void)
{
	Suite *s = suite_create("handle");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_connack_within_client_max_packet_size_mqtt_3_1_2_24);
	tcase_add_test(tc, test_suback_over_client_max_packet_size_discarded_mqtt_3_1_2_25);
	suite_add_tcase(s, tc);
	return s;
}
