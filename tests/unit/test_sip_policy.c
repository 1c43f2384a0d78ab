/* test_sip_policy.c — src/sip/policy.c and snapshot.c (and the CDR writer of
 * cdr.c) against a real store: provisioning rows inserted with SQL, the
 * snapshot built through a snapshot loader, INVITEs parsed with
 * sip_msg_parse, and the plans checked as the proxy core would read them. */
#include "test_store_fixture.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>

#include "sip/policy_private.h"

struct env {
	struct fixture *f;
	struct snapshot_loader *loader;
	struct sip_policy *p;
	struct sip_call_plan plan;
};

static const char *const provisioning[] = {
    "INSERT INTO customers (id, name, status, billing_type, currency, created_at, updated_at) "
    "VALUES ('cus_a', 'A', 'active', 'prepaid', 'USD', 0, 0), "
    "('cus_b', 'B', 'active', 'prepaid', 'USD', 0, 0), "
    "('cus_s', 'S', 'suspended', 'prepaid', 'USD', 0, 0)",
    "INSERT INTO trunks (id, customer_id, name, enabled, acl, tech_prefix, blocked_prefixes, "
    "destinations, max_call_duration, media_mode, created_at, updated_at) VALUES "
    "('trk_a', 'cus_a', 'a', 1, '[{\"cidr\":\"192.0.2.0/24\"},{\"cidr\":\"2001:db8::/32\"}]', "
    " '', '[\"+1900\",\"882\"]', "
    " '[{\"uri\":\"sip:pbx@127.0.0.50:5070\",\"priority\":1,\"weight\":1},"
    "   {\"uri\":\"sip:127.0.0.51;transport=tcp\",\"priority\":0,\"weight\":1}]', "
    " 3600, 'bypass', 0, 0), "
    "('trk_p', 'cus_b', 'p', 1, '[{\"cidr\":\"198.51.100.7/32\",\"port\":5080}]', '9911', "
    " '[]', '[]', 0, 'relay', 0, 0), "
    "('trk_s', 'cus_s', 's', 1, '[{\"cidr\":\"203.0.113.5/32\"}]', '', '[]', '[]', 0, "
    " 'relay', 0, 0), "
    "('trk_off', 'cus_a', 'off', 0, '[{\"cidr\":\"203.0.113.6/32\"}]', '', '[]', '[]', 0, "
    " 'relay', 0, 0)",
    "INSERT INTO carriers (id, name, enabled, tech_prefix, stop_codes, created_at, updated_at) "
    "VALUES ('car_1', 'one', 1, '', '[404,486,600,603]', 0, 0), "
    "('car_2', 'two', 1, '1234', '[486]', 0, 0), "
    "('car_off', 'off', 0, '', '[404]', 0, 0)",
    "INSERT INTO gateways (id, carrier_id, host, port, transport, weight, priority, probe, "
    "created_at, updated_at) VALUES "
    "('gw_1a', 'car_1', '127.0.0.11', 5060, 'udp', 1, 0, 1, 0, 0), "
    "('gw_1b', 'car_1', '127.0.0.12', 5062, 'udp', 1, 1, 1, 0, 0), "
    "('gw_2a', 'car_2', '127.0.0.21', 5060, 'udp', 3, 0, 1, 0, 0), "
    "('gw_2b', 'car_2', '127.0.0.22', 5060, 'tcp', 1, 0, 1, 0, 0), "
    "('gw_off', 'car_off', '127.0.0.31', 5060, 'udp', 1, 0, 1, 0, 0)",
    "INSERT INTO routes (id, prefix, customer_id, carriers, created_at, updated_at) VALUES "
    "('rte_1', '1', NULL, '[{\"carrier_id\":\"car_1\",\"priority\":0,\"weight\":1}]', 0, 0), "
    "('rte_44', '44', NULL, '[{\"carrier_id\":\"car_2\",\"priority\":0,\"weight\":1}]', 0, 0), "
    "('rte_44a', '44', 'cus_a', '[{\"carrier_id\":\"car_1\",\"priority\":0,\"weight\":1}]', "
    " 0, 0), "
    "('rte_4420', '4420', NULL, '[{\"carrier_id\":\"car_2\",\"priority\":0,\"weight\":1}]', "
    " 0, 0), "
    "('rte_49', '49', NULL, '[{\"carrier_id\":\"car_off\",\"priority\":0,\"weight\":1},"
    " {\"carrier_id\":\"car_1\",\"priority\":1,\"weight\":1}]', 0, 0)",
    "INSERT INTO numbers (id, e164, customer_id, trunk_id, voice, created_at, updated_at) VALUES "
    "('num_1', '+4930123456', 'cus_a', 'trk_a', 1, 0, 0), "
    "('num_2', '+4930999999', 'cus_a', 'trk_a', 0, 0, 0)",
};

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	struct sip_policy_opts o = {0};
	char err[256];

	if (!e || fixture_setup_migrated((void **)&e->f) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(provisioning) / sizeof(provisioning[0]); i++)
		if (store_exec(store_conn(e->f->store), provisioning[i], NULL, 0, NULL) < 0) {
			fprintf(stderr, "%s\n", store_conn_errmsg(store_conn(e->f->store)));
			return -1;
		}
	e->loader = snapshot_loader_new(e->f->store, 50);
	o.store = e->f->store;
	o.loader = e->loader;
	o.cfg.max_attempts = 5;
	o.cfg.flood_refusals = 3;
	o.cfg.flood_window_ms = 1000;
	o.cfg.flood_ban_ms = 5000;
	o.cfg.flood_table_size = 64;
	e->p = sip_policy_new(&o, err, sizeof(err));
	if (!e->p) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	if (e->p)
		sip_policy_call_end(e->p, &e->plan);
	snapshot_loader_stop(e->loader);
	sip_policy_free(e->p);
	snapshot_loader_free(e->loader);
	fixture_teardown((void **)&e->f);
	free(e);
	return 0;
}

