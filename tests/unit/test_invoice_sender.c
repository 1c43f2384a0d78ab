/*
 * test_invoice_sender.c — src/invoice/netsuite_sender.c and the retry
 * schedule of netsuite_send.c: the wait after each failed delivery grows
 * from the base to the maximum with its second half random; a pass sends
 * only documents not accepted whose next attempt has come, records a
 * failure with its next attempt in the store, and leaves a document that
 * another sender holds (its lease) until the lease ends.  Against an in-memory
 * SQLite store; NetSuite is a closed loopback port, so every send fails
 * fast with no answer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "invoice/invoice_private.h"

#define NOW 1796083200000LL /* 2026-12-01 */

static void test_retry_delay_doubles_up_to_the_maximum(void **state)
{
	(void)state;
	/* rnd 0: the fixed half; rnd ~0: the whole (at most) */
	assert_int_equal(netsuite_retry_delay(1, 1000, 60000, 0), 500);
	assert_int_equal(netsuite_retry_delay(2, 1000, 60000, 0), 1000);
	assert_int_equal(netsuite_retry_delay(3, 1000, 60000, 0), 2000);
	assert_int_equal(netsuite_retry_delay(7, 1000, 60000, 0), 30000);
	assert_int_equal(netsuite_retry_delay(8, 1000, 60000, 0), 30000);
	assert_int_equal(netsuite_retry_delay(1000000, 1000, 60000, 0), 30000);
	for (uint32_t rnd = 0; rnd < 5000; rnd += 7) {
		int64_t d = netsuite_retry_delay(2, 1000, 60000, rnd * 2654435761u);
		assert_true(d >= 1000 && d <= 2000);
	}
	assert_int_equal(netsuite_retry_delay(0, 1000, 60000, 0), 500);
}

struct fixture {
	struct store *s;
	struct store_conn *c;
	struct netsuite_opts o;
};

static void exec(struct store_conn *c, const char *sql)
{
	assert_int_equal(store_exec(c, sql, NULL, 0, NULL), 0);
}

static int setup(void **state)
{
	static struct fixture f;
	char err[256];

	memset(&f, 0, sizeof(f));
	f.s = store_open("sqlite::memory:", err, sizeof(err));
	assert_non_null(f.s);
	assert_int_equal(store_migrate(f.s, err, sizeof(err)), 0);
	f.c = store_conn(f.s);
	exec(f.c, "INSERT INTO customers (id, name, status, billing_type, currency, created_at,"
		  " updated_at) VALUES ('cus_a', 'A', 'active', 'postpaid', 'USD', 0, 0)");
	/* one due (pending), one failed and due later, one sent */
	static const char doc[] =
	    "INSERT INTO invoices (id, number_seq, number, kind, customer_id, customer_name, "
	    "period,"
	    " seq, external_id, currency, opening_balance, payments, closing_balance, total,"
	    " entries, issued_at, netsuite_state, netsuite_attempts, netsuite_next_at) VALUES ";
	struct buf b;
	buf_init(&b);
	buf_printf(&b,
		   "%s ('inv_due', 1, 'INV-000001', 'invoice', 'cus_a', 'A', '2026-11', 0,"
		   " 'WARP-cus_a-202611-0', 'USD', 0, 0, 0, 0, 1, 0, 'pending', 0, 0),"
		   " ('inv_later', 2, 'CN-000002', 'credit_note', 'cus_a', 'A', '2026-11', 1,"
		   " 'WARP-cus_a-202611-1', 'USD', 0, 0, 0, 0, 1, 0, 'failed', 3, %lld),"
		   " ('inv_sent', 3, 'INV-000003', 'invoice', 'cus_a', 'A', '2026-10', 0,"
		   " 'WARP-cus_a-202610-0', 'USD', 0, 0, 0, 0, 1, 0, 'sent', 1, 0)",
		   doc, NOW + 60000);
	exec(f.c, b.p);
	buf_fini(&b);
	f.o = (struct netsuite_opts){
	    .account_id = "1",
	    .base_url = "http://127.0.0.1:1", /* nothing listens: no answer */
	    .consumer_key = "ck",
	    .consumer_secret = "cs",
	    .token_id = "t",
	    .token_secret = "ts",
	    .entity_map = "cus_a=7",
	    .item_map = "",
	    .calls_item = "1",
	    .sms_item = "2",
	    .adjustment_item = "3",
	    .timeout_ms = 2000,
	    .retry_base_ms = 10000,
	    .retry_max_ms = 600000,
	};
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	store_conn_release(f->s);
	store_close(f->s);
	return 0;
}

static void doc_state(struct store_conn *c, const char *id, const char *want, int64_t attempts,
		      int64_t *next_at)
{
	struct invoice d;
	invoice_init(&d);
	assert_int_equal(invoice_load(c, id, &d), 0);
	assert_string_equal(d.netsuite.state, want);
	assert_int_equal(d.netsuite.attempts, attempts);
	*next_at = d.netsuite.next_at;
	invoice_fini(&d);
}

static void test_a_pass_sends_what_is_due_and_schedules_its_retry(void **state)
{
	struct fixture *f = *state;
	int64_t next = 0;

	/* only inv_due: inv_later waits a minute, inv_sent is done */
	assert_int_equal(netsuite_sender_pass(f->c, &f->o, NOW, 50), 1);
	doc_state(f->c, "inv_due", "failed", 1, &next);
	/* the first failure waits 5 to 10 s from when it was recorded */
	int64_t d = next - time_wall_ms();
	assert_true(d > 4000 && d <= 10000);
	doc_state(f->c, "inv_later", "failed", 3, &next);
	assert_int_equal(next, NOW + 60000);
	doc_state(f->c, "inv_sent", "sent", 1, &next);
	/* nothing else is due at the same time */
	assert_int_equal(netsuite_sender_pass(f->c, &f->o, NOW, 50), 0);
	/* a minute on: inv_later is due (and inv_due not, its wait runs from
	 * the real clock) */
	assert_int_equal(netsuite_sender_pass(f->c, &f->o, NOW + 60000, 50), 1);
	doc_state(f->c, "inv_later", "failed", 4, &next);
	d = next - time_wall_ms();
	assert_true(d > 30000 && d <= 80000); /* the 4th failure: 40 to 80 s */
}

/* A document another sender holds (its lease: next_at ahead) waits for
 * the lease to end; a sent one is never picked, whatever its next_at. */
static void test_a_leased_document_waits_and_a_sent_one_stays(void **state)
{
	struct fixture *f = *state;
	int64_t next = 0;

	exec(f->c, "UPDATE invoices SET netsuite_next_at = 1796083205000 WHERE id = 'inv_due'");
	assert_int_equal(netsuite_sender_pass(f->c, &f->o, NOW, 50), 0);
	doc_state(f->c, "inv_due", "pending", 0, &next);
	assert_int_equal(next, NOW + 5000);
	assert_int_equal(netsuite_sender_pass(f->c, &f->o, NOW + 5000, 50), 1);
	doc_state(f->c, "inv_due", "failed", 1, &next);
	assert_int_equal(netsuite_sender_pass(f->c, &f->o, INT64_MAX / 2, 50), 2);
	doc_state(f->c, "inv_sent", "sent", 1, &next);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_retry_delay_doubles_up_to_the_maximum),
	    cmocka_unit_test_setup_teardown(test_a_pass_sends_what_is_due_and_schedules_its_retry,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_a_leased_document_waits_and_a_sent_one_stays,
					    setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
