/*
 * role_msg.c — the billing role's message batches.  A part's rating row is
 * pending once its state is final (a trigger of migration 0025); a message
 * (its group_id) is rated once every part is final, each part priced as
 * one segment by billing_rate_record at its acceptance (created_at), and
 * charged as one ledger entry "msg:<group id>" for all its parts
 * (decision 0036).  A part is owed when a carrier took it (submitted_at
 * set): a part refused before any carrier saw it costs nothing.  If any
 * part cannot be rated, the whole message is quarantined, so the entry is
 * never posted for some parts only.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "role_private.h"

#define MSG_FINAL "('delivered', 'undeliverable', 'expired', 'rejected')"

static const char msg_pending_sql[] =
    "SELECT DISTINCT g.group_id FROM message_ratings g WHERE g.state = 'pending' AND NOT EXISTS "
    "(SELECT 1 FROM messages m WHERE m.group_id = g.group_id AND m.state NOT IN " MSG_FINAL
    ") LIMIT $1";
static const char msg_retry_sql[] = "SELECT DISTINCT g.group_id FROM message_ratings g WHERE "
				    "g.state = 'quarantined' AND g.rating_version < $2 LIMIT $1";
static const char msg_parts_sql[] =
    "SELECT m.id, m.customer_id, m.destination, m.created_at, m.carrier_id, m.submitted_at, "
    "g.charged, g.ratings FROM messages m JOIN message_ratings g ON g.message_id = m.id "
    "WHERE m.group_id = $1 ORDER BY m.part_seq, m.id";
static const char msg_rated_sql[] =
    "UPDATE message_ratings SET " ROLE_PRICE_SET ", segments = $18 WHERE message_id = $1";
static const char msg_quarantine_sql[] =
    "UPDATE message_ratings SET " ROLE_QUARANTINE_SET " WHERE message_id = $1";

enum { M_ID, M_CUST, M_DEST, M_CREATED, M_CARRIER, M_SUBMITTED, M_CHARGED, M_RATINGS };

#define MSG_PARTS_MAX 255 /* SMPP's concatenation counts parts in one octet */

struct msg_group {
	struct billing_rated part[MSG_PARTS_MAX];
	size_t n;
	int64_t sell, charged, ratings, oldest;
	const char *reason, *side; /* the first part that failed */
};

static struct str col(const struct store_res *r, size_t row, int c)
{
	return str_from_cstr(store_res_text(r, row, (size_t)c));
}

static void msg_rate_parts(const struct billing_rating *r, const struct store_res *res,
			   struct msg_group *g)
{
	g->n = store_res_rows(res) < MSG_PARTS_MAX ? store_res_rows(res) : MSG_PARTS_MAX;
	for (size_t i = 0; i < g->n; i++) {
		struct billing_record in = {
		    .svc = BILLING_SMS,
		    .customer_id = col(res, i, M_CUST),
		    .carrier_id = col(res, i, M_CARRIER),
		    .number = col(res, i, M_DEST),
		    .t_ms = store_res_int(res, i, M_CREATED),
		    .billable = !store_res_isnull(res, i, M_SUBMITTED),
		    .segments = 1,
		};
		if (billing_rate_record(r, &in, &g->part[i]) != BILLING_RECORD_RATED &&
		    !g->reason) {
			g->reason = g->part[i].reason;
			g->side = g->part[i].side;
		}
		g->sell += g->part[i].sell;
		g->charged += store_res_int(res, i, M_CHARGED);
		if (store_res_int(res, i, M_RATINGS) > g->ratings)
			g->ratings = store_res_int(res, i, M_RATINGS);
		if (!g->oldest || in.t_ms < g->oldest)
			g->oldest = in.t_ms;
	}
}

static int msg_write_quarantine(struct store_conn *c, const struct store_res *res,
				const struct msg_group *g, const char *reason, int64_t version)
{
	int rc = 0;

	for (size_t i = 0; i < g->n && rc == 0; i++) {
		struct store_param p[] = {store_p_text(store_res_text(res, i, M_ID)),
					  store_p_text(reason),
					  store_p_text(g->side ? g->side : "sell"),
					  store_p_int(version), store_p_int(time_wall_ms())};
		rc = store_exec(c, msg_quarantine_sql, p, 5, NULL);
	}
	return rc;
}

