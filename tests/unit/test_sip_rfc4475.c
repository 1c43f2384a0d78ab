/*
 * Tests src/sip against the RFC 4475 torture messages in
 * $WARP_TESTDATA/rfc4475/ (see INDEX.md there).  Every file in the folder
 * must have a row in the table below, which says what our parser layer does
 * with it:
 *
 *   PARSE_OK      sip_msg_parse and sip_msg_validate accept it;
 *   REJECT_PARSE  sip_msg_parse itself refuses it, with the code given;
 *   REJECT_FIELD  parse succeeds, and the named field accessor refuses it
 *                 (lazy parsing: the fault is found when that header is read);
 *   APP           application-layer case: parse, then a check of what the
 *                 proxy will act on (416, 483, 400 for missing headers ...).
 *
 * Every message, whatever its row, also goes through every accessor to prove
 * none crashes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sip/sip.h"

enum expect { PARSE_OK, REJECT_PARSE, REJECT_FIELD, APP };

struct rfc_case {
	const char *file;
	enum expect expect;
	int err;	/* REJECT_*: the code expected */
	const char *by; /* REJECT_FIELD: the accessor that refuses it */
	void (*check)(struct sip_msg *m);
};

static char *load(const char *name, size_t *len)
{
	const char *dir = getenv("WARP_TESTDATA");
	char path[1024];

	assert_non_null(dir);
	snprintf(path, sizeof(path), "%s/rfc4475/%s", dir, name);
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	char *buf = malloc(SIP_MSG_MAX_SIZE + 1);
	assert_non_null(buf);
	*len = fread(buf, 1, SIP_MSG_MAX_SIZE + 1, f);
	fclose(f);
	return buf;
}

/* Reads everything lazily reachable; results are not checked, only that
 * nothing crashes or reads out of bounds (ASan watches). */
static void touch_all(struct sip_msg *m)
{
	struct sip_uri uri;
	struct sip_via via;
	struct sip_addr addr;
	struct sip_cseq cseq;
	struct str s, t;
	int mf;
	uint32_t exp;
	int64_t date;

	sip_msg_ruri(m, &uri);
	for (size_t i = 0; i < 8; i++)
		sip_msg_via(m, i, &via);
	sip_msg_from(m, &addr);
	sip_msg_to(m, &addr);
	for (size_t i = 0; i < 4; i++) {
		sip_msg_addr(m, SIP_HDR_CONTACT, i, &addr);
		sip_msg_addr(m, SIP_HDR_ROUTE, i, &addr);
		sip_msg_addr(m, SIP_HDR_RECORD_ROUTE, i, &addr);
	}
	sip_msg_cseq(m, &cseq);
	sip_msg_call_id(m, &s);
	sip_msg_max_forwards(m, &mf);
	sip_msg_expires(m, &exp);
	sip_msg_content_type(m, &s, &t);
	sip_msg_date(m, &date);
	sip_msg_can_reply(m);
	sip_msg_validate(m);
}

