/*
 * metrics.c — a metrics registry rendered as Prometheus text format 0.0.4.
 *
 * A registry holds families (name, help, type, label names) in registration
 * order; each family holds children, one per combination of label values,
 * created on first use under the registry's lock and kept until the
 * registry is freed.  Callers look a child up once and keep the pointer:
 * updates are then relaxed atomic operations with no lock, fit for hot
 * paths.  A histogram child keeps one non-cumulative count per bucket; the
 * cumulative "le" series is computed when rendering.
 */
#include "core/core.h"
#include "core/metrics_private.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct metrics *metrics_new(void)
{
	struct metrics *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	pthread_mutex_init(&m->lock, NULL);
	m->families_tail = &m->families;
	return m;
}

static void metrics_child_free(struct metric *c, size_t nlabels)
{
	for (size_t i = 0; c->values && i < nlabels; i++)
		free(c->values[i]);
	free(c->values);
	free((void *)c->buckets);
	free(c);
}

static void metrics_family_free(struct metric_family *f)
{
	struct metric *c = f->children;

	while (c) {
		struct metric *next = c->next;
		metrics_child_free(c, f->nlabels);
		c = next;
	}
	for (size_t i = 0; i < f->nlabels; i++)
		free(f->labels[i]);
	free(f->bounds);
	free(f->help);
	free(f->name);
	free(f);
}

void metrics_free(struct metrics *m)
{
	struct metric_family *f;

	if (!m)
		return;
	f = m->families;
	while (f) {
		struct metric_family *next = f->next;
		metrics_family_free(f);
		f = next;
	}
	pthread_mutex_destroy(&m->lock);
	free(m);
}

static struct metrics *metrics_default_registry;
static pthread_once_t metrics_default_once = PTHREAD_ONCE_INIT;

static void metrics_default_create(void)
{
	metrics_default_registry = metrics_new();
}

struct metrics *metrics_default(void)
{
	pthread_once(&metrics_default_once, metrics_default_create);
	return metrics_default_registry;
}

static struct metric *metrics_child_new(struct metric_family *f, const char *const *values);

/* ----------------------------------------------------- registration */

static bool metrics_name_ok(const char *s, bool colon)
{
	if (!s || !*s || (*s >= '0' && *s <= '9'))
		return false;
	for (; *s; s++) {
		char c = *s;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || (colon && c == ':')))
			return false;
	}
	return true;
}

/* Splits "a,b" into f->labels; histograms may not use "le" (it is theirs). */
static int metrics_labels_parse(struct metric_family *f, const char *labels)
{
	struct str rest = str_from_cstr(labels);

	while (rest.len > 0) {
		ptrdiff_t comma = str_index(rest, ',');
		struct str one =
		    str_trim((struct str){rest.p, comma < 0 ? rest.len : (size_t)comma});
		if (f->nlabels == METRICS_MAX_LABELS)
			return -E2BIG;
		f->labels[f->nlabels] = str_dup(one);
		if (!f->labels[f->nlabels])
			return -ENOMEM;
		if (!metrics_name_ok(f->labels[f->nlabels++], false) ||
		    (f->type == METRIC_HISTOGRAM && one.len == 2 && memcmp(one.p, "le", 2) == 0))
			return -EINVAL;
		if (comma < 0)
			break;
		rest.p += comma + 1;
		rest.len -= (size_t)comma + 1;
	}
	return 0;
}

static bool metrics_family_same(const struct metric_family *a, const struct metric_family *b)
{
	if (a->type != b->type || a->nlabels != b->nlabels || a->nbounds != b->nbounds ||
	    (a->read != NULL) != (b->read != NULL))
		return false;
	for (size_t i = 0; i < a->nlabels; i++)
		if (strcmp(a->labels[i], b->labels[i]) != 0)
			return false;
	for (size_t i = 0; i < a->nbounds; i++)
		if (a->bounds[i] != b->bounds[i])
			return false;
	return true;
}

static struct metric_family *metrics_find(struct metrics *m, const char *name)
{
	for (struct metric_family *f = m->families; f; f = f->next)
		if (strcmp(f->name, name) == 0)
			return f;
	return NULL;
}

static int metrics_bounds_copy(struct metric_family *f, const double *bounds, size_t n)
{
	if (n == 0)
		return 0;
	f->bounds = malloc(n * sizeof(double));
	if (!f->bounds)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (isnan(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1]))
			return -EINVAL;
		f->bounds[i] = bounds[i];
	}
	f->nbounds = n;
	return 0;
}

static struct metric_family *metrics_family_build(const char *name, const char *help,
						  enum metric_type type, const char *labels,
						  const double *bounds, size_t nbounds)
{
	struct metric_family *f = calloc(1, sizeof(*f));

	if (!f || !metrics_name_ok(name, true))
		goto fail;
	f->type = type;
	f->children_tail = &f->children;
	f->name = str_dup(str_from_cstr(name));
	f->help = str_dup(str_from_cstr(help ? help : ""));
	if (!f->name || !f->help || metrics_labels_parse(f, labels) < 0 ||
	    metrics_bounds_copy(f, bounds, nbounds) < 0)
		goto fail;
	/* A family without labels has exactly one child: create it now so the
	 * family renders a value (0) before its first update. */
	if (f->nlabels == 0) {
		f->children = metrics_child_new(f, NULL);
		if (!f->children)
			goto fail;
		f->children_tail = &f->children->next;
	}
	return f;
fail:
	if (f)
		metrics_family_free(f);
	return NULL;
}

/* Adds f, or returns the family already registered under its name when it
 * agrees (f is then freed), or NULL when it conflicts. */
static struct metric_family *metrics_register(struct metrics *m, struct metric_family *f)
{
	struct metric_family *old;

