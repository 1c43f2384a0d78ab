/* test_sip_digest.c — src/sip/digest.c: the digest arithmetic against RFC
 * 2617's worked example, the stateless nonces (fresh, expired, tampered,
 * foreign), and the admission of a stranger by a trunk's credentials
 * against a real store (the HA1 as src/api/trunks.c stores it). */
#include "test_store_fixture.h"

#include "sip/policy_private.h"

/* ------------------------------------------------------------ the math */

/* RFC 2617 §3.5: Mufasa / "Circle Of Life" in testrealm@host.com, GET of
 * /dir/index.html with qop=auth. */
static void test_rfc2617_example_ha1(void **state)
{
	char ha1[SIP_DIGEST_HEX];

	(void)state;
	sip_digest_ha1(SIP_DIGEST_MD5, STR_LIT("Mufasa"), STR_LIT("testrealm@host.com"),
		       STR_LIT("Circle Of Life"), ha1);
	assert_string_equal(ha1, "939e7578ed9e3c518a452acee763bce9");
}

static void test_rfc2617_example_response(void **state)
{
	char ha1[SIP_DIGEST_HEX], resp[SIP_DIGEST_HEX];

	(void)state;
	sip_digest_ha1(SIP_DIGEST_MD5, STR_LIT("Mufasa"), STR_LIT("testrealm@host.com"),
		       STR_LIT("Circle Of Life"), ha1);
	sip_digest_response(SIP_DIGEST_MD5, ha1, STR_LIT("dcd98b7102dd2f0e8b11d0f600bfb0c093"),
			    STR_LIT("00000001"), STR_LIT("0a4f113b"), STR_LIT("auth"),
			    STR_LIT("GET"), STR_LIT("/dir/index.html"), resp);
	assert_string_equal(resp, "6629fae49393a05397450978507c4ef1");
}

/* RFC 7616 §3.9.1: the worked example, SHA-256 and MD5 from one challenge
 * (the expected values are the RFC's, and Python's hashlib agrees). */
#define RFC7616_NONCE "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"
#define RFC7616_CNONCE "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"

static void rfc7616_response(enum sip_digest_alg alg, char ha1[SIP_DIGEST_HEX],
			     char resp[SIP_DIGEST_HEX])
{
	sip_digest_ha1(alg, STR_LIT("Mufasa"), STR_LIT("http-auth@example.org"),
		       STR_LIT("Circle of Life"), ha1);
	sip_digest_response(alg, ha1, STR_LIT(RFC7616_NONCE), STR_LIT("00000001"),
			    STR_LIT(RFC7616_CNONCE), STR_LIT("auth"), STR_LIT("GET"),
			    STR_LIT("/dir/index.html"), resp);
}

static void test_rfc7616_sha256_example(void **state)
{
	char ha1[SIP_DIGEST_HEX], resp[SIP_DIGEST_HEX];

	(void)state;
	rfc7616_response(SIP_DIGEST_SHA256, ha1, resp);
	assert_string_equal(ha1,
			    "7987c64c30e25f1b74be53f966b49b90f2808aa92faf9a00262392d7b4794232");
	assert_string_equal(resp,
			    "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1");
	assert_int_equal(sip_digest_hex_len(SIP_DIGEST_SHA256), 64);
}

static void test_rfc7616_md5_example(void **state)
{
	char ha1[SIP_DIGEST_HEX], resp[SIP_DIGEST_HEX];

	(void)state;
	rfc7616_response(SIP_DIGEST_MD5, ha1, resp);
	assert_string_equal(resp, "8ca523f5e9506fed4657c9700eebdbec");
	assert_int_equal(sip_digest_hex_len(SIP_DIGEST_MD5), 32);
}

static void test_response_depends_on_method(void **state)
{
	char ha1[SIP_DIGEST_HEX], a[SIP_DIGEST_HEX], b[SIP_DIGEST_HEX];

	(void)state;
	sip_digest_ha1(SIP_DIGEST_MD5, STR_LIT("u"), STR_LIT("warp"), STR_LIT("password1"), ha1);
	sip_digest_response(SIP_DIGEST_MD5, ha1, STR_LIT("n"), STR_LIT("00000001"), STR_LIT("c"),
			    STR_LIT("auth"), STR_LIT("INVITE"), STR_LIT("sip:1@h"), a);
	sip_digest_response(SIP_DIGEST_MD5, ha1, STR_LIT("n"), STR_LIT("00000001"), STR_LIT("c"),
			    STR_LIT("auth"), STR_LIT("BYE"), STR_LIT("sip:1@h"), b);
	assert_string_not_equal(a, b);
}