static struct net_addr addr(const char *s)
{
	struct net_addr a;

	assert_int_equal(net_addr_parse(str_from_cstr(s), 5060, &a), 0);
	return a;
}

/* Plans an INVITE for ruri_user from src; returns the plan. */
static struct sip_call_plan *invite(struct env *e, const char *user, const char *src)
{
	static char buf[1024];
	struct sip_msg m;
	struct net_addr a = addr(src);
	int n = snprintf(buf, sizeof(buf),
			 "INVITE sip:%s@10.0.0.1 SIP/2.0\r\n"
			 "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKtest1\r\n"
			 "Max-Forwards: 70\r\nFrom: <sip:+15550001111@a.example>;tag=1\r\n"
			 "To: <sip:%s@10.0.0.1>\r\nCall-ID: call-1\r\nCSeq: 1 INVITE\r\n"
			 "Content-Length: 0\r\n\r\n",
			 user, user);

	assert_int_equal(sip_msg_parse(&m, buf, (size_t)n), 0);
	sip_policy_call_end(e->p, &e->plan); /* release the previous plan's hold */
	assert_int_equal(sip_policy_plan_invite(e->p, &m, &a, time_mono_ms(), &e->plan), 0);
	return &e->plan;
}

static void assert_reject(const struct sip_call_plan *pl, int code)
{
	if (pl->reject_code != code)
		fprintf(stderr, "reject %d (%s), wanted %d\n", pl->reject_code, pl->reject_reason,
			code);
	assert_int_equal(pl->reject_code, code);
	assert_int_equal(pl->ntargets, 0);
}

static void test_trunk_matched_by_ipv4_source(void **state)
{
	struct sip_call_plan *pl = invite(*state, "12125550100", "192.0.2.10:5060");

	assert_int_equal(pl->reject_code, 0);
	assert_int_equal(pl->dir, SIP_DIR_TERMINATION);
	assert_string_equal(pl->trunk_id, "trk_a");
	assert_string_equal(pl->customer_id, "cus_a");
	assert_string_equal(pl->normalized, "12125550100");
	assert_string_equal(pl->dialed, "12125550100");
	assert_string_equal(pl->caller, "+15550001111");
	assert_int_equal(pl->max_duration_ms, 3600000);
	assert_false(pl->media_relay);
	assert_int_equal(pl->max_attempts, 5);
}

static void test_trunk_matched_by_ipv6_source(void **state)
{
	struct sip_call_plan *pl = invite(*state, "12125550100", "[2001:db8::5]:5060");

	assert_int_equal(pl->reject_code, 0);
	assert_string_equal(pl->trunk_id, "trk_a");
}

static void test_trunk_matched_by_v4_mapped_source(void **state)
{
	struct sip_call_plan *pl = invite(*state, "12125550100", "[::ffff:192.0.2.99]:5060");

	assert_string_equal(pl->trunk_id, "trk_a");
}

static void test_port_specific_acl(void **state)
{
	struct sip_call_plan *pl = invite(*state, "991112125550100", "198.51.100.7:5080");

	assert_int_equal(pl->reject_code, 0);
	assert_string_equal(pl->trunk_id, "trk_p");
	pl = invite(*state, "991112125550100", "198.51.100.7:5060");
	assert_reject(pl, 403);
}

static void test_unknown_source_refused(void **state)
{
	struct env *e = *state;
	struct net_addr a = addr("10.9.9.9:5060");

	assert_reject(invite(e, "12125550100", "10.9.9.9:5060"), 403);
	assert_false(sip_policy_source_known(e->p, &a));
	a = addr("192.0.2.1:1234");
	assert_true(sip_policy_source_known(e->p, &a));
	a = addr("127.0.0.22:9999"); /* a gateway, any port */
	assert_true(sip_policy_source_known(e->p, &a));
}

static void test_suspended_customer_refused(void **state)
{
	struct sip_call_plan *pl = invite(*state, "12125550100", "203.0.113.5:5060");

	assert_reject(pl, 403);
	assert_string_equal(pl->reject_reason, "customer suspended");
}

static void test_disabled_trunk_refused(void **state)
{
	struct sip_call_plan *pl = invite(*state, "12125550100", "203.0.113.6:5060");

	assert_reject(pl, 403);
	assert_string_equal(pl->reject_reason, "trunk disabled");
}

static void test_tech_prefix_stripped(void **state)
{
	struct sip_call_plan *pl = invite(*state, "9911+12125550100", "198.51.100.7:5080");

	assert_int_equal(pl->reject_code, 0);
	assert_string_equal(pl->dialed, "9911+12125550100");
	assert_string_equal(pl->normalized, "12125550100");
}

