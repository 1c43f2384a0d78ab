/*
 * test_http_router.c — src/http/router.c: patterns, precedence, 404 vs 405.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "http/router.h"

static int tag_a, tag_b, tag_c;

static void handler_stub(struct http_req *req, void *arg)
{
	(void)req;
	(void)arg;
}

static const char *param(const struct http_route_match *m, const char *name, char *out, size_t n)
{
	for (size_t i = 0; i < m->nparams; i++)
		if (strcmp(m->params[i].name, name) == 0) {
			str_copy(out, n, m->params[i].value);
			return out;
		}
	return NULL;
}

static enum http_route_result match(const struct http_router *r, unsigned method, const char *path,
				    struct http_route_match *m)
{
	return http_router_match(r, method, str_from_cstr(path), m);
}

static void test_literal_route_found(void **state)
{
	struct http_router *r = http_router_new();
	struct http_route_match m;
	assert_int_equal(http_router_add(r, HTTP_GET, "/api/v1/carriers", handler_stub, &tag_a), 0);
	assert_int_equal(match(r, HTTP_GET, "/api/v1/carriers", &m), HTTP_ROUTE_FOUND);
	assert_ptr_equal(m.arg, &tag_a);
	assert_int_equal(m.nparams, 0);
	http_router_free(r);
}

static void test_literal_beats_param(void **state)
{
	struct http_router *r = http_router_new();
	struct http_route_match m;
	http_router_add(r, HTTP_GET, "/users/{id}", handler_stub, &tag_a);
	http_router_add(r, HTTP_GET, "/users/me", handler_stub, &tag_b);
	assert_int_equal(match(r, HTTP_GET, "/users/me", &m), HTTP_ROUTE_FOUND);
	assert_ptr_equal(m.arg, &tag_b);
	assert_int_equal(match(r, HTTP_GET, "/users/u1", &m), HTTP_ROUTE_FOUND);
	assert_ptr_equal(m.arg, &tag_a);
	http_router_free(r);
}

static void test_param_branch_used_when_literal_leads_nowhere(void **state)
{
	struct http_router *r = http_router_new();
	struct http_route_match m;
	char v[32];
	http_router_add(r, HTTP_GET, "/users/me", handler_stub, &tag_a);
	http_router_add(r, HTTP_GET, "/users/{id}/keys", handler_stub, &tag_b);
	assert_int_equal(match(r, HTTP_GET, "/users/me/keys", &m), HTTP_ROUTE_FOUND);
	assert_ptr_equal(m.arg, &tag_b);
	assert_string_equal(param(&m, "id", v, sizeof(v)), "me");
	http_router_free(r);
}

static void test_params_captured_by_name(void **state)
{
	struct http_router *r = http_router_new();
	struct http_route_match m;
	char v[32];
	http_router_add(r, HTTP_GET, "/api/v1/carriers/{id}/gateways/{gw}", handler_stub, &tag_a);
	assert_int_equal(match(r, HTTP_GET, "/api/v1/carriers/car_1/gateways/gw_2", &m),
			 HTTP_ROUTE_FOUND);
	assert_int_equal(m.nparams, 2);
	assert_string_equal(param(&m, "id", v, sizeof(v)), "car_1");
	assert_string_equal(param(&m, "gw", v, sizeof(v)), "gw_2");
	http_router_free(r);
}

static void test_param_names_belong_to_route(void **state)
{
	struct http_router *r = http_router_new();
	struct http_route_match m;
	char v[32];
	http_router_add(r, HTTP_GET, "/a/{id}", handler_stub, &tag_a);
	http_router_add(r, HTTP_GET, "/a/{name}/b", handler_stub, &tag_b);
	assert_int_equal(match(r, HTTP_GET, "/a/x/b", &m), HTTP_ROUTE_FOUND);
	assert_string_equal(param(&m, "name", v, sizeof(v)), "x");
	assert_null(param(&m, "id", v, sizeof(v)));
	http_router_free(r);
}

static void test_trailing_wildcard_takes_rest(void **state)
{
	struct http_router *r = http_router_new();
	struct http_route_match m;
	char v[64];
	http_router_add(r, HTTP_GET, "/upstream/{name}/*", handler_stub, &tag_a);
	assert_int_equal(match(r, HTTP_GET, "/upstream/crm/v2/items/7", &m), HTTP_ROUTE_FOUND);
	assert_string_equal(param(&m, "name", v, sizeof(v)), "crm");
	assert_string_equal(param(&m, "*", v, sizeof(v)), "v2/items/7");
	assert_int_equal(match(r, HTTP_GET, "/upstream/crm", &m), HTTP_ROUTE_FOUND);
	assert_string_equal(param(&m, "*", v, sizeof(v)), "");
	http_router_free(r);
}

static void test_exact_route_beats_wildcard(void **state)
{
	struct http_router *r = http_router_new();
	struct http_route_match m;
	http_router_add(r, HTTP_GET, "/files/*", handler_stub, &tag_a);
	http_router_add(r, HTTP_GET, "/files/index", handler_stub, &tag_b);
	assert_int_equal(match(r, HTTP_GET, "/files/index", &m), HTTP_ROUTE_FOUND);
	assert_ptr_equal(m.arg, &tag_b);
	assert_int_equal(match(r, HTTP_GET, "/files/other/x", &m), HTTP_ROUTE_FOUND);
	assert_ptr_equal(m.arg, &tag_a);
	http_router_free(r);
}

static void test_unknown_path_not_found(void **state)
{
	struct http_router *r = http_router_new();
	struct http_route_match m;
	http_router_add(r, HTTP_GET, "/users/{id}", handler_stub, &tag_a);
	assert_int_equal(match(r, HTTP_GET, "/users", &m), HTTP_ROUTE_NOT_FOUND);
	assert_int_equal(match(r, HTTP_GET, "/users/1/x", &m), HTTP_ROUTE_NOT_FOUND);
	assert_int_equal(match(r, HTTP_GET, "/nothing", &m), HTTP_ROUTE_NOT_FOUND);
	http_router_free(r);
}

static void test_known_path_other_method_not_allowed(void **state)
{
	struct http_router *r = http_router_new();
	struct http_route_match m;
	char allow[64];
	http_router_add(r, HTTP_GET, "/trunks/{id}", handler_stub, &tag_a);
	http_router_add(r, HTTP_DELETE | HTTP_PATCH, "/trunks/{id}", handler_stub, &tag_b);
	assert_int_equal(match(r, HTTP_POST, "/trunks/t1", &m), HTTP_ROUTE_NOT_ALLOWED);
	http_methods_format(m.allow, allow, sizeof(allow));
	assert_string_equal(allow, "GET, HEAD, PATCH, DELETE");
	http_router_free(r);
}

static void test_methods_mask_selects_handler(void **state)
{
	struct http_router *r = http_router_new();
	struct http_route_match m;
	http_router_add(r, HTTP_GET, "/trunks", handler_stub, &tag_a);
	http_router_add(r, HTTP_POST | HTTP_PUT, "/trunks", handler_stub, &tag_b);
	assert_int_equal(match(r, HTTP_PUT, "/trunks", &m), HTTP_ROUTE_FOUND);
	assert_ptr_equal(m.arg, &tag_b);
	assert_int_equal(match(r, HTTP_POST, "/trunks", &m), HTTP_ROUTE_FOUND);
	assert_ptr_equal(m.arg, &tag_b);
	assert_int_equal(match(r, HTTP_GET, "/trunks", &m), HTTP_ROUTE_FOUND);
	assert_ptr_equal(m.arg, &tag_a);
	http_router_free(r);
}

static void test_head_falls_back_to_get(void **state)
{
	struct http_router *r = http_router_new();
	struct http_route_match m;
	http_router_add(r, HTTP_GET, "/x", handler_stub, &tag_a);
	assert_int_equal(match(r, HTTP_HEAD, "/x", &m), HTTP_ROUTE_FOUND);
	assert_ptr_equal(m.arg, &tag_a);
	http_router_free(r);
}

static void test_overlapping_methods_refused(void **state)
{
	struct http_router *r = http_router_new();
	assert_int_equal(http_router_add(r, HTTP_GET | HTTP_POST, "/x/{a}", handler_stub, &tag_a), 0);
	assert_int_equal(http_router_add(r, HTTP_POST, "/x/{b}", handler_stub, &tag_b), -EEXIST);
	assert_int_equal(http_router_add(r, HTTP_PUT, "/x/{b}", handler_stub, &tag_c), 0);
	http_router_free(r);
}

static void test_bad_patterns_refused(void **state)
{
	struct http_router *r = http_router_new();
	assert_int_equal(http_router_add(r, HTTP_GET, "x", handler_stub, NULL), -EINVAL);
	assert_int_equal(http_router_add(r, HTTP_GET, "/a/*/b", handler_stub, NULL), -EINVAL);
	assert_int_equal(http_router_add(r, HTTP_GET, "/a/{}", handler_stub, NULL), -EINVAL);
	assert_int_equal(http_router_add(r, HTTP_GET, "/a/{x-y}", handler_stub, NULL), -EINVAL);
	assert_int_equal(http_router_add(r, HTTP_GET, "/a/b{x}", handler_stub, NULL), -EINVAL);
	assert_int_equal(http_router_add(r, 0, "/a", handler_stub, NULL), -EINVAL);
	assert_int_equal(http_router_add(r, 1u << 12, "/a", handler_stub, NULL), -EINVAL);
	assert_int_equal(http_router_add(r, HTTP_GET, "/a", NULL, NULL), -EINVAL);
	http_router_free(r);
}