/* -------------------------------------------------------------- nonces */

/* Checks at checked_ms, with a 30 s lifetime, a nonce made at made_ms. */
static int nonce_check_at(int64_t made_ms, int64_t checked_ms)
{
	char n[SIP_DIGEST_NONCE_MAX];

	sip_digest_nonce_make(made_ms, n, sizeof(n));
	assert_int_equal(strlen(n), 32);
	return sip_digest_nonce_check(str_from_cstr(n), checked_ms, 30000);
}

static void test_fresh_nonce_is_valid(void **state)
{
	(void)state;
	assert_int_equal(nonce_check_at(1000000, 1000000), 0);
	assert_int_equal(nonce_check_at(1000000, 1030000), 0);
}

static void test_expired_nonce_is_stale(void **state)
{
	(void)state;
	assert_int_equal(nonce_check_at(1000000, 1030001), SIP_DIGEST_E_STALE);
}

static void test_nonce_from_the_future_is_bad(void **state)
{
	(void)state;
	assert_int_equal(nonce_check_at(1000000, 999999), SIP_DIGEST_E_BAD);
}

/* Changing any character (the time or the MAC) breaks it. */
static void test_tampered_nonce_is_bad(void **state)
{
	char n[SIP_DIGEST_NONCE_MAX];

	(void)state;
	for (size_t i = 0; i < 32; i++) {
		sip_digest_nonce_make(1000000, n, sizeof(n));
		n[i] = n[i] == 'A' ? 'B' : 'A';
		assert_int_equal(sip_digest_nonce_check(str_from_cstr(n), 1000001, 30000),
				 SIP_DIGEST_E_BAD);
	}
}

