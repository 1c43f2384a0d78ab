/*
 * test_api_webhook_dispatch.c — the webhook dispatcher's pure parts (the
 * Warp-Signature value checked against an HMAC computed here with OpenSSL's
 * EVP_MAC interface, the backoff schedule, event-type patterns) and its
 * fan-out from the outbox into webhook_deliveries on a real SQLite store.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/webhook_dispatch.h"

/* ------------------------------------------------------------ signature */

/* HMAC-SHA256 through EVP_MAC, not the HMAC() the dispatcher uses. */
static void reference_hmac_hex(const char *key, const char *msg, char *hex)
{
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(mac);
	OSSL_PARAM params[] = {
	    OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
	    OSSL_PARAM_construct_end()};
	unsigned char out[32];
	size_t outlen = 0;

	assert_non_null(ctx);
	assert_int_equal(EVP_MAC_init(ctx, (const unsigned char *)key, strlen(key), params), 1);
	assert_int_equal(EVP_MAC_update(ctx, (const unsigned char *)msg, strlen(msg)), 1);
	assert_int_equal(EVP_MAC_final(ctx, out, &outlen, sizeof(out)), 1);
	assert_int_equal(outlen, 32);
	for (size_t i = 0; i < outlen; i++)
		snprintf(hex + 2 * i, 3, "%02x", out[i]);
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
}

static void test_signature_is_hmac_sha256_of_timestamp_dot_body(void **state)
{
	const char *secret = "whsec_0123456789abcdef";
	const char *body =
	    "{\"id\":\"evt_1\",\"type\":\"trunk.created\",\"data\":{\"name\":\"a\"}}";
	char want_hex[65], want[128], got[API_DISPATCH_SIG_MAX];
	char msg[256];
	(void)state;

	snprintf(msg, sizeof(msg), "1700000000.%s", body);
	reference_hmac_hex(secret, msg, want_hex);
	snprintf(want, sizeof(want), "t=1700000000,v1=%s", want_hex);
	assert_int_equal(api_webhook_dispatch_sign(str_from_cstr(secret), 1700000000, str_from_cstr(body),
					   got, sizeof(got)),
			 0);
	assert_string_equal(got, want);
}

/* A fixed vector, computed outside WARP with
 *   printf '%s' '42.{}' | openssl dgst -sha256 -hmac 'key' */
static void test_signature_matches_fixed_vector(void **state)
{
	char got[API_DISPATCH_SIG_MAX];
	(void)state;

	assert_int_equal(api_webhook_dispatch_sign(STR_LIT("key"), 42, STR_LIT("{}"), got, sizeof(got)), 0);
	assert_string_equal(
	    got, "t=42,v1=479f5fabf373d659ed01b17cee79df2e457070f7b1795243f56bb889e667bdf7");
}

static void test_signature_changes_with_timestamp_body_and_secret(void **state)
{
	char a[API_DISPATCH_SIG_MAX], b[API_DISPATCH_SIG_MAX], c[API_DISPATCH_SIG_MAX],
	    d[API_DISPATCH_SIG_MAX];
	(void)state;

	api_webhook_dispatch_sign(STR_LIT("secret-one"), 100, STR_LIT("{\"a\":1}"), a, sizeof(a));
	api_webhook_dispatch_sign(STR_LIT("secret-one"), 101, STR_LIT("{\"a\":1}"), b, sizeof(b));
	api_webhook_dispatch_sign(STR_LIT("secret-one"), 100, STR_LIT("{\"a\":2}"), c, sizeof(c));
	api_webhook_dispatch_sign(STR_LIT("secret-two"), 100, STR_LIT("{\"a\":1}"), d, sizeof(d));
	assert_string_not_equal(strchr(a, 'v'), strchr(b, 'v'));
	assert_string_not_equal(a, c);
	assert_string_not_equal(a, d);
}

static void test_signature_refuses_short_buffer(void **state)
{
	char small[20];
	(void)state;
	assert_true(api_webhook_dispatch_sign(STR_LIT("k"), 1, STR_LIT("{}"), small, sizeof(small)) < 0);
}

/* -------------------------------------------------------------- backoff */

