/*
 * rating.c — the rating snapshot's decks: each version with its prefix
 * indexes, shared between snapshots by reference count, found by deck id
 * and number or by the instant it prices.
 *
 * Readers on sip, smsc and billing threads look up concurrently in what
 * they acquired; the snapshot builder makes the next set on its own thread,
 * taking references to the versions that did not change.  Only the counts
 * change after a build (atomics); everything they guard is immutable, so
 * the last unref frees with no reader left to see it.
 */
#include "rating_private.h"

#include <stdlib.h>
#include <string.h>

int billing_deck_new(const struct billing_deck_meta *meta, const struct billing_rate *rows,
		     size_t n, struct billing_deck **out, size_t *bad_row)
{
	struct billing_deck *d = calloc(1, sizeof(*d));
	int rc;

	*out = NULL;
	if (!d)
		return BILLING_PREFIX_NOMEM;
	atomic_init(&d->refs, 1);
	d->meta = *meta;
	d->meta.deck_id[BILLING_ID_MAX - 1] = '\0';
	d->meta.version_id[BILLING_ID_MAX - 1] = '\0';
	d->meta.currency[BILLING_CURRENCY_MAX - 1] = '\0';
	rc = billing_prefix_build(rows, n, BILLING_VOICE, &d->index[BILLING_VOICE], bad_row);
	if (!rc)
		rc = billing_prefix_build(rows, n, BILLING_SMS, &d->index[BILLING_SMS], bad_row);
	if (rc) {
		billing_deck_unref(d);
		return rc;
	}
	*out = d;
	return 0;
}

struct billing_deck *billing_deck_ref(struct billing_deck *d)
{
	atomic_fetch_add(&d->refs, 1);
	return d;
}

void billing_deck_unref(struct billing_deck *d)
{
	if (!d || atomic_fetch_sub(&d->refs, 1) != 1)
		return;
	billing_prefix_free(d->index[BILLING_VOICE]);
	billing_prefix_free(d->index[BILLING_SMS]);
	free(d);
}

const struct billing_deck_meta *billing_deck_meta(const struct billing_deck *d)
{
	return &d->meta;
}

const struct billing_prefix_index *billing_deck_index(const struct billing_deck *d,
						      enum billing_service svc)
{
	return svc == BILLING_SMS ? d->index[BILLING_SMS] : d->index[BILLING_VOICE];
}

/* hot path: no allocation, no locks, no I/O */
bool billing_deck_lookup(const struct billing_deck *d, enum billing_service svc, struct str number,
			 int64_t t_ms, struct billing_rate *out)
{
	return billing_prefix_lookup(billing_deck_index(d, svc), number, t_ms, out);
}

/* Deck id, then activation order (activate_at, then number): a deck's
 * versions lie together, the one in force at t the last not after t. */
static int rating_deck_cmp(const void *pa, const void *pb)
{
	const struct billing_deck_meta *a = &(*(struct billing_deck *const *)pa)->meta;
	const struct billing_deck_meta *b = &(*(struct billing_deck *const *)pb)->meta;
	int c = strcmp(a->deck_id, b->deck_id);

	if (c)
		return c;
	if (a->activate_at != b->activate_at)
		return a->activate_at < b->activate_at ? -1 : 1;
	return a->number < b->number ? -1 : a->number > b->number;
}

static bool rating_has_duplicate(struct billing_deck *const *d, size_t n)
{
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n && !strcmp(d[i]->meta.deck_id, d[j]->meta.deck_id);
		     j++)
			if (d[i]->meta.number == d[j]->meta.number)
				return true;
	return false;
}

int billing_rating_new(struct billing_deck *const *decks, size_t n,
		       const struct billing_parties *parties, struct billing_rating **out)
{
	struct billing_rating *r = calloc(1, sizeof(*r));
	int rc = BILLING_PREFIX_NOMEM;

	*out = NULL;
	if (!r || !(r->decks = malloc((n ? n : 1) * sizeof(*r->decks))))
		goto fail;
	atomic_init(&r->refs, 1);
	if (n) /* decks may be NULL with n 0 (no decks), and memcpy's may not */
		memcpy(r->decks, decks, n * sizeof(*decks));
	qsort(r->decks, n, sizeof(*r->decks), rating_deck_cmp);
	if (rating_has_duplicate(r->decks, n)) {
		rc = BILLING_PREFIX_DUPLICATE;
		goto fail;
	}
	if (rating_parties_copy(r, parties))
		goto fail;
	for (size_t i = 0; i < n; i++)
		billing_deck_ref(r->decks[i]);
	r->n = n;
	*out = r;
	return 0;
fail:
	if (r)
		rating_parties_free(r);
	free(r ? r->decks : NULL);
	free(r);
	return rc;
}

struct billing_rating *billing_rating_ref(struct billing_rating *r)
{
	atomic_fetch_add(&r->refs, 1);
	return r;
}

void billing_rating_unref(struct billing_rating *r)
{
	if (!r || atomic_fetch_sub(&r->refs, 1) != 1)
		return;
	for (size_t i = 0; i < r->n; i++)
		billing_deck_unref(r->decks[i]);
	rating_parties_free(r);
	free(r->decks);
	free(r);
}

size_t billing_rating_decks(const struct billing_rating *r)
{
	return r->n;
}

/* strcmp of a view against a NUL-terminated id. */
int rating_id_cmp(struct str a, const char *b)
{
	size_t blen = strlen(b);
	int c = memcmp(a.p, b, a.len < blen ? a.len : blen);

	if (c)
		return c;
	return a.len < blen ? -1 : a.len > blen;
}

/* [*first, *end) are deck_id's versions, in activation order. */
static void rating_deck_range(const struct billing_rating *r, struct str deck_id, size_t *first,
			      size_t *end)
{
	size_t a = 0, b = r->n;

	while (a < b) {
		size_t m = a + (b - a) / 2;
		if (rating_id_cmp(deck_id, r->decks[m]->meta.deck_id) > 0)
			a = m + 1;
		else
			b = m;
	}
	*first = a;
	while (a < r->n && rating_id_cmp(deck_id, r->decks[a]->meta.deck_id) == 0)
		a++;
	*end = a;
}

/* hot path: no allocation, no locks, no I/O */
struct billing_deck *billing_rating_deck(const struct billing_rating *r, struct str deck_id,
					 int64_t number)
{
	struct billing_deck *best = NULL;
	size_t a, end;

	rating_deck_range(r, deck_id, &a, &end);
	for (; a < end; a++) {
		struct billing_deck *d = r->decks[a];
		if (d->meta.number == number)
			return d;
		if (number == 0 && (!best || d->meta.number > best->meta.number))
			best = d;
	}
	return best;
}

/* hot path: no allocation, no locks, no I/O */
struct billing_deck *billing_rating_deck_at(const struct billing_rating *r, struct str deck_id,
					    int64_t t_ms)
{
	size_t first, end;

	rating_deck_range(r, deck_id, &first, &end);
	while (end > first && r->decks[end - 1]->meta.activate_at > t_ms)
		end--;
	return end > first ? r->decks[end - 1] : NULL;
}

/* hot path: no allocation, no locks, no I/O */
bool billing_rating_lookup(const struct billing_rating *r, struct str deck_id, int64_t t_ms,
			   enum billing_service svc, struct str number, struct billing_rate *out,
			   const struct billing_deck **deck)
{
	const struct billing_deck *d = billing_rating_deck_at(r, deck_id, t_ms);

	if (deck)
		*deck = d;
	return d && billing_deck_lookup(d, svc, number, t_ms, out);
}
