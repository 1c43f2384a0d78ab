/*
 * token.c — the access token for BigQuery: a JWT assertion (jwt.c) posted
 * to the token endpoint as the jwt-bearer grant (RFC 7523 §2.1, form
 * encoded per RFC 6749 §4.1.3), its access_token cached until
 * EXPORT_TOKEN_MARGIN_MS before the expires_in it came with, and dropped
 * early when the API answers 401.
 */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "export/export_private.h"

#define TOKEN_GRANT "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion="

int export_token_init(struct export_token *t, const char *key_file, const char *url, char *err,
		      size_t errlen)
{
	memset(t, 0, sizeof(*t));
	if (export_sa_load(key_file, &t->sa, err, errlen) < 0)
		return -EINVAL;
	t->url = strdup(url && url[0] ? url : t->sa.token_uri);
	if (!t->url || !t->url[0]) {
		snprintf(err, errlen,
			 "no token URL: the key file has no token_uri and "
			 "[export] token_url is empty");
		export_token_fini(t);
		return -EINVAL;
	}
	return 0;
}

void export_token_fini(struct export_token *t)
{
	export_sa_fini(&t->sa);
	free(t->url);
	free(t->access);
	memset(t, 0, sizeof(*t));
}

void export_token_drop(struct export_token *t)
{
	free(t->access);
	t->access = NULL;
}

int export_token_parse(const char *body, size_t len, char **access, int64_t *expires_s)
{
	json_t *o = json_loadb(body, len, 0, NULL);
	const char *tok = json_string_value(json_object_get(o, "access_token"));
	json_t *exp = json_object_get(o, "expires_in");
	int rc = -EPROTO;

	if (tok && tok[0] && strlen(tok) < 4096 && json_is_integer(exp) &&
	    json_integer_value(exp) > 0) {
		*access = strdup(tok);
		*expires_s = json_integer_value(exp);
		rc = *access ? 0 : -ENOMEM;
	}
	json_decref(o);
	return rc;
}

static int token_fetch(struct export_token *t, struct export_http *h, int64_t now_ms, char *err,
		       size_t errlen)
{
	struct buf form;
	struct export_http_resp r = {0};
	int64_t expires_s = 0;
	char *access = NULL;

	buf_init(&form);
	buf_init(&r.body);
	int rc = buf_append_cstr(&form, TOKEN_GRANT);
	rc = rc ? rc : export_jwt_assertion(&t->sa, t->url, EXPORT_SCOPE, now_ms / 1000, &form);
	struct export_http_req q = {.method = "POST",
				    .url = t->url,
				    .content_type = "application/x-www-form-urlencoded",
				    .head = {form.p, form.len}};
	rc = rc ? rc : export_http_do(h, &q, &r);
	if (rc < 0)
		snprintf(err, errlen, "token endpoint: %s", r.err[0] ? r.err : strerror(-rc));
	else if (r.status != 200)
		snprintf(err, errlen, "token endpoint answered %ld: %.200s", r.status,
			 r.body.len ? r.body.p : "");
	else if (export_token_parse(r.body.p, r.body.len, &access, &expires_s) < 0)
		snprintf(err, errlen, "token endpoint: no access_token and expires_in");
	rc = access ? 0 : -EACCES;
	if (access) {
		free(t->access);
		t->access = access;
		int64_t margin = EXPORT_TOKEN_MARGIN_MS < expires_s * 500 ? EXPORT_TOKEN_MARGIN_MS
									  : expires_s * 500;
		t->renew_at_ms = now_ms + expires_s * 1000 - margin;
	}
	buf_fini(&form);
	export_http_resp_fini(&r);
	return rc;
}

int export_token_get(struct export_token *t, struct export_http *h, int64_t now_ms,
		     const char **bearer, char *err, size_t errlen)
{
	if (!t->access || now_ms >= t->renew_at_ms) {
		int rc = token_fetch(t, h, now_ms, err, errlen);
		if (rc < 0)
			return rc;
	}
	*bearer = t->access;
	return 0;
}
