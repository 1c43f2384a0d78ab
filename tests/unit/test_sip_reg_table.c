/*
 * test_sip_reg_table.c — src/sip/reg_table.c and reg_throttle.c: the
 * bindings calls read (an AOR's bindings replaced as a whole, expired ones
 * not given out, higher q first, a binding keeping its connection across a
 * refresh and going when it closes, a trunk's AORs together) and the per-AOR
 * REGISTER bucket (the burst, the refill, Retry-After, AORs apart).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sip/registrar.h"

static struct sip_reg_binding binding(const char *contact, const char *received, int q,
				      int64_t expires_at)
{
	struct sip_reg_binding b;
	assert_int_equal(sip_reg_binding_from_row(&b, contact, received, "udp", q, expires_at, 60),
			 0);
	return b;
}

static void test_bindings_replaced_and_expired(void **state)
{
	(void)state;
	struct sip_reg_table *t = sip_reg_table_new();
	struct sip_reg_binding b[2] = {binding("sip:a@10.0.0.1", "192.0.2.1:5060", 1000, 100000),
				       binding("sip:b@10.0.0.2", "192.0.2.2:5062", 1000, 1000)};
	struct sip_reg_binding out[4];

	assert_int_equal(sip_reg_table_put(t, "trk_1", "u@x", b, 2), 0);
	assert_int_equal(sip_reg_table_find(t, "trk_1", 0, out, 4), 2);
	/* live until expires_at + expires_s / 2: 1000 + 30000 */
	assert_int_equal(sip_reg_table_find(t, "trk_1", 30999, out, 4), 2);
	assert_int_equal(sip_reg_table_find(t, "trk_1", 31000, out, 4), 1);
	assert_string_equal(out[0].contact, "sip:a@10.0.0.1");
	assert_int_equal(net_addr_port(&out[0].addr), 5060);
	assert_int_equal(sip_reg_table_find(t, "trk_2", 0, out, 4), 0);
	assert_int_equal(sip_reg_table_put(t, "trk_1", "u@x", b + 1, 1), 0);
	assert_int_equal(sip_reg_table_find(t, "trk_1", 0, out, 4), 1);
	assert_string_equal(out[0].contact, "sip:b@10.0.0.2");
	assert_int_equal(sip_reg_table_put(t, "trk_1", "u@x", NULL, 0), 0);
	assert_int_equal(sip_reg_table_find(t, "trk_1", 0, out, 4), 0);
	sip_reg_table_free(t);
}

static void test_higher_q_first_and_aors_of_a_trunk_together(void **state)
{
	(void)state;
	struct sip_reg_table *t = sip_reg_table_new();
	struct sip_reg_binding a[2] = {binding("sip:low@h", "192.0.2.1:1", 100, 100000),
				       binding("sip:high@h", "192.0.2.1:2", 900, 100000)};
	struct sip_reg_binding c = binding("sip:mid@h", "192.0.2.1:3", 500, 100000);
	struct sip_reg_binding out[4];

	sip_reg_table_put(t, "trk_1", "u@x", a, 2);
	sip_reg_table_put(t, "trk_1", "u@y", &c, 1);
	assert_int_equal(sip_reg_table_find(t, "trk_1", 0, out, 4), 3);
	assert_string_equal(out[0].contact, "sip:high@h");
	assert_string_equal(out[1].contact, "sip:mid@h");
	assert_string_equal(out[2].contact, "sip:low@h");
	assert_int_equal(sip_reg_table_find(t, "trk_1", 0, out, 2), 2); /* at most max */
	sip_reg_table_free(t);
}

static void test_refresh_keeps_the_connection(void **state)
{
	(void)state;
	struct sip_reg_table *t = sip_reg_table_new();
	struct sip_reg_binding b = binding("sip:a@h", "192.0.2.1:5060", 1000, 100000);
	struct sip_reg_binding out[1];

	b.conn_id = 42;
	b.conn_worker = 1;
	sip_reg_table_put(t, "trk_1", "u@x", &b, 1);
	b.conn_id = 0; /* the same binding as another REGISTER (or a reload) put it */
	sip_reg_table_put(t, "trk_1", "u@x", &b, 1);
	assert_int_equal(sip_reg_table_find(t, "trk_1", 0, out, 1), 1);
	assert_int_equal(out[0].conn_id, 42);
	assert_int_equal(out[0].conn_worker, 1);
	sip_reg_table_free(t);
}

/* A closed connection takes the bindings that came on it, on that worker
 * only (connection ids are per worker), and leaves the AOR's others. */
static void test_closed_connection_takes_its_bindings(void **state)
{
	(void)state;
	struct sip_reg_table *t = sip_reg_table_new();
	struct sip_reg_binding b[3] = {binding("sip:a@h", "192.0.2.1:40001", 1000, 100000),
				       binding("sip:b@h", "192.0.2.1:40002", 1000, 100000),
				       binding("sip:c@h", "192.0.2.1:40003", 1000, 100000)};
	struct sip_reg_binding out[3];
	struct sip_reg_ping *gone;
	size_t n;

	b[0].conn_id = 7, b[0].conn_worker = 0;
	b[1].conn_id = 7, b[1].conn_worker = 1; /* another worker's connection 7 */
	b[2].conn_id = 0;			/* UDP */
	sip_reg_table_put(t, "trk_1", "u@x", b, 3);
	assert_null(sip_reg_table_conn_lost(t, 0, 8, &n));
	assert_int_equal(n, 0);
	gone = sip_reg_table_conn_lost(t, 0, 7, &n);
	assert_int_equal(n, 1);
	assert_string_equal(gone[0].trunk_id, "trk_1");
	assert_string_equal(gone[0].aor, "u@x");
	assert_string_equal(gone[0].contact, "sip:a@h");
	free(gone);
	assert_int_equal(sip_reg_table_find(t, "trk_1", 0, out, 3), 2);
	assert_string_not_equal(out[0].contact, "sip:a@h");
	assert_string_not_equal(out[1].contact, "sip:a@h");
	assert_null(sip_reg_table_conn_lost(t, 0, 0, &n)); /* 0: no connection */
	sip_reg_table_free(t);
}

