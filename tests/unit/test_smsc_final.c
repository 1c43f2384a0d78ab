/*
 * test_smsc_final.c — a part's final state and its group's one
 * message.status event (src/smsc/final.c) on a real store: one event
 * when a group ends, none before, one only when several parts fail, a
 * submit_multi's only when every destination is final, none
 * when the part's guard no longer holds, and the config version untouched.
 * On PostgreSQL too when WARP_TEST_PG_URL is set (test_store_fixture.h).
 */
#include <jansson.h>

#include "smsc/smsc_private.h"
#include "test_store_fixture.h"

static void sql(struct fixture *f, const char *text)
{
	fixture_exec_ok(store_conn(f->store), text);
}

static int64_t scalar(struct fixture *f, const char *text)
{
	return fixture_query_int(store_conn(f->store), text);
}

/* Part seq of total in group to dest, submitted (accepted at 100 + seq). */
static void seed_row(struct fixture *f, const char *id, const char *group, const char *dest,
		     int seq, int total)
{
	char q[1024];

	snprintf(q, sizeof(q),
		 "INSERT INTO messages (id, group_id, part_seq, part_total, customer_id, "
		 "origin, client_ref, source, destination, body, state, carrier_id, "
		 "upstream_id, expires_at, created_at, updated_at) VALUES ('%s', "
		 "'%s', %d, %d, 'cus_a', 'smpp', 'ref7', '1555', '%s', '00', "
		 "'submitted', 'car_x', 'up_%s', 9999999999999, %d, %d)",
		 id, group, seq, total, dest, id, 100 + seq, 100 + seq);
	sql(f, q);
}

static void seed_part(struct fixture *f, const char *id, const char *group, int seq, int total)
{
	seed_row(f, id, group, "4477", seq, total);
}

static void seed_customer(struct fixture *f)
{
	sql(f, "INSERT INTO customers (id, name, status, billing_type, currency, created_at,"
	       " updated_at) VALUES ('cus_a', 'A', 'active', 'prepaid', 'USD', 1, 1)");
}

/* A group of total parts msg_g1 .. msg_g<total>, all submitted. */
static void seed_group(struct fixture *f, int total)
{
	char id[32];

	seed_customer(f);
	for (int i = 1; i <= total; i++) {
		snprintf(id, sizeof(id), "msg_g%d", i);
		seed_part(f, id, "msg_g1", i, total);
	}
}

static int receipt(struct fixture *f, const char *id, const char *state, const char *error)
{
	struct smsc_final fin = {
	    .guard = SMSC_FINAL_SUBMITTED, .id = id, .state = state, .error = error, .now = 5000};
	return smsc_final_apply(f->store, &fin);
}

static json_t *event_data(struct fixture *f)
{
	struct store_res *r = NULL;
	assert_int_equal(
	    store_exec(store_conn(f->store),
		       "SELECT data, group_id, customer_id, type, seq FROM message_events", NULL, 0,
		       &r),
	    0);
	assert_int_equal(store_res_rows(r), 1);
	assert_string_equal(store_res_text(r, 0, 1), "msg_g1");
	assert_string_equal(store_res_text(r, 0, 2), "cus_a");
	assert_string_equal(store_res_text(r, 0, 3), "message.status");
	assert_true(store_res_isnull(r, 0, 4)); /* numbered by the fan-out, not here */
	json_t *d = json_loads(store_res_text(r, 0, 0), 0, NULL);
	store_res_free(r);
	assert_non_null(d);
	return d;
}

static void test_single_part_delivered_writes_one_event(void **state)
{
	struct fixture *f = *state;

	seed_group(f, 1);
	assert_int_equal(receipt(f, "msg_g1", "delivered", ""), 2);
	json_t *d = event_data(f);
	assert_string_equal(json_string_value(json_object_get(d, "status")), "delivered");
	assert_string_equal(json_string_value(json_object_get(d, "id")), "msg_g1");
	assert_string_equal(json_string_value(json_object_get(d, "carrier_id")), "car_x");
	assert_string_equal(json_string_value(json_object_get(d, "client_ref")), "ref7");
	assert_true(json_is_null(json_object_get(d, "error")));
	assert_int_equal(json_integer_value(json_object_get(d, "submitted_at")), 101);
	assert_int_equal(json_integer_value(json_object_get(d, "done_at")), 5000);
	json_decref(d);
}

