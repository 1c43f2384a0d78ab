/* Tests for src/sip/tm.c: RFC 3261 §17 transaction timers and states, driven
 * by an injected clock (each test steps `now` to the deadline the machine
 * asked for). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <errno.h>
#include <string.h>

#include "sip/tm.h"

#define MAX_EVENTS 64

struct rec {
	int64_t now;
	int64_t sends[MAX_EVENTS]; /* times bytes went out */
	char what[MAX_EVENTS];	   /* first byte of what went out */
	size_t nsends;
	int timeouts;
	enum sip_tx_timer which;
	int terminated;
	int64_t armed;
};

static void rec_send(struct sip_tx *t, struct str bytes)
{
	struct rec *r = t->arg;
	assert_true(r->nsends < MAX_EVENTS);
	r->what[r->nsends] = bytes.p[0];
	r->sends[r->nsends++] = r->now;
}

static void rec_timeout(struct sip_tx *t, enum sip_tx_timer which)
{
	struct rec *r = t->arg;
	r->timeouts++;
	r->which = which;
}

static void rec_terminated(struct sip_tx *t)
{
	struct rec *r = t->arg;
	r->terminated++;
}

static void rec_arm(struct sip_tx *t, int64_t at)
{
	struct rec *r = t->arg;
	r->armed = at;
}

static const struct sip_tx_ops rec_ops = { rec_send, rec_timeout, rec_terminated, rec_arm };

/* Steps the clock to each armed deadline until the machine terminates or
 * the clock passes limit. */
static void run_until(struct sip_tx *t, struct rec *r, int64_t limit)
{
	for (int i = 0; i < 200 && !r->terminated && r->armed >= 0 && r->armed <= limit; i++) {
		r->now = r->armed;
		sip_tx_timer(t, r->now);
	}
}

static void client_start(struct sip_tx *t, struct rec *r, enum sip_tx_kind kind, bool reliable)
{
	memset(r, 0, sizeof(*r));
	r->armed = -1;
	sip_tx_init(t, kind, reliable, &rec_ops, r);
	buf_append_cstr(&t->out, "INVITE sip:x SIP/2.0\r\n\r\n");
	buf_append_cstr(&t->ack, "ACK sip:x SIP/2.0\r\n\r\n");
	sip_tx_client_start(t, 0);
}

static void test_invite_client_timer_a_doubles_until_b(void **state)
{
	struct sip_tx t;
	struct rec r;
	(void)state;

	client_start(&t, &r, SIP_TX_INVITE_CLIENT, false);
	run_until(&t, &r, 100000);
	/* Sent at 0, then 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s; B at 32 s. */
	const int64_t want[] = { 0, 500, 1500, 3500, 7500, 15500, 31500 };
	assert_int_equal(r.nsends, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < r.nsends; i++)
		assert_int_equal(r.sends[i], want[i]);
	assert_int_equal(r.timeouts, 1);
	assert_int_equal(r.which, SIP_TIMER_B);
	assert_int_equal(r.now, 32000);
	assert_int_equal(r.terminated, 1);
	sip_tx_fini(&t);
}

/* §17.1.4: a connection that fails under a client transaction ends it at
 * once (the core fails over as for a 503); after a final response it is
 * no longer waiting for anything and carries on to its timer. */
static void test_client_transport_error_gives_up_now(void **state)
{
	struct sip_tx t;
	struct rec r;
	(void)state;

	client_start(&t, &r, SIP_TX_INVITE_CLIENT, true);
	r.now = 120;
	sip_tx_client_transport_error(&t);
	assert_int_equal(r.timeouts, 1);
	assert_int_equal(r.which, SIP_TX_TRANSPORT);
	assert_int_equal(r.terminated, 1);
	assert_int_equal(r.armed, -1);
	sip_tx_client_transport_error(&t); /* terminated: nothing more */
	assert_int_equal(r.timeouts, 1);
	sip_tx_fini(&t);

	client_start(&t, &r, SIP_TX_NONINVITE_CLIENT, false);
	assert_true(sip_tx_client_response(&t, 180, 10)); /* proceeding */
	sip_tx_client_transport_error(&t);
	assert_int_equal(r.which, SIP_TX_TRANSPORT);
	assert_int_equal(r.terminated, 1);
	sip_tx_fini(&t);

	client_start(&t, &r, SIP_TX_INVITE_CLIENT, false);
	assert_true(sip_tx_client_response(&t, 486, 10)); /* completed: waits out D */
	sip_tx_client_transport_error(&t);
	assert_int_equal(r.timeouts, 0);
	assert_int_equal(r.terminated, 0);
	run_until(&t, &r, 100000);
	assert_int_equal(r.terminated, 1);
	assert_int_equal(r.timeouts, 0);
	sip_tx_fini(&t);
}