static void test_backoff_doubles_from_base_without_jitter(void **state)
{
	(void)state;
	/* r = 0 takes no jitter off: the bare schedule. */
	assert_int_equal(api_webhook_dispatch_backoff_ms(1000, 3600000, 1, 0), 1000);
	assert_int_equal(api_webhook_dispatch_backoff_ms(1000, 3600000, 2, 0), 2000);
	assert_int_equal(api_webhook_dispatch_backoff_ms(1000, 3600000, 3, 0), 4000);
	assert_int_equal(api_webhook_dispatch_backoff_ms(1000, 3600000, 6, 0), 32000);
}

static void test_backoff_capped_at_max(void **state)
{
	(void)state;
	assert_int_equal(api_webhook_dispatch_backoff_ms(1000, 10000, 5, 0), 10000);
	assert_int_equal(api_webhook_dispatch_backoff_ms(1000, 10000, 60, 0), 10000);
	/* Attempts far past 63 doublings neither overflow nor go negative. */
	assert_int_equal(api_webhook_dispatch_backoff_ms(5000, 3600000, 1000, 0), 3600000);
}

static void test_backoff_jitter_takes_at_most_a_quarter(void **state)
{
	(void)state;
	for (uint32_t r = 0; r < 5000; r += 7) {
		int64_t v = api_webhook_dispatch_backoff_ms(4000, 3600000, 2, r * 2654435761u);
		assert_true(v >= 6000 && v <= 8000);
	}
	/* With any jitter the next step is still longer than the last. */
	for (uint32_t r = 0; r < 1000; r++)
		assert_true(api_webhook_dispatch_backoff_ms(100, 100000, 3, r * 40503u) >
			    api_webhook_dispatch_backoff_ms(100, 100000, 2, 0));
}

/* ------------------------------------------------------- type patterns */

static void test_star_matches_every_type(void **state)
{
	(void)state;
	assert_true(api_webhook_dispatch_type_matches("[\"*\"]", "trunk.created"));
	assert_true(api_webhook_dispatch_type_matches("[\"*\"]", "customer.deleted"));
}

static void test_family_pattern_matches_its_family_only(void **state)
{
	(void)state;
	assert_true(api_webhook_dispatch_type_matches("[\"trunk.*\"]", "trunk.created"));
	assert_true(api_webhook_dispatch_type_matches("[\"trunk.*\"]", "trunk.deleted"));
	assert_false(api_webhook_dispatch_type_matches("[\"trunk.*\"]", "number.created"));
	assert_false(api_webhook_dispatch_type_matches("[\"trunk.*\"]", "trunks.created"));
	assert_false(api_webhook_dispatch_type_matches("[\"trunk.*\"]", "trunk"));
}

static void test_exact_pattern_matches_that_type_only(void **state)
{
	(void)state;
	const char *list = "[\"trunk.*\",\"number.created\"]";
	assert_true(api_webhook_dispatch_type_matches(list, "number.created"));
	assert_false(api_webhook_dispatch_type_matches(list, "number.updated"));
	assert_true(api_webhook_dispatch_type_matches(list, "trunk.updated"));
	assert_false(api_webhook_dispatch_type_matches("[\"number.created\"]", "number.created.x"));
}

static void test_malformed_or_empty_list_matches_nothing(void **state)
{
	(void)state;
	assert_false(api_webhook_dispatch_type_matches("[]", "trunk.created"));
	assert_false(api_webhook_dispatch_type_matches("not json", "trunk.created"));
	assert_false(api_webhook_dispatch_type_matches("{\"a\":\"*\"}", "trunk.created"));
	assert_false(api_webhook_dispatch_type_matches("[1,2]", "trunk.created"));
}

/* ------------------------------------------------------------- fan-out */

struct fixture {
	char dir[64];
	struct store *store;
	struct store_conn *c;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char url[128], err[256];

