/*
 * test_auth_redis.c — the Redis rate-limit backend against a real
 * redis-server started here on a free loopback port (no persistence), and
 * stopped by its PID.  Skipped with a message when redis-server is not
 * installed, unless WARP_TEST_REDIS_REQUIRED=1.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "auth/auth.h"

#define T0 1700000000000LL

static pid_t redis_pid = -1;
static int redis_port;

static bool redis_installed(const char **path)
{
	static const char *const cands[] = {"/usr/bin/redis-server", "/usr/local/bin/redis-server",
					    "/usr/sbin/redis-server"};
	for (size_t i = 0; i < sizeof(cands) / sizeof(cands[0]); i++)
		if (access(cands[i], X_OK) == 0) {
			*path = cands[i];
			return true;
		}
	return false;
}

static int free_port(void)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	if (fd >= 0 && bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sin, &len) == 0)
		port = ntohs(sin.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

static bool redis_answers(void)
{
	struct timeval tv = {0, 200000};
	redisContext *c = redisConnectWithTimeout("127.0.0.1", redis_port, tv);
	redisReply *r = c && !c->err ? redisCommand(c, "PING") : NULL;
	bool ok = r && r->type == REDIS_REPLY_STATUS;

	if (r)
		freeReplyObject(r);
	if (c)
		redisFree(c);
	return ok;
}

static int redis_start(const char *path)
{
	char port[16];

	redis_port = free_port();
	snprintf(port, sizeof(port), "%d", redis_port);
	redis_pid = fork();
	if (redis_pid == 0) {
		execl(path, path, "--port", port, "--bind", "127.0.0.1", "--save", "",
		      "--appendonly", "no", "--loglevel", "warning", (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 100 && redis_pid > 0; i++) {
		if (redis_answers())
			return 0;
		usleep(50000);
	}
	return -1;
}

static void redis_stop(void)
{
	if (redis_pid > 0) {
		kill(redis_pid, SIGTERM);
		waitpid(redis_pid, NULL, 0);
		redis_pid = -1;
	}
}

static int group_setup(void **state)
{
	const char *path = NULL;
	const char *req = getenv("WARP_TEST_REDIS_REQUIRED");

	if (!redis_installed(&path)) {
		if (req && strcmp(req, "1") == 0) {
			fprintf(stderr, "redis-server not found and WARP_TEST_REDIS_REQUIRED=1\n");
			return -1;
		}
		*state = NULL;
		return 0;
	}
	*state = (void *)path;
	return redis_start(path);
}

static int group_teardown(void **state)
{
	redis_stop();
	return 0;
}

#define NEED_REDIS()                                                                               \
	do {                                                                                       \
		if (!*state)                                                                       \
			skip();                                                                    \
	} while (0)

static struct ratelimit *replica(bool fail_open)
{
	struct ratelimit_opts o;
	char url[64], err[128];
	struct ratelimit *rl;

	snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0", redis_port);
	ratelimit_opts_init(&o);
	o.redis_url = url;
	o.fail_open = fail_open;
	rl = ratelimit_new(&o, err, sizeof(err));
	if (!rl)
		fail_msg("ratelimit_new: %s", err);
	return rl;
}

static void test_two_replicas_share_one_budget(void **state)
{
	NEED_REDIS();
	struct ratelimit *a = replica(true), *b = replica(true);
	struct ratelimit_result r;
	int allowed = 0;

	for (int i = 0; i < 10; i++) {
		assert_int_equal(ratelimit_take(i % 2 ? a : b, "shared-1", 1, 5, T0, &r), 0);
		assert_false(r.degraded);
		allowed += r.allowed;
	}
	assert_int_equal(allowed, 5);
	assert_int_equal(r.retry_after_s, 1);
	assert_int_equal(r.limit, 5);
	assert_int_equal(r.remaining, 0);
	ratelimit_free(a);
	ratelimit_free(b);
}

/* The bucket runs on Redis's clock: real time passes, the caller's does not. */
static void test_redis_bucket_refills_over_time(void **state)
{
	NEED_REDIS();
	struct ratelimit *a = replica(true), *b = replica(true);
	struct ratelimit_result r;

	assert_int_equal(ratelimit_take(a, "refill-1", 10, 1, T0, &r), 0);
	assert_true(r.allowed);
	assert_int_equal(ratelimit_take(b, "refill-1", 10, 1, T0, &r), 0);
	assert_false(r.allowed);
	usleep(150000); /* 10/s: a token every 100 ms */
	assert_int_equal(ratelimit_take(b, "refill-1", 10, 1, T0, &r), 0);
	assert_true(r.allowed);
	ratelimit_free(a);
	ratelimit_free(b);
}

/* Replicas an hour apart (no NTP) still share one budget: a clock ahead
 * refills nothing, a clock behind takes nothing back. */
static void test_redis_bucket_ignores_the_caller_clock(void **state)
{
	NEED_REDIS();
	struct ratelimit *a = replica(true), *b = replica(true);
	struct ratelimit_result r;

	assert_int_equal(ratelimit_take(a, "skew-1", 1, 1, T0, &r), 0);
	assert_true(r.allowed);
	assert_int_equal(ratelimit_take(b, "skew-1", 1, 1, T0 + 3600000, &r), 0);
	assert_false(r.allowed);
	assert_int_equal(r.retry_after_s, 1);
	assert_int_equal(ratelimit_take(a, "skew-1", 1, 1, T0 - 3600000, &r), 0);
	assert_false(r.allowed);
	ratelimit_free(a);
	ratelimit_free(b);
}

