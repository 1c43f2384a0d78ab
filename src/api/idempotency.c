/*
 * idempotency.c — Idempotency-Key on POST.
 *
 * The first successful response to (credential, key) is stored in the same
 * transaction as the change it reports, so a client retrying after a lost
 * response gets that response again and nothing is created twice.  The same
 * key with another request (method, path or body) answers 409.  Records are
 * honoured for 24 hours.
 */
#include <errno.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_private.h"

#define IDEM_TTL_MS (24LL * 3600 * 1000)
#define IDEM_KEY_MAX 255

static const char *principal(const struct api_ctx *ctx)
{
	return ctx->who->key_id[0] ? ctx->who->key_id : ctx->who->subject;
}

/* SHA-256 over method, path and body: what "the same request" means. */
static void request_hash(struct http_req *req, char out[65])
{
	unsigned char md[32];
	unsigned int n = 0;
	struct str body = http_req_body(req);
	const char *path = http_req_path(req);
	EVP_MD_CTX *h = EVP_MD_CTX_new();

	if (h && EVP_DigestInit_ex(h, EVP_sha256(), NULL) && EVP_DigestUpdate(h, "POST ", 5) &&
	    EVP_DigestUpdate(h, path, strlen(path) + 1) &&
	    EVP_DigestUpdate(h, body.p ? body.p : "", body.len) && EVP_DigestFinal_ex(h, md, &n))
		hex_encode(md, sizeof(md), out);
	else
		out[0] = '\0';
	EVP_MD_CTX_free(h);
}

static bool key_valid(const char *k)
{
	size_t n = strlen(k);
	if (n == 0 || n > IDEM_KEY_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)k[i] < 0x21 || (unsigned char)k[i] > 0x7e)
			return false;
	return true;
}

bool api_idempotency_replay(struct api_ctx *ctx)
{
	const char *key = http_req_header(ctx->req, "Idempotency-Key");
	struct store_res *r = NULL;

	if (!key)
		return false;
	if (!key_valid(key)) {
		http_reply_error(ctx->req, 400, "invalid_header", "Bad request", NULL,
				 "Idempotency-Key must be 1 to %d printable characters",
				 IDEM_KEY_MAX);
		return true;
	}
	request_hash(ctx->req, ctx->idem_hash);
	struct store_param p[] = {store_p_text(principal(ctx)), store_p_text(key),
				  store_p_int(time_wall_ms() - IDEM_TTL_MS)};
	int rc = store_exec(ctx->conn,
			    "SELECT request_hash, status, body FROM idempotency_keys "
			    "WHERE principal = $1 AND idem_key = $2 AND created_at > $3",
			    p, 3, &r);
	bool answered = true;
	if (rc < 0) {
		api_reply_store_error(ctx, rc, "idempotency record");
	} else if (store_res_rows(r) == 0) {
		snprintf(ctx->idem_key, sizeof(ctx->idem_key), "%s", key);
		answered = false;
	} else if (strcmp(store_res_text(r, 0, 0), ctx->idem_hash) != 0) {
		http_reply_error(ctx->req, 409, "idempotency_key_reused", "Conflict", NULL,
				 "this Idempotency-Key was used for another request");
	} else {
		const char *body = store_res_text(r, 0, 2);
		http_reply_header(ctx->req, "Idempotent-Replayed", "true");
		http_reply_raw(ctx->req, (int)store_res_int(r, 0, 1),
			       "application/json; charset=utf-8", body, strlen(body));
	}
	store_res_free(r);
	return answered;
}

int api_idempotency_record(struct api_ctx *ctx, int status, const json_t *body)
{
	if (!ctx->idem_key[0])
		return 0;
	char *text = json_dumps(body, JSON_COMPACT);
	if (!text)
		return -1;
	int64_t now = time_wall_ms();
	struct store_param p[] = {store_p_text(principal(ctx)),
				  store_p_text(ctx->idem_key),
				  store_p_text(ctx->idem_hash),
				  store_p_int(status),
				  store_p_text(text),
				  store_p_int(now),
				  store_p_int(now - IDEM_TTL_MS)};
	/* An expired record under the same key is replaced.  A live one means
	 * a concurrent request with this key committed first (both passed
	 * api_idempotency_replay before either wrote): this one must roll back
	 * rather than create a second row. */
	struct store_res *r = NULL;
	int rc =
	    store_exec(ctx->conn,
		       "INSERT INTO idempotency_keys (principal, idem_key, request_hash, status, "
		       "body, created_at) VALUES ($1, $2, $3, $4, $5, $6) "
		       "ON CONFLICT (principal, idem_key) DO UPDATE SET request_hash = $3, "
		       "status = $4, body = $5, created_at = $6 "
		       "WHERE idempotency_keys.created_at <= $7",
		       p, 7, &r);
	if (rc == 0 && store_res_changes(r) != 1)
		rc = -EALREADY; /* api_reply_store_error: 409 */
	store_res_free(r);
	free(text);
	return rc;
}

int api_idempotency_batch_stmt(struct api_ctx *ctx, int status, const json_t *body,
			       struct api_idem_stmt *out)
{
	int64_t now = time_wall_ms();

	memset(out, 0, sizeof(*out));
	if (!ctx->idem_key[0])
		return 0;
	if (!(out->text = json_dumps(body, JSON_COMPACT)))
		return -ENOMEM;
	/* An expired record under the key goes first, in the same entry, so
	 * that the plain INSERT after it fails (STORE_ECONFLICT, the whole
	 * entry with it) only when a live record exists: a concurrent request
	 * with this key committed first.  In the entry rather than on the
	 * request's connection: the HTTP worker writes nothing itself. */
	out->del[0] = store_p_text(principal(ctx));
	out->del[1] = store_p_text(ctx->idem_key);
	out->del[2] = store_p_int(now - IDEM_TTL_MS);
	out->stmts[0] = (struct store_batch_stmt){
	    "DELETE FROM idempotency_keys WHERE principal = $1 AND idem_key = $2 "
	    "AND created_at <= $3",
	    out->del, 3};
	out->params[0] = store_p_text(principal(ctx));
	out->params[1] = store_p_text(ctx->idem_key);
	out->params[2] = store_p_text(ctx->idem_hash);
	out->params[3] = store_p_int(status);
	out->params[4] = store_p_text(out->text);
	out->params[5] = store_p_int(now);
	out->stmts[1] = (struct store_batch_stmt){
	    "INSERT INTO idempotency_keys (principal, idem_key, request_hash, status, body, "
	    "created_at) VALUES ($1, $2, $3, $4, $5, $6)",
	    out->params, 6};
	return 2;
}
