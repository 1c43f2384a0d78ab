/*
 * deck_preview.c — GET /api/v1/rate-decks/{id}/versions/{number}/preview:
 * what a version changes before it takes effect (decision 0034).
 *
 * It is compared with the version in force now, or, when it is that one
 * itself, with the one it replaced.  A price is a prefix and service (a
 * voice and an SMS row of one prefix are two prices); of a prefix's
 * windows the latest-starting one stands for it.  Prefixes only in the new
 * version are new, only in the old removed, in both with another rate
 * increased or decreased; counts for each and the first PREVIEW_SAMPLES of
 * each by prefix.
 *
 * Both versions are read in their stored order (seq: prefix, service,
 * effective_from as the importer sorted them in C), so one merge pass
 * compares them without relying on either store's text collation.
 */
#include <errno.h>
#include <string.h>

#include "api/api_private.h"

#define PREVIEW_SAMPLES 5

enum { PV_NEW, PV_REMOVED, PV_INCREASED, PV_DECREASED, PV_KINDS };
static const char *const pv_names[PV_KINDS] = {"new", "removed", "increased", "decreased"};

/* One version's rows and where the merge is in them. */
struct pv_side {
	struct store_res *r;
	size_t at, n;
};

struct pv_result {
	int64_t count[PV_KINDS], unchanged;
	json_t *samples[PV_KINDS];
};

/* The importer orders voice before sms (enum billing_service). */
static int service_rank(const char *s)
{
	return strcmp(s, "voice") == 0 ? 0 : 1;
}

static int key_cmp(const struct pv_side *a, size_t i, const struct pv_side *b, size_t j)
{
	int c = strcmp(store_res_text(a->r, i, 0), store_res_text(b->r, j, 0));

	return c ? c
		 : service_rank(store_res_text(a->r, i, 1)) -
		       service_rank(store_res_text(b->r, j, 1));
}

/* The last row of the key at s->at (the latest window), advancing past it. */
static size_t side_take(struct pv_side *s)
{
	size_t last = s->at;

	while (s->at + 1 < s->n && key_cmp(s, s->at + 1, s, last) == 0)
		s->at++;
	s->at++;
	return last;
}

static json_t *rate_or_null(const struct pv_side *s, size_t row)
{
	return s ? json_integer(store_res_int(s->r, row, 2)) : json_null();
}

static void pv_note(struct pv_result *res, int kind, const struct pv_side *old, size_t oi,
		    const struct pv_side *neu, size_t ni)
{
	const struct pv_side *s = neu ? neu : old;
	size_t row = neu ? ni : oi;

	if (res->count[kind]++ >= PREVIEW_SAMPLES)
		return;
	json_array_append_new(
	    res->samples[kind],
	    json_pack("{s:s,s:s,s:s,s:o,s:o}", "prefix", store_res_text(s->r, row, 0), "service",
		      store_res_text(s->r, row, 1), "destination", store_res_text(s->r, row, 3),
		      "old_rate", rate_or_null(old, oi), "new_rate", rate_or_null(neu, ni)));
}

static void pv_merge(struct pv_side *old, struct pv_side *neu, struct pv_result *res)
{
	while (old->at < old->n || neu->at < neu->n) {
		int c = old->at == old->n   ? 1
			: neu->at == neu->n ? -1
					    : key_cmp(old, old->at, neu, neu->at);
		if (c < 0) {
			size_t o = side_take(old);
			pv_note(res, PV_REMOVED, old, o, NULL, 0);
		} else if (c > 0) {
			size_t n = side_take(neu);
			pv_note(res, PV_NEW, NULL, 0, neu, n);
		} else {
			size_t o = side_take(old), n = side_take(neu);
			int64_t a = store_res_int(old->r, o, 2), b = store_res_int(neu->r, n, 2);
			if (a == b)
				res->unchanged++;
			else
				pv_note(res, b > a ? PV_INCREASED : PV_DECREASED, old, o, neu, n);
		}
	}
}

static int side_load(struct api_ctx *ctx, const char *version, struct pv_side *s)
{
	struct store_param p = store_p_text(version);
	int rc = 0;

	s->r = NULL;
	s->at = s->n = 0;
	if (version)
		rc = store_exec(ctx->conn,
				"SELECT prefix, service, rate, destination FROM rate_deck_rows "
				"WHERE version_id = $1 ORDER BY seq",
				&p, 1, &s->r);
	s->n = rc == 0 && s->r ? store_res_rows(s->r) : 0;
	return rc;
}

/* The version v is compared with: the one in force now, or when that is v,
 * the one in force before it.  *r holds its id and number, or no row. */
static int pv_base(struct api_ctx *ctx, const struct store_res *v, struct store_res **r)
{
	int64_t now = time_wall_ms();
	bool in_force = !store_res_isnull(v, 0, 3) && store_res_int(v, 0, 3) <= now;
	struct store_param p[] = {store_p_text(store_res_text(v, 0, 1)), store_p_int(now),
				  store_p_text(store_res_text(v, 0, 0)),
				  store_p_int(in_force ? store_res_int(v, 0, 3) : now),
				  store_p_int(store_res_int(v, 0, 2))};

	/* Reached versions other than v, and when v is reached, only those
	 * ordered before it (activate_at, then number). */
	return store_exec(ctx->conn,
			  "SELECT id, number FROM rate_deck_versions WHERE deck_id = $1 AND "
			  "activate_at IS NOT NULL AND activate_at <= $2 AND id <> $3 AND "
			  "(activate_at < $4 OR (activate_at = $4 AND number < $5)) "
			  "ORDER BY activate_at DESC, number DESC LIMIT 1",
			  p, 5, r);
}

static json_t *pv_json(const struct store_res *v, const struct store_res *base,
		       struct pv_result *res)
{
	json_t *o =
	    json_pack("{s:s,s:I,s:o,s:I}", "deck_id", store_res_text(v, 0, 1), "number",
		      (json_int_t)store_res_int(v, 0, 2), "against",
		      store_res_rows(base) ? json_integer(store_res_int(base, 0, 1)) : json_null(),
		      "unchanged", (json_int_t)res->unchanged);

	for (int k = 0; k < PV_KINDS; k++) {
		json_object_set_new(o, pv_names[k],
				    json_pack("{s:I,s:o}", "count", (json_int_t)res->count[k],
					      "samples", res->samples[k]));
		res->samples[k] = NULL;
	}
	return o;
}

void api_deck_preview(struct http_req *req, void *arg)
{
	struct api_ctx ctx;
	struct store_res *v = NULL, *base = NULL;
	struct pv_side old = {0}, neu = {0};
	struct pv_result res = {0};
	(void)arg;

	if (api_ctx_init(&ctx, req) < 0 || !api_require_admin(&ctx) ||
	    api_deck_version_find(&ctx, &v) != 1)
		goto out;
	int rc = pv_base(&ctx, v, &base);
	rc = rc ? rc
		: side_load(&ctx, store_res_rows(base) ? store_res_text(base, 0, 0) : NULL, &old);
	rc = rc ? rc : side_load(&ctx, store_res_text(v, 0, 0), &neu);
	if (rc < 0) {
		api_reply_store_error(&ctx, rc, "rate deck version");
		goto out;
	}
	for (int k = 0; k < PV_KINDS; k++)
		res.samples[k] = json_array();
	pv_merge(&old, &neu, &res);
	http_reply_data(req, 200, pv_json(v, base, &res));
out:
	store_res_free(old.r);
	store_res_free(neu.r);
	store_res_free(base);
	store_res_free(v);
}
