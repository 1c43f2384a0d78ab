/*
 * metrics_render.c — Prometheus text exposition format 0.0.4.
 *
 * Families appear in registration order, children in creation order.  Label
 * values escape backslash, double quote and newline; HELP text escapes
 * backslash and newline, as the format specifies.  Histogram buckets are
 * stored per bucket and summed here into the cumulative "le" series.
 */
#include "core/core.h"
#include "core/metrics_private.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static int metrics_escape(struct buf *out, const char *s, bool quote)
{
	int rc = 0;

	for (; *s && rc == 0; s++) {
		if (*s == '\\')
			rc = buf_append(out, "\\\\", 2);
		else if (*s == '\n')
			rc = buf_append(out, "\\n", 2);
		else if (quote && *s == '"')
			rc = buf_append(out, "\\\"", 2);
		else
			rc = buf_append_char(out, *s);
	}
	return rc;
}

/* Shortest text that reads back as the same double. */
static void metrics_format_double(double d, char *out, size_t n)
{
	if (isinf(d)) {
		snprintf(out, n, d > 0 ? "+Inf" : "-Inf");
		return;
	}
	if (isnan(d)) {
		snprintf(out, n, "NaN");
		return;
	}
	/* Whole numbers as integers: "10", not the "1e+01" %g picks. */
	if (d == (double)(int64_t)d && fabs(d) < 1e15) {
		snprintf(out, n, "%" PRId64, (int64_t)d);
		return;
	}
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(out, n, "%.*g", prec, d);
		if (strtod(out, NULL) == d)
			return;
	}
}

/* {a="x",b="y"} with an optional extra pair (the histogram's le). */
static int metrics_render_labels(struct buf *out, const struct metric_family *f,
				 const struct metric *c, const char *le)
{
	int rc = 0;

	if (f->nlabels == 0 && !le)
		return 0;
	rc = buf_append_char(out, '{');
	for (size_t i = 0; i < f->nlabels && rc == 0; i++) {
		rc = buf_printf(out, "%s%s=\"", i ? "," : "", f->labels[i]);
		rc = rc ? rc : metrics_escape(out, c->values[i], true);
		rc = rc ? rc : buf_append_char(out, '"');
	}
	if (le && rc == 0)
		rc = buf_printf(out, "%sle=\"%s\"", f->nlabels ? "," : "", le);
	return rc ? rc : buf_append_char(out, '}');
}

static int metrics_render_histogram(struct buf *out, const struct metric_family *f,
				    struct metric *c)
{
	uint64_t cum = 0, count;
	char num[40];
	int rc = 0;

	for (size_t i = 0; i <= f->nbounds && rc == 0; i++) {
		cum += atomic_load_explicit(&c->buckets[i], memory_order_relaxed);
		metrics_format_double(i < f->nbounds ? f->bounds[i] : INFINITY, num, sizeof(num));
		rc = buf_printf(out, "%s_bucket", f->name);
		rc = rc ? rc : metrics_render_labels(out, f, c, num);
		rc = rc ? rc : buf_printf(out, " %" PRIu64 "\n", cum);
	}
	/* _count equals the +Inf bucket, so a scrape never sees them disagree. */
	count = cum;
	metrics_format_double(
	    metrics_bits_double(atomic_load_explicit(&c->sum_bits, memory_order_relaxed)), num,
	    sizeof(num));
	rc = rc ? rc : buf_printf(out, "%s_sum", f->name);
	rc = rc ? rc : metrics_render_labels(out, f, c, NULL);
	rc = rc ? rc : buf_printf(out, " %s\n%s_count", num, f->name);
	rc = rc ? rc : metrics_render_labels(out, f, c, NULL);
	rc = rc ? rc : buf_printf(out, " %" PRIu64 "\n", count);
	return rc;
}

static int metrics_render_family(struct buf *out, const struct metric_family *f)
{
	static const char *const types[] = {"counter", "gauge", "histogram"};
	int rc = buf_printf(out, "# HELP %s ", f->name);

	rc = rc ? rc : metrics_escape(out, f->help, false);
	rc = rc ? rc : buf_printf(out, "\n# TYPE %s %s\n", f->name, types[f->type]);
	if (f->read)
		return rc ? rc : buf_printf(out, "%s %" PRId64 "\n", f->name, f->read(f->read_arg));
	for (struct metric *c = f->children; c && rc == 0; c = c->next) {
		if (atomic_load_explicit(&c->hidden, memory_order_relaxed))
			continue;
		if (f->type == METRIC_HISTOGRAM) {
			rc = metrics_render_histogram(out, f, c);
			continue;
		}
		rc = buf_append_cstr(out, f->name);
		rc = rc ? rc : metrics_render_labels(out, f, c, NULL);
		rc = rc ? rc : buf_printf(out, " %" PRId64 "\n", metric_value(c));
	}
	return rc;
}

int metrics_render(struct metrics *m, struct buf *out)
{
	int rc = 0;

	if (!m)
		return -EINVAL;
	pthread_mutex_lock(&m->lock);
	for (struct metric_family *f = m->families; f && rc == 0; f = f->next)
		rc = metrics_render_family(out, f);
	pthread_mutex_unlock(&m->lock);
	return rc;
}