static void test_unusable_rows_are_refused(void **state)
{
	(void)state;
	struct sip_reg_binding b;
	assert_int_equal(sip_reg_binding_from_row(&b, "sip:a@h", "not an address", "udp", 1, 1, 1),
			 -EINVAL);
	assert_int_equal(sip_reg_binding_from_row(&b, "sip:a@h", "[::1]:5070", "tcp", 1, 1, 1), 0);
	assert_int_equal(b.transport, SIP_TRANSPORT_TCP);
}

static void test_keepalive_misses_remove_and_pongs_keep(void **state)
{
	(void)state;
	struct sip_reg_table *t = sip_reg_table_new();
	struct sip_reg_binding b[3] = {binding("sip:a@h", "192.0.2.1:1", 1000, 100000),
				       binding("sip:b@h", "192.0.2.1:2", 1000, 100000),
				       binding("sip:c@h", "192.0.2.1:3", 1000, 100000)};
	struct sip_reg_ping *pings, *dead;
	struct sip_reg_binding out[3];
	size_t n, ndead;

	b[0].local = b[1].local = true; /* c another node's: not pinged here */
	sip_reg_table_put(t, "trk_1", "u@x", b, 3);
	for (int round = 0; round < 3; round++) {
		pings = sip_reg_table_ping_round(t, 2, &n, &dead, &ndead);
		assert_int_equal(ndead, round == 2 ? 1 : 0);
		if (round == 2)
			assert_string_equal(dead[0].contact, "sip:b@h");
		for (size_t i = 0; i < n; i++) /* a answers, b never */
			if (strcmp(pings[i].contact, "sip:a@h") == 0)
				sip_reg_table_pong(t, "trk_1", pings[i].token);
		assert_int_equal(n, round == 2 ? 1 : 2);
		free(pings);
		free(dead);
	}
	assert_int_equal(sip_reg_table_find(t, "trk_1", 0, out, 3), 2);
	/* a wrong token proves nothing */
	pings = sip_reg_table_ping_round(t, 2, &n, &dead, &ndead);
	sip_reg_table_pong(t, "trk_1", pings[0].token + 1);
	free(pings);
	free(dead);
	pings = sip_reg_table_ping_round(t, 2, &n, &dead, &ndead);
	free(pings);
	free(dead);
	pings = sip_reg_table_ping_round(t, 2, &n, &dead, &ndead);
	assert_int_equal(ndead, 1);
	free(pings);
	free(dead);
	sip_reg_table_free(t);
}

static void test_ping_branch_parsed(void **state)
{
	(void)state;
	char trunk[ID_MAX];
	uint64_t token;

	assert_int_equal(
	    sip_reg_ping_branch_parse(str_from_cstr("z9hG4bKka.trk_ab.00000000000000fF"), trunk,
				      sizeof(trunk), &token),
	    0);
	assert_string_equal(trunk, "trk_ab");
	assert_true(token == 0xff);
	const char *bad[] = {"z9hG4bK-x", "z9hG4bKka.trk_ab.0f", "z9hG4bKka..00000000000000ff",
			     "z9hG4bKka.trk_ab.00000000000000fg", "z9hG4bKka.trk_ab"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(
		    sip_reg_ping_branch_parse(str_from_cstr(bad[i]), trunk, sizeof(trunk), &token),
		    -EINVAL);
}

static void test_throttle_burst_refill_and_retry(void **state)
{
	(void)state;
	struct sip_reg_throttle *t = sip_reg_throttle_new(2, 3);

	for (int i = 0; i < 3; i++)
		assert_int_equal(sip_reg_throttle_take(t, "u@x", 0), 0);
	assert_int_equal(sip_reg_throttle_take(t, "u@x", 0), 1); /* half a second away */
	assert_int_equal(sip_reg_throttle_take(t, "v@x", 0), 0); /* another AOR */
	assert_int_equal(sip_reg_throttle_take(t, "u@x", 499), 1);
	assert_int_equal(sip_reg_throttle_take(t, "u@x", 500), 0);
	assert_int_equal(sip_reg_throttle_take(t, "u@x", 500), 1);
	/* idle long enough: the full burst again, never more */
	for (int i = 0; i < 3; i++)
		assert_int_equal(sip_reg_throttle_take(t, "u@x", 100000), 0);
	assert_int_not_equal(sip_reg_throttle_take(t, "u@x", 100000), 0);
	sip_reg_throttle_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bindings_replaced_and_expired),
	    cmocka_unit_test(test_higher_q_first_and_aors_of_a_trunk_together),
	    cmocka_unit_test(test_refresh_keeps_the_connection),
	    cmocka_unit_test(test_closed_connection_takes_its_bindings),
	    cmocka_unit_test(test_unusable_rows_are_refused),
	    cmocka_unit_test(test_keepalive_misses_remove_and_pongs_keep),
	    cmocka_unit_test(test_ping_branch_parsed),
	    cmocka_unit_test(test_throttle_burst_refill_and_retry),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