static void test_group_is_delivered_only_with_its_last_part(void **state)
{
	struct fixture *f = *state;

	seed_group(f, 3);
	assert_int_equal(receipt(f, "msg_g2", "delivered", ""), 1);
	assert_int_equal(receipt(f, "msg_g1", "delivered", ""), 1);
	assert_int_equal(scalar(f, "SELECT COUNT(*) FROM message_events"), 0);
	assert_int_equal(receipt(f, "msg_g3", "delivered", ""), 2);
	json_t *d = event_data(f);
	json_t *parts = json_object_get(d, "parts");
	assert_int_equal(json_integer_value(json_object_get(parts, "total")), 3);
	assert_int_equal(json_integer_value(json_object_get(parts, "delivered")), 3);
	assert_int_equal(json_integer_value(json_object_get(parts, "failed")), 0);
	json_decref(d);
}

static void test_first_failed_part_fails_the_group_once(void **state)
{
	struct fixture *f = *state;

	seed_group(f, 3);
	assert_int_equal(receipt(f, "msg_g1", "delivered", ""), 1);
	assert_int_equal(receipt(f, "msg_g2", "undeliverable", "err:001"), 2);
	assert_int_equal(receipt(f, "msg_g3", "expired", "err:002"), 1);
	json_t *d = event_data(f); /* still the one row */
	assert_string_equal(json_string_value(json_object_get(d, "status")), "undeliverable");
	assert_string_equal(json_string_value(json_object_get(d, "error")), "err:001");
	json_t *parts = json_object_get(d, "parts");
	assert_int_equal(json_integer_value(json_object_get(parts, "delivered")), 1);
	assert_int_equal(json_integer_value(json_object_get(parts, "failed")), 1);
	json_decref(d);
	assert_int_equal(scalar(f, "SELECT COUNT(*) FROM messages WHERE state = 'expired'"), 1);
}

static void test_part_whose_guard_fails_moves_nothing(void **state)
{
	struct fixture *f = *state;

	seed_group(f, 1);
	sql(f, "UPDATE messages SET state = 'queued', lease_owner = 'lease_other'");
	assert_int_equal(receipt(f, "msg_g1", "delivered", ""), 0);
	struct smsc_final mine = {.guard = SMSC_FINAL_LEASED,
				  .id = "msg_g1",
				  .state = "rejected",
				  .error = "no_route",
				  .owner = "lease_me",
				  .now = 5000};
	assert_int_equal(smsc_final_apply(f->store, &mine), 0);
	assert_int_equal(receipt(f, "msg_nobody", "delivered", ""), 0);
	assert_int_equal(scalar(f, "SELECT COUNT(*) FROM message_events"), 0);
	assert_int_equal(scalar(f, "SELECT COUNT(*) FROM messages WHERE state = 'queued'"), 1);
	/* Its holder may. */
	mine.owner = "lease_other";
	assert_int_equal(smsc_final_apply(f->store, &mine), 2);
	assert_int_equal(scalar(f, "SELECT COUNT(*) FROM message_events"), 1);
}

/* A part known to be its group's only one takes the one-row path (on
 * PostgreSQL one statement): the same event, and nothing when its guard
 * no longer holds. */
static void test_known_single_part_writes_the_same_event(void **state)
{
	struct fixture *f = *state;
	struct smsc_final fin = {.guard = SMSC_FINAL_SUBMITTED,
				 .id = "msg_g1",
				 .state = "undeliverable",
				 .error = "err:005",
				 .now = 5000,
				 .parts = 1};

	seed_group(f, 1);
	assert_int_equal(smsc_final_apply(f->store, &fin), 2);
	json_t *d = event_data(f);
	assert_string_equal(json_string_value(json_object_get(d, "status")), "undeliverable");
	assert_string_equal(json_string_value(json_object_get(d, "id")), "msg_g1");
	assert_string_equal(json_string_value(json_object_get(d, "error")), "err:005");
	assert_string_equal(json_string_value(json_object_get(d, "carrier_id")), "car_x");
	assert_string_equal(json_string_value(json_object_get(d, "client_ref")), "ref7");
	assert_int_equal(json_integer_value(json_object_get(d, "submitted_at")), 101);
	assert_int_equal(json_integer_value(json_object_get(d, "done_at")), 5000);
	json_t *parts = json_object_get(d, "parts");
	assert_int_equal(json_integer_value(json_object_get(parts, "total")), 1);
	assert_int_equal(json_integer_value(json_object_get(parts, "delivered")), 0);
	assert_int_equal(json_integer_value(json_object_get(parts, "failed")), 1);
	json_decref(d);
	fin.state = "delivered";
	assert_int_equal(smsc_final_apply(f->store, &fin), 0); /* no longer submitted */
	sql(f, "UPDATE messages SET state = 'queued', lease_owner = 'lease_me'");
	struct smsc_final leased = {.guard = SMSC_FINAL_LEASED,
				    .id = "msg_g1",
				    .state = "rejected",
				    .error = "no_route",
				    .owner = "lease_other",
				    .now = 6000,
				    .parts = 1};
	assert_int_equal(smsc_final_apply(f->store, &leased), 0);
	assert_int_equal(scalar(f, "SELECT COUNT(*) FROM messages WHERE state = 'queued'"), 1);
}