static void test_tech_prefix_picks_among_trunks_sharing_an_address(void **state)
{
	struct env *e = *state;

	fixture_exec_ok(store_conn(e->f->store),
			"INSERT INTO trunks (id, customer_id, name, acl, tech_prefix, created_at, "
			"updated_at) VALUES ('trk_x', 'cus_b', 'x', "
			"'[{\"cidr\":\"192.0.2.0/24\"}]', '8888', 0, 0)");
	snapshot_loader_reload(e->loader);
	assert_string_equal(invite(e, "888812125550100", "192.0.2.10:5060")->trunk_id, "trk_x");
	assert_string_equal(e->plan.normalized, "12125550100");
	assert_string_equal(invite(e, "12125550100", "192.0.2.10:5060")->trunk_id, "trk_a");
}

static void test_number_forms_normalised(void **state)
{
	const char *forms[] = {"+12125550100",	  "0012125550100",  "12125550100",
			       "+1-212-555-0100", "%2B12125550100", "+12125550100;npdi"};

	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		struct sip_call_plan *pl = invite(*state, forms[i], "192.0.2.10:5060");

		assert_int_equal(pl->reject_code, 0);
		assert_string_equal(pl->normalized, "12125550100");
	}
}

static void test_unnormalisable_number_answers_484(void **state)
{
	const char *bad[] = {"1234567", "alice", "+1212555010012345", "12a4567890"};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_reject(invite(*state, bad[i], "192.0.2.10:5060"), 484);
}

static void test_blocked_prefix_refused(void **state)
{
	struct sip_call_plan *pl = invite(*state, "+19005550100", "192.0.2.10:5060");

	assert_reject(pl, 403);
	assert_string_equal(pl->reject_reason, "destination blocked");
	assert_reject(invite(*state, "88216000000", "192.0.2.10:5060"), 403);
}

static void test_no_route_answers_404(void **state)
{
	assert_reject(invite(*state, "+33123456789", "192.0.2.10:5060"), 404);
}

static void test_customer_route_beats_global_of_same_length(void **state)
{
	/* cus_a has its own "44" (car_1); cus_b uses the global "44" (car_2). */
	struct sip_call_plan *pl = invite(*state, "+447700900000", "192.0.2.10:5060");

	assert_int_equal(pl->reject_code, 0);
	assert_string_equal(pl->targets[0].carrier_id, "car_1");
	pl = invite(*state, "9911447700900000", "198.51.100.7:5080");
	assert_int_equal(pl->reject_code, 0);
	assert_string_equal(pl->targets[0].carrier_id, "car_2");
}

static void test_longer_global_prefix_beats_shorter_customer_prefix(void **state)
{
	struct sip_call_plan *pl = invite(*state, "+442071234567", "192.0.2.10:5060");

	assert_int_equal(pl->reject_code, 0);
	assert_string_equal(pl->targets[0].carrier_id, "car_2");
}

static void test_gateways_in_priority_order(void **state)
{
	struct sip_call_plan *pl = invite(*state, "12125550100", "192.0.2.10:5060");

	assert_int_equal(pl->ntargets, 2);
	assert_string_equal(pl->targets[0].gateway_id, "gw_1a");
	assert_string_equal(pl->targets[1].gateway_id, "gw_1b");
	assert_string_equal(pl->targets[1].host, "127.0.0.12");
	assert_int_equal(pl->targets[1].port, 5062);
	assert_int_equal(net_addr_port(&pl->targets[1].addr), 5062);
	assert_int_equal(pl->targets[0].transport, SIP_TRANSPORT_UDP);
}

static void test_gateway_weights_shape_the_order(void **state)
{
	int first_a = 0, rounds = 2000;

	/* gw_2a weight 3, gw_2b weight 1, same priority: gw_2a first ~75%. */
	for (int i = 0; i < rounds; i++) {
		struct sip_call_plan *pl = invite(*state, "9911447700900000", "198.51.100.7:5080");

		assert_int_equal(pl->ntargets, 2);
		first_a += strcmp(pl->targets[0].gateway_id, "gw_2a") == 0;
	}
	assert_in_range(first_a, rounds * 65 / 100, rounds * 85 / 100);
}

static void mark_down(struct env *e, const char *gw, bool down)
{
	const struct psnap *s = snapshot_acquire(e->p->snap);
	const struct psnap_gateway *g = psnap_gateway_find(s, gw);

	assert_non_null(g);
	atomic_store(&g->state->down, down);
	snapshot_release(e->p->snap, s);
}

static void test_down_gateway_skipped(void **state)
{
	struct sip_call_plan *pl;

	mark_down(*state, "gw_1a", true);
	pl = invite(*state, "12125550100", "192.0.2.10:5060");
	assert_int_equal(pl->ntargets, 1);
	assert_string_equal(pl->targets[0].gateway_id, "gw_1b");
	mark_down(*state, "gw_1b", true);
	assert_reject(invite(*state, "12125550100", "192.0.2.10:5060"), 503);
}

static void test_carrier_tech_prefix_and_stop_codes(void **state)
{
	struct sip_call_plan *pl = invite(*state, "+442071234567", "192.0.2.10:5060");
	const struct sip_target *t = &pl->targets[0];

	assert_string_equal(t->user, "1234442071234567");
	assert_int_equal(t->nstop_codes, 1);
	assert_int_equal(t->stop_codes[0], 486);
	pl = invite(*state, "12125550100", "192.0.2.10:5060");
	t = &pl->targets[0];
	assert_string_equal(t->user, "12125550100");
	assert_int_equal(t->nstop_codes, 4);
	assert_int_equal(t->stop_codes[3], 603);
}

static void test_disabled_carrier_skipped(void **state)
{
	struct sip_call_plan *pl = invite(*state, "+4989123456", "192.0.2.10:5060");

	assert_int_equal(pl->reject_code, 0);
	for (size_t i = 0; i < pl->ntargets; i++)
		assert_string_equal(pl->targets[i].carrier_id, "car_1");
}