static void test_invite_client_reliable_sends_once_then_b(void **state)
{
	struct sip_tx t;
	struct rec r;
	(void)state;

	client_start(&t, &r, SIP_TX_INVITE_CLIENT, true);
	run_until(&t, &r, 100000);
	assert_int_equal(r.nsends, 1);
	assert_int_equal(r.which, SIP_TIMER_B);
	assert_int_equal(r.now, 32000);
	sip_tx_fini(&t);
}

static void test_invite_client_provisional_stops_retransmissions(void **state)
{
	struct sip_tx t;
	struct rec r;
	(void)state;

	client_start(&t, &r, SIP_TX_INVITE_CLIENT, false);
	r.now = 100;
	assert_true(sip_tx_client_response(&t, 180, r.now));
	assert_int_equal(t.state, SIP_TX_PROCEEDING);
	assert_int_equal(r.armed, -1);
	assert_int_equal(r.nsends, 1);
	sip_tx_fini(&t);
}

static void test_invite_client_non2xx_acks_and_absorbs_retransmission(void **state)
{
	struct sip_tx t;
	struct rec r;
	(void)state;

	client_start(&t, &r, SIP_TX_INVITE_CLIENT, false);
	r.now = 200;
	assert_true(sip_tx_client_response(&t, 486, r.now));
	assert_int_equal(t.state, SIP_TX_COMPLETED);
	assert_int_equal(r.what[1], 'A');
	r.now = 300;
	assert_false(sip_tx_client_response(&t, 486, r.now));
	assert_int_equal(r.nsends, 3);
	assert_int_equal(r.what[2], 'A');
	/* Timer D: 32 s after the final. */
	run_until(&t, &r, 100000);
	assert_int_equal(r.now, 200 + SIP_TIMER_D_MS);
	assert_int_equal(r.terminated, 1);
	assert_int_equal(r.timeouts, 0);
	sip_tx_fini(&t);
}

static void test_invite_client_2xx_terminates_at_once(void **state)
{
	struct sip_tx t;
	struct rec r;
	(void)state;

	client_start(&t, &r, SIP_TX_INVITE_CLIENT, false);
	assert_true(sip_tx_client_response(&t, 200, 10));
	assert_int_equal(r.terminated, 1);
	assert_int_equal(r.nsends, 1); /* no ACK: the UAC sends it end to end */
	sip_tx_fini(&t);
}

static void test_noninvite_client_timer_e_caps_at_t2(void **state)
{
	struct sip_tx t;
	struct rec r;
	(void)state;

	client_start(&t, &r, SIP_TX_NONINVITE_CLIENT, false);
	run_until(&t, &r, 100000);
	/* 0, 0.5, 1.5, 3.5, then every 4 s: 7.5 ... 31.5; F at 32 s. */
	const int64_t want[] = { 0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500 };
	assert_int_equal(r.nsends, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < r.nsends; i++)
		assert_int_equal(r.sends[i], want[i]);
	assert_int_equal(r.which, SIP_TIMER_F);
	assert_int_equal(r.now, 32000);
	sip_tx_fini(&t);
}

static void test_noninvite_client_final_waits_t4(void **state)
{
	struct sip_tx t;
	struct rec r;
	(void)state;

	client_start(&t, &r, SIP_TX_NONINVITE_CLIENT, false);
	r.now = 700;
	sip_tx_timer(&t, r.now); /* one retransmission at 500 was due */
	assert_true(sip_tx_client_response(&t, 200, r.now));
	assert_int_equal(t.state, SIP_TX_COMPLETED);
	assert_false(sip_tx_client_response(&t, 200, r.now));
	run_until(&t, &r, 100000);
	assert_int_equal(r.now, 700 + SIP_T4_MS); /* timer K */
	assert_int_equal(r.terminated, 1);
	assert_int_equal(r.timeouts, 0);
	sip_tx_fini(&t);
}

static void test_noninvite_client_reliable_final_terminates(void **state)
{
	struct sip_tx t;
	struct rec r;
	(void)state;

	client_start(&t, &r, SIP_TX_NONINVITE_CLIENT, true);
	assert_true(sip_tx_client_response(&t, 200, 5));
	assert_int_equal(r.terminated, 1);
	sip_tx_fini(&t);
}

static void server_start(struct sip_tx *t, struct rec *r, enum sip_tx_kind kind, bool reliable)
{
	memset(r, 0, sizeof(*r));
	r->armed = -1;
	sip_tx_init(t, kind, reliable, &rec_ops, r);
	sip_tx_server_start(t, 0);
}

static void test_invite_server_timer_g_doubles_to_t2_until_h(void **state)
{
	struct sip_tx t;
	struct rec r;
	(void)state;

	server_start(&t, &r, SIP_TX_INVITE_SERVER, false);
	assert_int_equal(sip_tx_server_respond(&t, 486, STR_LIT("SIP/2.0 486 Busy\r\n\r\n"), 0), 0);
	run_until(&t, &r, 100000);
	const int64_t want[] = { 0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500 };
	assert_int_equal(r.nsends, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < r.nsends; i++)
		assert_int_equal(r.sends[i], want[i]);
	assert_int_equal(r.which, SIP_TIMER_H);
	assert_int_equal(r.now, 32000);
	sip_tx_fini(&t);
}