static void check_wsinv(struct sip_msg *m)
{
	struct sip_via via;
	struct sip_addr addr;
	struct sip_cseq cseq;
	struct str s;
	int mf;

	assert_int_equal(m->method, SIP_METHOD_INVITE);
	assert_int_equal(sip_msg_call_id(m, &s), 0);
	assert_true(str_eq_cstr(s, "wsinv.ndaksdj@192.0.2.1"));
	assert_int_equal(sip_msg_cseq(m, &cseq), 0);
	assert_int_equal(cseq.number, 9);
	assert_int_equal(cseq.method, SIP_METHOD_INVITE);
	assert_int_equal(sip_msg_via(m, 0, &via), 0);
	assert_true(str_eq_cstr(via.branch, "390skdjuw"));
	assert_true(str_eq_cstr(via.transport, "UDP"));
	assert_true(str_eq_cstr(via.host, "192.0.2.2"));
	assert_int_equal(sip_msg_via(m, 1, &via), 0);
	assert_true(str_eq_cstr(via.transport, "TCP"));
	assert_true(str_eq_cstr(via.host, "spindle.example.com"));
	assert_true(str_eq_cstr(via.branch, "z9hG4bK9ikj8"));
	assert_int_equal(sip_msg_via(m, 2, &via), 0);
	assert_true(str_eq_cstr(via.branch, "z9hG4bK30239"));
	assert_int_equal(sip_msg_via(m, 3, &via), SIP_E_NOT_FOUND);
	assert_int_equal(sip_msg_to(m, &addr), 0);
	assert_true(str_eq_cstr(addr.tag, "1918181833n"));
	assert_true(str_eq_cstr(addr.uri.host, "chair-dnrc.example.com"));
	assert_int_equal(sip_msg_from(m, &addr), 0);
	assert_true(str_eq_cstr(addr.tag, "98asjd8"));
	assert_true(str_eq_cstr(addr.display, "J Rosenberg \\\\\\\""));
	assert_int_equal(sip_msg_max_forwards(m, &mf), 0);
	assert_int_equal(mf, 68);
	assert_int_equal(m->content_length, 150);
	assert_int_equal(sip_msg_body(m).len, 150);
	assert_int_equal(sip_msg_addr(m, SIP_HDR_CONTACT, 0, &addr), 0);
	assert_int_equal(sip_params_find(addr.params, "q", &s), 0);
	assert_true(str_eq_cstr(s, "0.33"));
	assert_int_equal(sip_params_find(addr.params, "newparam", &s), 0);
	assert_true(str_eq_cstr(s, "newvalue"));
	assert_non_null(sip_msg_hdr_first(m, SIP_HDR_SUBJECT));
	assert_int_equal(sip_msg_hdr_first(m, SIP_HDR_SUBJECT)->value.len, 0);
	assert_non_null(sip_msg_hdr_find(m, STR_LIT("newfangledheader")));
	assert_int_equal(sip_msg_addr(m, SIP_HDR_ROUTE, 0, &addr), 0);
	assert_int_equal(sip_uri_param(&addr.uri, "lr", &s), 0);
}

static void check_esc01(struct sip_msg *m)
{
	struct sip_addr addr;
	char out[64];
	size_t n;

	assert_int_equal(sip_msg_to(m, &addr), 0);
	assert_int_equal(sip_uri_unescape(addr.uri.user, out, sizeof(out), &n), 0);
	assert_memory_equal(out, "user", 4);
	assert_int_equal(n, 4);
	assert_int_equal(sip_msg_from(m, &addr), 0);
	assert_int_equal(sip_uri_unescape(addr.uri.user, out, sizeof(out), &n), 0);
	assert_int_equal(n, strlen("I have spaces"));
	assert_memory_equal(out, "I have spaces", n);
}