/* Many moves through the batching writer share one transaction, each still
 * all or nothing: two parts of one group (its event with the second), two
 * single parts, and one whose guard fails among them. */
static void test_many_moves_in_one_batch(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *id;
		int parts;
	} moves[] = {{"msg_p1", 2}, {"msg_s1", 1}, {"msg_x", 1}, {"msg_p2", 2}, {"msg_s2", 0}};
	struct store_batch *b = store_batch_new(f->store, "SELECT 1", 0, 16, 16, 200);

	seed_customer(f);
	seed_part(f, "msg_p1", "msg_p1", 1, 2);
	seed_part(f, "msg_p2", "msg_p1", 2, 2);
	seed_part(f, "msg_s1", "msg_s1", 1, 1);
	seed_part(f, "msg_s2", "msg_s2", 1, 1);
	seed_part(f, "msg_x", "msg_x", 1, 1);
	sql(f, "UPDATE messages SET state = 'queued' WHERE id = 'msg_x'");
	assert_non_null(b);
	for (size_t i = 0; i < sizeof(moves) / sizeof(moves[0]); i++) {
		struct smsc_final fin = {.guard = SMSC_FINAL_SUBMITTED,
					 .id = moves[i].id,
					 .state = "delivered",
					 .now = 7000,
					 .parts = moves[i].parts};
		struct smsc_final_stmts st;
		assert_int_equal(smsc_final_stmts(&fin, f->kind == STORE_POSTGRES, &st), 0);
		assert_int_equal(store_batch_add_group(b, st.st, st.n, NULL, NULL), 0);
	}
	store_batch_free(b); /* flushes */
	assert_int_equal(scalar(f, "SELECT COUNT(*) FROM messages WHERE state = 'delivered'"), 4);
	assert_int_equal(scalar(f, "SELECT COUNT(*) FROM message_events"), 3);
	assert_int_equal(scalar(f, "SELECT COUNT(*) FROM message_events WHERE group_id IN "
				   "('msg_p1', 'msg_s1', 'msg_s2')"),
			 3);
}

/* A submit_multi: group msg_g1 (no row of that id) to two destinations,
 * 4471 in parts1 and 4472 in parts2 parts, every row submitted. */
static void seed_multi(struct fixture *f, int parts1, int parts2)
{
	char id[32];

	seed_customer(f);
	for (int i = 1; i <= parts1; i++) {
		snprintf(id, sizeof(id), "msg_a%d", i);
		seed_row(f, id, "msg_g1", "4471", i, parts1);
	}
	for (int i = 1; i <= parts2; i++) {
		snprintf(id, sizeof(id), "msg_b%d", i);
		seed_row(f, id, "msg_g1", "4472", i, parts2);
	}
}

static void assert_counts(json_t *d, const char *key, int total, int delivered, int failed)
{
	json_t *c = json_object_get(d, key);

	assert_int_equal(json_integer_value(json_object_get(c, "total")), total);
	assert_int_equal(json_integer_value(json_object_get(c, "delivered")), delivered);
	assert_int_equal(json_integer_value(json_object_get(c, "failed")), failed);
}

