/*
 * files.c — load files: for each closed period (hour or day, in UTC, by the
 * row's cursor time) of a lane, every ready row of it as one line of
 * newline-delimited JSON in <dir>/<table>/<table>-<period>.ndjson, written
 * atomically (a temporary file, fsync, rename, fsync of the folder), with
 * the table's schema beside it in <table>.schema.json; then, with [export]
 * load, a load job (load.c) whose id is recorded in the cursor before it is
 * started, so that a restart asks BigQuery about that job instead of
 * loading the file twice.  A period is closed once its end is [export]
 * settle in the past.  The file of a period is the same bytes each time it
 * is written, so writing it again after a crash is harmless.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "export/export_private.h"

#define HOUR_MS 3600000LL
#define DAY_MS (24 * HOUR_MS)
#define FILES_SELECT_ROWS 20000
#define FILES_FLUSH_BYTES (1 << 20)

void export_period_of(enum export_period p, int64_t ts, int64_t *start, int64_t *end, char *name,
		      size_t n)
{
	int64_t len = p == EXPORT_PERIOD_DAY ? DAY_MS : HOUR_MS;
	int64_t s = ts >= 0 ? ts / len * len : (ts - len + 1) / len * len;
	time_t secs = (time_t)(s / 1000);
	struct tm tm;

	gmtime_r(&secs, &tm);
	*start = s;
	*end = s + len;
	if (p == EXPORT_PERIOD_DAY)
		snprintf(name, n, "%04d%02d%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
	else
		snprintf(name, n, "%04d%02d%02d%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
			 tm.tm_hour);
}

static int files_mkdir(const char *path)
{
	return mkdir(path, 0755) == 0 || errno == EEXIST ? 0 : -errno;
}

static int files_fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY);
	int rc = fd >= 0 && fsync(fd) == 0 ? 0 : -errno;

	if (fd >= 0)
		close(fd);
	return rc;
}

/* Writes len bytes to path atomically: path.tmp, fsync, rename, folder. */
static int files_commit(FILE *f, const char *tmp, const char *path, const char *dir)
{
	int rc = fflush(f) == 0 && fsync(fileno(f)) == 0 ? 0 : -errno;

	if (fclose(f) != 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, path) != 0)
		rc = -errno;
	if (rc < 0)
		unlink(tmp);
	return rc ? rc : files_fsync_dir(dir);
}

static int files_schema(struct export *x, const struct export_table *t, const char *dir)
{
	char path[4096], tmp[4200];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s.schema.json", dir, t->name);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	buf_reset(&x->scratch);
	if (export_schema_json(t, &x->scratch) < 0 || buf_append_char(&x->scratch, '\n') < 0)
		return -ENOMEM;
	if (!(f = fopen(tmp, "w")))
		return -errno;
	if (fwrite(x->scratch.p, 1, x->scratch.len, f) != x->scratch.len) {
		fclose(f);
		unlink(tmp);
		return -EIO;
	}
	return files_commit(f, tmp, path, dir);
}

/* Appends rows of the period after the keyset (ts, id) to f, a select of
 * FILES_SELECT_ROWS at a time; *rows counts them. */
static int files_rows(struct export *x, struct export_lane *l, struct store_conn *c, FILE *f,
		      int64_t start, int64_t end, int64_t *rows)
{
	int64_t ts = start;
	char id[EXPORT_CURSOR_ID_MAX] = "";
	size_t got;
	int rc = export_select_sql(l->table, &x->sql);

	*rows = 0;
	do {
		struct store_res *r = NULL;
		struct store_param p[4] = {store_p_int(ts), store_p_text(id), store_p_int(end),
					   store_p_int(FILES_SELECT_ROWS)};
		/* (ts, id) > (start, ""): every id is longer than "" */
		rc = rc ? rc : store_exec(c, x->sql.p, p, 4, &r);
		got = rc ? 0 : store_res_rows(r);
		buf_reset(&x->body);
		for (size_t i = 0; rc == 0 && i < got; i++) {
			rc = export_row_encode(l->table, r, i, &x->body);
			rc = rc ? rc : buf_append_char(&x->body, '\n');
			if (rc == 0 && (x->body.len >= FILES_FLUSH_BYTES || i + 1 == got)) {
				rc = fwrite(x->body.p, 1, x->body.len, f) == x->body.len ? 0 : -EIO;
				buf_reset(&x->body);
			}
		}
		if (rc == 0 && got > 0) {
			ts = store_res_int(r, got - 1, 0);
			snprintf(id, sizeof(id), "%s", store_res_text(r, got - 1, 1));
			*rows += (int64_t)got;
		}
		store_res_free(r);
	} while (rc == 0 && got == FILES_SELECT_ROWS && !stop_signal_raised(&x->stop));
	return rc ? rc : (stop_signal_raised(&x->stop) ? -EINTR : 0);
}

static int files_write(struct export *x, struct export_lane *l, struct store_conn *c, int64_t start,
		       int64_t end, const char *dir, const char *path, int64_t *rows)
{
	char tmp[4200];

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	if (!f)
		return -errno;
	int rc = files_rows(x, l, c, f, start, end, rows);
	if (rc < 0) {
		fclose(f);
		unlink(tmp);
		return rc;
	}
	return files_commit(f, tmp, path, dir);
}