static void test_origination_to_number_trunk_destinations(void **state)
{
	struct sip_call_plan *pl = invite(*state, "+4930123456", "127.0.0.21:5060");

	assert_int_equal(pl->reject_code, 0);
	assert_int_equal(pl->dir, SIP_DIR_ORIGINATION);
	assert_string_equal(pl->trunk_id, "trk_a");
	assert_string_equal(pl->customer_id, "cus_a");
	assert_int_equal(pl->ntargets, 2);
	assert_string_equal(pl->targets[0].host, "127.0.0.51");
	assert_int_equal(pl->targets[0].transport, SIP_TRANSPORT_TCP);
	assert_string_equal(pl->targets[0].user, "+4930123456");
	assert_string_equal(pl->targets[0].trunk_id, "trk_a");
	assert_string_equal(pl->targets[1].host, "127.0.0.50");
	assert_int_equal(pl->targets[1].port, 5070);
	assert_int_equal(net_addr_port(&pl->targets[1].addr), 5070);
	assert_string_equal(pl->targets[1].user, "pbx");
}

static void test_origination_unknown_number_404(void **state)
{
	assert_reject(invite(*state, "+4930000000", "127.0.0.21:5060"), 404);
	assert_reject(invite(*state, "+4930999999", "127.0.0.21:5060"), 404); /* voice off */
}

/* Runs sql and bumps the config version in one transaction. */
static void provision(struct env *e, const char *sql)
{
	struct store_conn *c = store_conn(e->f->store);

	assert_int_equal(store_tx_begin(c), 0);
	fixture_exec_ok(c, sql);
	assert_int_equal(store_config_version_bump(c), 0);
	assert_int_equal(store_tx_commit(c), 0);
}

static void test_config_version_bump_takes_effect(void **state)
{
	struct env *e = *state;
	int rounds = 0;

	assert_int_equal(invite(e, "+33123456789", "192.0.2.10:5060")->reject_code, 404);
	assert_int_equal(snapshot_loader_start(e->loader), 0);
	provision(e, "INSERT INTO routes (id, prefix, customer_id, carriers, created_at, "
		     "updated_at) VALUES ('rte_33', '33', NULL, "
		     "'[{\"carrier_id\":\"car_2\",\"priority\":0,\"weight\":1}]', 0, 0)");
	while (invite(e, "+33123456789", "192.0.2.10:5060")->reject_code != 0 && rounds++ < 100)
		usleep(10 * 1000);
	assert_int_equal(e->plan.reject_code, 0);
	assert_string_equal(e->plan.targets[0].carrier_id, "car_2");
}

static void test_loader_outliving_the_policy_is_safe(void **state)
{
	struct env *e = *state;
	int64_t v;

	assert_int_equal(snapshot_loader_start(e->loader), 0);
	sip_policy_call_end(e->p, &e->plan);
	sip_policy_free(e->p);
	e->p = NULL;
	/* A provisioning change after the policy is gone: the rebuild is
	 * refused (ASan would see a use after free otherwise). */
	provision(e, "UPDATE customers SET status = 'suspended' WHERE id = 'cus_b'");
	assert_int_equal(store_config_version_get(store_conn(e->f->store), &v), 0);
	snapshot_loader_reload(e->loader);
	usleep(200 * 1000);
}

/* A counter of the process registry (families are shared by name). */
static int64_t counter(const char *name, const char *label)
{
	struct metric_family *f =
	    metrics_counter(metrics_default(), name, "", label ? "carrier" : NULL);

	assert_non_null(f);
	return metric_value(label ? metric_get(f, label) : metric_get(f));
}

static void test_cps_limit_answers_503(void **state)
{
	struct env *e = *state;
	struct sip_call_plan *pl;
	int64_t rejects = counter("warp_sip_cps_rejects_total", NULL);

	fixture_exec_ok(store_conn(e->f->store),
			"UPDATE trunks SET cps_limit = 2 WHERE id = 'trk_a'");
	snapshot_loader_reload(e->loader);
	for (int i = 0; i < 2; i++) {
		pl = invite(e, "12125550100", "192.0.2.10:5060");
		assert_int_equal(pl->reject_code, 0);
	}
	pl = invite(e, "12125550100", "192.0.2.10:5060");
	assert_reject(pl, 503);
	assert_string_equal(pl->reject_reason, "CPS limit");
	assert_int_equal(counter("warp_sip_cps_rejects_total", NULL), rejects + 1);
}

static void test_channel_limit_held_until_call_end(void **state)
{
	struct env *e = *state;
	struct sip_call_plan first, *pl;

	fixture_exec_ok(store_conn(e->f->store),
			"UPDATE trunks SET channel_limit = 1 WHERE id = 'trk_a'");
	snapshot_loader_reload(e->loader);
	pl = invite(e, "12125550100", "192.0.2.10:5060");
	assert_int_equal(pl->reject_code, 0);
	first = *pl;
	e->plan.hold = NULL; /* first keeps the hold and the targets */
	e->plan.targets = NULL;
	sip_policy_call_answered(e->p, &first);
	pl = invite(e, "12125550100", "192.0.2.10:5060");
	assert_reject(pl, 503);
	assert_string_equal(pl->reject_reason, "channel limit");
	sip_policy_call_end(e->p, &first);
	assert_null(first.hold);
	assert_int_equal(invite(e, "12125550100", "192.0.2.10:5060")->reject_code, 0);
}

