/*
 * rating_private.h — private to src/billing: the rating snapshot's layout,
 * shared by rating.c (decks), rating_parties.c (assignments) and
 * rating_load.c (the store builder).
 */
#ifndef WARP_BILLING_RATING_PRIVATE_H
#define WARP_BILLING_RATING_PRIVATE_H

#include <stdatomic.h>

#include "billing.h"

struct billing_deck {
	atomic_long refs;
	struct billing_deck_meta meta;
	struct billing_prefix_index *index[2]; /* by enum billing_service */
};

struct billing_rating {
	atomic_long refs;
	size_t n;
	struct billing_deck **decks; /* sorted by deck id, then activation order */
	/* copies of the parties, each sorted by id */
	struct billing_customer *customers;
	size_t ncustomers;
	struct billing_trunk *trunks;
	size_t ntrunks;
	struct billing_carrier *carriers;
	size_t ncarriers;
};

/* rating_parties.c */
int rating_parties_copy(struct billing_rating *r, const struct billing_parties *p);
void rating_parties_free(struct billing_rating *r);
/* rating.c: strcmp of a view against a NUL-terminated id */
int rating_id_cmp(struct str a, const char *b);

#endif