/* The one event, asserted to have status and error (NULL: null). */
static json_t *event_is(struct fixture *f, const char *status, const char *error)
{
	json_t *d = event_data(f);

	assert_string_equal(json_string_value(json_object_get(d, "status")), status);
	if (error)
		assert_string_equal(json_string_value(json_object_get(d, "error")), error);
	else
		assert_true(json_is_null(json_object_get(d, "error")));
	return d;
}

/* Each destination is final on its own: the first delivered leaves the
 * message open; the second failing ends it, failed, counting both. */
static void test_multi_is_final_with_its_last_destination(void **state)
{
	struct fixture *f = *state;

	seed_multi(f, 1, 1);
	assert_int_equal(receipt(f, "msg_a1", "delivered", ""), 1);
	assert_int_equal(scalar(f, "SELECT COUNT(*) FROM message_events"), 0);
	assert_int_equal(receipt(f, "msg_b1", "undeliverable", "err:011"), 2);
	json_t *d = event_is(f, "undeliverable", "err:011");
	assert_counts(d, "parts", 2, 1, 1);
	assert_counts(d, "destinations", 2, 1, 1);
	json_decref(d);
}

/* A destination that failed early does not end the message while another
 * is under way; the message ends failed, with that destination's error,
 * once the other's parts are all delivered. */
static void test_multi_failed_destination_waits_for_the_others(void **state)
{
	struct fixture *f = *state;

	seed_multi(f, 2, 2);
	assert_int_equal(receipt(f, "msg_a1", "undeliverable", "err:001"), 1);
	assert_int_equal(receipt(f, "msg_b1", "delivered", ""), 1);
	assert_int_equal(scalar(f, "SELECT COUNT(*) FROM message_events"), 0);
	assert_int_equal(receipt(f, "msg_b2", "delivered", ""), 2);
	json_t *d = event_is(f, "undeliverable", "err:001");
	assert_counts(d, "parts", 4, 2, 1);
	assert_counts(d, "destinations", 2, 1, 1);
	json_decref(d);
}

/* Two failed destinations: the status is the stronger state (rejected over
 * expired), as GET and query_sm derive it; all delivered: delivered. */
static void test_multi_status_is_the_strongest_failure(void **state)
{
	struct fixture *f = *state;

	seed_multi(f, 1, 1);
	assert_int_equal(receipt(f, "msg_a1", "expired", "err:002"), 1);
	assert_int_equal(receipt(f, "msg_b1", "rejected", "err:003"), 2);
	json_t *d = event_is(f, "rejected", "err:003");
	assert_counts(d, "destinations", 2, 0, 2);
	json_decref(d);
	sql(f, "DELETE FROM message_events");
	sql(f, "UPDATE messages SET state = 'submitted'");
	assert_int_equal(receipt(f, "msg_b1", "delivered", ""), 1);
	assert_int_equal(receipt(f, "msg_a1", "delivered", ""), 2);
	d = event_is(f, "delivered", NULL);
	assert_counts(d, "destinations", 2, 2, 0);
	json_decref(d);
}

static void test_config_version_does_not_move(void **state)
{
	struct fixture *f = *state;

	seed_group(f, 2);
	int64_t before = scalar(f, "SELECT version FROM config_version WHERE id = 1");
	assert_int_equal(receipt(f, "msg_g1", "delivered", ""), 1);
	assert_int_equal(receipt(f, "msg_g2", "delivered", ""), 2);
	assert_int_equal(scalar(f, "SELECT COUNT(*) FROM message_events"), 1);
	assert_int_equal(scalar(f, "SELECT version FROM config_version WHERE id = 1"), before);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_single_part_delivered_writes_one_event,
					    fixture_setup_migrated, fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_group_is_delivered_only_with_its_last_part,
					    fixture_setup_migrated, fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_first_failed_part_fails_the_group_once,
					    fixture_setup_migrated, fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_part_whose_guard_fails_moves_nothing,
					    fixture_setup_migrated, fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_known_single_part_writes_the_same_event,
					    fixture_setup_migrated, fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_many_moves_in_one_batch, fixture_setup_migrated,
					    fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_multi_is_final_with_its_last_destination,
					    fixture_setup_migrated, fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_multi_failed_destination_waits_for_the_others,
					    fixture_setup_migrated, fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_multi_status_is_the_strongest_failure,
					    fixture_setup_migrated, fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_config_version_does_not_move,
					    fixture_setup_migrated, fixture_teardown),
	};
	return FIXTURE_RUN("smsc_final", tests);
}