static void test_too_many_params_refused(void **state)
{
	struct http_router *r = http_router_new();
	assert_int_equal(http_router_add(r, HTTP_GET, "/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{i}",
					 handler_stub, NULL),
			 -EINVAL);
	http_router_free(r);
}

static void test_empty_segments_ignored(void **state)
{
	struct http_router *r = http_router_new();
	struct http_route_match m;
	http_router_add(r, HTTP_GET, "/a/b", handler_stub, &tag_a);
	http_router_add(r, HTTP_GET, "/", handler_stub, &tag_b);
	assert_int_equal(match(r, HTTP_GET, "/a//b/", &m), HTTP_ROUTE_FOUND);
	assert_ptr_equal(m.arg, &tag_a);
	assert_int_equal(match(r, HTTP_GET, "/", &m), HTTP_ROUTE_FOUND);
	assert_ptr_equal(m.arg, &tag_b);
	http_router_free(r);
}

static void test_overlong_path_not_found(void **state)
{
	struct http_router *r = http_router_new();
	struct http_route_match m;
	char path[200] = "";
	http_router_add(r, HTTP_GET, "/*", handler_stub, &tag_a);
	for (int i = 0; i < HTTP_ROUTE_MAX_SEGMENTS + 1; i++)
		strcat(path, "/s");
	assert_int_equal(match(r, HTTP_GET, path, &m), HTTP_ROUTE_NOT_FOUND);
	assert_int_equal(match(r, HTTP_GET, "/s/s", &m), HTTP_ROUTE_FOUND);
	http_router_free(r);
}