/* The first ready row at or after the cursor; 0 with *ts, or -ENOENT. */
static int files_next(struct export *x, struct export_lane *l, struct store_conn *c, int64_t *ts)
{
	struct store_res *r = NULL;
	struct store_param p = store_p_int(l->cur.ts);
	int rc = export_next_sql(l->table, &x->sql);

	rc = rc ? rc : store_exec(c, x->sql.p, &p, 1, &r);
	if (rc == 0 && (store_res_rows(r) != 1 || store_res_isnull(r, 0, 0)))
		rc = -ENOENT;
	if (rc == 0)
		*ts = store_res_int(r, 0, 0);
	store_res_free(r);
	return rc;
}

/* The job of this period's attempt n: a valid BigQuery job id. */
static void files_job_id(struct export *x, struct export_lane *l, const char *period, int n,
			 char *out, size_t len)
{
	snprintf(out, len, "warp_%s_%s_%s_%d", x->o.dataset, l->table->name, period, n);
}

/* The attempt number of a job id files_job_id made, 1 for none. */
static int files_job_attempt(const char *job)
{
	const char *u = strrchr(job, '_');
	long n = u && u[1] ? strtol(u + 1, NULL, 10) : 0;
	return n > 0 && n < 1000000 ? (int)n : 0;
}

/* Loads the written file; moves the cursor to the period's end when done. */
static enum export_step files_load(struct export *x, struct export_lane *l, struct store_conn *c,
				   int64_t start, int64_t end, const char *period, const char *path,
				   int64_t rows)
{
	char job[EXPORT_CURSOR_ID_MAX], why[EXPORT_ERR_MAX];
	int n = files_job_attempt(l->cur.id);
	int64_t now = time_wall_ms();

	files_job_id(x, l, period, n > 0 ? n : 1, job, sizeof(job));
	if (strcmp(job, l->cur.id) != 0 && export_cursor_job(c, &l->cur, start, job, now) < 0) {
		export_lane_failed(x, l, EXPORT_FAIL_STORE, "cursor: %s", store_conn_errmsg(c));
		return EXPORT_FAILED;
	}
	int rc = export_load_run(x, l, path, job, why, sizeof(why));
	if (rc == -EINTR || rc == -EAGAIN)
		return EXPORT_FAILED; /* counted by load.c; the same job next time */
	if (rc == -ECANCELED) {
		files_job_id(x, l, period, (n > 0 ? n : 1) + 1, job, sizeof(job));
		export_cursor_job(c, &l->cur, start, job, now);
		export_lane_failed(x, l, EXPORT_FAIL_JOB, "load job failed, will retry: %s", why);
		return EXPORT_FAILED;
	}
	bool refused = rc == -EPROTO;
	if (refused) {
		log_error("export", "%s: load job %s refused %s: %s", l->cur.stream, job, path,
			  why);
		rc = export_quarantine_add(c, l->cur.stream, l->table->name, path, why,
					   str_from_cstr(job), now);
	}
	rc = rc ? rc
		: export_cursor_advance(c, &l->cur, end, "", refused ? 0 : rows, refused ? rows : 0,
					now);
	if (rc == 0)
		export_lane_moved(x, l, refused ? 0 : rows, refused ? rows : 0);
	else
		export_lane_failed(x, l, EXPORT_FAIL_STORE, "cursor: %s", store_conn_errmsg(c));
	return rc ? EXPORT_FAILED : EXPORT_MOVED;
}

enum export_step export_files_step(struct export *x, struct export_lane *l, int64_t now_ms)
{
	char dir[3900], path[4096], period[16];
	int64_t first = 0, start, end, rows = 0;
	struct store_conn *c = store_conn(x->o.store);

	if (!c) {
		export_lane_failed(x, l, EXPORT_FAIL_STORE, "store unreachable");
		return EXPORT_FAILED;
	}
	int rc = 0;
	if (l->cur.id[0]) /* a load job was started for the period at ts */
		first = l->cur.ts;
	else if ((rc = files_next(x, l, c, &first)) == -ENOENT)
		return EXPORT_IDLE;
	if (rc < 0) {
		export_lane_failed(x, l, EXPORT_FAIL_STORE, "select: %s", store_conn_errmsg(c));
		return EXPORT_FAILED;
	}
	export_period_of(x->o.period, first, &start, &end, period, sizeof(period));
	if (end + x->o.settle_ms > now_ms)
		return EXPORT_IDLE; /* the period is still open */
	snprintf(dir, sizeof(dir), "%s/%s", x->o.dir, l->table->name);
	snprintf(path, sizeof(path), "%s/%s-%s.ndjson", dir, l->table->name, period);
	if ((rc = files_mkdir(x->o.dir)) < 0 || (rc = files_mkdir(dir)) < 0 ||
	    (rc = files_schema(x, l->table, dir)) < 0 ||
	    (rc = files_write(x, l, c, start, end, dir, path, &rows)) < 0) {
		if (rc != -EINTR)
			export_lane_failed(x, l, EXPORT_FAIL_FILE, "%s: %s", path, strerror(-rc));
		return EXPORT_FAILED;
	}
	log_info("export", "%s: wrote %lld rows to %s", l->cur.stream, (long long)rows, path);
	if (x->o.load)
		return files_load(x, l, c, start, end, period, path, rows);
	if (export_cursor_advance(c, &l->cur, end, "", rows, 0, time_wall_ms()) < 0) {
		export_lane_failed(x, l, EXPORT_FAIL_STORE, "cursor: %s", store_conn_errmsg(c));
		return EXPORT_FAILED;
	}
	export_lane_moved(x, l, rows, 0);
	return EXPORT_MOVED;
}
