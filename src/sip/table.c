/*
 * table.c — the intrusive hash table each SIP worker keeps its server and
 * client transactions and its calls in.  A worker owns its tables: no
 * locks.  Buckets are fixed (SIP_TABLE_BUCKETS) and chained, so a table
 * never reallocates while the packet path walks it.
 */
#include "sip/proxy_private.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* FNV-1a, 64 bits: keys are branches and Call-IDs, already random. */
uint64_t sip_hash(struct str s)
{
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < s.len; i++) {
		h ^= (unsigned char)s.p[i];
		h *= 1099511628211ULL;
	}
	return h;
}

int sip_table_add(struct sip_table *t, struct sip_entry *e, struct str key)
{
	size_t n = key.len < SIP_KEY_MAX ? key.len : SIP_KEY_MAX;
	/* At its length: a held call's Call-ID is ~40 bytes, not SIP_KEY_MAX. */
	e->key = malloc(n ? n : 1);
	if (!e->key)
		return -ENOMEM;
	if (n)
		memcpy(e->key, key.p, n);
	e->klen = n;
	e->hash = sip_hash((struct str){e->key, n});
	struct sip_entry **b = &t->b[e->hash % SIP_TABLE_BUCKETS];
	e->next = *b;
	*b = e;
	t->n++;
	return 0;
}

struct sip_entry *sip_table_find(struct sip_table *t, struct str key)
{
	if (key.len > SIP_KEY_MAX)
		key.len = SIP_KEY_MAX;
	uint64_t h = sip_hash(key);
	for (struct sip_entry *e = t->b[h % SIP_TABLE_BUCKETS]; e; e = e->next)
		if (e->hash == h && e->klen == key.len && memcmp(e->key, key.p, key.len) == 0)
			return e;
	return NULL;
}

void sip_table_del(struct sip_table *t, struct sip_entry *e)
{
	struct sip_entry **pp = &t->b[e->hash % SIP_TABLE_BUCKETS];
	while (*pp && *pp != e)
		pp = &(*pp)->next;
	if (*pp) {
		*pp = e->next;
		t->n--;
	}
	e->next = NULL;
	free(e->key);
	e->key = NULL;
	e->klen = 0;
}

void sip_table_each(struct sip_table *t, void (*fn)(struct sip_entry *e, void *arg), void *arg)
{
	for (size_t i = 0; i < SIP_TABLE_BUCKETS; i++) {
		struct sip_entry *e = t->b[i];
		while (e) {
			struct sip_entry *next = e->next;
			fn(e, arg);
			e = next;
		}
	}
}
