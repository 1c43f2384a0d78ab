/*
 * log.c — structured logging.
 *
 * One line per call, as text for a terminal
 *   2026-11-25T07:25:14.123Z INFO  http [req_abc] message
 * or as one JSON object per line for a log collector
 *   {"ts":"…","level":"info","component":"http","ctx":"req_abc","msg":"message"}
 * Each line is built in a private buffer and written with a single fwrite
 * under a mutex, so lines from different threads never interleave.  The
 * context id (request id, Call-ID) is thread-local: a worker sets it when it
 * picks up a request and every line it logs carries it.
 */
#include "core/core.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#define LOG_CTX_MAX 128

/* Atomics so that a late log_setup (tests, a reload) is not a data race
 * with threads already logging; relaxed is enough for a filter. */
static _Atomic int log_min_level = LOG_INFO;
static _Atomic int log_fmt = LOG_FORMAT_TEXT;
static FILE *log_out;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static _Thread_local char log_ctx[LOG_CTX_MAX];

static const char *const log_names[] = {"debug", "info", "warn", "error"};
static const char *const log_text_names[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};

void log_setup(enum log_level level, enum log_format format, FILE *out)
{
	pthread_mutex_lock(&log_lock);
	atomic_store_explicit(&log_min_level, level, memory_order_relaxed);
	atomic_store_explicit(&log_fmt, format, memory_order_relaxed);
	log_out = out;
	pthread_mutex_unlock(&log_lock);
}

int log_level_parse(struct str s, enum log_level *out)
{
	for (size_t i = 0; i < sizeof(log_names) / sizeof(log_names[0]); i++) {
		if (str_caseeq_cstr(s, log_names[i])) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	if (str_caseeq_cstr(s, "warning")) {
		*out = LOG_WARN;
		return 0;
	}
	return -EINVAL;
}

int log_format_parse(struct str s, enum log_format *out)
{
	if (str_caseeq_cstr(s, "text"))
		*out = LOG_FORMAT_TEXT;
	else if (str_caseeq_cstr(s, "json"))
		*out = LOG_FORMAT_JSON;
	else
		return -EINVAL;
	return 0;
}

bool log_enabled(enum log_level level)
{
	return (int)level >= atomic_load_explicit(&log_min_level, memory_order_relaxed);
}

void log_context_set(const char *ctx)
{
	if (!ctx) {
		log_ctx[0] = '\0';
		return;
	}
	str_copy(log_ctx, sizeof(log_ctx), str_from_cstr(ctx));
}

const char *log_context_get(void)
{
	return log_ctx[0] ? log_ctx : NULL;
}

static int log_format_json(struct buf *b, const char *ts, enum log_level level,
			   const char *component, struct str msg)
{
	int rc =
	    buf_printf(b, "{\"ts\":\"%s\",\"level\":\"%s\",\"component\":\"", ts, log_names[level]);

	rc = rc ? rc : buf_append_json_escaped(b, str_from_cstr(component));
	if (log_ctx[0]) {
		rc = rc ? rc : buf_append_cstr(b, "\",\"ctx\":\"");
		rc = rc ? rc : buf_append_json_escaped(b, str_from_cstr(log_ctx));
	}
	rc = rc ? rc : buf_append_cstr(b, "\",\"msg\":\"");
	rc = rc ? rc : buf_append_json_escaped(b, msg);
	rc = rc ? rc : buf_append_cstr(b, "\"}\n");
	return rc;
}

/* Text lines show CR and LF inside a message as \r and \n so that one call
 * stays one line (a SIP message logged whole would otherwise spill). */
static int log_append_oneline(struct buf *b, struct str msg)
{
	int rc = 0;

	for (size_t i = 0; i < msg.len && rc == 0; i++) {
		if (msg.p[i] == '\n')
			rc = buf_append(b, "\\n", 2);
		else if (msg.p[i] == '\r')
			rc = buf_append(b, "\\r", 2);
		else
			rc = buf_append_char(b, msg.p[i]);
	}
	return rc;
}

static int log_format_text(struct buf *b, const char *ts, enum log_level level,
			   const char *component, struct str msg)
{
	int rc = buf_printf(b, "%s %s %s ", ts, log_text_names[level], component);

	if (log_ctx[0])
		rc = rc ? rc : buf_printf(b, "[%s] ", log_ctx);
	rc = rc ? rc : log_append_oneline(b, msg);
	rc = rc ? rc : buf_append_char(b, '\n');
	return rc;
}

static void log_write(const struct buf *b)
{
	pthread_mutex_lock(&log_lock);
	FILE *out = log_out ? log_out : stderr;
	fwrite(b->p, 1, b->len, out);
	fflush(out);
	pthread_mutex_unlock(&log_lock);
}

void log_vmsg(enum log_level level, const char *component, const char *fmt, va_list ap)
{
	struct buf msg, line;
	char ts[32];
	int rc;

	if (level < LOG_DEBUG || level > LOG_ERROR || !log_enabled(level))
		return;
	buf_init(&msg);
	buf_init(&line);
	if (time_format_rfc3339(time_wall_ms(), ts, sizeof(ts)) < 0)
		ts[0] = '\0';
	rc = buf_vprintf(&msg, fmt, ap);
	/* A trailing newline in the message would break the one-line rule. */
	while (rc == 0 && msg.len && (msg.p[msg.len - 1] == '\n' || msg.p[msg.len - 1] == '\r'))
		msg.p[--msg.len] = '\0';
	if (rc == 0 && atomic_load_explicit(&log_fmt, memory_order_relaxed) == LOG_FORMAT_JSON)
		rc = log_format_json(&line, ts, level, component ? component : "-",
				     (struct str){msg.p, msg.len});
	else if (rc == 0)
		rc = log_format_text(&line, ts, level, component ? component : "-",
				     (struct str){msg.p, msg.len});
	if (rc == 0)
		log_write(&line);
	buf_fini(&line);
	buf_fini(&msg);
}

void log_msg(enum log_level level, const char *component, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, component, fmt, ap);
	va_end(ap);
}
