/*
 * redis.c — what every Redis user of WARP needs first: the URL read into a
 * target, and a blocking hiredis connection with bounded timeouts, AUTH and
 * SELECT done.  The gateway's rate limits (src/auth/ratelimit_redis.c) and
 * the sip role's cluster limits (src/sip/limits_redis.c) each keep their own
 * connections and scripts; only this part is the same for both.
 */
#include "core/core.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>

/* Reads "[/db]" after host[:port]: the database number, 0 when absent. */
static int redis_db_parse(struct str s, int *db)
{
	int64_t v;

	*db = 0;
	if (s.len == 0)
		return 0;
	if (str_to_i64(s, &v) < 0 || v < 0 || v > 1000)
		return -EINVAL;
	*db = (int)v;
	return 0;
}

/* redis://[:password@]host[:port][/db] */
int redis_target_parse(struct redis_target *t, const char *url)
{
	struct str s = str_from_cstr(url), hostport;
	ptrdiff_t at, slash, colon;
	int64_t v;

	memset(t, 0, sizeof(*t));
	if (!url || !str_has_prefix(s, STR_LIT("redis://")))
		return -EINVAL;
	s = (struct str){s.p + 8, s.len - 8};
	at = str_index(s, '@');
	if (at >= 0) {
		struct str cred = {s.p, (size_t)at};

		if (cred.len > 0 && cred.p[0] == ':')
			cred = (struct str){cred.p + 1, cred.len - 1};
		t->password = str_dup(cred);
		s = (struct str){s.p + at + 1, s.len - (size_t)at - 1};
	}
	slash = str_index(s, '/');
	hostport = slash >= 0 ? (struct str){s.p, (size_t)slash} : s;
	if (redis_db_parse(slash >= 0 ? (struct str){s.p + slash + 1, s.len - (size_t)slash - 1}
				      : STR_NULL,
			   &t->db) < 0)
		return -EINVAL;
	colon = str_index(hostport, ':');
	t->port = 6379;
	if (colon >= 0) {
		if (str_to_i64(
			(struct str){hostport.p + colon + 1, hostport.len - (size_t)colon - 1},
			&v) < 0 ||
		    v < 1 || v > 65535)
			return -EINVAL;
		t->port = (int)v;
		hostport.len = (size_t)colon;
	}
	return hostport.len > 0 ? str_copy(t->host, sizeof(t->host), hostport) : -EINVAL;
}

void redis_target_fini(struct redis_target *t)
{
	free(t->password);
	t->password = NULL;
}

/* Runs a setup command on a fresh connection; true when it answered OK. */
static bool redis_setup_ok(redisReply *rep)
{
	bool ok = rep && rep->type != REDIS_REPLY_ERROR;

	if (rep)
		freeReplyObject(rep);
	return ok;
}

struct redisContext *redis_target_connect(const struct redis_target *t, int timeout_ms)
{
	struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
	redisContext *c = redisConnectWithTimeout(t->host, t->port, tv);

	if (!c || c->err || redisSetTimeout(c, tv) != REDIS_OK)
		goto fail;
	if (t->password && !redis_setup_ok(redisCommand(c, "AUTH %s", t->password)))
		goto fail;
	if (t->db && !redis_setup_ok(redisCommand(c, "SELECT %d", t->db)))
		goto fail;
	return c;
fail:
	if (c)
		redisFree(c);
	return NULL;
}