	snprintf(f->dir, sizeof(f->dir), "/tmp/warp-test-dispatch-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(url, sizeof(url), "sqlite:%s/warp.db", f->dir);
	f->store = store_open(url, err, sizeof(err));
	if (!f->store || store_migrate(f->store, err, sizeof(err)) < 0) {
		fprintf(stderr, "store: %s\n", err);
		return -1;
	}
	f->c = store_conn(f->store);
	*state = f;
	return f->c ? 0 : -1;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	const char *files[] = {"warp.db", "warp.db-wal", "warp.db-shm"};
	char path[128];

	store_close(f->store);
	for (size_t i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", f->dir, files[i]);
		unlink(path);
	}
	rmdir(f->dir);
	free(f);
	return 0;
}

static void sql(struct fixture *f, const char *text)
{
	int rc = store_exec(f->c, text, NULL, 0, NULL);
	if (rc < 0)
		fail_msg("%s: %s", text, store_conn_errmsg(f->c));
}

static void seed(struct fixture *f)
{
	sql(f, "INSERT INTO customers (id, name, status, billing_type, currency, created_at,"
	       " updated_at) VALUES ('cus_a', 'A', 'active', 'prepaid', 'USD', 1, 1),"
	       " ('cus_b', 'B', 'active', 'prepaid', 'USD', 1, 1)");
	/* Port 9 on loopback: nothing listens, every attempt fails fast. */
	sql(f,
	    "INSERT INTO webhooks (id, customer_id, url, secret, event_types, enabled, created_at,"
	    " updated_at) VALUES"
	    " ('whk_all', 'cus_a', 'http://127.0.0.1:9/', 'secretsecretsecret', '[\"*\"]', 1, 1, "
	    "1),"
	    " ('whk_trunks', 'cus_a', 'http://127.0.0.1:9/', 'secretsecretsecret',"
	    "  '[\"trunk.*\"]', 1, 1, 1),"
	    " ('whk_off', 'cus_a', 'http://127.0.0.1:9/', 'secretsecretsecret', '[\"*\"]', 0, 1, "
	    "1),"
	    " ('whk_late', 'cus_a', 'http://127.0.0.1:9/', 'secretsecretsecret', '[\"*\"]', 1, 1, "
	    "1),"
	    " ('whk_b', 'cus_b', 'http://127.0.0.1:9/', 'secretsecretsecret', '[\"*\"]', 1, 1, 1)");
	sql(f,
	    "INSERT INTO events (id, seq, customer_id, type, resource_id, data, created_at) VALUES"
	    " ('evt_1', 1, 'cus_a', 'trunk.created', 'trk_1', '{}', 1),"
	    " ('evt_2', 2, 'cus_a', 'number.created', 'num_1', '{}', 2),"
	    " ('evt_3', 3, NULL, 'carrier.created', 'car_1', '{}', 3),"
	    " ('evt_4', 4, 'cus_a', 'webhook.created', 'whk_late', '{}', 4),"
	    " ('evt_5', 5, 'cus_a', 'trunk.updated', 'trk_1', '{}', 5)");
}

/* Runs a dispatcher until the query's one value reaches until (bounded wait). */
static void run_until(struct fixture *f, const char *query, int64_t until)
{
	struct api_webhook_dispatch_opts o;
	char err[128];
	api_webhook_dispatch_opts_init(&o);
	o.store = f->store;
	o.poll_ms = 20;
	o.timeout_ms = 500;
	o.backoff_base_ms = 60000;
	o.allow_private = true; /* the webhooks point at 127.0.0.1:9 */
	struct api_webhook_dispatch *d = api_webhook_dispatch_start_opts(&o, err, sizeof(err));
	assert_non_null(d);
	int64_t last = 0;
	for (int i = 0; i < 250 && last < until; i++) {
		struct store_res *r = NULL;
		usleep(20000);
		if (store_exec(f->c, query, NULL, 0, &r) == 0)
			last = store_res_int(r, 0, 0);
		store_res_free(r);
	}
	int64_t t0 = time_mono_ms();
	api_webhook_dispatch_stop(d);
	assert_true(time_mono_ms() - t0 < 2000);
	assert_int_equal(last, until);
}

/* Until the fan-out reached seq 5 of the config stream. */
static void run_fanout(struct fixture *f)
{
	run_until(f, "SELECT last_seq FROM webhook_dispatch WHERE id = 1", 5);
}

static void deliveries_of(struct fixture *f, const char *webhook, char *out, size_t n)
{
	struct store_res *r = NULL;
	struct store_param p[] = {store_p_text(webhook)};
	out[0] = 0;
	assert_int_equal(store_exec(f->c,
				    "SELECT event_id FROM webhook_deliveries WHERE webhook_id = $1"
				    " ORDER BY seq",
				    p, 1, &r),
			 0);
	for (size_t i = 0; i < store_res_rows(r); i++) {
		strncat(out, store_res_text(r, i, 0), n - strlen(out) - 1);
		strncat(out, " ", n - strlen(out) - 1);
	}
	store_res_free(r);
}

static void test_fanout_follows_customer_types_enabled_and_creation(void **state)
{
	struct fixture *f = *state;
	char got[256];

	seed(f);
	run_fanout(f);
	deliveries_of(f, "whk_all", got, sizeof(got));
	assert_string_equal(got, "evt_1 evt_2 evt_4 evt_5 "); /* not the admin-only evt_3 */
	deliveries_of(f, "whk_trunks", got, sizeof(got));
	assert_string_equal(got, "evt_1 evt_5 ");
	deliveries_of(f, "whk_off", got, sizeof(got));
	assert_string_equal(got, "");
	deliveries_of(f, "whk_late", got, sizeof(got)); /* created by evt_4 */
	assert_string_equal(got, "evt_5 ");
	deliveries_of(f, "whk_b", got, sizeof(got)); /* another customer's events */
	assert_string_equal(got, "");
}

static void test_fanout_twice_never_doubles(void **state)
{
	struct fixture *f = *state;
	struct store_res *r = NULL;

	seed(f);
	run_fanout(f);
	/* As if a crash had lost the cursor move: the rows are not made twice. */
	sql(f, "UPDATE webhook_dispatch SET last_seq = 0");
	run_fanout(f);
	assert_int_equal(store_exec(f->c, "SELECT COUNT(*) FROM webhook_deliveries", NULL, 0, &r),
			 0);
	assert_int_equal(store_res_int(r, 0, 0), 4 + 2 + 1);
	store_res_free(r);
}

static void test_failed_attempt_is_recorded_and_rescheduled(void **state)
{
	struct fixture *f = *state;
	struct store_res *r = NULL;

	seed(f);
	int64_t before = time_wall_ms();
	/* Until the head's attempt is recorded, not just fanned out: a stop
	 * between the two abandons the attempt. */
	run_until(f,
		  "SELECT COUNT(*) FROM webhook_deliveries WHERE webhook_id = 'whk_all'"
		  " AND event_id = 'evt_1' AND attempts > 0",
		  1);
	/* Each webhook's head (evt_1 for whk_all) was attempted against a closed
	 * port and is due again after the 60 s base, less at most 25%. */
	assert_int_equal(
	    store_exec(f->c,
		       "SELECT status, attempts, next_attempt_at, last_error FROM"
		       " webhook_deliveries WHERE webhook_id = 'whk_all' AND event_id = 'evt_1'",
		       NULL, 0, &r),
	    0);
	assert_string_equal(store_res_text(r, 0, 0), "pending");
	assert_int_equal(store_res_int(r, 0, 1), 1);
	assert_true(store_res_int(r, 0, 2) >= before + 45000);
	assert_true(strlen(store_res_text(r, 0, 3)) > 0);
	store_res_free(r);
	/* The ones behind it were not attempted: in order per webhook. */
	assert_int_equal(
	    store_exec(f->c,
		       "SELECT COUNT(*) FROM webhook_deliveries WHERE webhook_id = 'whk_all'"
		       " AND attempts > 0",
		       NULL, 0, &r),
	    0);
	assert_int_equal(store_res_int(r, 0, 0), 1);
	store_res_free(r);
}

/* message_events rows come without seq; the fan-out numbers them in the
 * order it finds them and fans them out as their own stream. */
static void test_message_events_numbered_at_fanout_as_own_stream(void **state)
{
	struct fixture *f = *state;
	struct store_res *r = NULL;
	char got[256];

	seed(f);
	sql(f, "INSERT INTO message_events (id, group_id, customer_id, type, data, created_at)"
	       " VALUES ('evt_m2', 'msg_2', 'cus_a', 'message.status', '{}', 20),"
	       " ('evt_m1', 'msg_1', 'cus_a', 'message.status', '{}', 10),"
	       " ('evt_m3', 'msg_3', 'cus_b', 'message.status', '{}', 30)");
	run_until(f, "SELECT last_seq FROM webhook_dispatch WHERE id = 2", 3);
	assert_int_equal(
	    store_exec(f->c, "SELECT id FROM message_events ORDER BY seq", NULL, 0, &r), 0);
	assert_int_equal(store_res_rows(r), 3);
	assert_string_equal(store_res_text(r, 0, 0), "evt_m1");
	assert_string_equal(store_res_text(r, 2, 0), "evt_m3");
	store_res_free(r);
	assert_int_equal(store_exec(f->c,
				    "SELECT event_id FROM webhook_deliveries WHERE webhook_id ="
				    " 'whk_all' AND stream = 'message' ORDER BY seq",
				    NULL, 0, &r),
			 0);
	assert_int_equal(store_res_rows(r), 2);
	assert_string_equal(store_res_text(r, 0, 0), "evt_m1");
	assert_string_equal(store_res_text(r, 1, 0), "evt_m2");
	store_res_free(r);
	deliveries_of(f, "whk_b", got, sizeof(got)); /* its customer's message only */
	assert_string_equal(got, "evt_m3 ");
	/* The config version stays where provisioning left it. */
	assert_int_equal(store_exec(f->c, "SELECT version FROM config_version", NULL, 0, &r), 0);
	assert_int_equal(store_res_int(r, 0, 0), 1);
	store_res_free(r);
}

/* One value of a one-row query. */
static int64_t count_of(struct fixture *f, const char *query)
{
	struct store_res *r = NULL;
	assert_int_equal(store_exec(f->c, query, NULL, 0, &r), 0);
	int64_t n = store_res_int(r, 0, 0);
	store_res_free(r);
	return n;
}

/* A message.status event of a message whose parts name a callback_url gets
 * one message_callbacks row with that URL; one without a URL, an event
 * naming a group of another customer's rows, and a message.received event
 * get none. */
static void test_callback_fanned_out_for_its_own_customers_message_with_a_url(void **state)
{
	struct fixture *f = *state;
	struct store_res *r = NULL;

	seed(f);
	sql(f, "INSERT INTO messages (id, group_id, part_seq, part_total, customer_id, origin,"
	       " source, destination, body, state, expires_at, created_at, updated_at,"
	       " callback_url) VALUES"
	       " ('msg_1', 'msg_1', 1, 2, 'cus_a', 'http', 'W', '4470', '', 'delivered', 9, 1, 1,"
	       "  'https://example.com/cb'),"
	       " ('msg_1b', 'msg_1', 2, 2, 'cus_a', 'http', 'W', '4470', '', 'delivered', 9, 1, 1,"
	       "  'https://example.com/cb'),"
	       " ('msg_2', 'msg_2', 1, 1, 'cus_a', 'http', 'W', '4470', '', 'delivered', 9, 1, 1,"
	       "  NULL),"
	       " ('msg_3', 'msg_3', 1, 1, 'cus_a', 'http', 'W', '4470', '', 'delivered', 9, 1, 1,"
	       "  'https://example.com/cb')");
	sql(f, "INSERT INTO message_events (id, group_id, customer_id, type, data, created_at)"
	       " VALUES ('evt_m1', 'msg_1', 'cus_a', 'message.status', '{}', 10),"
	       " ('evt_m2', 'msg_2', 'cus_a', 'message.status', '{}', 11),"
	       " ('evt_mx', 'msg_3', 'cus_b', 'message.status', '{}', 12),"
	       " ('evt_mo', 'msg_1', 'cus_a', 'message.received', '{}', 13)");
	assert_int_equal(api_fanout_run(f->c, API_STREAM_MESSAGE), 4);
	assert_int_equal(api_fanout_run(f->c, API_STREAM_MESSAGE), 0); /* nothing twice */
	assert_int_equal(store_exec(f->c,
				    "SELECT event_id, customer_id, url, status, attempts, seq"
				    " FROM message_callbacks",
				    NULL, 0, &r),
			 0);
	assert_int_equal(store_res_rows(r), 1);
	assert_string_equal(store_res_text(r, 0, 0), "evt_m1");
	assert_string_equal(store_res_text(r, 0, 1), "cus_a");
	assert_string_equal(store_res_text(r, 0, 2), "https://example.com/cb");
	assert_string_equal(store_res_text(r, 0, 3), "pending");
	assert_int_equal(store_res_int(r, 0, 4), 0);
	assert_int_equal(store_res_int(r, 0, 5), 1); /* the event's seq */
	store_res_free(r);
}

/* Retention takes events older than the cut that were fanned out and have
 * no pending delivery, with their deliveries, at most a batch at a time. */
static void test_retention_deletes_done_old_events_with_their_deliveries(void **state)
{
	struct fixture *f = *state;

	seed(f);
	sql(f, "INSERT INTO message_events (id, group_id, customer_id, type, data, created_at, seq)"
	       " VALUES ('evt_d1', 'msg_1', 'cus_a', 'message.status', '{}', 10, 1),"
	       " ('evt_d2', 'msg_2', 'cus_a', 'message.status', '{}', 11, 2),"
	       " ('evt_d3', 'msg_3', 'cus_a', 'message.status', '{}', 12, 3),"
	       " ('evt_wh', 'msg_4', 'cus_a', 'message.status', '{}', 13, 4),"
	       " ('evt_cb', 'msg_5', 'cus_a', 'message.status', '{}', 14, 5),"
	       " ('evt_new', 'msg_6', 'cus_a', 'message.status', '{}', 500, 6)");
	sql(f, "INSERT INTO message_events (id, group_id, customer_id, type, data, created_at)"
	       " VALUES ('evt_unfanned', 'msg_7', 'cus_a', 'message.status', '{}', 15)");
	sql(f, "INSERT INTO webhook_deliveries (event_id, webhook_id, stream, status,"
	       " next_attempt_at, seq) VALUES ('evt_d1', 'whk_all', 'message', 'delivered', 0, 1),"
	       " ('evt_d2', 'whk_all', 'message', 'failed', 0, 2),"
	       " ('evt_wh', 'whk_all', 'message', 'pending', 0, 4),"
	       " ('evt_new', 'whk_all', 'message', 'delivered', 0, 6),"
	       " ('evt_1', 'whk_all', 'config', 'delivered', 0, 1)");
	sql(f, "INSERT INTO message_callbacks (event_id, customer_id, url, status, next_attempt_at,"
	       " seq) VALUES ('evt_d3', 'cus_a', 'http://x/', 'delivered', 0, 3),"
	       " ('evt_cb', 'cus_a', 'http://x/', 'pending', 0, 5)");
	assert_int_equal(api_retention_prune(f->c, 100, 2), 2); /* a batch: the oldest two */
	assert_int_equal(count_of(f, "SELECT COUNT(*) FROM message_events WHERE id IN"
				     " ('evt_d1', 'evt_d2')"),
			 0);
	assert_int_equal(api_retention_prune(f->c, 100, 2), 1);
	assert_int_equal(api_retention_prune(f->c, 100, 2), 0);
	/* Left: the pending ones, the unfanned one, the young one. */
	assert_int_equal(count_of(f, "SELECT COUNT(*) FROM message_events"), 4);
	assert_int_equal(count_of(f, "SELECT COUNT(*) FROM message_events WHERE id IN ('evt_wh',"
				     " 'evt_cb', 'evt_new', 'evt_unfanned')"),
			 4);
	assert_int_equal(count_of(f, "SELECT COUNT(*) FROM webhook_deliveries WHERE event_id IN"
				     " ('evt_d1', 'evt_d2')"),
			 0);
	assert_int_equal(count_of(f, "SELECT COUNT(*) FROM message_callbacks"), 1);
	/* Provisioning events and their deliveries are not the sweep's. */
	assert_int_equal(count_of(f, "SELECT COUNT(*) FROM webhook_deliveries WHERE stream ="
				     " 'config'"),
			 1);
	assert_int_equal(count_of(f, "SELECT COUNT(*) FROM events"), 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_signature_is_hmac_sha256_of_timestamp_dot_body),
	    cmocka_unit_test(test_signature_matches_fixed_vector),
	    cmocka_unit_test(test_signature_changes_with_timestamp_body_and_secret),
	    cmocka_unit_test(test_signature_refuses_short_buffer),
	    cmocka_unit_test(test_backoff_doubles_from_base_without_jitter),
	    cmocka_unit_test(test_backoff_capped_at_max),
	    cmocka_unit_test(test_backoff_jitter_takes_at_most_a_quarter),
	    cmocka_unit_test(test_star_matches_every_type),
	    cmocka_unit_test(test_family_pattern_matches_its_family_only),
	    cmocka_unit_test(test_exact_pattern_matches_that_type_only),
	    cmocka_unit_test(test_malformed_or_empty_list_matches_nothing),
	    cmocka_unit_test_setup_teardown(test_fanout_follows_customer_types_enabled_and_creation,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fanout_twice_never_doubles, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_failed_attempt_is_recorded_and_rescheduled, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_message_events_numbered_at_fanout_as_own_stream,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_callback_fanned_out_for_its_own_customers_message_with_a_url, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_retention_deletes_done_old_events_with_their_deliveries, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
