/*
 * usage.c — what a charge was for: its zone and its quantity, read from
 * the record the ledger entry references.  This is the one place the
 * invoice depends on how charges are rated (docs/decisions/0040).
 *
 * A record the billing role rated (cdr_ratings, message_ratings of
 * migration 0025, decision 0036) gives its zone and billed quantity as
 * rated.  One not rated (yet) — a prepaid call settled before the role got
 * to it, a record in quarantine — gets its zone found as rating finds it:
 * the destination's longest prefix in the sell deck (the trunk's, else the
 * customer's) whose version was in force when the call started or the
 * message was accepted.
 */
#include <errno.h>
#include <string.h>

#include "invoice/invoice_private.h"

#define USAGE_PREFIX_DIGITS 24 /* BILLING_PREFIX_MAX */

/* The record behind a charge: its destination, time and deck. */
struct usage_record {
	char number[64];
	char deck_id[ID_MAX];
	int64_t at_ms;
	bool sms;
};

static const char cdr_sql[] =
    "SELECT c.billable_ms, COALESCE(c.normalized, c.dialed, ''), c.start_ms,"
    " COALESCE(t.sell_deck_id, cu.sell_deck_id, '') FROM cdrs c"
    " LEFT JOIN trunks t ON t.id = c.trunk_id LEFT JOIN customers cu ON cu.id = $2"
    " WHERE c.id = $1";

/* A message is charged once (ref: its id, the group of its parts) or per
 * part (ref: the part's id); both count its segments right. */
static const char msg_sql[] =
    "SELECT COUNT(*), MIN(m.destination), MIN(m.created_at), MIN(COALESCE(cu.sell_deck_id, ''))"
    " FROM messages m LEFT JOIN customers cu ON cu.id = m.customer_id"
    " WHERE m.group_id = $1 OR (m.id = $1 AND m.group_id <> $1)";

static const char version_sql[] =
    "SELECT id FROM rate_deck_versions WHERE deck_id = $1 AND activate_at IS NOT NULL"
    " AND activate_at <= $2 ORDER BY activate_at DESC, number DESC LIMIT 1";

/* The longest of the number's prefixes, each a parameter, so the
 * (version_id, prefix) index finds them; $1 version, $2 service, $3 time. */
static int usage_zone_row(struct store_conn *c, const char *version, const struct usage_record *r,
			  char *zone)
{
	struct store_param p[3 + USAGE_PREFIX_DIGITS];
	struct buf sql;
	struct store_res *res = NULL;
	size_t n = 0, digits = 0;
	int rc;

	while (r->number[digits] >= '0' && r->number[digits] <= '9' && digits < USAGE_PREFIX_DIGITS)
		digits++;
	buf_init(&sql);
	rc = buf_printf(&sql, "SELECT zone, destination FROM rate_deck_rows WHERE version_id = $1"
			      " AND service = $2 AND effective_from <= $3 AND (effective_to = 0"
			      " OR effective_to > $3) AND prefix IN (''");
	p[n++] = store_p_text(version);
	p[n++] = store_p_text(r->sms ? "sms" : "voice");
	p[n++] = store_p_int(r->at_ms);
	for (size_t i = 1; rc >= 0 && i <= digits; i++) {
		p[n] = store_p_str((struct str){r->number, i});
		rc = buf_printf(&sql, ", $%zu", ++n);
	}
	rc = rc < 0 ? -ENOMEM : buf_append_cstr(&sql, ") ORDER BY LENGTH(prefix) DESC LIMIT 1");
	rc = rc < 0 ? -ENOMEM : store_exec(c, sql.p, p, n, &res);
	if (rc == 0 && store_res_rows(res) == 1) {
		const char *z = store_res_text(res, 0, 0);
		invoice_text_copy(zone, z[0] ? z : store_res_text(res, 0, 1));
	}
	store_res_free(res);
	buf_fini(&sql);
	return rc;
}

static int usage_zone(struct store_conn *c, const struct usage_record *r, char *zone)
{
	struct store_param p[2] = {store_p_text(r->deck_id), store_p_int(r->at_ms)};
	struct store_res *res = NULL;
	int rc;

	zone[0] = '\0';
	if (!r->deck_id[0] || !r->number[0])
		return 0;
	rc = store_exec(c, version_sql, p, 2, &res);
	if (rc == 0 && store_res_rows(res) == 1)
		rc = usage_zone_row(c, store_res_text(res, 0, 0), r, zone);
	store_res_free(res);
	return rc;
}

static int usage_record_read(struct store_conn *c, const char *customer_id, bool sms,
			     const char *ref_id, struct usage_record *r, struct invoice_usage *u)
{
	struct store_param p[2] = {store_p_text(ref_id), store_p_text(customer_id)};
	struct store_res *res = NULL;
	int rc = store_exec(c, sms ? msg_sql : cdr_sql, p, sms ? 1 : 2, &res);

	r->sms = sms;
	if (rc == 0 && store_res_rows(res) == 1 && (!sms || store_res_int(res, 0, 0) > 0)) {
		if (sms)
			u->segments = store_res_int(res, 0, 0);
		else
			u->billable_ms = store_res_int(res, 0, 0);
		const char *num = store_res_text(res, 0, 1);
		str_copy(r->number, sizeof(r->number), str_from_cstr(num + (num[0] == '+')));
		r->at_ms = store_res_int(res, 0, 2);
		str_copy(r->deck_id, sizeof(r->deck_id), str_from_cstr(store_res_text(res, 0, 3)));
	}
	store_res_free(res);
	return rc;
}

/* What the billing role rated: the zone (else the destination) and the
 * billed quantity; *found false when the record is not rated. */
static const char rated_cdr_sql[] =
    "SELECT COALESCE(NULLIF(zone, ''), destination, ''), billable_s FROM cdr_ratings"
    " WHERE cdr_id = $1 AND state = 'rated'";
static const char rated_msg_sql[] =
    "SELECT MIN(COALESCE(NULLIF(zone, ''), destination, '')), SUM(segments) FROM message_ratings"
    " WHERE (group_id = $1 OR message_id = $1) AND state = 'rated' HAVING COUNT(*) > 0";

static int usage_rated(struct store_conn *c, bool sms, const char *ref_id, struct invoice_usage *u,
		       bool *found)
{
	struct store_param p = store_p_text(ref_id);
	struct store_res *res = NULL;
	int rc = store_exec(c, sms ? rated_msg_sql : rated_cdr_sql, &p, 1, &res);

	*found = rc == 0 && store_res_rows(res) == 1 && store_res_text(res, 0, 0)[0];
	if (*found) {
		invoice_text_copy(u->zone, store_res_text(res, 0, 0));
		if (sms)
			u->segments = store_res_int(res, 0, 1);
		else
			u->billable_ms = store_res_int(res, 0, 1) * 1000;
	}
	store_res_free(res);
	return rc;
}

int invoice_usage_get(struct store_conn *c, const char *customer_id, int kind, const char *ref_type,
		      const char *ref_id, struct invoice_usage *u)
{
	struct usage_record r = {0};
	bool sms = kind == 3, rated = false;
	int rc = 0;

	memset(u, 0, sizeof(*u));
	u->segments = sms ? 1 : 0;
	if (!ref_id || !ref_id[0] || strcmp(ref_type, sms ? "message" : "cdr") != 0)
		return 0;
	rc = usage_rated(c, sms, ref_id, u, &rated);
	if (rc < 0 || rated)
		return rc;
	rc = usage_record_read(c, customer_id, sms, ref_id, &r, u);
	return rc < 0 ? rc : usage_zone(c, &r, u->zone);
}