/* The integer in a string reply, or in an array reply's first element
 * (TIME's seconds); -1 otherwise.  Frees rep. */
static int64_t reply_i64(redisReply *rep)
{
	redisReply *s = rep && rep->type == REDIS_REPLY_ARRAY && rep->elements > 0 ? rep->element[0]
										   : rep;
	int64_t v = -1;

	if (s && s->type == REDIS_REPLY_STRING)
		str_to_i64((struct str){s->str, s->len}, &v);
	if (rep)
		freeReplyObject(rep);
	return v;
}

/* What the bucket records is the server's time, not the T0 the caller gave. */
static void test_redis_bucket_stamped_with_server_time(void **state)
{
	NEED_REDIS();
	struct ratelimit *a = replica(true);
	struct ratelimit_result r;
	struct timeval tv = {1, 0};
	redisContext *c = redisConnectWithTimeout("127.0.0.1", redis_port, tv);
	int64_t server_ms, ts;

	assert_int_equal(ratelimit_take(a, "stamp-1", 1, 5, T0, &r), 0);
	server_ms = reply_i64(redisCommand(c, "TIME")) * 1000;
	ts = reply_i64(redisCommand(c, "HGET %s ts", "warp:rl:stamp-1"));
	assert_true(server_ms > T0 + 86400000LL); /* T0 is in 2023 */
	assert_true(ts >= server_ms - 5000 && ts <= server_ms + 5000);
	redisFree(c);
	ratelimit_free(a);
}

static void test_redis_keys_are_independent(void **state)
{
	NEED_REDIS();
	struct ratelimit *a = replica(true);
	struct ratelimit_result r;

	assert_int_equal(ratelimit_take(a, "ind-a", 1, 1, T0, &r), 0);
	assert_true(r.allowed);
	assert_int_equal(ratelimit_take(a, "ind-a", 1, 1, T0, &r), 0);
	assert_false(r.allowed);
	assert_int_equal(ratelimit_take(a, "ind-b", 1, 1, T0, &r), 0);
	assert_true(r.allowed);
	ratelimit_free(a);
}

static void test_script_reloaded_after_flush(void **state)
{
	NEED_REDIS();
	struct ratelimit *a = replica(true);
	struct ratelimit_result r;
	struct timeval tv = {1, 0};
	redisContext *c = redisConnectWithTimeout("127.0.0.1", redis_port, tv);

	assert_int_equal(ratelimit_take(a, "flush-1", 1, 2, T0, &r), 0);
	freeReplyObject(redisCommand(c, "SCRIPT FLUSH"));
	redisFree(c);
	assert_int_equal(ratelimit_take(a, "flush-1", 1, 2, T0, &r), 0);
	assert_true(r.allowed);
	assert_false(r.degraded);
	assert_int_equal(r.remaining, 0);
	ratelimit_free(a);
}

static int64_t redis_error_count(void)
{
	struct metric_family *f =
	    metrics_counter(metrics_default(), "warp_ratelimit_redis_errors_total",
			    "Rate-limit decisions made without Redis (fail open or closed).", NULL);
	return f ? metric_value(metric_getv(f, NULL, 0)) : -1;
}

/* Runs last: stops the server. */
static void test_redis_down_fails_open_or_closed_per_config(void **state)
{
	NEED_REDIS();
	struct ratelimit *open = replica(true), *closed = replica(false);
	struct ratelimit_result r;
	int64_t errors;

	assert_int_equal(ratelimit_take(open, "down-1", 1, 1, T0, &r), 0);
	assert_int_equal(ratelimit_take(closed, "down-1", 1, 1, T0, &r), 0);
	assert_false(r.allowed); /* Redis up: the budget is spent */
	errors = redis_error_count();
	redis_stop();
	assert_int_equal(ratelimit_take(open, "down-1", 1, 1, T0, &r), 0);
	assert_true(r.allowed);
	assert_true(r.degraded);
	assert_int_equal(ratelimit_take(closed, "down-1", 1, 1, T0, &r), 0);
	assert_false(r.allowed);
	assert_true(r.degraded);
	assert_true(r.retry_after_s > 0);
	assert_true(redis_error_count() >= errors + 2);
	ratelimit_free(open);
	ratelimit_free(closed);
}

static void test_bad_redis_url_refused(void **state)
{
	struct ratelimit_opts o;
	char err[128] = "";

	ratelimit_opts_init(&o);
	o.redis_url = "http://127.0.0.1:6379";
	assert_null(ratelimit_new(&o, err, sizeof(err)));
	assert_non_null(strstr(err, "Redis URL"));
	o.redis_url = "redis://127.0.0.1:99999";
	assert_null(ratelimit_new(&o, err, sizeof(err)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_two_replicas_share_one_budget),
	    cmocka_unit_test(test_redis_bucket_refills_over_time),
	    cmocka_unit_test(test_redis_bucket_ignores_the_caller_clock),
	    cmocka_unit_test(test_redis_bucket_stamped_with_server_time),
	    cmocka_unit_test(test_redis_keys_are_independent),
	    cmocka_unit_test(test_script_reloaded_after_flush),
	    cmocka_unit_test(test_redis_down_fails_open_or_closed_per_config),
	    cmocka_unit_test(test_bad_redis_url_refused),
	};
	const char *path = NULL;

	if (!redis_installed(&path))
		fprintf(stderr, "redis-server not installed: Redis tests skipped\n");
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
