/*
 * rating_parties.c — who is priced by which deck: the snapshot's copies of
 * customers, trunks and carriers with their deck assignments, and the sell
 * and buy lookups that follow them to a row.
 *
 * The three tables are sorted arrays searched by id: a snapshot holds a few
 * thousand parties at most, and a binary search over fixed-size records
 * costs less than a hash of the id would.
 */
#include "rating_private.h"

#include <stdlib.h>
#include <string.h>

static int party_cmp(const void *a, const void *b)
{
	return strcmp(a, b); /* each record starts with its NUL-terminated id */
}

/* A sorted copy of n records of `size` bytes whose id is their first member
 * (every party struct starts with char id[BILLING_ID_MAX]). */
static int parties_dup(const void *src, size_t n, size_t size, void **out)
{
	*out = NULL;
	if (!n)
		return 0;
	if (!(*out = malloc(n * size)))
		return -1;
	memcpy(*out, src, n * size);
	qsort(*out, n, size, party_cmp);
	return 0;
}

int rating_parties_copy(struct billing_rating *r, const struct billing_parties *p)
{
	if (!p)
		return 0;
	if (parties_dup(p->customers, p->ncustomers, sizeof(*p->customers),
			(void **)&r->customers) ||
	    parties_dup(p->trunks, p->ntrunks, sizeof(*p->trunks), (void **)&r->trunks) ||
	    parties_dup(p->carriers, p->ncarriers, sizeof(*p->carriers), (void **)&r->carriers))
		return -1;
	r->ncustomers = p->ncustomers;
	r->ntrunks = p->ntrunks;
	r->ncarriers = p->ncarriers;
	return 0;
}

void rating_parties_free(struct billing_rating *r)
{
	free(r->customers);
	free(r->trunks);
	free(r->carriers);
	r->customers = NULL;
	r->trunks = NULL;
	r->carriers = NULL;
}

/* The record with id `id` among n sorted ones of `size` bytes, or NULL. */
static const void *parties_find(const void *base, size_t n, size_t size, struct str id)
{
	size_t a = 0, b = n;

	if (!id.len)
		return NULL;
	while (a < b) {
		size_t m = a + (b - a) / 2;
		const char *rec = (const char *)base + m * size;
		int c = rating_id_cmp(id, rec);
		if (!c)
			return rec;
		if (c < 0)
			b = m;
		else
			a = m + 1;
	}
	return NULL;
}

const struct billing_customer *billing_rating_customer(const struct billing_rating *r,
						       struct str id)
{
	return parties_find(r->customers, r->ncustomers, sizeof(*r->customers), id);
}

const struct billing_trunk *billing_rating_trunk(const struct billing_rating *r, struct str id)
{
	return parties_find(r->trunks, r->ntrunks, sizeof(*r->trunks), id);
}

const struct billing_carrier *billing_rating_carrier(const struct billing_rating *r, struct str id)
{
	return parties_find(r->carriers, r->ncarriers, sizeof(*r->carriers), id);
}

const char *billing_price_reason(int err)
{
	switch (err) {
	case BILLING_PRICE_OK:
		return "ok";
	case BILLING_PRICE_NO_PARTY:
		return "no_party";
	case BILLING_PRICE_NO_DECK:
		return "no_deck";
	case BILLING_PRICE_NO_RATE:
		return "no_rate";
	case BILLING_PRICE_CURRENCY:
		return "currency_mismatch";
	}
	return "unknown";
}

/* The row of deck_id for number at t_ms, as an enum billing_price_err. */
static int price_in_deck(const struct billing_rating *r, const char *deck_id, int64_t t_ms,
			 enum billing_service svc, struct str number, struct billing_rate *out,
			 const struct billing_deck **deck)
{
	const struct billing_deck *d;

	if (deck)
		*deck = NULL;
	if (!deck_id[0] || !(d = billing_rating_deck_at(r, str_from_cstr(deck_id), t_ms)))
		return BILLING_PRICE_NO_DECK;
	if (deck)
		*deck = d;
	return billing_deck_lookup(d, svc, number, t_ms, out) ? BILLING_PRICE_OK
							      : BILLING_PRICE_NO_RATE;
}

int billing_rating_sell(const struct billing_rating *r, struct str customer_id, struct str trunk_id,
			int64_t t_ms, enum billing_service svc, struct str number,
			struct billing_rate *out, const struct billing_deck **deck)
{
	const struct billing_customer *cu = billing_rating_customer(r, customer_id);
	const struct billing_trunk *tr = billing_rating_trunk(r, trunk_id);
	const struct billing_deck *d = NULL;
	const char *deck_id;
	int rc;

	if (deck)
		*deck = NULL;
	if (!cu)
		return BILLING_PRICE_NO_PARTY;
	/* a trunk's own deck, when the trunk is this customer's */
	if (tr && tr->sell_deck_id[0] && !strcmp(tr->customer_id, cu->id))
		deck_id = tr->sell_deck_id;
	else
		deck_id = cu->sell_deck_id;
	rc = price_in_deck(r, deck_id, t_ms, svc, number, out, &d);
	if (deck)
		*deck = d;
	if (rc == BILLING_PRICE_OK && strcmp(billing_deck_meta(d)->currency, cu->currency))
		return BILLING_PRICE_CURRENCY;
	return rc;
}

int billing_rating_buy(const struct billing_rating *r, struct str carrier_id, int64_t t_ms,
		       enum billing_service svc, struct str number, struct billing_rate *out,
		       const struct billing_deck **deck)
{
	const struct billing_carrier *ca = billing_rating_carrier(r, carrier_id);

	if (deck)
		*deck = NULL;
	if (!ca)
		return BILLING_PRICE_NO_PARTY;
	return price_in_deck(r, ca->buy_deck_id, t_ms, svc, number, out, deck);
}