static void test_invite_server_ack_confirms_then_timer_i(void **state)
{
	struct sip_tx t;
	struct rec r;
	(void)state;

	server_start(&t, &r, SIP_TX_INVITE_SERVER, false);
	sip_tx_server_respond(&t, 100, STR_LIT("SIP/2.0 100 Trying\r\n\r\n"), 0);
	sip_tx_server_respond(&t, 503, STR_LIT("SIP/2.0 503 No\r\n\r\n"), 0);
	r.now = 100;
	sip_tx_server_ack(&t, r.now);
	assert_int_equal(t.state, SIP_TX_CONFIRMED);
	size_t sent = r.nsends;
	run_until(&t, &r, 100000);
	assert_int_equal(r.nsends, sent); /* no more retransmissions */
	assert_int_equal(r.now, 100 + SIP_T4_MS);
	assert_int_equal(r.terminated, 1);
	assert_int_equal(r.timeouts, 0);
	sip_tx_fini(&t);
}

static void test_invite_server_retransmitted_request_gets_last_response(void **state)
{
	struct sip_tx t;
	struct rec r;
	(void)state;

	server_start(&t, &r, SIP_TX_INVITE_SERVER, false);
	sip_tx_server_respond(&t, 100, STR_LIT("1 Trying"), 0);
	sip_tx_server_respond(&t, 180, STR_LIT("2 Ringing"), 0);
	sip_tx_server_retransmit(&t);
	assert_int_equal(r.nsends, 3);
	assert_int_equal(r.what[2], '2');
	sip_tx_fini(&t);
}

static void test_invite_server_2xx_terminates(void **state)
{
	struct sip_tx t;
	struct rec r;
	(void)state;

	server_start(&t, &r, SIP_TX_INVITE_SERVER, false);
	sip_tx_server_respond(&t, 200, STR_LIT("SIP/2.0 200 OK\r\n\r\n"), 0);
	assert_int_equal(r.terminated, 1);
	sip_tx_fini(&t);
}

static void test_noninvite_server_absorbs_in_trying_then_timer_j(void **state)
{
	struct sip_tx t;
	struct rec r;
	(void)state;

	server_start(&t, &r, SIP_TX_NONINVITE_SERVER, false);
	sip_tx_server_retransmit(&t);
	assert_int_equal(r.nsends, 0);
	sip_tx_server_respond(&t, 200, STR_LIT("SIP/2.0 200 OK\r\n\r\n"), 0);
	sip_tx_server_retransmit(&t);
	assert_int_equal(r.nsends, 2);
	assert_int_equal(t.state, SIP_TX_COMPLETED);
	assert_int_equal(sip_tx_server_respond(&t, 500, STR_LIT("x"), 0), -EINVAL);
	run_until(&t, &r, 100000);
	assert_int_equal(r.now, SIP_TIMER_B_MS); /* timer J = 64*T1 */
	assert_int_equal(r.terminated, 1);
	sip_tx_fini(&t);
}

static void test_noninvite_server_reliable_terminates_on_final(void **state)
{
	struct sip_tx t;
	struct rec r;
	(void)state;

	server_start(&t, &r, SIP_TX_NONINVITE_SERVER, true);
	sip_tx_server_respond(&t, 200, STR_LIT("SIP/2.0 200 OK\r\n\r\n"), 0);
	assert_int_equal(r.terminated, 1);
	sip_tx_fini(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_client_transport_error_gives_up_now),
		cmocka_unit_test(test_invite_client_timer_a_doubles_until_b),
		cmocka_unit_test(test_invite_client_reliable_sends_once_then_b),
		cmocka_unit_test(test_invite_client_provisional_stops_retransmissions),
		cmocka_unit_test(test_invite_client_non2xx_acks_and_absorbs_retransmission),
		cmocka_unit_test(test_invite_client_2xx_terminates_at_once),
		cmocka_unit_test(test_noninvite_client_timer_e_caps_at_t2),
		cmocka_unit_test(test_noninvite_client_final_waits_t4),
		cmocka_unit_test(test_noninvite_client_reliable_final_terminates),
		cmocka_unit_test(test_invite_server_timer_g_doubles_to_t2_until_h),
		cmocka_unit_test(test_invite_server_ack_confirms_then_timer_i),
		cmocka_unit_test(test_invite_server_retransmitted_request_gets_last_response),
		cmocka_unit_test(test_invite_server_2xx_terminates),
		cmocka_unit_test(test_noninvite_server_absorbs_in_trying_then_timer_j),
		cmocka_unit_test(test_noninvite_server_reliable_terminates_on_final),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