static void check_escnull(struct sip_msg *m)
{
	struct sip_addr addr;
	char out[16];
	size_t n;

	assert_int_equal(sip_msg_addr(m, SIP_HDR_CONTACT, 1, &addr), 0);
	assert_int_equal(sip_uri_unescape(addr.uri.user, out, sizeof(out), &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(out[0], 0);
}

static void check_intmeth(struct sip_msg *m)
{
	struct sip_uri uri;
	struct sip_addr addr;

	assert_int_equal(m->method, SIP_METHOD_OTHER);
	assert_true(str_eq_cstr(m->method_name, "!interesting-Method0123456789_*+`.%indeed'~"));
	assert_int_equal(sip_msg_ruri(m, &uri), 0);
	assert_true(str_eq_cstr(uri.host, "example.com"));
	assert_true(str_eq_cstr(uri.password, "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"));
	assert_int_equal(sip_msg_from(m, &addr), 0);
	assert_true(str_eq_cstr(addr.tag, "_token~1'+`*%!-."));
	assert_true(str_eq_cstr(addr.display, "token1~` token2'+_ token3*%!.-"));
}

static void check_semiuri(struct sip_msg *m)
{
	struct sip_uri uri;
	struct str v;

	assert_int_equal(sip_msg_ruri(m, &uri), 0);
	assert_true(str_eq_cstr(uri.user, "user;par=u%40example.net"));
	assert_true(str_eq_cstr(uri.host, "example.com"));
	assert_int_equal(sip_uri_param(&uri, "par", &v), SIP_E_NOT_FOUND);
}

static void check_transports(struct sip_msg *m)
{
	static const char *const want[] = {"UDP", "SCTP", "TLS", "UNKNOWN", "TCP"};
	struct sip_via via;

	for (size_t i = 0; i < 5; i++) {
		assert_int_equal(sip_msg_via(m, i, &via), 0);
		assert_true(str_eq_cstr(via.transport, want[i]));
	}
}

static void check_dblreq(struct sip_msg *m)
{
	assert_int_equal(m->method, SIP_METHOD_REGISTER);
	assert_int_equal(sip_msg_body(m).len, 0);
	assert_true(m->trailing.len > 0); /* the second request, ignored (§18.3) */
}

static void check_noreason(struct sip_msg *m)
{
	assert_false(sip_msg_is_request(m));
	assert_int_equal(m->status, 100);
	assert_int_equal(m->reason.len, 0);
}

static void check_unreason(struct sip_msg *m)
{
	assert_int_equal(m->status, 200);
	assert_true(m->reason.len > 20);
}

static void check_badbranch(struct sip_msg *m)
{
	struct sip_via via;

	assert_int_equal(sip_msg_via(m, 0, &via), 0);
	assert_false(sip_via_branch_is_rfc3261(&via));
}

static void check_insuf(struct sip_msg *m)
{
	assert_int_equal(sip_msg_validate(m), SIP_E_MISSING);
	assert_int_equal(sip_err_status(sip_msg_error_code(m)), 400);
	assert_false(sip_msg_can_reply(m));
}

static void check_scheme_416(struct sip_msg *m)
{
	struct sip_uri uri;

	assert_int_equal(sip_msg_ruri(m, &uri), SIP_E_URI_SCHEME);
	assert_int_equal(sip_err_status(SIP_E_URI_SCHEME), 416);
	assert_true(sip_msg_can_reply(m));
}

static void check_unksm2(struct sip_msg *m)
{
	struct sip_addr addr;

	assert_int_equal(sip_msg_validate(m), 0);
	assert_int_equal(sip_msg_to(m, &addr), 0);
	assert_int_equal(addr.uri.scheme, SIP_URI_OTHER);
	assert_int_equal(sip_msg_addr(m, SIP_HDR_CONTACT, 0, &addr), 0);
	assert_true(str_eq_cstr(addr.uri.scheme_name, "name"));
}

static void check_bext01(struct sip_msg *m)
{
	struct sip_value_iter it;
	struct str v;

	assert_int_equal(sip_msg_validate(m), 0);
	sip_value_iter_init(&it, m, SIP_HDR_PROXY_REQUIRE);
	assert_int_equal(sip_value_iter_next(&it, &v, NULL), 0);
	assert_true(str_eq_cstr(v, "noProxiesSupportThis"));
	assert_int_equal(sip_value_iter_next(&it, &v, NULL), 0);
	assert_true(str_eq_cstr(v, "norDoAnyProxiesSupportThis"));
	assert_int_equal(sip_value_iter_next(&it, &v, NULL), SIP_E_NOT_FOUND);
}

static void check_invut(struct sip_msg *m)
{
	struct str type, params;

	assert_int_equal(sip_msg_validate(m), 0);
	assert_int_equal(sip_msg_content_type(m, &type, &params), 0);
	assert_true(str_eq_cstr(type, "application/unknownformat"));
}

static void check_regaut01(struct sip_msg *m)
{
	assert_int_equal(sip_msg_validate(m), 0);
	assert_non_null(sip_msg_hdr_first(m, SIP_HDR_AUTHORIZATION));
}

static void check_multi01(struct sip_msg *m)
{
	assert_int_equal(sip_msg_validate(m), SIP_E_MULTIPLE);
	assert_true(sip_msg_can_reply(m));
}

static void check_mcl01(struct sip_msg *m)
{
	assert_true(sip_msg_can_reply(m));
	assert_string_equal(sip_msg_error(m), "several Content-Length values");
}

static void check_bcast(struct sip_msg *m)
{
	struct sip_via via;

	assert_int_equal(sip_msg_validate(m), 0);
	assert_int_equal(sip_msg_via(m, 1, &via), 0);
	assert_true(str_eq_cstr(via.host, "255.255.255.255"));
}

static void check_zeromf(struct sip_msg *m)
{
	int mf = -1;

	assert_int_equal(sip_msg_validate(m), 0);
	assert_int_equal(sip_msg_max_forwards(m, &mf), 0);
	assert_int_equal(mf, 0);
}

static void check_cparam01(struct sip_msg *m)
{
	struct sip_addr addr;

	assert_int_equal(sip_msg_addr(m, SIP_HDR_CONTACT, 0, &addr), 0);
	assert_false(addr.name_addr);
	/* A bare addr-spec's parameter is the header's, not the URI's. */
	assert_int_equal(sip_params_find(addr.params, "unknownparam", NULL), 0);
	assert_int_equal(sip_uri_param(&addr.uri, "unknownparam", NULL), SIP_E_NOT_FOUND);
}

static void check_cparam02(struct sip_msg *m)
{
	struct sip_addr addr;

	assert_int_equal(sip_msg_addr(m, SIP_HDR_CONTACT, 0, &addr), 0);
	assert_true(addr.name_addr);
	assert_int_equal(sip_uri_param(&addr.uri, "unknownparam", NULL), 0);
	assert_int_equal(sip_params_find(addr.params, "unknownparam", NULL), SIP_E_NOT_FOUND);
}

static void check_regescrt(struct sip_msg *m)
{
	struct sip_addr addr;

	assert_int_equal(sip_msg_validate(m), 0);
	assert_int_equal(sip_msg_addr(m, SIP_HDR_CONTACT, 0, &addr), 0);
	assert_true(str_eq_cstr(addr.uri.headers, "Route=%3Csip:sip.example.com%3E"));
}

static void check_sdp01(struct sip_msg *m)
{
	assert_int_equal(sip_msg_validate(m), 0);
	assert_true(
	    str_eq_cstr(sip_msg_hdr_first(m, SIP_HDR_ACCEPT)->value, "text/nobodyKnowsThis"));
}

static void check_inv2543(struct sip_msg *m)
{
	struct sip_via via;
	struct sip_addr addr;

	assert_int_equal(sip_msg_validate(m), 0);
	assert_int_equal(sip_msg_via(m, 0, &via), 0);
	assert_null(via.branch.p);
	assert_int_equal(sip_msg_from(m, &addr), 0);
	assert_null(addr.tag.p);
	assert_int_equal(m->content_length, -1);
}

static void check_badvers(struct sip_msg *m)
{
	assert_int_equal(sip_err_status(sip_msg_error_code(m)), 505);
	assert_true(sip_msg_can_reply(m));
}

static void check_clerr(struct sip_msg *m)
{
	assert_string_equal(sip_msg_error(m), "Content-Length mismatch");
	assert_true(sip_msg_can_reply(m));
}

static void check_scalar02(struct sip_msg *m)
{
	int mf;
	uint32_t exp;

	assert_int_equal(sip_msg_max_forwards(m, &mf), SIP_E_MAX_FORWARDS);
	assert_int_equal(sip_msg_expires(m, &exp), SIP_E_EXPIRES);
}

static const struct rfc_case cases[] = {
    /* 3.1.1 valid */
    {"wsinv.dat", PARSE_OK, 0, NULL, check_wsinv},
    {"intmeth.dat", PARSE_OK, 0, NULL, check_intmeth},
    {"esc01.dat", PARSE_OK, 0, NULL, check_esc01},
    {"escnull.dat", PARSE_OK, 0, NULL, check_escnull},
    {"esc02.dat", PARSE_OK, 0, NULL, NULL},
    {"lwsdisp.dat", PARSE_OK, 0, NULL, NULL},
    {"longreq.dat", PARSE_OK, 0, NULL, NULL},
    {"dblreq.dat", PARSE_OK, 0, NULL, check_dblreq},
    {"semiuri.dat", PARSE_OK, 0, NULL, check_semiuri},
    {"transports.dat", PARSE_OK, 0, NULL, check_transports},
    {"mpart01.dat", PARSE_OK, 0, NULL, NULL},
    {"unreason.dat", PARSE_OK, 0, NULL, check_unreason},
    {"noreason.dat", PARSE_OK, 0, NULL, check_noreason},
    /* 3.1.2 invalid */
    {"badinv01.dat", REJECT_FIELD, SIP_E_VIA, "via", NULL},
    {"clerr.dat", REJECT_PARSE, SIP_E_BODY_SHORT, NULL, check_clerr},
    {"ncl.dat", REJECT_PARSE, SIP_E_CONTENT_LENGTH, NULL, NULL},
    {"scalar02.dat", REJECT_FIELD, SIP_E_CSEQ, "cseq", check_scalar02},
    {"scalarlg.dat", REJECT_FIELD, SIP_E_CSEQ, "cseq", NULL},
    {"quotbal.dat", REJECT_FIELD, SIP_E_TO, "to", NULL},
    {"ltgtruri.dat", REJECT_PARSE, SIP_E_RURI, NULL, NULL},
    {"lwsruri.dat", REJECT_PARSE, SIP_E_START_LINE, NULL, NULL},
    {"lwsstart.dat", REJECT_PARSE, SIP_E_RURI, NULL, NULL},
    {"trws.dat", REJECT_PARSE, SIP_E_START_LINE, NULL, NULL},
    {"escruri.dat", REJECT_FIELD, SIP_E_RURI, "ruri", NULL},
    {"baddate.dat", REJECT_FIELD, SIP_E_DATE, "date", NULL},
    {"regbadct.dat", REJECT_FIELD, SIP_E_CONTACT, "contact", NULL},
    {"badaspec.dat", REJECT_FIELD, SIP_E_TO, "to", NULL},
    {"baddn.dat", REJECT_FIELD, SIP_E_FROM, "from", NULL},
    {"badvers.dat", REJECT_PARSE, SIP_E_VERSION, NULL, check_badvers},
    {"mismatch01.dat", REJECT_FIELD, SIP_E_CSEQ_METHOD, "cseq", NULL},
    {"mismatch02.dat", REJECT_FIELD, SIP_E_CSEQ_METHOD, "cseq", NULL},
    {"bigcode.dat", REJECT_PARSE, SIP_E_STATUS, NULL, NULL},
    /* 3.2 transaction layer */
    {"badbranch.dat", PARSE_OK, 0, NULL, check_badbranch},
    /* 3.3 application layer */
    {"insuf.dat", APP, 0, NULL, check_insuf},
    {"unkscm.dat", APP, 0, NULL, check_scheme_416},
    {"novelsc.dat", APP, 0, NULL, check_scheme_416},
    {"unksm2.dat", APP, 0, NULL, check_unksm2},
    {"bext01.dat", APP, 0, NULL, check_bext01},
    {"invut.dat", APP, 0, NULL, check_invut},
    {"regaut01.dat", APP, 0, NULL, check_regaut01},
    {"multi01.dat", APP, 0, NULL, check_multi01},
    /* Several Content-Length values make framing ambiguous, so the parse
     * itself refuses them; the request can still be answered 400. */
    {"mcl01.dat", REJECT_PARSE, SIP_E_CONTENT_LENGTH, NULL, check_mcl01},
    {"bcast.dat", APP, 0, NULL, check_bcast},
    {"zeromf.dat", APP, 0, NULL, check_zeromf},
    {"cparam01.dat", APP, 0, NULL, check_cparam01},
    {"cparam02.dat", APP, 0, NULL, check_cparam02},
    {"regescrt.dat", APP, 0, NULL, check_regescrt},
    {"sdp01.dat", APP, 0, NULL, check_sdp01},
    /* 3.4 backward compatibility */
    {"inv2543.dat", PARSE_OK, 0, NULL, check_inv2543},
};

#define NCASES (sizeof(cases) / sizeof(cases[0]))

/* Runs the accessor a REJECT_FIELD row names. */
static int field_rc(struct sip_msg *m, const char *by)
{
	struct sip_via via;
	struct sip_addr addr;
	struct sip_cseq cseq;
	struct sip_uri uri;
	int64_t date;

	if (strcmp(by, "via") == 0)
		return sip_msg_via(m, 0, &via);
	if (strcmp(by, "to") == 0)
		return sip_msg_to(m, &addr);
	if (strcmp(by, "from") == 0)
		return sip_msg_from(m, &addr);
	if (strcmp(by, "cseq") == 0)
		return sip_msg_cseq(m, &cseq);
	if (strcmp(by, "ruri") == 0)
		return sip_msg_ruri(m, &uri);
	if (strcmp(by, "date") == 0)
		return sip_msg_date(m, &date);
	if (strcmp(by, "contact") == 0)
		return sip_msg_addr(m, SIP_HDR_CONTACT, 0, &addr);
	fail_msg("unknown accessor %s", by);
	return 0;
}

static void run_case(const struct rfc_case *c)
{
	struct sip_msg *m = malloc(sizeof(*m));
	size_t len;
	char *buf = load(c->file, &len);
	int rc = sip_msg_parse(m, buf, len);

	print_message("%s: parse %d (%s)\n", c->file, rc, rc ? sip_msg_error(m) : "ok");
	switch (c->expect) {
	case PARSE_OK:
		assert_int_equal(rc, 0);
		assert_int_equal(sip_msg_validate(m), 0);
		break;
	case REJECT_PARSE:
		assert_int_equal(rc, c->err);
		assert_non_null(sip_msg_error(m));
		break;
	case REJECT_FIELD:
		assert_int_equal(rc, 0);
		assert_int_equal(field_rc(m, c->by), c->err);
		assert_int_equal(sip_msg_validate(m) != 0 || strcmp(c->by, "date") == 0 ||
				     strcmp(c->by, "contact") == 0,
				 1);
		break;
	case APP:
		assert_int_equal(rc, 0);
		break;
	}
	if (c->check)
		c->check(m);
	touch_all(m);
	free(buf);
	free(m);
}

static void test_rfc4475_every_case(void **state)
{
	for (size_t i = 0; i < NCASES; i++)
		run_case(&cases[i]);
}

/* Every file in the folder has a row, so a new torture file cannot slip by. */
static void test_rfc4475_every_file_has_a_row(void **state)
{
	char path[1024];
	size_t seen = 0;

	snprintf(path, sizeof(path), "%s/rfc4475", getenv("WARP_TESTDATA"));
	DIR *d = opendir(path);
	assert_non_null(d);
	for (struct dirent *e; (e = readdir(d)) != NULL;) {
		size_t n = strlen(e->d_name);
		if (n < 4 || strcmp(e->d_name + n - 4, ".dat") != 0)
			continue;
		bool found = false;
		for (size_t i = 0; i < NCASES; i++)
			found = found || strcmp(cases[i].file, e->d_name) == 0;
		if (!found)
			fail_msg("%s has no row in the table", e->d_name);
		seen++;
	}
	closedir(d);
	assert_int_equal(seen, NCASES);
	assert_int_equal(seen, 49);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rfc4475_every_case),
	    cmocka_unit_test(test_rfc4475_every_file_has_a_row),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