/* Each part's row: its own price, the ledger's charge spread as the parts'
 * prices (the last part takes what a prepaid settlement made different). */
static int msg_write_rated(struct store_conn *c, const struct store_res *res,
			   const struct msg_group *g, int64_t charged, int64_t version)
{
	struct store_param v[ROLE_PRICE_PARAMS + 1];
	int64_t left = charged;
	int rc = 0;

	for (size_t i = 0; i < g->n && rc == 0; i++) {
		int64_t share = i + 1 == g->n ? left : g->part[i].sell;

		left -= share;
		v[0] = store_p_text(store_res_text(res, i, M_ID));
		role_price_params(&g->part[i], share, g->ratings + 1, version, v);
		v[ROLE_PRICE_PARAMS] = store_p_int(1);
		rc = store_exec(c, msg_rated_sql, v, ROLE_PRICE_PARAMS + 1, NULL);
	}
	return rc;
}

static int msg_rate_group(struct store_conn *c, const struct billing_rating *r, int64_t version,
			  const struct billing_role_opts *o, const char *group_id,
			  struct role_pass *out, struct msg_group *g)
{
	char key[BILLING_LEDGER_KEY_MAX + 1];
	struct store_param p = store_p_text(group_id);
	struct store_res *res = NULL;
	int rc = store_exec(c, msg_parts_sql, &p, 1, &res);

	memset(g, 0, sizeof(*g));
	if (rc != 0 || store_res_rows(res) == 0)
		goto out;
	msg_rate_parts(r, res, g);
	if (!out->oldest_ms || g->oldest < out->oldest_ms)
		out->oldest_ms = g->oldest;
	if (g->reason) {
		out->quarantined += (int64_t)g->n;
		rc = msg_write_quarantine(c, res, g, g->reason, version);
		goto out;
	}
	snprintf(key, sizeof(key), "msg:%s", group_id);
	struct role_charge ch = {.customer_id = store_res_text(res, 0, M_CUST),
				 .reference_type = "message",
				 .key = key,
				 .reference_id = group_id,
				 .kind = BILLING_MESSAGE_CHARGE,
				 .sell = g->sell,
				 .charged = g->charged,
				 .ratings = g->ratings,
				 .zone = g->part[0].zone,
				 .destination = g->part[0].destination};
	rc = role_charge_post(c, &o->ledger, &ch);
	if (role_charge_refused(rc)) {
		out->quarantined += (int64_t)g->n;
		g->side = "sell";
		rc = msg_write_quarantine(c, res, g, "ledger_refused", version);
	} else if (rc == 0) {
		out->rated += (int64_t)g->n;
		rc = msg_write_rated(c, res, g, ch.charged, version);
	}
out:
	store_res_free(res);
	return rc;
}

static int msg_batch(struct store_conn *c, const struct billing_rating *r, int64_t version,
		     const struct billing_role_opts *o, const char *sql, struct msg_group *g,
		     struct role_pass *out)
{
	struct store_param p[] = {store_p_int(o->batch), store_p_int(version)};
	struct store_res *res = NULL;
	int rc = store_exec(c, sql, p, sql == msg_pending_sql ? 1 : 2, &res);
	size_t n = rc == 0 ? store_res_rows(res) : 0;

	for (size_t i = 0; i < n && rc == 0; i++)
		rc = msg_rate_group(c, r, version, o, store_res_text(res, i, 0), out, g);
	if ((int64_t)n >= o->batch)
		out->full = true;
	store_res_free(res);
	return rc;
}

int role_msg_pass(struct store_conn *c, const struct billing_rating *r, int64_t version,
		  const struct billing_role_opts *o, struct role_pass *out)
{
	static _Thread_local struct msg_group group; /* 255 parts: not on the stack */
	int rc = store_tx_begin(c);

	memset(out, 0, sizeof(*out));
	rc = rc ? rc : msg_batch(c, r, version, o, msg_pending_sql, &group, out);
	if (rc == 0 && !out->full)
		rc = msg_batch(c, r, version, o, msg_retry_sql, &group, out);
	rc = rc ? rc : store_tx_commit(c);
	if (rc != 0) {
		store_tx_rollback(c);
		memset(out, 0, sizeof(*out));
	}
	return rc;
}
