/*
 * record_ring.c — the bounded ring that carries recorded packets from a
 * relay worker to the recording writer thread.
 *
 * One producer (the worker that owns the ring) and one consumer (the
 * writer).  Every slot is allocated by media_recq_init, so queueing a
 * packet never allocates; the producer never waits: when the writer has
 * fallen behind (a slow or full disk) the record is refused and counted,
 * and the packet itself is relayed all the same.  head and tail only grow;
 * a slot's index is the counter modulo the power-of-two capacity.
 */
#include "media/media_private.h"

#include <errno.h>
#include <stdlib.h>

int media_recq_init(struct media_recq *q, uint32_t cap)
{
	uint32_t n = 1;

	if (cap == 0 || cap > (1u << 20))
		return -EINVAL;
	while (n < cap)
		n <<= 1;
	q->slot = calloc(n, sizeof(*q->slot));
	if (!q->slot)
		return -ENOMEM;
	q->cap = n;
	atomic_init(&q->head, 0);
	atomic_init(&q->tail, 0);
	atomic_init(&q->dropped, 0);
	return 0;
}

void media_recq_fini(struct media_recq *q)
{
	free(q->slot);
	q->slot = NULL;
	q->cap = 0;
}

/* hot path: no allocation, no locks, no I/O */
struct media_rec_slot *media_recq_reserve(struct media_recq *q)
{
	uint64_t head = atomic_load_explicit(&q->head, memory_order_relaxed);
	/* acquire: the consumer is done with the slot it released. */
	uint64_t tail = atomic_load_explicit(&q->tail, memory_order_acquire);

	if (!q->slot || head - tail >= q->cap) {
		atomic_fetch_add_explicit(&q->dropped, 1, memory_order_relaxed);
		return NULL;
	}
	return &q->slot[head & (q->cap - 1)];
}

/* hot path: no allocation, no locks, no I/O */
void media_recq_commit(struct media_recq *q)
{
	/* release: the slot's contents are visible before the new head. */
	atomic_fetch_add_explicit(&q->head, 1, memory_order_release);
}

struct media_rec_slot *media_recq_peek(struct media_recq *q)
{
	uint64_t tail = atomic_load_explicit(&q->tail, memory_order_relaxed);

	if (!q->slot || atomic_load_explicit(&q->head, memory_order_acquire) == tail)
		return NULL;
	return &q->slot[tail & (q->cap - 1)];
}

void media_recq_pop(struct media_recq *q)
{
	atomic_fetch_add_explicit(&q->tail, 1, memory_order_release);
}
