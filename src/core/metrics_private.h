/*
 * metrics_private.h — the registry's data, shared by metrics.c (registration
 * and updates) and metrics_render.c (text exposition).  Private to core/.
 */
#ifndef WARP_CORE_METRICS_PRIVATE_H
#define WARP_CORE_METRICS_PRIVATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#define METRICS_MAX_LABELS 8

struct metric {
	struct metric *next;
	struct metric_family *family;
	char **values;
	_Atomic int64_t value;	   /* counters and gauges */
	_Atomic uint64_t *buckets; /* histograms: nbounds + 1 counts, not cumulative */
	_Atomic uint64_t sum_bits; /* histograms: a double's bits, updated by CAS */
	atomic_bool hidden;	   /* metric_hide: kept, not rendered */
};

struct metric_family {
	struct metric_family *next;
	struct metrics *registry;
	char *name;
	char *help;
	enum metric_type type;
	char *labels[METRICS_MAX_LABELS];
	size_t nlabels;
	double *bounds;
	size_t nbounds;
	int64_t (*read)(void *arg); /* gauge_fn families */
	void *read_arg;
	struct metric *children, **children_tail;
};

struct metrics {
	pthread_mutex_t lock;
	struct metric_family *families, **families_tail;
};

static inline uint64_t metrics_double_bits(double d)
{
	uint64_t u;

	memcpy(&u, &d, sizeof(u));
	return u;
}

static inline double metrics_bits_double(uint64_t u)
{
	double d;

	memcpy(&d, &u, sizeof(d));
	return d;
}

#endif
