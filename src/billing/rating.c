/*
 * rating.c — the rating snapshot: the decks in force, each version with its
 * prefix indexes, shared between snapshots by reference count.
 *
 * Readers on sip, smsc and billing threads look up concurrently in what
 * they acquired; the snapshot builder makes the next set on its own thread,
 * taking references to the decks whose version did not change.  Only the
 * counts change after a build (atomics); everything they guard is
 * immutable, so the last unref frees with no reader left to see it.
 */
#include "billing.h"

#include <stdatomic.h>
#include <stdlib.h>

struct billing_deck {
	atomic_long refs;
	int64_t id;
	int64_t version;
	struct billing_prefix_index *index[2]; /* by enum billing_service */
};

struct billing_rating {
	atomic_long refs;
	size_t n;
	struct billing_deck **decks; /* sorted by (id, version) */
};

int billing_deck_new(int64_t deck_id, int64_t version, const struct billing_rate *rows, size_t n,
		     struct billing_deck **out, size_t *bad_row)
{
	struct billing_deck *d = calloc(1, sizeof(*d));
	int rc;

	*out = NULL;
	if (!d)
		return BILLING_PREFIX_NOMEM;
	atomic_init(&d->refs, 1);
	d->id = deck_id;
	d->version = version;
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

int64_t billing_deck_id(const struct billing_deck *d)
{
	return d->id;
}

int64_t billing_deck_version(const struct billing_deck *d)
{
	return d->version;
}

const struct billing_prefix_index *billing_deck_index(const struct billing_deck *d,
						      enum billing_service svc)
{
	return svc == BILLING_SMS ? d->index[BILLING_SMS] : d->index[BILLING_VOICE];
}

static int rating_deck_cmp(const void *pa, const void *pb)
{
	const struct billing_deck *a = *(struct billing_deck *const *)pa;
	const struct billing_deck *b = *(struct billing_deck *const *)pb;

	if (a->id != b->id)
		return a->id < b->id ? -1 : 1;
	return a->version < b->version ? -1 : a->version > b->version;
}

int billing_rating_new(struct billing_deck *const *decks, size_t n, struct billing_rating **out)
{
	struct billing_rating *r = calloc(1, sizeof(*r));

	*out = NULL;
	if (!r || !(r->decks = malloc((n ? n : 1) * sizeof(*r->decks)))) {
		free(r);
		return BILLING_PREFIX_NOMEM;
	}
	atomic_init(&r->refs, 1);
	for (size_t i = 0; i < n; i++)
		r->decks[i] = decks[i];
	qsort(r->decks, n, sizeof(*r->decks), rating_deck_cmp);
	for (size_t i = 1; i < n; i++) {
		if (rating_deck_cmp(&r->decks[i - 1], &r->decks[i]) == 0) {
			free(r->decks);
			free(r);
			return BILLING_PREFIX_DUPLICATE;
		}
	}
	for (size_t i = 0; i < n; i++)
		billing_deck_ref(r->decks[i]);
	r->n = n;
	*out = r;
	return 0;
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
	free(r->decks);
	free(r);
}

size_t billing_rating_decks(const struct billing_rating *r)
{
	return r->n;
}

/* hot path: no allocation, no locks, no I/O */
struct billing_deck *billing_rating_deck(const struct billing_rating *r, int64_t deck_id,
					 int64_t version)
{
	size_t a = 0, b = r->n; /* the first deck with id >= deck_id is at a */

	while (a < b) {
		size_t m = a + (b - a) / 2;
		if (r->decks[m]->id < deck_id)
			a = m + 1;
		else
			b = m;
	}
	for (; a < r->n && r->decks[a]->id == deck_id; a++) {
		bool last = a + 1 == r->n || r->decks[a + 1]->id != deck_id;
		if (r->decks[a]->version == version || (version == 0 && last))
			return r->decks[a];
	}
	return NULL;
}

/* hot path: no allocation, no locks, no I/O */
bool billing_rating_lookup(const struct billing_rating *r, int64_t deck_id, int64_t version,
			   enum billing_service svc, struct str number, int64_t t_ms,
			   struct billing_rate *out)
{
	const struct billing_deck *d = billing_rating_deck(r, deck_id, version);

	return d && billing_prefix_lookup(billing_deck_index(d, svc), number, t_ms, out);
}
