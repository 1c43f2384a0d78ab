/*
 * role_cdr.c — the billing role's CDR batches: the pending rows of
 * cdr_ratings (a trigger of migration 0019 adds one per new CDR), then the
 * quarantined ones the snapshot has changed for, each priced by
 * billing_rate_record at its start time, written back with its ledger
 * charge in one transaction.
 *
 * What is priced: a termination's dialled number (normalised E.164, else
 * as dialled), its customer and trunk for the sell price, the carrier that
 * answered (cdrs.carrier_id, the answering attempt's) for the buy cost.
 * An origination (a call to a customer's number) owes nothing under the
 * decks of issue 10 and is rated at 0 with its zone.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "role_private.h"

#define CDR_SELECT                                                                                 \
	"SELECT c.id, c.customer_id, c.trunk_id, c.carrier_id, c.normalized, c.dialed, "           \
	"c.start_ms, c.answer_ms, c.duration_ms, c.direction, g.charged, g.ratings, "              \
	"c.created_at FROM cdr_ratings g JOIN cdrs c ON c.id = g.cdr_id "

/* A re-rating asked for after a provisioning change names the version it
 * waits for in rating_version (src/api/cdrs.c). */
static const char cdr_pending_sql[] =
    CDR_SELECT "WHERE g.state = 'pending' AND g.rating_version <= $2 LIMIT $1";
static const char cdr_retry_sql[] =
    CDR_SELECT "WHERE g.state = 'quarantined' AND g.rating_version < $2 LIMIT $1";
static const char cdr_rated_sql[] =
    "UPDATE cdr_ratings SET " ROLE_PRICE_SET ", billable_s = $18 WHERE cdr_id = $1";
static const char cdr_quarantine_sql[] =
    "UPDATE cdr_ratings SET " ROLE_QUARANTINE_SET " WHERE cdr_id = $1";

enum {
	C_ID,
	C_CUST,
	C_TRUNK,
	C_CARRIER,
	C_NORM,
	C_DIALED,
	C_START,
	C_ANSWER,
	C_DUR,
	C_DIR,
	C_CHARGED,
	C_RATINGS,
	C_CREATED
};

static struct str col(const struct store_res *r, size_t row, int c)
{
	return str_from_cstr(store_res_text(r, row, (size_t)c));
}

static void cdr_record(const struct store_res *r, size_t i, struct billing_record *in)
{
	bool termination = strcmp(store_res_text(r, i, C_DIR), "termination") == 0;

	*in = (struct billing_record){
	    .svc = BILLING_VOICE,
	    .customer_id = col(r, i, C_CUST),
	    .trunk_id = col(r, i, C_TRUNK),
	    .carrier_id = col(r, i, C_CARRIER),
	    .number = store_res_isnull(r, i, C_NORM) ? col(r, i, C_DIALED) : col(r, i, C_NORM),
	    .t_ms = store_res_int(r, i, C_START),
	    .billable =
		termination && !store_res_isnull(r, i, C_ANSWER) && store_res_int(r, i, C_DUR) > 0,
	    .duration_ms = store_res_int(r, i, C_DUR),
	};
}

static int cdr_write_quarantine(struct store_conn *c, const char *id, const char *reason,
				const char *side, int64_t version)
{
	struct store_param p[] = {store_p_text(id), store_p_text(reason), store_p_text(side),
				  store_p_int(version), store_p_int(time_wall_ms())};

	return store_exec(c, cdr_quarantine_sql, p, 5, NULL);
}

/* Row i: rated and charged, or quarantined.  0 or a store code. */
static int cdr_rate_one(struct store_conn *c, const struct billing_rating *r, int64_t version,
			const struct billing_role_opts *o, const struct store_res *res, size_t i,
			struct role_pass *out)
{
	char key[BILLING_LEDGER_KEY_MAX + 1];
	const char *id = store_res_text(res, i, C_ID);
	struct store_param v[ROLE_PRICE_PARAMS + 1];
	struct billing_record in;
	struct billing_rated p;
	int rc;

	cdr_record(res, i, &in);
	if (billing_rate_record(r, &in, &p) != BILLING_RECORD_RATED) {
		out->quarantined++;
		return cdr_write_quarantine(c, id, p.reason, p.side, version);
	}
	snprintf(key, sizeof(key), "cdr:%s", id);
	struct role_charge ch = {.customer_id = store_res_text(res, i, C_CUST),
				 .reference_type = "cdr",
				 .key = key,
				 .reference_id = id,
				 .kind = BILLING_CALL_CHARGE,
				 .sell = p.sell,
				 .charged = store_res_int(res, i, C_CHARGED),
				 .ratings = store_res_int(res, i, C_RATINGS),
				 .zone = p.zone,
				 .destination = p.destination};
	rc = role_charge_post(c, &o->ledger, &ch);
	if (role_charge_refused(rc)) {
		out->quarantined++;
		return cdr_write_quarantine(c, id, "ledger_refused", "sell", version);
	}
	if (rc != 0)
		return rc;
	v[0] = store_p_text(id);
	role_price_params(&p, ch.charged, ch.ratings + 1, version, v);
	v[ROLE_PRICE_PARAMS] = store_p_int(p.billable_s);
	out->rated++;
	return store_exec(c, cdr_rated_sql, v, ROLE_PRICE_PARAMS + 1, NULL);
}

static int cdr_batch(struct store_conn *c, const struct billing_rating *r, int64_t version,
		     const struct billing_role_opts *o, const char *sql, struct role_pass *out)
{
	struct store_param p[] = {store_p_int(o->batch), store_p_int(version)};
	struct store_res *res = NULL;
	int rc = store_exec(c, sql, p, 2, &res);
	size_t n = rc == 0 ? store_res_rows(res) : 0;

	for (size_t i = 0; i < n && rc == 0; i++) {
		int64_t created = store_res_int(res, i, C_CREATED);

		rc = cdr_rate_one(c, r, version, o, res, i, out);
		if (!out->oldest_ms || created < out->oldest_ms)
			out->oldest_ms = created;
	}
	if ((int64_t)n >= o->batch)
		out->full = true;
	store_res_free(res);
	return rc;
}

int role_cdr_pass(struct store_conn *c, const struct billing_rating *r, int64_t version,
		  const struct billing_role_opts *o, struct role_pass *out)
{
	int rc = store_tx_begin(c);

	memset(out, 0, sizeof(*out));
	rc = rc ? rc : cdr_batch(c, r, version, o, cdr_pending_sql, out);
	if (rc == 0 && !out->full)
		rc = cdr_batch(c, r, version, o, cdr_retry_sql, out);
	rc = rc ? rc : store_tx_commit(c);
	if (rc != 0) {
		store_tx_rollback(c);
		memset(out, 0, sizeof(*out));
	}
	return rc;
}