/* An answered call lets its targets go; ending it still frees its channel. */
static void test_call_end_after_targets_freed_releases_the_channel(void **state)
{
	struct env *e = *state;
	struct sip_call_plan first, *pl;

	fixture_exec_ok(store_conn(e->f->store),
			"UPDATE trunks SET channel_limit = 1 WHERE id = 'trk_a'");
	snapshot_loader_reload(e->loader);
	pl = invite(e, "12125550100", "192.0.2.10:5060");
	assert_int_equal(pl->reject_code, 0);
	assert_non_null(pl->targets);
	first = *pl;
	e->plan.hold = NULL;
	e->plan.targets = NULL;
	sip_policy_plan_targets_free(&first);
	assert_null(first.targets);
	assert_int_equal(first.ntargets, 0);
	assert_string_equal(first.customer_id, "cus_a");
	assert_reject(invite(e, "12125550100", "192.0.2.10:5060"), 503);
	sip_policy_call_end(e->p, &first);
	sip_policy_call_end(e->p, &first); /* a second end is harmless */
	assert_int_equal(invite(e, "12125550100", "192.0.2.10:5060")->reject_code, 0);
}

static void test_customer_channel_limit_spans_its_trunks(void **state)
{
	struct env *e = *state;
	struct sip_call_plan first, *pl;

	fixture_exec_ok(store_conn(e->f->store),
			"UPDATE customers SET channel_limit = 1 WHERE id = 'cus_a'");
	fixture_exec_ok(
	    store_conn(e->f->store),
	    "INSERT INTO trunks (id, customer_id, name, acl, created_at, updated_at) "
	    "VALUES ('trk_a2', 'cus_a', 'a2', '[{\"cidr\":\"192.0.2.200/32\"}]', 0, 0)");
	snapshot_loader_reload(e->loader);
	pl = invite(e, "12125550100", "192.0.2.10:5060");
	assert_int_equal(pl->reject_code, 0);
	first = *pl;
	e->plan.hold = NULL;
	e->plan.targets = NULL;
	pl = invite(e, "12125550100", "192.0.2.200:5060");
	assert_string_equal(pl->trunk_id, "trk_a2"); /* the longer ACL prefix */
	assert_reject(pl, 503);
	assert_string_equal(pl->reject_reason, "channel limit");
	sip_policy_call_end(e->p, &first);
	assert_int_equal(invite(e, "12125550100", "192.0.2.200:5060")->reject_code, 0);
}

/* ------------------------------------------------- carrier limits */

/* Route "1" to car_1 (gw_1a, gw_1b) first, then car_2 (gw_2a, gw_2b); both
 * carriers with these limits (0: none). */
static void carriers_limited(struct env *e, int cps, int channels)
{
	char sql[160];

	snprintf(sql, sizeof(sql),
		 "UPDATE carriers SET cps_limit = %d, channel_limit = %d "
		 "WHERE id IN ('car_1', 'car_2')",
		 cps, channels);
	fixture_exec_ok(store_conn(e->f->store), sql);
	fixture_exec_ok(store_conn(e->f->store),
			"UPDATE routes SET carriers = '[{\"carrier_id\":\"car_1\",\"priority\":0,"
			"\"weight\":1},{\"carrier_id\":\"car_2\",\"priority\":1,\"weight\":1}]' "
			"WHERE id = 'rte_1'");
	snapshot_loader_reload(e->loader);
}

static int64_t carrier_channels(struct env *e, const char *id)
{
	const struct psnap *s = snapshot_acquire(e->p->snap);
	const struct psnap_carrier *ca = psnap_carrier_find(s, id);
	int64_t n;

	assert_non_null(ca);
	n = sip_limit_channels(e->p->env->limits, ca->limit);
	snapshot_release(e->p->snap, s);
	return n;
}

/* Plans a call on route "1" and takes it out of e as a call in progress. */
static struct sip_call_plan call_planned(struct env *e)
{
	struct sip_call_plan pl = *invite(e, "12125550100", "192.0.2.10:5060");

	assert_int_equal(pl.reject_code, 0);
	assert_int_equal(pl.ntargets, 4);
	assert_string_equal(pl.targets[0].carrier_id, "car_1");
	assert_string_equal(pl.targets[2].carrier_id, "car_2");
	e->plan.hold = NULL;
	e->plan.targets = NULL;
	return pl;
}

/* The carriers limited so, then a call planned. */
static struct sip_call_plan call_limited(struct env *e, int cps, int channels)
{
	carriers_limited(e, cps, channels);
	return call_planned(e);
}

static int attempt(struct env *e, struct sip_call_plan *pl, size_t i)
{
	return sip_policy_attempt_start(e->p, pl, i, time_mono_ms());
}

static void test_planning_holds_no_carrier_channel(void **state)
{
	struct env *e = *state;
	struct sip_call_plan c = call_limited(e, 0, 1);

	assert_int_equal(carrier_channels(e, "car_1"), 0);
	assert_int_equal(carrier_channels(e, "car_2"), 0);
	sip_policy_call_end(e->p, &c);
}