/* RFC 3986 §2.2: %2F is data inside a segment, never a separator. */
static void test_encoded_slash_stays_in_its_segment(void **state)
{
	struct http_router *r = http_router_new();
	struct http_route_match m;
	char raw[32], decoded[32];
	http_router_add(r, HTTP_GET, "/carriers/{id}", handler_stub, &tag_a);
	http_router_add(r, HTTP_GET, "/carriers/{id}/gateways", handler_stub, &tag_b);
	assert_int_equal(match(r, HTTP_GET, "/carriers/c1%2Fgateways", &m), HTTP_ROUTE_FOUND);
	assert_ptr_equal(m.arg, &tag_a);
	assert_string_equal(param(&m, "id", raw, sizeof(raw)), "c1%2Fgateways");
	assert_int_equal(http_path_decode(str_from_cstr(raw), decoded), strlen("c1/gateways"));
	assert_string_equal(decoded, "c1/gateways");
	http_router_free(r);
}

static void test_encoded_slash_does_not_reach_a_deeper_route(void **state)
{
	struct http_router *r = http_router_new();
	struct http_route_match m;
	http_router_add(r, HTTP_GET, "/carriers/{id}/gateways", handler_stub, &tag_b);
	assert_int_equal(match(r, HTTP_GET, "/carriers/c1%2fgateways", &m), HTTP_ROUTE_NOT_FOUND);
	assert_int_equal(match(r, HTTP_GET, "/carriers%2Fc1/gateways", &m), HTTP_ROUTE_NOT_FOUND);
	http_router_free(r);
}

/* RFC 3986 §6.2.2.2: an encoded unreserved character is the character. */
static void test_literal_segment_compared_decoded(void **state)
{
	struct http_router *r = http_router_new();
	struct http_route_match m;
	http_router_add(r, HTTP_GET, "/api/customers", handler_stub, &tag_a);
	assert_int_equal(match(r, HTTP_GET, "/api/cust%6Fmers", &m), HTTP_ROUTE_FOUND);
	assert_int_equal(match(r, HTTP_GET, "/api/customers%", &m), HTTP_ROUTE_NOT_FOUND);
	http_router_free(r);
}

static void test_path_decode_keeps_a_stray_percent(void **state)
{
	char out[16];
	assert_int_equal(http_path_decode(STR_LIT("a%2"), out), 3);
	assert_string_equal(out, "a%2");
	assert_int_equal(http_path_decode(STR_LIT("%zz%41"), out), 4);
	assert_string_equal(out, "%zzA");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_literal_route_found),
		cmocka_unit_test(test_encoded_slash_stays_in_its_segment),
		cmocka_unit_test(test_encoded_slash_does_not_reach_a_deeper_route),
		cmocka_unit_test(test_literal_segment_compared_decoded),
		cmocka_unit_test(test_path_decode_keeps_a_stray_percent),
		cmocka_unit_test(test_literal_beats_param),
		cmocka_unit_test(test_param_branch_used_when_literal_leads_nowhere),
		cmocka_unit_test(test_params_captured_by_name),
		cmocka_unit_test(test_param_names_belong_to_route),
		cmocka_unit_test(test_trailing_wildcard_takes_rest),
		cmocka_unit_test(test_exact_route_beats_wildcard),
		cmocka_unit_test(test_unknown_path_not_found),
		cmocka_unit_test(test_known_path_other_method_not_allowed),
		cmocka_unit_test(test_methods_mask_selects_handler),
		cmocka_unit_test(test_head_falls_back_to_get),
		cmocka_unit_test(test_overlapping_methods_refused),
		cmocka_unit_test(test_bad_patterns_refused),
		cmocka_unit_test(test_too_many_params_refused),
		cmocka_unit_test(test_empty_segments_ignored),
		cmocka_unit_test(test_overlong_path_not_found),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
