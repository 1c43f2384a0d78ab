/*
 * jwks_http.c — fetching a JWKS document over HTTP(S) with libcurl.
 *
 * The easy interface, blocking, with a short whole-transfer timeout: only
 * the fetcher thread calls it (jwks_fetcher.c), at most once per
 * min_refetch_ms, so a blocking call costs no request anything; the
 * progress callback lets shutdown abort a slow transfer.  The body is
 * capped, only http and https are allowed, redirects are not followed, and
 * the Cache-Control max-age (RFC 9111 §5.2.2.1) sets the set's lifetime.
 */
#include "auth/auth_private.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>

#define JWKS_BODY_MAX (256 * 1024)

struct jwks_http_ctx {
	struct buf *body;
	const atomic_bool *cancel;
	int64_t max_age_s;
	bool too_big;
};

static pthread_once_t jwks_curl_once = PTHREAD_ONCE_INIT;

static void jwks_curl_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t jwks_http_write(char *data, size_t size, size_t n, void *arg)
{
	struct jwks_http_ctx *ctx = arg;
	size_t len = size * n;

	if (ctx->body->len + len > JWKS_BODY_MAX) {
		ctx->too_big = true;
		return 0; /* aborts the transfer */
	}
	return buf_append(ctx->body, data, len) == 0 ? len : 0;
}

/* "max-age=N" inside a Cache-Control value; no-store/no-cache mean 0. */
static int64_t jwks_cache_control_max_age(struct str v)
{
	static const char key[] = "max-age=";
	int64_t age = -1;

	for (size_t i = 0; i < v.len; i++) {
		struct str rest = {v.p + i, v.len - i};
		if (str_has_prefix(rest, STR_LIT("no-store")) ||
		    str_has_prefix(rest, STR_LIT("no-cache")))
			return 0;
		if (rest.len > sizeof(key) - 1 &&
		    str_caseeq(STR_LIT("max-age="), (struct str){rest.p, sizeof(key) - 1})) {
			size_t d = sizeof(key) - 1, end = d;
			while (end < rest.len && rest.p[end] >= '0' && rest.p[end] <= '9')
				end++;
			if (str_to_i64((struct str){rest.p + d, end - d}, &age) < 0)
				age = -1;
		}
	}
	return age;
}

static size_t jwks_http_header(char *data, size_t size, size_t n, void *arg)
{
	struct jwks_http_ctx *ctx = arg;
	struct str line = {data, size * n};
	ptrdiff_t colon = str_index(line, ':');

	if (colon > 0 &&
	    str_caseeq_cstr(str_trim((struct str){line.p, (size_t)colon}), "cache-control")) {
		struct str v = {line.p + colon + 1, line.len - (size_t)colon - 1};
		int64_t age = jwks_cache_control_max_age(v);
		if (age >= 0)
			ctx->max_age_s = age;
	}
	return size * n;
}

/* libcurl calls this about once a second even while nothing moves, so a
 * stopping fetcher waits at most that long for a hung issuer. */
static int jwks_http_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
			      curl_off_t ulnow)
{
	const struct jwks_http_ctx *ctx = arg;

	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	return atomic_load(ctx->cancel) ? 1 : 0;
}

static void jwks_http_setup(CURL *c, const char *url, int64_t timeout_ms, struct jwks_http_ctx *ctx)
{
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, jwks_http_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, ctx);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, jwks_http_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, ctx);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "warp/" WARP_VERSION);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, jwks_http_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, ctx);
}

int jwks_http_get(const char *url, int64_t timeout_ms, const atomic_bool *cancel, struct buf *body,
		  int64_t *max_age_s)
{
	struct jwks_http_ctx ctx = {.body = body, .cancel = cancel, .max_age_s = -1};
	long status = 0;
	CURLcode cc;
	CURL *c;

	pthread_once(&jwks_curl_once, jwks_curl_init);
	c = curl_easy_init();
	if (!c)
		return -ENOMEM;
	jwks_http_setup(c, url, timeout_ms, &ctx);
	cc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	if (ctx.too_big)
		return -EFBIG;
	if (cc == CURLE_ABORTED_BY_CALLBACK)
		return -ECANCELED;
	if (cc != CURLE_OK) {
		log_warn(AUTH_LOG, "JWKS fetch: %s", curl_easy_strerror(cc));
		return cc == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT : -EIO;
	}
	if (status != 200) {
		log_warn(AUTH_LOG, "JWKS fetch: HTTP status %ld", status);
		return -EPROTO;
	}
	*max_age_s = ctx.max_age_s;
	return 0;
}