static void test_carrier_channel_follows_the_call_on_failover(void **state)
{
	struct env *e = *state;
	struct sip_call_plan c = call_limited(e, 0, 1);

	assert_int_equal(attempt(e, &c, 0), 0);
	assert_int_equal(carrier_channels(e, "car_1"), 1);
	/* Another gateway of the same carrier: the channel it holds serves. */
	assert_int_equal(attempt(e, &c, 1), 0);
	assert_int_equal(carrier_channels(e, "car_1"), 1);
	assert_int_equal(attempt(e, &c, 2), 0);
	assert_int_equal(carrier_channels(e, "car_1"), 0);
	assert_int_equal(carrier_channels(e, "car_2"), 1);
	sip_policy_call_answered(e->p, &c);
	sip_policy_plan_targets_free(&c);
	assert_int_equal(carrier_channels(e, "car_2"), 1);
	sip_policy_call_end(e->p, &c);
	assert_int_equal(carrier_channels(e, "car_2"), 0);
}

static void test_full_carrier_skipped_and_503_names_its_limit(void **state)
{
	struct env *e = *state;
	int64_t rejects = counter("warp_sip_channel_rejects_total", NULL);

	carriers_limited(e, 0, 1);
	/* Both planned while every carrier is free, as two INVITEs in flight. */
	struct sip_call_plan first = call_planned(e);
	struct sip_call_plan second = call_planned(e);

	assert_int_equal(attempt(e, &first, 0), 0);
	assert_int_equal(attempt(e, &first, 2), 0);  /* failed over to car_2 */
	assert_int_equal(attempt(e, &second, 0), 0); /* car_1 was let go */
	assert_int_equal(attempt(e, &second, 2), -EBUSY);
	assert_int_equal(attempt(e, &second, 3), -EBUSY);
	assert_int_equal(carrier_channels(e, "car_2"), 1);
	assert_int_equal(sip_policy_attempts_exhausted(e->p, &second), 503);
	assert_int_equal(second.reject_code, 503);
	assert_string_equal(second.reject_reason, "carrier channel limit");
	assert_int_equal(counter("warp_sip_channel_rejects_total", NULL), rejects + 1);
	sip_policy_call_end(e->p, &second);
	assert_int_equal(carrier_channels(e, "car_1"), 0);
	sip_policy_call_end(e->p, &first);
	assert_int_equal(carrier_channels(e, "car_2"), 0);
}

static void test_carrier_full_at_planning_names_its_limit_when_targets_run_out(void **state)
{
	struct env *e = *state;
	struct sip_call_plan first = call_limited(e, 0, 1);

	assert_int_equal(attempt(e, &first, 2), 0); /* car_2 is full */
	struct sip_call_plan *pl = invite(e, "12125550100", "192.0.2.10:5060");

	assert_int_equal(pl->reject_code, 0);
	assert_int_equal(pl->ntargets, 2); /* car_1's gateways only */
	assert_int_equal(sip_policy_attempt_start(e->p, pl, 0, time_mono_ms()), 0);
	assert_int_equal(sip_policy_attempts_exhausted(e->p, pl), 503);
	assert_string_equal(pl->reject_reason, "carrier channel limit");
	sip_policy_call_end(e->p, &first);
}

static void test_no_skip_leaves_the_answer_to_the_core(void **state)
{
	struct env *e = *state;
	struct sip_call_plan c = call_limited(e, 0, 1);

	assert_int_equal(attempt(e, &c, 0), 0);
	assert_int_equal(attempt(e, &c, 2), 0);
	assert_int_equal(sip_policy_attempts_exhausted(e->p, &c), 0);
	assert_int_equal(c.reject_code, 0);
	sip_policy_call_end(e->p, &c);
}

static void test_carrier_cps_token_taken_per_attempt(void **state)
{
	struct env *e = *state;
	struct sip_call_plan c = call_limited(e, 1, 0);

	assert_int_equal(attempt(e, &c, 0), 0);
	/* Each INVITE to the carrier costs a token, same carrier or not. */
	assert_int_equal(attempt(e, &c, 1), -EBUSY);
	assert_int_equal(attempt(e, &c, 2), 0);
	/* Both buckets empty: the next call has no carrier at all. */
	struct sip_call_plan *pl = invite(e, "12125550100", "192.0.2.10:5060");

	assert_reject(pl, 503);
	assert_string_equal(pl->reject_reason, "carrier CPS limit");
	sip_policy_call_end(e->p, &c);
}

static void test_origination_attempts_charge_no_carrier(void **state)
{
	struct env *e = *state;
	struct sip_call_plan *pl = invite(e, "+4930123456", "127.0.0.11:5060");

	assert_int_equal(pl->dir, SIP_DIR_ORIGINATION);
	assert_true(pl->ntargets > 0);
	assert_int_equal(sip_policy_attempt_start(e->p, pl, 0, time_mono_ms()), 0);
	assert_int_equal(sip_policy_attempts_exhausted(e->p, pl), 0);
}

static void test_refusals_ban_a_source(void **state)
{
	struct env *e = *state;
	struct net_addr a = addr("10.9.9.9:5060");
	int64_t now = 1000000;

	for (int i = 0; i < 3; i++) {
		assert_false(sip_policy_source_banned(e->p, &a, now));
		sip_policy_note_refused(e->p, &a, now + i);
	}
	assert_true(sip_policy_source_banned(e->p, &a, now + 10));
	assert_false(sip_policy_source_banned(e->p, &a, now + 10 + 5000));
}

/* ---------------------------------------------------------------- probing */

struct responder {
	int live, silent; /* UDP sockets on 127.0.0.1: one answers OPTIONS */
	atomic_bool stop;
	pthread_t thread;
};

