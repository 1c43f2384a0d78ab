/*
 * rate_record.c — one CDR or message priced against a rating snapshot:
 * the sell row of the customer (or its trunk), the buy row of the carrier
 * that carried it, the costs under both and the margin between them
 * (billing.h, decision 0036).  The billing role calls it per record; it
 * reads only the snapshot, so a batch of a thousand records costs a
 * thousand pairs of prefix lookups and nothing else.
 */
#include <string.h>

#include "billing.h"

static void rated_text(char *dst, const char *src)
{
	size_t n = src ? strlen(src) : 0;

	if (n >= BILLING_RATED_TEXT_MAX)
		n = BILLING_RATED_TEXT_MAX - 1;
	memcpy(dst, src ? src : "", n);
	dst[n] = '\0';
}

static enum billing_record_state rated_quarantine(struct billing_rated *out, const char *side,
						  const char *reason)
{
	out->state = BILLING_RECORD_QUARANTINED;
	out->side = side;
	out->reason = reason;
	return out->state;
}

/* What one row charges for the record, into *cost (and the billable
 * seconds of a call); 0 or a BILLING_RATE_* code. */
static int rated_cost(const struct billing_rate *row, const struct billing_record *in,
		      int64_t *cost, int64_t *billable_s)
{
	int64_t s = billing_rate_seconds_from_ms(in->duration_ms);
	int rc;

	if (in->svc == BILLING_SMS)
		return billing_rate_sms_cost(row, in->segments, cost);
	rc = billing_rate_voice_cost(row, s, cost);
	if (rc == 0 && billable_s)
		rc = billing_rate_billable_s(row, s, billable_s);
	return rc;
}

/* The sell side: row, deck and cost; false (quarantined) when not found. */
static bool rated_sell(const struct billing_rating *r, const struct billing_record *in,
		       struct billing_rated *out)
{
	const struct billing_customer *cu = billing_rating_customer(r, in->customer_id);
	const struct billing_deck *d = NULL;
	struct billing_rate row;
	int rc = billing_rating_sell(r, in->customer_id, in->trunk_id, in->t_ms, in->svc,
				     in->number, &row, &d);

	if (cu)
		memcpy(out->currency, cu->currency, sizeof(out->currency));
	if (rc == BILLING_PRICE_OK) {
		out->sell_deck = *billing_deck_meta(d);
		memcpy(out->prefix, row.prefix, sizeof(out->prefix));
		rated_text(out->zone, row.zone);
		rated_text(out->destination, row.destination);
	}
	if (!in->billable)
		return true; /* nothing owed: a missing rate is no reason to hold it */
	if (rc != BILLING_PRICE_OK) {
		rated_quarantine(out, "sell", billing_price_reason(rc));
		return false;
	}
	if (rated_cost(&row, in, &out->sell, &out->billable_s) != 0) {
		rated_quarantine(out, "sell", "out_of_range");
		return false;
	}
	return true;
}

static bool rated_buy(const struct billing_rating *r, const struct billing_record *in,
		      struct billing_rated *out)
{
	const struct billing_deck *d = NULL;
	struct billing_rate row;
	int rc;

	if (!in->billable)
		return true;
	if (!in->carrier_id.len) {
		rated_quarantine(out, "buy", "no_carrier");
		return false;
	}
	rc = billing_rating_buy(r, in->carrier_id, in->t_ms, in->svc, in->number, &row, &d);
	if (rc != BILLING_PRICE_OK) {
		rated_quarantine(out, "buy", billing_price_reason(rc));
		return false;
	}
	out->buy_deck = *billing_deck_meta(d);
	memcpy(out->buy_currency, out->buy_deck.currency, sizeof(out->buy_currency));
	if (rated_cost(&row, in, &out->buy, NULL) != 0) {
		rated_quarantine(out, "buy", "out_of_range");
		return false;
	}
	return true;
}

/* hot path: no allocation, no locks, no I/O */
enum billing_record_state billing_rate_record(const struct billing_rating *r,
					      const struct billing_record *in,
					      struct billing_rated *out)
{
	memset(out, 0, sizeof(*out));
	out->reason = "";
	out->side = "";
	if (!rated_sell(r, in, out) || !rated_buy(r, in, out))
		return out->state;
	if (!out->buy_currency[0])
		memcpy(out->buy_currency, out->currency, sizeof(out->buy_currency));
	out->has_margin = strcmp(out->currency, out->buy_currency) == 0;
	out->margin = out->has_margin ? out->sell - out->buy : 0;
	return BILLING_RECORD_RATED;
}
