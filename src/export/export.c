/*
 * export.c — the export thread: one lane per exported table, each stepped
 * in turn (insertAll batches or closed periods' files), a failed lane
 * waiting its backoff while the others go on, and a pause of [export] poll
 * when every lane is idle.  Failures are counted in
 * warp_export_failures_total{table,mode,reason}, in the cursor's row and
 * logged; progress in warp_export_rows_total, warp_export_rows_behind and
 * warp_export_last_success_timestamp_seconds.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "export/export_private.h"

static const char *const fail_names[EXPORT_FAIL_N] = {
    [EXPORT_FAIL_NETWORK] = "network",	 [EXPORT_FAIL_HTTP_429] = "http_429",
    [EXPORT_FAIL_HTTP_5XX] = "http_5xx", [EXPORT_FAIL_HTTP_4XX] = "http_4xx",
    [EXPORT_FAIL_AUTH] = "auth",	 [EXPORT_FAIL_STORE] = "store",
    [EXPORT_FAIL_JOB] = "job",		 [EXPORT_FAIL_FILE] = "file",
};

static const char *mode_name(enum export_mode m)
{
	return m == EXPORT_MODE_FILES ? "files" : "stream";
}

bool export_sleep(struct export *x, int64_t ms)
{
	return stop_signal_sleep(&x->stop, ms);
}

void export_lane_failed(struct export *x, struct export_lane *l, enum export_fail why,
			const char *fmt, ...)
{
	char msg[EXPORT_ERR_MAX];
	va_list ap;
	uint32_t rnd = 0;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	metric_inc(l->fail[why]);
	random_bytes(&rnd, sizeof(rnd));
	int64_t wait = export_backoff_next(&l->backoff, rnd);
	l->next_try_ms = time_mono_ms() + wait;
	/* the first failure of a run at warn, the rest at info: one line per
	 * attempt, but an outage does not flood the log at warn */
	log_msg(l->backoff.failures == 1 ? LOG_WARN : LOG_INFO, "export",
		"%s: %s (%s; attempt %u, next in %lld ms)", l->cur.stream, msg, fail_names[why],
		l->backoff.failures, (long long)wait);
	struct store_conn *c = store_conn(x->o.store);
	if (c && why != EXPORT_FAIL_STORE)
		export_cursor_failed(c, l->cur.stream, msg, time_wall_ms());
}

void export_lane_moved(struct export *x, struct export_lane *l, int64_t rows, int64_t quarantined)
{
	(void)x;
	if (l->backoff.failures)
		log_info("export", "%s: exporting again", l->cur.stream);
	export_backoff_reset(&l->backoff);
	l->next_try_ms = 0;
	metric_add(l->rows, rows);
	metric_add(l->quarantined, quarantined);
	int64_t behind = metric_value(l->behind) - rows - quarantined;
	metric_set(l->behind, behind > 0 ? behind : 0);
	metric_set(l->last_success, time_wall_ms() / 1000);
}

const char *export_bearer(struct export *x, struct export_lane *l)
{
	char err[EXPORT_ERR_MAX];
	const char *bearer = NULL;

	if (!x->have_token)
		return "";
	if (export_token_get(&x->token, &x->http, time_wall_ms(), &bearer, err, sizeof(err)) < 0) {
		export_lane_failed(x, l, EXPORT_FAIL_AUTH, "%s", err);
		return NULL;
	}
	return bearer;
}

void export_http_failed(struct export *x, struct export_lane *l, const char *what,
			const struct export_http_resp *r)
{
	const char *body = r->body.len ? r->body.p : "";

	if (r->status == 0)
		export_lane_failed(x, l, EXPORT_FAIL_NETWORK, "%s: %s", what, r->err);
	else if (r->status == 401) {
		export_token_drop(&x->token);
		export_lane_failed(x, l, EXPORT_FAIL_AUTH, "%s answered 401", what);
	} else
		export_lane_failed(x, l,
				   r->status == 429   ? EXPORT_FAIL_HTTP_429
				   : r->status >= 500 ? EXPORT_FAIL_HTTP_5XX
						      : EXPORT_FAIL_HTTP_4XX,
				   "%s answered %ld: %.160s", what, r->status, body);
}

/* How often rows behind are counted while a lane moves (a count reads the
 * index from the cursor on: every batch, it made a backlog's export
 * quadratic); in between the gauge goes down by the rows taken. */
#define EXPORT_COUNT_EVERY_MS 5000

