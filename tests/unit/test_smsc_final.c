/*
 * test_smsc_final.c — a part's final state and its group's one
 * message.status event (src/smsc/final.c) on a real store: one event
 * when a group ends, none before, one only when several parts fail, none
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

/* A group of total parts msg_g1 .. msg_g<total>, all submitted. */
static void seed_group(struct fixture *f, int total)
{
	char q[1024];

	sql(f, "INSERT INTO customers (id, name, status, billing_type, currency, created_at,"
	       " updated_at) VALUES ('cus_a', 'A', 'active', 'prepaid', 'USD', 1, 1)");
	for (int i = 1; i <= total; i++) {
		snprintf(q, sizeof(q),
			 "INSERT INTO messages (id, group_id, part_seq, part_total, customer_id, "
			 "origin, client_ref, source, destination, body, state, carrier_id, "
			 "upstream_id, expires_at, created_at, updated_at) VALUES ('msg_g%d', "
			 "'msg_g1', %d, %d, 'cus_a', 'smpp', 'ref7', '1555', '4477', '00', "
			 "'submitted', 'car_x', 'up%d', 9999999999999, %d, %d)",
			 i, i, total, i, 100 + i, 100 + i);
		sql(f, q);
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
	    cmocka_unit_test_setup_teardown(test_config_version_does_not_move,
					    fixture_setup_migrated, fixture_teardown),
	};
	return FIXTURE_RUN("smsc_final", tests);
}