	if (!m || !f) {
		if (f)
			metrics_family_free(f);
		return NULL;
	}
	pthread_mutex_lock(&m->lock);
	old = metrics_find(m, f->name);
	if (!old) {
		f->registry = m;
		*m->families_tail = f;
		m->families_tail = &f->next;
	}
	pthread_mutex_unlock(&m->lock);
	if (!old)
		return f;
	old = metrics_family_same(old, f) ? old : NULL;
	metrics_family_free(f);
	return old;
}

struct metric_family *metrics_counter(struct metrics *m, const char *name, const char *help,
				      const char *labels)
{
	return metrics_register(m,
				metrics_family_build(name, help, METRIC_COUNTER, labels, NULL, 0));
}

struct metric_family *metrics_gauge(struct metrics *m, const char *name, const char *help,
				    const char *labels)
{
	return metrics_register(m, metrics_family_build(name, help, METRIC_GAUGE, labels, NULL, 0));
}

struct metric_family *metrics_histogram(struct metrics *m, const char *name, const char *help,
					const char *labels, const double *bounds, size_t nbounds)
{
	return metrics_register(
	    m, metrics_family_build(name, help, METRIC_HISTOGRAM, labels, bounds, nbounds));
}

int metrics_gauge_fn(struct metrics *m, const char *name, const char *help,
		     int64_t (*read)(void *arg), void *arg)
{
	struct metric_family *f, *got;

	if (!read)
		return -EINVAL;
	f = metrics_family_build(name, help, METRIC_GAUGE, NULL, NULL, 0);
	if (!f)
		return -EINVAL;
	f->read = read;
	f->read_arg = arg;
	got = metrics_register(m, f);
	if (got != f)
		return -EEXIST;
	return 0;
}

/* ----------------------------------------------------------- children */

static bool metrics_child_matches(const struct metric *c, const char *const *values, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(c->values[i], values[i]) != 0)
			return false;
	return true;
}

static struct metric *metrics_child_new(struct metric_family *f, const char *const *values)
{
	struct metric *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->family = f;
	c->values = calloc(f->nlabels ? f->nlabels : 1, sizeof(char *));
	if (!c->values)
		goto fail;
	for (size_t i = 0; i < f->nlabels; i++)
		if (!(c->values[i] = str_dup(str_from_cstr(values[i]))))
			goto fail;
	if (f->type == METRIC_HISTOGRAM) {
		c->buckets = calloc(f->nbounds + 1, sizeof(*c->buckets));
		if (!c->buckets)
			goto fail;
	}
	return c;
fail:
	metrics_child_free(c, f->nlabels);
	return NULL;
}

struct metric *metric_getv(struct metric_family *f, const char *const *values, size_t n)
{
	struct metric *c;

	if (!f)
		return NULL;
	if (n != f->nlabels || f->read) {
		log_error("metrics", "%s: %zu label values for %zu labels", f->name, n, f->nlabels);
		abort();
	}
	for (size_t i = 0; i < n; i++)
		if (!values[i])
			abort();
	pthread_mutex_lock(&f->registry->lock);
	for (c = f->children; c; c = c->next)
		if (metrics_child_matches(c, values, n))
			break;
	if (!c && (c = metrics_child_new(f, values))) {
		*f->children_tail = c;
		f->children_tail = &c->next;
	}
	pthread_mutex_unlock(&f->registry->lock);
	return c;
}

struct metric *metric_get(struct metric_family *f, ...)
{
	const char *values[METRICS_MAX_LABELS];
	va_list ap;

	if (!f)
		return NULL;
	va_start(ap, f);
	for (size_t i = 0; i < f->nlabels; i++)
		values[i] = va_arg(ap, const char *);
	va_end(ap);
	return metric_getv(f, values, f->nlabels);
}

/* hot path: no allocation, no locks, no I/O */
void metric_inc(struct metric *m)
{
	metric_add(m, 1);
}

void metric_add(struct metric *m, int64_t delta)
{
	if (m && m->family->type != METRIC_HISTOGRAM)
		atomic_fetch_add_explicit(&m->value, delta, memory_order_relaxed);
}

void metric_set(struct metric *m, int64_t value)
{
	if (m && m->family->type == METRIC_GAUGE)
		atomic_store_explicit(&m->value, value, memory_order_relaxed);
}

void metric_hide(struct metric *m, bool hidden)
{
	if (m)
		atomic_store_explicit(&m->hidden, hidden, memory_order_relaxed);
}

void metrics_family_hide_unless(struct metric_family *f,
				bool (*keep)(const char *const *values, void *arg), void *arg)
{
	if (!f || f->read)
		return;
	pthread_mutex_lock(&f->registry->lock);
	for (struct metric *c = f->children; c; c = c->next)
		if (!keep((const char *const *)c->values, arg))
			metric_hide(c, true);
	pthread_mutex_unlock(&f->registry->lock);
}

int64_t metric_value(const struct metric *m)
{
	return m ? atomic_load_explicit(&((struct metric *)m)->value, memory_order_relaxed) : 0;
}

void metric_observe(struct metric *m, double value)
{
	const struct metric_family *f;
	size_t i = 0;
	uint64_t old;

	if (!m || m->family->type != METRIC_HISTOGRAM || isnan(value))
		return;
	f = m->family;
	while (i < f->nbounds && value > f->bounds[i])
		i++;
	atomic_fetch_add_explicit(&m->buckets[i], 1, memory_order_relaxed);
	old = atomic_load_explicit(&m->sum_bits, memory_order_relaxed);
	while (!atomic_compare_exchange_weak_explicit(
	    &m->sum_bits, &old, metrics_double_bits(metrics_bits_double(old) + value),
	    memory_order_relaxed, memory_order_relaxed))
		;
}