/* warp_export_rows_behind: ready rows after the cursor (streaming), or
 * rows at or after it (files: the open period included). */
static void lane_behind(struct export *x, struct export_lane *l)
{
	struct store_conn *c = store_conn(x->o.store);
	struct store_res *r = NULL;
	struct store_param p[2] = {store_p_int(l->cur.ts), store_p_text(l->cur.id)};

	if (x->o.mode == EXPORT_MODE_FILES)
		p[1] = store_p_text("");
	if (c && export_behind_sql(l->table, &x->sql) == 0 &&
	    store_exec(c, x->sql.p, p, 2, &r) == 0 && store_res_rows(r) == 1)
		metric_set(l->behind, store_res_int(r, 0, 0));
	store_res_free(r);
}

/* One step of each lane due; true when any of them moved. */
static bool export_round(struct export *x)
{
	bool moved = false;

	for (size_t i = 0; i < x->nlanes && !stop_signal_raised(&x->stop); i++) {
		struct export_lane *l = &x->lanes[i];
		if (l->next_try_ms && time_mono_ms() < l->next_try_ms)
			continue;
		if (!l->cur.stream[0]) {
			char name[EXPORT_STREAM_NAME_MAX];
			struct store_conn *c = store_conn(x->o.store);
			snprintf(name, sizeof(name), "%s:%s", mode_name(x->o.mode), l->table->name);
			if (!c || export_cursor_load(c, name, &l->cur) < 0) {
				snprintf(l->cur.stream, sizeof(l->cur.stream), "%s", "");
				continue; /* the store is down: the next round tries */
			}
		}
		int64_t now = time_wall_ms();
		enum export_step s = x->o.mode == EXPORT_MODE_FILES ? export_files_step(x, l, now)
								    : export_stream_step(x, l, now);
		moved |= s == EXPORT_MOVED;
		if (s == EXPORT_IDLE || (s == EXPORT_MOVED &&
					 time_mono_ms() - l->counted_ms >= EXPORT_COUNT_EVERY_MS)) {
			lane_behind(x, l);
			l->counted_ms = time_mono_ms();
		}
	}
	return moved;
}

static void *export_main(void *arg)
{
	struct export *x = arg;

	log_context_set("export");
	/* a background batch: when the cores are busy, the rater (and every
	 * other thread of the process) goes first (Linux: a thread's nice
	 * value is its own, setpriority(2) on its tid) */
	if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 10) < 0)
		log_info("export", "cannot lower the export thread's priority: %s",
			 strerror(errno));
	log_info("export", "exporting %s to BigQuery %s.%s by %s", x->o.tables, x->o.project,
		 x->o.dataset, mode_name(x->o.mode));
	while (!stop_signal_raised(&x->stop)) {
		if (!export_round(x) && !export_sleep(x, x->o.poll_ms))
			break;
	}
	store_conn_release(x->o.store);
	return NULL;
}

static int lane_metrics(struct export_lane *l, enum export_mode mode)
{
	struct metrics *m = metrics_default();
	const char *t = l->table->name, *md = mode_name(mode);
	struct metric_family *rows = metrics_counter(
	    m, "warp_export_rows_total", "Rows BigQuery took, by table and mode.", "table,mode");
	struct metric_family *behind = metrics_gauge(m, "warp_export_rows_behind",
						     "Ready rows not exported yet.", "table,mode");
	struct metric_family *last = metrics_gauge(
	    m, "warp_export_last_success_timestamp_seconds",
	    "When the last batch or file was taken (epoch seconds; 0: not since start).",
	    "table,mode");
	struct metric_family *quar =
	    metrics_counter(m, "warp_export_quarantined_total",
			    "Rows BigQuery refused, kept in export_quarantine.", "table,mode");
	struct metric_family *fail =
	    metrics_counter(m, "warp_export_failures_total", "Failed export attempts, by reason.",
			    "table,mode,reason");

	if (!rows || !behind || !last || !quar || !fail)
		return -ENOMEM;
	l->rows = metric_get(rows, t, md);
	l->behind = metric_get(behind, t, md);
	l->last_success = metric_get(last, t, md);
	l->quarantined = metric_get(quar, t, md);
	for (int i = 0; i < EXPORT_FAIL_N; i++)
		if (!(l->fail[i] = metric_get(fail, t, md, fail_names[i])))
			return -ENOMEM;
	return l->rows && l->behind && l->last_success && l->quarantined ? 0 : -ENOMEM;
}

