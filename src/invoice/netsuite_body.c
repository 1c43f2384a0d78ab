/*
 * netsuite_body.c — a document as a SuiteTalk REST record: its URL (an
 * upsert by external id) and its JSON body.
 *
 *   PUT <base>/services/rest/record/v1/invoice/eid:<externalId>
 *   {"externalId": …, "entity": {"id": <the customer's entity>},
 *    "tranDate": <the period's last day>, "postingPeriod": {"refName": "Nov 2026"},
 *    "memo": …, "item": {"items": [{"item": {"id": …}, "description": …,
 *    "quantity": …, "rate": …, "amount": …}]}}
 *
 * A credit note is a creditMemo record whose lines credit positive
 * amounts; a debit note is another invoice.  Numbers are written as exact
 * decimals from micro-units (never through a double): quantity is minutes
 * (four places) for calls, segments for SMS, 1 for an adjustment; amount is
 * the line's rounded amount; rate is amount / quantity to six places, for
 * show (NetSuite keeps the amount given).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "billing/billing.h"
#include "invoice/invoice_private.h"

bool netsuite_map_get(const char *map, const char *key, char *out, size_t n)
{
	struct str rest = str_from_cstr(map ? map : "");
	while (rest.len) {
		ptrdiff_t comma = str_index(rest, ',');
		struct str kv = {rest.p, comma < 0 ? rest.len : (size_t)comma};
		ptrdiff_t eq = str_index(kv, '=');
		if (eq > 0 && str_eq_cstr(str_trim((struct str){kv.p, (size_t)eq}), key)) {
			struct str v = str_trim((struct str){kv.p + eq + 1, kv.len - eq - 1});
			return v.len && str_copy(out, n, v) == 0;
		}
		rest =
		    comma < 0 ? STR_NULL : (struct str){rest.p + comma + 1, rest.len - comma - 1};
	}
	return false;
}

/* A JSON string member: ,"name":"value" (first: no comma). */
static int jstr(struct buf *b, const char *name, const char *value, bool first)
{
	int rc = buf_printf(b, "%s\"%s\":\"", first ? "" : ",", name) < 0 ? -ENOMEM : 0;
	rc = rc ? rc : buf_append_json_escaped(b, str_from_cstr(value));
	return rc ? rc : buf_append_char(b, '"');
}

static const char *line_item(const struct netsuite_opts *o, const struct invoice_line *l, char *id,
			     size_t n)
{
	const char *fallback = l->kind == INVOICE_LINE_CALLS ? o->calls_item
			       : l->kind == INVOICE_LINE_SMS ? o->sms_item
							     : o->adjustment_item;
	if (l->kind <= INVOICE_LINE_SMS && l->text[0] &&
	    netsuite_map_get(o->item_map, l->text, id, n))
		return id;
	if (fallback && fallback[0] && str_copy(id, n, str_from_cstr(fallback)) == 0)
		return id;
	return NULL;
}

/* quantity, rate and amount of a line, as exact decimals. */
static int line_numbers(const struct invoice_line *l, int sign, struct buf *b)
{
	char q[BILLING_MONEY_BUF], r[BILLING_MONEY_BUF], a[BILLING_MONEY_BUF];
	int64_t amount = sign * l->amount_rounded;
	__int128 rate = amount;

	if (l->kind == INVOICE_LINE_CALLS) {
		billing_money_format(l->billable_ms * (BILLING_MICRO / 1000) / 60, 4, q, sizeof(q));
		rate = l->billable_ms ? (__int128)amount * 60000 / l->billable_ms : amount;
	} else if (l->kind == INVOICE_LINE_SMS) {
		snprintf(q, sizeof(q), "%lld", (long long)(sign * l->count));
		rate = l->count ? amount / l->count : amount;
	} else {
		snprintf(q, sizeof(q), "1");
	}
	billing_money_format_exact((int64_t)rate, 2, r, sizeof(r));
	billing_money_format_exact(amount, 2, a, sizeof(a));
	return buf_printf(b, ",\"quantity\":%s,\"rate\":%s,\"amount\":%s", q, r, a) < 0 ? -ENOMEM
											: 0;
}

