/*
 * test_smsc_backlog.c — a connector's backlog (src/smsc/backlog.c): a FIFO
 * that takes a message back at its head, and how much the next lease
 * should bring: the free window slots plus twice the last tick's sends, at
 * least a window's worth, bounded by the throughput and SMSC_BACKLOG_MAX,
 * less what is already waiting; nothing while no bind is bound.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "smsc/smsc_private.h"

#define TICK 20

static struct smsc_upbind binds[2];
static struct smsc_conn conn;

/* A connector with n binds, each window 10 with used slots in flight. */
static void conn_with(unsigned n, unsigned used)
{
	memset(&conn, 0, sizeof(conn));
	memset(binds, 0, sizeof(binds));
	conn.cfg.binds = n;
	conn.cfg.window = 10;
	for (unsigned k = 0; k < n; k++) {
		binds[k].cfg = conn.cfg;
		binds[k].state = SMSC_UP_BOUND;
		binds[k].ninflight = used;
		conn.binds[k] = &binds[k];
	}
}

static void test_fifo_keeps_order_and_takes_back_the_head(void **state)
{
	struct smsc_out_msg m[3];
	struct smsc_backlog q = {0};

	(void)state;
	for (int i = 0; i < 3; i++)
		smsc_backlog_push(&q, &m[i]);
	assert_int_equal(q.n, 3);
	assert_ptr_equal(smsc_backlog_pop(&q), &m[0]);
	smsc_backlog_unpop(&q, &m[0]);
	assert_ptr_equal(smsc_backlog_pop(&q), &m[0]);
	assert_ptr_equal(smsc_backlog_pop(&q), &m[1]);
	assert_ptr_equal(smsc_backlog_pop(&q), &m[2]);
	assert_null(smsc_backlog_pop(&q));
	assert_int_equal(q.n, 0);
	assert_null(q.tail);
	smsc_backlog_unpop(&q, &m[1]); /* into an empty list: head and tail */
	assert_ptr_equal(q.tail, &m[1]);
	assert_ptr_equal(smsc_backlog_pop(&q), &m[1]);
}

static void test_nothing_while_no_bind_is_bound(void **state)
{
	(void)state;
	conn_with(2, 0);
	binds[0].state = binds[1].state = SMSC_UP_CONNECTING;
	conn.backlog.sent_last = 500;
	assert_int_equal(smsc_backlog_want(&conn, TICK), 0);
}

static void test_a_quiet_connector_is_owed_two_windows(void **state)
{
	(void)state;
	conn_with(1, 0);
	assert_int_equal(smsc_backlog_want(&conn, TICK), 10 + 10);
	conn_with(2, 4); /* 6 + 6 free, windows' worth 20 */
	assert_int_equal(smsc_backlog_want(&conn, TICK), 12 + 20);
}

static void test_backlog_follows_twice_the_last_ticks_sends(void **state)
{
	(void)state;
	conn_with(1, 10);
	conn.backlog.sent_last = 70;
	assert_int_equal(smsc_backlog_want(&conn, TICK), 140);
	conn.backlog.n = 100; /* already waiting */
	assert_int_equal(smsc_backlog_want(&conn, TICK), 40);
	conn.backlog.n = 500; /* more than wanted: nothing */
	assert_int_equal(smsc_backlog_want(&conn, TICK), 0);
	conn.backlog.n = 0;
	conn.backlog.sent_last = 100000;
	assert_int_equal(smsc_backlog_want(&conn, TICK), SMSC_BACKLOG_MAX);
}

static void test_throughput_bounds_the_backlog(void **state)
{
	(void)state;
	conn_with(1, 0);
	conn.cfg.throughput = 1000; /* 40 in two ticks */
	conn.backlog.sent_last = 500;
	assert_int_equal(smsc_backlog_want(&conn, TICK), 41 + 10);
	conn.cfg.throughput = 10; /* not even a window's worth */
	assert_int_equal(smsc_backlog_want(&conn, TICK), 1 + 10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fifo_keeps_order_and_takes_back_the_head),
	    cmocka_unit_test(test_nothing_while_no_bind_is_bound),
	    cmocka_unit_test(test_a_quiet_connector_is_owed_two_windows),
	    cmocka_unit_test(test_backlog_follows_twice_the_last_ticks_sends),
	    cmocka_unit_test(test_throughput_bounds_the_backlog),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