static void test_foreign_nonces_are_bad(void **state)
{
	(void)state;
	assert_int_equal(
	    sip_digest_nonce_check(STR_LIT("dcd98b7102dd2f0e8b11d0f600bfb0c093"), 1, 1000),
	    SIP_DIGEST_E_BAD);
	assert_int_equal(sip_digest_nonce_check(STR_LIT(""), 1, 1000), SIP_DIGEST_E_BAD);
	assert_int_equal(
	    sip_digest_nonce_check(STR_LIT("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), 1, 1000),
	    SIP_DIGEST_E_BAD);
}

/* ----------------------------------------------------------- admission */

struct env {
	struct fixture *f;
	struct snapshot_loader *loader;
	struct sip_policy *p;
	struct sip_call_plan plan;
	char buf[2048];
	struct sip_msg m;
	struct sip_digest_admit a;
};

static const char *const provisioning[] = {
    "INSERT INTO customers (id, name, status, billing_type, currency, created_at, updated_at) "
    "VALUES ('cus_a', 'A', 'active', 'prepaid', 'USD', 0, 0)",
    "INSERT INTO trunks (id, customer_id, name, enabled, acl, tech_prefix, blocked_prefixes, "
    "destinations, max_call_duration, media_mode, auth_username, auth_realm, auth_ha1, "
    "created_at, updated_at) VALUES "
    "('trk_acl', 'cus_a', 'acl', 1, '[{\"cidr\":\"192.0.2.0/24\"}]', '', '[]', '[]', 0, "
    " 'bypass', NULL, NULL, NULL, 0, 0), "
    "('trk_dyn', 'cus_a', 'dyn', 1, '[]', '', '[]', '[]', 0, 'bypass', NULL, NULL, NULL, 0, 0), "
    "('trk_twin', 'cus_a', 'twin', 1, '[]', '', '[]', '[]', 0, 'bypass', NULL, NULL, NULL, "
    " 0, 0), "
    "('trk_new', 'cus_a', 'new', 1, '[]', '', '[]', '[]', 0, 'bypass', NULL, NULL, NULL, 0, 0), "
    "('trk_bad', 'cus_a', 'bad', 1, '[]', '', '[]', '[]', 0, 'bypass', 'dyn', 'warp', "
    " 'not-an-md5', 0, 0)",
    "INSERT INTO carriers (id, name, enabled, tech_prefix, stop_codes, created_at, updated_at) "
    "VALUES ('car_1', 'one', 1, '', '[404]', 0, 0)",
    "INSERT INTO gateways (id, carrier_id, host, port, transport, weight, priority, probe, "
    "created_at, updated_at) VALUES ('gw_1', 'car_1', '127.0.0.11', 5060, 'udp', 1, 0, 0, 0, 0)",
    "INSERT INTO routes (id, prefix, customer_id, carriers, created_at, updated_at) VALUES "
    "('rte_1', '1', NULL, '[{\"carrier_id\":\"car_1\",\"priority\":0,\"weight\":1}]', 0, 0)",
};

/* Gives trunk its credentials as src/api/trunks.c stores them. */
static int credentials(struct store_conn *c, const char *trunk, const char *user,
		       const char *password)
{
	char ha1[SIP_DIGEST_HEX];
	struct store_param p[3];

	sip_digest_ha1(SIP_DIGEST_MD5, str_from_cstr(user), STR_LIT("warp"),
		       str_from_cstr(password), ha1);
	p[0] = store_p_text(user);
	p[1] = store_p_text(ha1);
	p[2] = store_p_text(trunk);
	return store_exec(c,
			  "UPDATE trunks SET auth_username = $1, auth_realm = 'warp', "
			  "auth_ha1 = $2 WHERE id = $3",
			  p, 3, NULL);
}

/* A password as the API stores it since migration 0026: both HA1s. */
static void ha1_both(const char *user, const char *realm, const char *password,
		     char md5[SIP_DIGEST_HEX], char sha[SIP_DIGEST_HEX])
{
	sip_digest_ha1(SIP_DIGEST_MD5, str_from_cstr(user), str_from_cstr(realm),
		       str_from_cstr(password), md5);
	sip_digest_ha1(SIP_DIGEST_SHA256, str_from_cstr(user), str_from_cstr(realm),
		       str_from_cstr(password), sha);
}

static int credentials_both(struct store_conn *c, const char *trunk, const char *user,
			    const char *realm, const char *password)
{
	char md5[SIP_DIGEST_HEX], sha[SIP_DIGEST_HEX];
	struct store_param p[5];

	ha1_both(user, realm, password, md5, sha);
	p[0] = store_p_text(user);
	p[1] = store_p_text(realm);
	p[2] = store_p_text(md5);
	p[3] = store_p_text(sha);
	p[4] = store_p_text(trunk);
	return store_exec(c,
			  "UPDATE trunks SET auth_username = $1, auth_realm = $2, auth_ha1 = $3, "
			  "auth_ha1_sha256 = $4 WHERE id = $5",
			  p, 5, NULL);
}

/* A device of trk_dyn in realm warp2, as src/api/trunk_devices.c stores it. */
static int device(struct store_conn *c, const char *id, const char *user, const char *password,
		  int enabled)
{
	char md5[SIP_DIGEST_HEX], sha[SIP_DIGEST_HEX];
	struct store_param p[6];

	ha1_both(user, "warp2", password, md5, sha);
	p[0] = store_p_text(id);
	p[1] = store_p_text(user);
	p[2] = store_p_text(md5);
	p[3] = store_p_text(sha);
	p[4] = store_p_int(enabled);
	p[5] = store_p_text("trk_dyn");
	return store_exec(c,
			  "INSERT INTO trunk_devices (id, customer_id, trunk_id, username, realm, "
			  "auth_ha1, auth_ha1_sha256, enabled, created_at, updated_at) VALUES "
			  "($1, 'cus_a', $6, $2, 'warp2', $3, $4, $5, 0, 0)",
			  p, 6, NULL);
}

static int provision_all(struct store_conn *c)
{
	int rc = 0;

	for (size_t i = 0; i < sizeof(provisioning) / sizeof(provisioning[0]) && rc >= 0; i++)
		rc = store_exec(c, provisioning[i], NULL, 0, NULL);
	/* Usernames are not unique: the HA1 tells trk_dyn and trk_twin apart. */
	rc = rc < 0 ? rc : credentials(c, "trk_dyn", "dyn", "s3cret-pass");
	rc = rc < 0 ? rc : credentials(c, "trk_twin", "dyn", "twin-pass-2");
	/* Realm warp has MD5 HA1s only (passwords set before 0026); warp2 both. */
	rc = rc < 0 ? rc : credentials_both(c, "trk_new", "neo", "warp2", "n3w-password");
	/* Devices of trk_dyn (migration 0026): one enabled, one disabled. */
	rc = rc < 0 ? rc : device(c, "dev_on", "desk-1", "desk-pass-1", 1);
	rc = rc < 0 ? rc : device(c, "dev_off", "desk-2", "desk-pass-2", 0);
	if (rc < 0)
		fprintf(stderr, "%s\n", store_conn_errmsg(c));
	return rc < 0 ? -1 : 0;
}

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	struct sip_policy_opts o = {0};
	char err[256];

	if (!e || fixture_setup_migrated((void **)&e->f) < 0 ||
	    provision_all(store_conn(e->f->store)) < 0)
		return -1;
	e->loader = snapshot_loader_new(e->f->store, 50);
	o.store = e->f->store;
	o.loader = e->loader;
	o.cfg.digest_nonce_ttl_ms = 30000;
	o.cfg.digest_sha256 = true;
	o.cfg.digest_sha256_first = true;
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

	sip_policy_call_end(e->p, &e->plan);
	snapshot_loader_stop(e->loader);
	sip_policy_free(e->p);
	snapshot_loader_free(e->loader);
	fixture_teardown((void **)&e->f);
	free(e);
	return 0;
}

#define RURI "sip:12125550100@10.0.0.1"
#define STRANGER "198.51.100.9"

/* Admits an INVITE to RURI from STRANGER carrying auth (a whole header
 * line, or ""); returns the code. */
static int admit_method(struct env *e, const char *method, const char *auth, int64_t now_ms)
{
	struct net_addr src;
	int n = snprintf(e->buf, sizeof(e->buf),
			 "%s " RURI " SIP/2.0\r\n"
			 "Via: SIP/2.0/UDP " STRANGER ":5060;branch=z9hG4bKd1\r\n"
			 "Max-Forwards: 70\r\nFrom: <sip:+15550001111@a.example>;tag=1\r\n"
			 "To: <" RURI ">\r\nCall-ID: dig-1\r\nCSeq: 2 %s\r\n%s"
			 "Content-Length: 0\r\n\r\n",
			 method, method, auth);

	assert_int_equal(net_addr_parse(STR_LIT(STRANGER), 5060, &src), 0);
	assert_int_equal(sip_msg_parse(&e->m, e->buf, (size_t)n), 0);
	return sip_policy_digest_admit(e->p, &e->m, &src, now_ms, &e->a);
}

static int admit(struct env *e, const char *auth, int64_t now_ms)
{
	return admit_method(e, "INVITE", auth, now_ms);
}

/* The nonce of the first challenge in e->a.extra. */
static void challenge_nonce(struct env *e, char *out, size_t n)
{
	const char *p = strstr(e->a.extra, "nonce=\"");

	assert_non_null(p);
	p += 7;
	snprintf(out, n, "%.*s", (int)strcspn(p, "\""), p);
}

/* A Proxy-Authorization line using nonce for the nc-th time. */
static void auth_line_nc(char *out, size_t n, const char *method, const char *user,
			 const char *password, const char *nonce, const char *uri, unsigned nc)
{
	char ha1[SIP_DIGEST_HEX], resp[SIP_DIGEST_HEX], ncs[9];

	snprintf(ncs, sizeof(ncs), "%08x", nc);
	sip_digest_ha1(SIP_DIGEST_MD5, str_from_cstr(user), STR_LIT("warp"),
		       str_from_cstr(password), ha1);
	sip_digest_response(SIP_DIGEST_MD5, ha1, str_from_cstr(nonce), str_from_cstr(ncs),
			    STR_LIT("c0ffee"), STR_LIT("auth"), str_from_cstr(method),
			    str_from_cstr(uri), resp);
	snprintf(out, n,
		 "Proxy-Authorization: Digest username=\"%s\", realm=\"warp\", nonce=\"%s\", "
		 "uri=\"%s\", response=\"%s\", algorithm=MD5, cnonce=\"c0ffee\", qop=auth, "
		 "nc=%s\r\n",
		 user, nonce, uri, resp, ncs);
}

/* A Proxy-Authorization line in realm with algorithm alg (its name as
 * written in the header: "SHA-256", "MD5" or "" for none). */
static void auth_line_alg(char *out, size_t n, enum sip_digest_alg alg, const char *name,
			  const char *realm, const char *user, const char *password,
			  const char *nonce)
{
	char ha1[SIP_DIGEST_HEX], resp[SIP_DIGEST_HEX], a[32] = "";

	sip_digest_ha1(alg, str_from_cstr(user), str_from_cstr(realm), str_from_cstr(password),
		       ha1);
	sip_digest_response(alg, ha1, str_from_cstr(nonce), STR_LIT("00000001"), STR_LIT("c0ffee"),
			    STR_LIT("auth"), STR_LIT("INVITE"), STR_LIT(RURI), resp);
	if (name[0])
		snprintf(a, sizeof(a), "algorithm=%s, ", name);
	snprintf(out, n,
		 "Proxy-Authorization: Digest username=\"%s\", realm=\"%s\", nonce=\"%s\", "
		 "uri=\"" RURI "\", response=\"%s\", %scnonce=\"c0ffee\", qop=auth, "
		 "nc=00000001\r\n",
		 user, realm, nonce, resp, a);
}

/* Challenged at 5000, answers as auth_line_alg at 6000. */
static int answer_alg(struct env *e, enum sip_digest_alg alg, const char *name, const char *realm,
		      const char *user, const char *password)
{
	char nonce[SIP_DIGEST_NONCE_MAX], line[640];

	assert_int_equal(admit(e, "", 5000), 407);
	challenge_nonce(e, nonce, sizeof(nonce));
	auth_line_alg(line, sizeof(line), alg, name, realm, user, password, nonce);
	return admit(e, line, 6000);
}

static void auth_line_for(char *out, size_t n, const char *method, const char *user,
			  const char *password, const char *nonce, const char *uri)
{
	auth_line_nc(out, n, method, user, password, nonce, uri, 1);
}

static void auth_line(char *out, size_t n, const char *user, const char *password,
		      const char *nonce, const char *uri)
{
	auth_line_for(out, n, "INVITE", user, password, nonce, uri);
}

/* Challenged at 5000, answers with these credentials at now_ms. */
static int answer(struct env *e, const char *user, const char *password, const char *uri,
		  int64_t now_ms)
{
	char nonce[SIP_DIGEST_NONCE_MAX], line[512];

	assert_int_equal(admit(e, "", 5000), 407);
	challenge_nonce(e, nonce, sizeof(nonce));
	auth_line(line, sizeof(line), user, password, nonce, uri);
	return admit(e, line, now_ms);
}

static void test_stranger_without_credentials_is_challenged(void **state)
{
	struct env *e = *state;

	assert_int_equal(admit(e, "", 5000), 407);
	assert_true(e->a.stateful); /* an INVITE's: held by a server transaction */
	assert_non_null(strstr(e->a.extra, "Proxy-Authenticate: Digest realm=\"warp\", nonce=\""));
	assert_non_null(strstr(e->a.extra, "qop=\"auth\", algorithm=MD5\r\n"));
	assert_null(strstr(e->a.extra, "stale"));
}

static void test_good_credentials_admit_as_the_trunk(void **state)
{
	struct env *e = *state;
	struct net_addr src;

	assert_int_equal(answer(e, "dyn", "s3cret-pass", RURI, 6000), 0);
	/* §22.3: our credentials are not forwarded; the rest is. */
	assert_null(sip_msg_hdr_first(&e->a.msg, SIP_HDR_PROXY_AUTHORIZATION));
	assert_int_equal(e->a.msg.nhdrs, e->m.nhdrs - 1);
	assert_int_equal(net_addr_parse(STR_LIT(STRANGER), 5060, &src), 0);
	assert_int_equal(sip_policy_plan_invite(e->p, &e->a.msg, &src, 6000, &e->plan), 0);
	assert_int_equal(e->plan.reject_code, 0);
	assert_string_equal(e->plan.trunk_id, "trk_dyn");
	assert_string_equal(e->plan.targets[0].gateway_id, "gw_1");
}

/* OPTIONS is challenged like INVITE (a dynamic PBX's keepalive), without
 * a transaction; answered for OPTIONS, it is admitted. */
static void test_options_is_challenged_and_admitted(void **state)
{
	struct env *e = *state;
	char nonce[SIP_DIGEST_NONCE_MAX], line[512];

	assert_int_equal(admit_method(e, "OPTIONS", "", 5000), 407);
	assert_false(e->a.stateful);
	challenge_nonce(e, nonce, sizeof(nonce));
	auth_line_for(line, sizeof(line), "INVITE", "dyn", "s3cret-pass", nonce, RURI);
	assert_int_equal(admit_method(e, "OPTIONS", line, 6000), 403); /* wrong method */
	auth_line_for(line, sizeof(line), "OPTIONS", "dyn", "s3cret-pass", nonce, RURI);
	assert_int_equal(admit_method(e, "OPTIONS", line, 6000), 0);
	assert_int_equal(e->a.msg.method, SIP_METHOD_OPTIONS);
}

/* §22.3: credentials for a realm further on are not ours to take. */
static void test_other_realms_credentials_are_forwarded(void **state)
{
	struct env *e = *state;
	char nonce[SIP_DIGEST_NONCE_MAX], both[1024];
	const char *other = "Proxy-Authorization: Digest username=\"x\", realm=\"far.example\", "
			    "nonce=\"n\", uri=\"sip:a@b\", response=\"r\"\r\n";
	const struct sip_hdr *h;
	int n;

	assert_int_equal(admit(e, "", 5000), 407);
	challenge_nonce(e, nonce, sizeof(nonce));
	n = snprintf(both, sizeof(both), "%s", other);
	auth_line(both + n, sizeof(both) - (size_t)n, "dyn", "s3cret-pass", nonce, RURI);
	assert_int_equal(admit(e, both, 6000), 0);
	h = sip_msg_hdr_first(&e->a.msg, SIP_HDR_PROXY_AUTHORIZATION);
	assert_non_null(h);
	assert_true(str_eq_cstr(h->line, other));
	assert_null(sip_msg_hdr_next(&e->a.msg, h));
}

/* Two trunks share username and realm (the store allows it): the password
 * decides which one calls; a malformed stored HA1 never matches. */
static void test_shared_username_resolved_by_password(void **state)
{
	struct env *e = *state;
	struct net_addr src;

	assert_int_equal(net_addr_parse(STR_LIT(STRANGER), 5060, &src), 0);
	assert_int_equal(answer(e, "dyn", "twin-pass-2", RURI, 6000), 0);
	assert_int_equal(sip_policy_plan_invite(e->p, &e->a.msg, &src, 6000, &e->plan), 0);
	assert_string_equal(e->plan.trunk_id, "trk_twin");
	sip_policy_call_end(e->p, &e->plan);
	assert_int_equal(answer(e, "dyn", "s3cret-pass", RURI, 6000), 0);
	assert_int_equal(sip_policy_plan_invite(e->p, &e->a.msg, &src, 6000, &e->plan), 0);
	assert_string_equal(e->plan.trunk_id, "trk_dyn");
}

static void test_admission_is_for_that_request_only(void **state)
{
	struct env *e = *state;
	struct net_addr other;

	assert_int_equal(answer(e, "dyn", "s3cret-pass", RURI, 6000), 0);
	assert_int_equal(net_addr_parse(STR_LIT("198.51.100.10"), 5060, &other), 0);
	assert_int_equal(sip_policy_plan_invite(e->p, &e->a.msg, &other, 6000, &e->plan), 0);
	assert_int_equal(e->plan.reject_code, 403);
}

static void test_wrong_password_is_refused(void **state)
{
	struct env *e = *state;

	assert_int_equal(answer(e, "dyn", "not-the-pass", RURI, 6000), 403);
	assert_non_null(strstr(e->a.extra, "bad credentials"));
}

static void test_unknown_username_is_refused(void **state)
{
	struct env *e = *state;

	assert_int_equal(answer(e, "nobody", "s3cret-pass", RURI, 6000), 403);
}

/* The response covers the digest-uri: one computed for another uri than
 * the one the header names does not verify. */
static void test_response_for_another_uri_is_refused(void **state)
{
	struct env *e = *state;
	char nonce[SIP_DIGEST_NONCE_MAX], line[512], *uri;

	assert_int_equal(admit(e, "", 5000), 407);
	challenge_nonce(e, nonce, sizeof(nonce));
	auth_line(line, sizeof(line), "dyn", "s3cret-pass", nonce, "sip:19005550100@10.0.0.1");
	uri = strstr(line, "sip:1900");
	assert_non_null(uri);
	memcpy(uri, "sip:1212", 8); /* same length: the header now names RURI */
	assert_int_equal(admit(e, line, 6000), 403);
}

/* The challenge of a stranger's INVITE: realm warp (MD5 HA1s only) with MD5
 * alone, realm warp2 (SHA-256 HA1s too) with first, then second. */
static void assert_challenge(struct env *e, const char *first, const char *second)
{
	char nonce[SIP_DIGEST_NONCE_MAX], want[1024];

	assert_int_equal(admit(e, "", 5000), 407);
	challenge_nonce(e, nonce, sizeof(nonce));
	snprintf(want, sizeof(want),
		 "Proxy-Authenticate: Digest realm=\"warp\", nonce=\"%s\", qop=\"auth\", "
		 "algorithm=MD5\r\n"
		 "Proxy-Authenticate: Digest realm=\"warp2\", nonce=\"%s\", qop=\"auth\", "
		 "algorithm=%s\r\n"
		 "Proxy-Authenticate: Digest realm=\"warp2\", nonce=\"%s\", qop=\"auth\", "
		 "algorithm=%s\r\n",
		 nonce, nonce, first, nonce, second);
	assert_string_equal(e->a.extra, want);
}

/* RFC 8760 §2.4's order of preference when told (digest_sha256_first):
 * SHA-256 first, then MD5; a realm with MD5 HA1s only, MD5 alone. */
static void test_challenge_offers_sha256_first_where_known(void **state)
{
	assert_challenge(*state, "SHA-256", "MD5");
}

/* The shipped order (decision 0053): MD5 first, so that a client taking the
 * first challenge whatever it is gets one it can answer; SHA-256 after. */
static void test_challenge_offers_md5_first_unless_told(void **state)
{
	struct env *e = *state;

	e->p->o.cfg.digest_sha256_first = false;
	assert_challenge(e, "MD5", "SHA-256");
}

/* user's SHA-256 answer in warp2 admits the call as trunk. */
static void assert_sha256_admits_as(struct env *e, const char *user, const char *password,
				    const char *trunk)
{
	struct net_addr src;

	assert_int_equal(answer_alg(e, SIP_DIGEST_SHA256, "SHA-256", "warp2", user, password), 0);
	assert_int_equal(net_addr_parse(STR_LIT(STRANGER), 5060, &src), 0);
	assert_int_equal(sip_policy_plan_invite(e->p, &e->a.msg, &src, 6000, &e->plan), 0);
	assert_string_equal(e->plan.trunk_id, trunk);
}

static void test_sha256_credentials_admit_as_the_trunk(void **state)
{
	assert_sha256_admits_as(*state, "neo", "n3w-password", "trk_new");
}

/* The same trunk answering the MD5 challenge (a client without SHA-256). */
static void test_md5_still_admits_a_trunk_with_both(void **state)
{
	struct env *e = *state;

	assert_int_equal(answer_alg(e, SIP_DIGEST_MD5, "MD5", "warp2", "neo", "n3w-password"), 0);
}

/* RFC 7616 §3.3: no algorithm parameter is MD5. */
static void test_no_algorithm_is_md5(void **state)
{
	struct env *e = *state;

	assert_int_equal(answer_alg(e, SIP_DIGEST_MD5, "", "warp2", "neo", "n3w-password"), 0);
}

static void test_wrong_sha256_password_is_refused(void **state)
{
	struct env *e = *state;

	assert_int_equal(answer_alg(e, SIP_DIGEST_SHA256, "SHA-256", "warp2", "neo", "not-it-1"),
			 403);
	assert_non_null(strstr(e->a.extra, "bad credentials"));
}

/* A response's length follows its algorithm: an MD5 response labelled
 * SHA-256, or an algorithm not verified here, is refused. */
static void test_response_of_the_wrong_algorithm_is_refused(void **state)
{
	struct env *e = *state;

	assert_int_equal(answer_alg(e, SIP_DIGEST_MD5, "SHA-256", "warp2", "neo", "n3w-password"),
			 403);
	assert_int_equal(answer_alg(e, SIP_DIGEST_MD5, "MD5-sess", "warp2", "neo", "n3w-password"),
			 403);
	assert_int_equal(
	    answer_alg(e, SIP_DIGEST_SHA256, "SHA-512-256", "warp2", "neo", "n3w-password"), 403);
}

/* Credentials whose SHA-256 HA1 is unknown (set before migration 0026)
 * answered with SHA-256: a new challenge offering MD5 alone, stale so that
 * the client retries with the same password; MD5 then admits. */
static void test_sha256_answer_for_md5_only_credentials_gets_md5_challenge(void **state)
{
	struct env *e = *state;
	char nonce[SIP_DIGEST_NONCE_MAX], line[640];

	assert_int_equal(answer_alg(e, SIP_DIGEST_SHA256, "SHA-256", "warp", "dyn", "s3cret-pass"),
			 407);
	assert_non_null(strstr(e->a.extra, "stale=true"));
	assert_null(strstr(e->a.extra, "SHA-256"));
	challenge_nonce(e, nonce, sizeof(nonce));
	auth_line_alg(line, sizeof(line), SIP_DIGEST_MD5, "MD5", "warp", "dyn", "s3cret-pass",
		      nonce);
	assert_int_equal(admit(e, line, 7000), 0);
}

/* A trunk's enabled device is admitted as the trunk, its own username the
 * registrant's; a disabled one is an unknown username. */
static void test_enabled_device_admits_as_its_trunk(void **state)
{
	assert_sha256_admits_as(*state, "desk-1", "desk-pass-1", "trk_dyn");
}

static void test_disabled_device_is_refused(void **state)
{
	struct env *e = *state;

	assert_int_equal(
	    answer_alg(e, SIP_DIGEST_SHA256, "SHA-256", "warp2", "desk-2", "desk-pass-2"), 403);
}

static void test_expired_nonce_gets_a_stale_challenge(void **state)
{
	struct env *e = *state;

	assert_int_equal(answer(e, "dyn", "s3cret-pass", RURI, 5000 + 30001), 407);
	assert_non_null(strstr(e->a.extra, "stale=true"));
}

/* RFC 2617 §4.5: credentials seen once are not admitted again while their
 * nonce lives; the next nc on the same nonce is. */
static void test_replayed_credentials_get_a_fresh_challenge(void **state)
{
	struct env *e = *state;
	char nonce[SIP_DIGEST_NONCE_MAX], line[512], again[512];

	assert_int_equal(admit(e, "", 5000), 407);
	challenge_nonce(e, nonce, sizeof(nonce));
	auth_line(line, sizeof(line), "dyn", "s3cret-pass", nonce, RURI);
	assert_int_equal(admit(e, line, 6000), 0);
	assert_int_equal(admit(e, line, 7000), 407);
	assert_non_null(strstr(e->a.extra, "stale=true"));
	auth_line_nc(again, sizeof(again), "INVITE", "dyn", "s3cret-pass", nonce, RURI, 2);
	assert_int_equal(admit(e, again, 8000), 0);
	/* Once the nonce is past its life the table forgets it; the nonce
	 * check refuses it first anyway (stale). */
	assert_int_equal(admit(e, again, 5000 + 30001), 407);
}

static void test_forged_nonce_is_refused(void **state)
{
	struct env *e = *state;
	char line[512];

	auth_line(line, sizeof(line), "dyn", "s3cret-pass", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		  RURI);
	assert_int_equal(admit(e, line, 6000), 403);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rfc2617_example_ha1),
	    cmocka_unit_test(test_rfc2617_example_response),
	    cmocka_unit_test(test_rfc7616_sha256_example),
	    cmocka_unit_test(test_rfc7616_md5_example),
	    cmocka_unit_test(test_response_depends_on_method),
	    cmocka_unit_test(test_fresh_nonce_is_valid),
	    cmocka_unit_test(test_expired_nonce_is_stale),
	    cmocka_unit_test(test_nonce_from_the_future_is_bad),
	    cmocka_unit_test(test_tampered_nonce_is_bad),
	    cmocka_unit_test(test_foreign_nonces_are_bad),
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	    T(test_stranger_without_credentials_is_challenged),
	    T(test_good_credentials_admit_as_the_trunk),
	    T(test_options_is_challenged_and_admitted),
	    T(test_other_realms_credentials_are_forwarded),
	    T(test_shared_username_resolved_by_password),
	    T(test_admission_is_for_that_request_only),
	    T(test_wrong_password_is_refused),
	    T(test_unknown_username_is_refused),
	    T(test_response_for_another_uri_is_refused),
	    T(test_expired_nonce_gets_a_stale_challenge),
	    T(test_forged_nonce_is_refused),
	    T(test_replayed_credentials_get_a_fresh_challenge),
	    T(test_challenge_offers_sha256_first_where_known),
	    T(test_challenge_offers_md5_first_unless_told),
	    T(test_sha256_credentials_admit_as_the_trunk),
	    T(test_md5_still_admits_a_trunk_with_both),
	    T(test_no_algorithm_is_md5),
	    T(test_enabled_device_admits_as_its_trunk),
	    T(test_disabled_device_is_refused),
	    T(test_wrong_sha256_password_is_refused),
	    T(test_response_of_the_wrong_algorithm_is_refused),
	    T(test_sha256_answer_for_md5_only_credentials_gets_md5_challenge),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
