/*
 * idtable.c — the upstream thread's table of upstream message ids, so that
 * a receipt finds its message without reading the store.
 *
 * Two kinds of record, keyed by (carrier, upstream id) as out_id_norm
 * writes it: SENT, a message whose submit_sm_resp came (its "submitted"
 * row may still be on its way to the store through the batching writer);
 * HELD, a receipt that came before any submit_sm_resp with its id (or for a
 * message this process never sent: another process's, or one sent before
 * a restart).  Each kind is a list in arrival order, so the oldest expire
 * first from its head; a full kind evicts its oldest.  A SENT record
 * evicted or expired only costs its receipt a read of the store (the
 * receipt is then HELD and looked up), never the receipt itself.
 *
 * Only the upstream thread touches a table: no locks.
 */
#include <stdlib.h>
#include <string.h>

#include "smsc/smsc_private.h"

#define IDS_BUCKETS 131072 /* a power of two, >= the kinds' caps together */

static const size_t ids_cap[] = {[SMSC_ID_SENT] = 65536, [SMSC_ID_HELD] = 16384};

struct ids_list {
	struct smsc_idrec *head, *tail;
	size_t n;
};

struct smsc_ids {
	struct smsc_idrec **buckets;
	struct ids_list lists[2];
};

struct smsc_ids *smsc_ids_new(void)
{
	struct smsc_ids *t = calloc(1, sizeof(*t));

	if (t && !(t->buckets = calloc(IDS_BUCKETS, sizeof(*t->buckets)))) {
		free(t);
		t = NULL;
	}
	return t;
}

void smsc_ids_free(struct smsc_ids *t)
{
	if (!t)
		return;
	for (size_t k = 0; k < 2; k++)
		while (t->lists[k].head)
			smsc_ids_remove(t, t->lists[k].head);
	free(t->buckets);
	free(t);
}

/* FNV-1a over carrier, a NUL, and the id. */
uint64_t smsc_ids_hash(const char *carrier_id, const char *upstream_id)
{
	uint64_t h = 1469598103934665603ULL;

	for (const char *p = carrier_id; *p; p++)
		h = (h ^ (uint8_t)*p) * 1099511628211ULL;
	h *= 1099511628211ULL;
	for (const char *p = upstream_id; *p; p++)
		h = (h ^ (uint8_t)*p) * 1099511628211ULL;
	return h;
}

struct smsc_idrec *smsc_ids_find(struct smsc_ids *t, enum smsc_id_kind kind, const char *carrier_id,
				 const char *upstream_id)
{
	uint64_t h = smsc_ids_hash(carrier_id, upstream_id);

	for (struct smsc_idrec *r = t->buckets[h & (IDS_BUCKETS - 1)]; r; r = r->chain)
		if (r->hash == h && r->kind == kind && strcmp(r->upstream_id, upstream_id) == 0 &&
		    strcmp(r->carrier_id, carrier_id) == 0)
			return r;
	return NULL;
}

struct smsc_idrec *smsc_ids_add(struct smsc_ids *t, enum smsc_id_kind kind, const char *carrier_id,
				const char *upstream_id, int64_t until_ms)
{
	struct ids_list *l = &t->lists[kind];
	struct smsc_idrec *r;

	if (l->n >= ids_cap[kind])
		smsc_ids_remove(t, l->head);
	if (!(r = calloc(1, sizeof(*r))))
		return NULL;
	r->kind = kind;
	r->hash = smsc_ids_hash(carrier_id, upstream_id);
	r->until_ms = until_ms;
	snprintf(r->carrier_id, sizeof(r->carrier_id), "%s", carrier_id);
	snprintf(r->upstream_id, sizeof(r->upstream_id), "%s", upstream_id);
	r->chain = t->buckets[r->hash & (IDS_BUCKETS - 1)];
	t->buckets[r->hash & (IDS_BUCKETS - 1)] = r;
	r->prev = l->tail;
	if (l->tail)
		l->tail->next = r;
	else
		l->head = r;
	l->tail = r;
	l->n++;
	return r;
}

void smsc_ids_remove(struct smsc_ids *t, struct smsc_idrec *r)
{
	struct ids_list *l = &t->lists[r->kind];
	struct smsc_idrec **pp = &t->buckets[r->hash & (IDS_BUCKETS - 1)];

	while (*pp != r)
		pp = &(*pp)->chain;
	*pp = r->chain;
	if (r->prev)
		r->prev->next = r->next;
	else
		l->head = r->next;
	if (r->next)
		r->next->prev = r->prev;
	else
		l->tail = r->prev;
	l->n--;
	free(r);
}

struct smsc_idrec *smsc_ids_oldest(struct smsc_ids *t, enum smsc_id_kind kind)
{
	return t->lists[kind].head;
}

size_t smsc_ids_count(const struct smsc_ids *t, enum smsc_id_kind kind)
{
	return t->lists[kind].n;
}