/* A 200 to an OPTIONS, echoing Via, From, To, Call-ID, CSeq (RFC 3261 §8.2.6.2). */
static int answer_options(const char *req, size_t len, char *out, size_t n)
{
	static const enum sip_hdr_id copy[] = {SIP_HDR_VIA, SIP_HDR_FROM, SIP_HDR_TO,
					       SIP_HDR_CALL_ID, SIP_HDR_CSEQ};
	struct sip_msg m;
	int w = snprintf(out, n, "SIP/2.0 200 OK\r\n");

	if (sip_msg_parse(&m, req, len) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(copy) / sizeof(copy[0]); i++) {
		const struct sip_hdr *h = sip_msg_hdr_first(&m, copy[i]);

		if (h)
			w += snprintf(out + w, n - (size_t)w, "%.*s", STR_FMT(h->line));
	}
	return w + snprintf(out + w, n - (size_t)w, "Content-Length: 0\r\n\r\n");
}

static void *responder_run(void *arg)
{
	struct responder *r = arg;
	char buf[4096], out[4096];

	while (!atomic_load(&r->stop)) {
		struct pollfd pfd = {r->live, POLLIN, 0};
		struct sockaddr_storage from;
		socklen_t flen = sizeof(from);

		if (poll(&pfd, 1, 50) <= 0)
			continue;
		ssize_t n = recvfrom(r->live, buf, sizeof(buf), 0, (struct sockaddr *)&from, &flen);
		int w = n > 0 ? answer_options(buf, (size_t)n, out, sizeof(out)) : -1;

		if (w > 0)
			sendto(r->live, out, (size_t)w, 0, (struct sockaddr *)&from, flen);
	}
	return NULL;
}