static int body_line(const struct netsuite_opts *o, const struct invoice_line *l, int sign,
		     bool first, struct buf *b, char *err, size_t errlen)
{
	static const char *const what[] = {"Calls", "SMS", "Adjustment", "Refund"};
	char item[64], desc[INVOICE_TEXT_MAX + 32];

	if (!line_item(o, l, item, sizeof(item))) {
		snprintf(err, errlen, "no NetSuite item for %s line '%s' ([netsuite] item_map)",
			 invoice_line_kind_name(l->kind), l->text);
		return -ENOENT;
	}
	snprintf(desc, sizeof(desc), "%s: %s", what[l->kind],
		 l->text[0] ? l->text : "other destinations");
	int rc = buf_printf(b, "%s{\"item\":{", first ? "" : ",") < 0 ? -ENOMEM : 0;
	rc = rc ? rc : jstr(b, "id", item, true);
	rc = rc ? rc : buf_append_char(b, '}');
	rc = rc ? rc : jstr(b, "description", desc, false);
	rc = rc ? rc : line_numbers(l, sign, b);
	return rc ? rc : buf_append_char(b, '}');
}

static int body_head(const struct netsuite_opts *o, const struct invoice *inv, struct buf *b,
		     char *err, size_t errlen)
{
	char entity[64], day[16], label[16], memo[128];

	if (!netsuite_map_get(o->entity_map, inv->customer_id, entity, sizeof(entity))) {
		snprintf(err, errlen, "no NetSuite entity for customer %s ([netsuite] entity_map)",
			 inv->customer_id);
		return -ENOENT;
	}
	invoice_period_last_day(&inv->period, day, sizeof(day));
	invoice_period_label(&inv->period, label, sizeof(label));
	snprintf(memo, sizeof(memo), "WARP %s %s, period %s%s%s", invoice_kind_name(inv->kind),
		 inv->number, inv->period.name, inv->corrects_number[0] ? ", corrects " : "",
		 inv->corrects_number);
	int rc = buf_append_char(b, '{');
	rc = rc ? rc : jstr(b, "externalId", inv->external_id, true);
	rc = rc ? rc : buf_append_cstr(b, ",\"entity\":{");
	rc = rc ? rc : jstr(b, "id", entity, true);
	rc = rc ? rc : buf_append_char(b, '}');
	rc = rc ? rc : jstr(b, "tranDate", day, false);
	rc = rc ? rc : buf_append_cstr(b, ",\"postingPeriod\":{");
	rc = rc ? rc : jstr(b, "refName", label, true);
	rc = rc ? rc : buf_append_char(b, '}');
	return rc ? rc : jstr(b, "memo", memo, false);
}

int netsuite_request(const struct netsuite_opts *o, const struct invoice *inv, struct buf *url,
		     struct buf *body, char *err, size_t errlen)
{
	bool credit = inv->kind == INVOICE_KIND_CREDIT_NOTE;
	int rc = body_head(o, inv, body, err, errlen);

	rc = rc ? rc : buf_append_cstr(body, ",\"item\":{\"items\":[");
	for (size_t i = 0; rc == 0 && i < inv->nlines; i++)
		rc = body_line(o, &inv->lines[i], credit ? -1 : 1, i == 0, body, err, errlen);
	rc = rc ? rc : buf_append_cstr(body, "]}}");
	if (rc == 0 && o->base_url && o->base_url[0])
		rc = buf_printf(url, "%s", o->base_url) < 0 ? -ENOMEM : 0;
	else if (rc ==
		 0) { /* https://<account, lower case, '_' as '-'>.suitetalk.api.netsuite.com */
		rc = buf_append_cstr(url, "https://");
		for (const char *p = o->account_id; rc == 0 && p && *p; p++)
			rc = buf_append_char(url,
					     *p == '_' ? '-' : (char)tolower((unsigned char)*p));
		rc = rc ? rc : buf_append_cstr(url, ".suitetalk.api.netsuite.com");
	}
	while (rc == 0 && url->len && url->p[url->len - 1] == '/')
		url->p[--url->len] = '\0';
	rc = rc ? rc
	     : buf_printf(url, "/services/rest/record/v1/%s/eid:%s",
			  credit ? "creditMemo" : "invoice", inv->external_id) < 0
		 ? -ENOMEM
		 : 0;
	if (rc == -ENOMEM)
		snprintf(err, errlen, "out of memory");
	return rc;
}