/* BigQuery ids go into URL paths unescaped: letters, digits, _ and -. */
static bool export_id_ok(const char *s)
{
	if (!s || !s[0])
		return false;
	for (; *s; s++)
		if (!(*s == '_' || *s == '-' || (*s >= 'a' && *s <= 'z') ||
		      (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9')))
			return false;
	return true;
}

static int export_lanes(struct export *x, char *err, size_t errlen)
{
	struct str rest = str_from_cstr(x->o.tables);

	x->lanes = calloc(8, sizeof(*x->lanes));
	while (x->lanes && rest.len > 0) {
		ptrdiff_t comma = str_index(rest, ',');
		struct str name =
		    str_trim((struct str){rest.p, comma < 0 ? rest.len : (size_t)comma});
		rest = comma < 0 ? STR_NULL
				 : (struct str){rest.p + comma + 1, rest.len - (size_t)comma - 1};
		if (!name.len)
			continue;
		const struct export_table *t = export_table_find(name);
		if (!t || x->nlanes == 8) {
			snprintf(err, errlen,
				 "[export] tables: unknown table '%.*s' (cdrs, messages)",
				 STR_FMT(name));
			return -EINVAL;
		}
		struct export_lane *l = &x->lanes[x->nlanes++];
		l->table = t;
		l->backoff = (struct export_backoff){x->o.backoff_base_ms, x->o.backoff_max_ms, 0};
		if (lane_metrics(l, x->o.mode) < 0)
			return -ENOMEM;
	}
	if (!x->lanes || !x->nlanes)
		snprintf(err, errlen, "[export] tables: no table named");
	return x->lanes && x->nlanes ? 0 : -EINVAL;
}

static int export_check(const struct export_opts *o, bool remote, char *err, size_t errlen)
{
	if (remote && (!export_id_ok(o->project) || !export_id_ok(o->dataset))) {
		snprintf(err, errlen,
			 "[export] project and dataset must be set (letters, digits, "
			 "'_' and '-')");
		return -EINVAL;
	}
	if (remote && !o->key_file[0]) {
		snprintf(err, errlen, "[export] key_file: a service-account key file is needed");
		return -EINVAL;
	}
	if (o->batch_rows < 1 || o->batch_rows > EXPORT_STREAM_ROWS_MAX) {
		snprintf(err, errlen, "[export] batch_rows: 1..%d", EXPORT_STREAM_ROWS_MAX);
		return -EINVAL;
	}
	if (o->inflight < 1 || o->inflight > EXPORT_INFLIGHT_MAX) {
		snprintf(err, errlen, "[export] inflight: 1..%d", EXPORT_INFLIGHT_MAX);
		return -EINVAL;
	}
	return 0;
}

struct export *export_new(const struct export_opts *o, char *err, size_t errlen)
{
	bool remote = o->mode == EXPORT_MODE_STREAM || o->load;
	struct export *x = calloc(1, sizeof(*x));

	if (!x) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	x->o = *o;
	buf_init(&x->sql);
	buf_init(&x->body);
	buf_init(&x->scratch);
	for (size_t i = 0; i < EXPORT_INFLIGHT_MAX; i++)
		buf_init(&x->bodies[i]);
	stop_signal_init(&x->stop);
	if (export_check(o, remote, err, errlen) < 0 || export_lanes(x, err, errlen) < 0)
		goto fail;
	if (remote && export_token_init(&x->token, o->key_file, o->token_url, err, errlen) < 0)
		goto fail;
	x->have_token = remote;
	if (export_http_init(&x->http, o->ca_file, o->timeout_ms, &x->stop.stop) < 0) {
		snprintf(err, errlen, "cannot make an HTTP client");
		goto fail;
	}
	return x;
fail:
	export_free(x);
	return NULL;
}

int export_start(struct export *x)
{
	if (pthread_create(&x->thread, NULL, export_main, x) != 0)
		return -EAGAIN;
	x->started = true;
	return 0;
}

void export_free(struct export *x)
{
	if (!x)
		return;
	if (x->started) {
		stop_signal_raise(&x->stop);
		pthread_join(x->thread, NULL);
	}
	export_http_fini(&x->http);
	if (x->have_token)
		export_token_fini(&x->token);
	free(x->lanes);
	buf_fini(&x->sql);
	buf_fini(&x->body);
	buf_fini(&x->scratch);
	for (size_t i = 0; i < EXPORT_INFLIGHT_MAX; i++)
		buf_fini(&x->bodies[i]);
	stop_signal_fini(&x->stop);
	free(x);
}
