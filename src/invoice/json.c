/*
 * json.c — documents and runs as the API's JSON.  Amounts travel as exact
 * decimal strings with at least the currency's decimals next to their
 * integer micro-units, as the balances do (src/api/balances.c).
 */
#include <string.h>

#include "billing/billing.h"
#include "invoice/invoice_private.h"

static void money_set(json_t *o, const char *name, int64_t micro, int decimals)
{
	char b[BILLING_MONEY_BUF], key[64];

	json_object_set_new(o, name,
			    billing_money_format_exact(micro, decimals, b, sizeof(b)) < 0
				? json_null()
				: json_string(b));
	snprintf(key, sizeof(key), "%s_micros", name);
	json_object_set_new(o, key, json_integer(micro));
}

static json_t *opt(const char *s)
{
	return s[0] ? json_string(s) : json_null();
}

static json_t *line_json(const struct invoice_line *l, int decimals)
{
	json_t *o = json_pack("{s:s,s:s,s:I}", "type", invoice_line_kind_name(l->kind),
			      l->kind <= INVOICE_LINE_SMS ? "zone" : "description", l->text,
			      l->kind == INVOICE_LINE_SMS     ? "segments"
			      : l->kind == INVOICE_LINE_CALLS ? "calls"
							      : "entries",
			      (json_int_t)l->count);
	char minutes[BILLING_MONEY_BUF];

	if (l->kind == INVOICE_LINE_CALLS) {
		/* Minutes shown to two places; billable_ms is the exact figure. */
		billing_money_format(l->billable_ms * (BILLING_MICRO / 1000) / 60, 2, minutes,
				     sizeof(minutes));
		json_object_set_new(o, "billable_ms", json_integer(l->billable_ms));
		json_object_set_new(o, "minutes", json_string(minutes));
	}
	money_set(o, "amount", l->amount_rounded, decimals);
	money_set(o, "amount_exact", l->amount, decimals);
	return o;
}

static json_t *netsuite_json(const struct invoice_netsuite *n)
{
	json_t *o =
	    json_pack("{s:s,s:o,s:o,s:I}", "state", n->state, "record_id", opt(n->record_id),
		      "error", opt(n->error), "attempts", (json_int_t)n->attempts);
	json_object_set_new(o, "sent_at", n->sent_at ? json_integer(n->sent_at) : json_null());
	/* when the billing role sends it again (a failure's backoff); null once
	 * sent or while it may go at once */
	json_object_set_new(o, "next_attempt_at",
			    strcmp(n->state, "sent") && n->next_at ? json_integer(n->next_at)
								   : json_null());
	if (n->file[0]) /* a dry run's */
		json_object_set_new(o, "file", json_string(n->file));
	return o;
}

json_t *invoice_json(const struct invoice *inv)
{
	int dec = inv->decimals;
	json_t *lines = json_array();
	json_t *o = json_pack(
	    "{s:o,s:o,s:s,s:s,s:s,s:s,s:I,s:o,s:o,s:s,s:s,s:i,s:I}", "id", opt(inv->id), "number",
	    opt(inv->number), "type", invoice_kind_name(inv->kind), "customer_id", inv->customer_id,
	    "customer_name", inv->customer_name, "period", inv->period.name, "seq",
	    (json_int_t)inv->seq, "corrects", opt(inv->corrects_id), "corrects_number",
	    opt(inv->corrects_number), "external_id", inv->external_id, "currency", inv->currency,
	    "decimals", dec, "entries", (json_int_t)inv->entries);

	json_object_set_new(o, "issued_at",
			    inv->issued_at ? json_integer(inv->issued_at) : json_null());
	json_object_set_new(o, "number_seq", json_integer(inv->number_seq));
	money_set(o, "total", inv->total, dec);
	money_set(o, "opening_balance", inv->opening_balance, dec);
	money_set(o, "payments", inv->payments, dec);
	money_set(o, "closing_balance", inv->closing_balance, dec);
	for (size_t i = 0; i < inv->nlines; i++)
		json_array_append_new(lines, line_json(&inv->lines[i], dec));
	json_object_set_new(o, "lines", lines);
	json_object_set_new(o, "netsuite", netsuite_json(&inv->netsuite));
	return o;
}

json_t *invoice_run_json(const struct invoice_run *run)
{
	json_t *docs = json_array();
	json_t *o = json_pack("{s:o,s:s,s:b,s:I}", "id", opt(run->id), "period", run->period.name,
			      "dry_run", run->dry_run, "failures", (json_int_t)run->failures);

	json_object_set_new(o, "started_at", json_integer(run->started_at));
	for (size_t i = 0; i < run->n; i++) {
		const struct invoice_outcome *oc = &run->outcomes[i];
		json_t *d = json_pack("{s:s,s:s}", "customer_id", oc->customer_id, "action",
				      invoice_action_name(oc->action));
		bool has_doc = oc->action != INVOICE_FAILED && oc->action != INVOICE_EMPTY;
		json_object_set_new(d, "document", has_doc ? invoice_json(&oc->doc) : json_null());
		json_object_set_new(d, "error", opt(oc->error));
		json_array_append_new(docs, d);
	}
	json_object_set_new(o, "results", docs);
	return o;
}