static int udp_socket(uint16_t *port)
{
	struct net_addr a = addr("127.0.0.1:0");
	int fd = net_socket_bind(&a, SOCK_DGRAM, false);
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);

	assert_true(fd >= 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

static bool gw_down(struct env *e, const char *id)
{
	const struct psnap *s = snapshot_acquire(e->p->snap);
	const struct psnap_gateway *g = psnap_gateway_find(s, id);
	bool down = g && atomic_load(&g->state->down);

	snapshot_release(e->p->snap, s);
	return down;
}

static int64_t gauge_up(const char *gw)
{
	struct metric_family *f =
	    metrics_gauge(metrics_default(), "warp_sip_gateway_up", "", "gateway");

	assert_non_null(f);
	return metric_value(metric_get(f, gw));
}

static void test_prober_marks_silent_gateway_down(void **state)
{
	struct env *e = *state;
	struct responder r = {0};
	uint16_t live_port, silent_port;
	char sql[512];
	int rounds = 0;

	r.live = udp_socket(&live_port);
	r.silent = udp_socket(&silent_port);
	snprintf(sql, sizeof(sql),
		 "INSERT INTO gateways (id, carrier_id, host, port, weight, priority, probe, "
		 "created_at, updated_at) VALUES ('gw_live', 'car_2', '127.0.0.1', %u, 1, 5, 1, 0, "
		 "0), ('gw_silent', 'car_2', '127.0.0.1', %u, 1, 5, 1, 0, 0)",
		 live_port, silent_port);
	fixture_exec_ok(store_conn(e->f->store), sql);
	fixture_exec_ok(store_conn(e->f->store),
			"UPDATE gateways SET probe = 0 WHERE id LIKE 'gw_2%'");
	snapshot_loader_reload(e->loader);
	assert_int_equal(pthread_create(&r.thread, NULL, responder_run, &r), 0);
	e->p->o.cfg.probe_interval_ms = 100;
	assert_int_equal(sip_policy_start(e->p), 0);
	while (!gw_down(e, "gw_silent") && rounds++ < 100)
		usleep(20 * 1000);
	assert_true(gw_down(e, "gw_silent"));
	assert_false(gw_down(e, "gw_live"));
	assert_int_equal(gauge_up("gw_silent"), 0);
	assert_int_equal(gauge_up("gw_live"), 1);
	/* The planner leaves the silent gateway out. */
	struct sip_call_plan *pl = invite(e, "+442071234567", "192.0.2.10:5060");

	assert_int_equal(pl->ntargets, 3);
	for (size_t i = 0; i < pl->ntargets; i++)
		assert_string_not_equal(pl->targets[i].gateway_id, "gw_silent");
	sip_policy_stop(e->p);
	/* Probing turned off: nothing decides it is down any more, so it is
	 * used again and shown as not probed. */
	fixture_exec_ok(store_conn(e->f->store),
			"UPDATE gateways SET probe = 0 WHERE id = 'gw_silent'");
	snapshot_loader_reload(e->loader);
	assert_false(gw_down(e, "gw_silent"));
	assert_int_equal(gauge_up("gw_silent"), -1);
	assert_int_equal(invite(e, "+442071234567", "192.0.2.10:5060")->ntargets, 4);
	atomic_store(&r.stop, true);
	pthread_join(r.thread, NULL);
	close(r.live);
	close(r.silent);
}

/* ------------------------------------------------------------------ CDRs */

struct done_ctx {
	atomic_int calls;
	atomic_int status;
};

static void cdr_done(void *arg, int status)
{
	struct done_ctx *d = arg;

	atomic_store(&d->status, status);
	atomic_fetch_add(&d->calls, 1);
}

static void test_cdr_written_once_with_durations(void **state)
{
	struct env *e = *state;
	struct sip_call_plan *pl = invite(e, "12125550100", "192.0.2.10:5060");
	static struct sip_cdr cdr;
	struct done_ctx d = {0};
	struct store_res *r = NULL;

	memset(&cdr, 0, sizeof(cdr));
	cdr.plan = pl;
	snprintf(cdr.call_id, sizeof(cdr.call_id), "call-cdr-1");
	snprintf(cdr.source, sizeof(cdr.source), "192.0.2.10:5060");
	snprintf(cdr.carrier_id, sizeof(cdr.carrier_id), "car_1");
	snprintf(cdr.gateway_id, sizeof(cdr.gateway_id), "gw_1b");
	cdr.start_ms = 1000;
	cdr.answer_ms = 3000;
	cdr.end_ms = 64001; /* 61.001 s answered */
	cdr.final_code = 200;
	cdr.hangup = SIP_HANGUP_CALLER;
	cdr.pdd_ms = 800;
	static struct sip_cdr_attempt tried[2];
	cdr.attempts = tried;
	cdr.nattempts = 2;
	snprintf(cdr.attempts[0].target_id, ID_MAX, "gw_1a");
	cdr.attempts[0].code = 503;
	snprintf(cdr.attempts[1].target_id, ID_MAX, "gw_1b");
	cdr.attempts[1].code = 200;
	for (int k = 0; k < 2; k++)
		cdr.rtp_packets[k] = cdr.rtp_lost[k] = cdr.rtp_jitter_us[k] = -1;
	int64_t attempts = counter("warp_sip_carrier_attempts_total", "car_1");
	int64_t answered = counter("warp_sip_carrier_answered_total", "car_1");
	int64_t seconds = counter("warp_sip_carrier_duration_seconds_total", "car_1");

	assert_int_equal(sip_cdr_submit(e->p, &cdr, cdr_done, &d), 0);
	/* ASR and ACD inputs: two seizures of car_1, one answer, 61 s. */
	assert_int_equal(counter("warp_sip_carrier_attempts_total", "car_1"), attempts + 2);
	assert_int_equal(counter("warp_sip_carrier_answered_total", "car_1"), answered + 1);
	assert_int_equal(counter("warp_sip_carrier_duration_seconds_total", "car_1"), seconds + 61);
	assert_int_equal(sip_cdr_submit(e->p, &cdr, cdr_done, &d), 0); /* a replay */
	for (int i = 0; i < 300 && atomic_load(&d.calls) < 2; i++)
		usleep(10 * 1000);
	assert_int_equal(atomic_load(&d.calls), 2);
	assert_int_equal(atomic_load(&d.status), 0);
	assert_int_equal(store_exec(store_conn(e->f->store),
				    "SELECT count(*), max(duration_ms), max(billable_ms), "
				    "max(attempts), max(direction), max(hangup), max(customer_id) "
				    "FROM cdrs WHERE call_id = 'call-cdr-1'",
				    NULL, 0, &r),
			 0);
	assert_int_equal(store_res_int(r, 0, 0), 1);
	assert_int_equal(store_res_int(r, 0, 1), 61001);
	assert_int_equal(store_res_int(r, 0, 2), 62000);
	assert_non_null(strstr(store_res_text(r, 0, 3), "\"gateway_id\":\"gw_1a\",\"code\":503"));
	assert_string_equal(store_res_text(r, 0, 4), "termination");
	assert_string_equal(store_res_text(r, 0, 5), "caller");
	assert_string_equal(store_res_text(r, 0, 6), "cus_a");
	store_res_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	    T(test_trunk_matched_by_ipv4_source),
	    T(test_trunk_matched_by_ipv6_source),
	    T(test_trunk_matched_by_v4_mapped_source),
	    T(test_port_specific_acl),
	    T(test_unknown_source_refused),
	    T(test_suspended_customer_refused),
	    T(test_disabled_trunk_refused),
	    T(test_tech_prefix_stripped),
	    T(test_tech_prefix_picks_among_trunks_sharing_an_address),
	    T(test_number_forms_normalised),
	    T(test_unnormalisable_number_answers_484),
	    T(test_blocked_prefix_refused),
	    T(test_no_route_answers_404),
	    T(test_customer_route_beats_global_of_same_length),
	    T(test_longer_global_prefix_beats_shorter_customer_prefix),
	    T(test_gateways_in_priority_order),
	    T(test_gateway_weights_shape_the_order),
	    T(test_down_gateway_skipped),
	    T(test_carrier_tech_prefix_and_stop_codes),
	    T(test_disabled_carrier_skipped),
	    T(test_origination_to_number_trunk_destinations),
	    T(test_origination_unknown_number_404),
	    T(test_config_version_bump_takes_effect),
	    T(test_loader_outliving_the_policy_is_safe),
	    T(test_cps_limit_answers_503),
	    T(test_channel_limit_held_until_call_end),
	    T(test_call_end_after_targets_freed_releases_the_channel),
	    T(test_customer_channel_limit_spans_its_trunks),
	    T(test_planning_holds_no_carrier_channel),
	    T(test_carrier_channel_follows_the_call_on_failover),
	    T(test_full_carrier_skipped_and_503_names_its_limit),
	    T(test_carrier_full_at_planning_names_its_limit_when_targets_run_out),
	    T(test_no_skip_leaves_the_answer_to_the_core),
	    T(test_carrier_cps_token_taken_per_attempt),
	    T(test_origination_attempts_charge_no_carrier),
	    T(test_refusals_ban_a_source),
	    T(test_prober_marks_silent_gateway_down),
	    T(test_cdr_written_once_with_durations),
#undef T
	};

	return FIXTURE_RUN("test_sip_policy", tests);
}
