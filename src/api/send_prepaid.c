/*
 * send_prepaid.c — a prepaid customer's HTTP send (decision 0038): each part
 * is priced per segment from the rating snapshot (the customer's SMS sell
 * rate for the destination at now) and reserved by statements put into the
 * message's own batch-writer group (billing_reserve_batch), so the parts
 * and their reservations commit together or not at all and the HTTP worker
 * never waits on the store.  Not covered: 402 insufficient_funds; no price
 * for the destination: 422 no_rate; no sell deck at all, so no price for
 * anything: 422 no_sell_deck (decision 0052: never sent unpriced).
 * The smsc role's settler charges the message once it is final.
 */
#include <errno.h>
#include <string.h>

#include "api/api_private.h"
#include "api/message.h"

#define SEND_HOLD_MARGIN_MS 3600000LL /* a reservation outlives the message's validity */

/* hot path: no allocation, no locks, no I/O.  0 with *price (0: nothing to
 * reserve), -ENOENT when a prepaid customer has no price for to, -ENODATA
 * when it has no sell deck. */
static int send_prepaid_price(struct api *a, const char *customer, const char *to, int64_t *price)
{
	const struct billing_rating *r = a->rating ? snapshot_acquire(a->rating) : NULL;
	const struct billing_customer *cu =
	    r ? billing_rating_customer(r, str_from_cstr(customer)) : NULL;
	struct billing_rate row;
	int rc = 0;

	*price = 0;
	if (cu && cu->prepaid) {
		int err = billing_rating_sell(r, str_from_cstr(customer), STR_NULL, time_wall_ms(),
					      BILLING_SMS, str_from_cstr(to), &row, NULL);

		rc = err == BILLING_PRICE_NO_DECK			      ? -ENODATA
		     : err == 0 && billing_rate_sms_cost(&row, 1, price) == 0 ? 0
									      : -ENOENT;
	}
	if (r)
		snapshot_release(a->rating, r);
	return rc;
}

int api_send_prepaid(struct api_ctx *ctx, const char *customer, const struct api_msg_in *m,
		     char (*ids)[ID_MAX], int64_t now, struct api_send_prepaid *pre,
		     struct store_batch_stmt *stmts, size_t *n)
{
	int64_t price;
	int rc = send_prepaid_price(ctx->api, customer, m->to, &price);

	pre->on = false;
	for (size_t i = 0; rc == 0 && price > 0 && i < m->nparts; i++) {
		rc = billing_reserve_batch(&pre->rb[i], customer, price, "message", ids[i],
					   m->expires_at + SEND_HOLD_MARGIN_MS, now);
		for (size_t k = 0; rc == 0 && k < BILLING_RESERVE_BATCH_STMTS; k++)
			stmts[(*n)++] = pre->rb[i].st[k];
		pre->on = rc == 0;
	}
	return rc == 0 || rc == -ENOENT || rc == -ENODATA ? rc : -EINVAL;
}

bool api_send_prepaid_refused(struct api_ctx *ctx, int rc, bool prepaid)
{
	if (rc == -ENODATA) {
		http_reply_error(ctx->req, 422, "no_sell_deck", "No sell deck", NULL,
				 "the customer is prepaid and has no sell deck: a message without "
				 "a price is not sent");
		return true;
	}
	if (rc == -ENOENT) {
		http_reply_error(ctx->req, 422, "no_rate", "No price for the destination", "/to",
				 "the customer is prepaid and its sell deck has no SMS rate "
				 "for this number");
		return true;
	}
	if (!prepaid || !billing_reserve_batch_refused(rc))
		return false;
	http_reply_error(ctx->req, 402, "insufficient_funds", "Payment required", NULL,
			 "the available balance does not cover the message's segments");
	return true;
}
