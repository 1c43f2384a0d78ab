/*
 * limits_redis.c — the sync thread of cluster-wide call limits ([limits]
 * backend = redis, decision 0046): every sync interval it sends Redis, for
 * each limited trunk, customer and carrier, this node's channel count, the
 * CPS tokens it used since the last round and whether a call asked for the
 * entry, and brings back what this node may admit until the next round.
 *
 * One hash per entity, `warp:sip:limit:{<kind>:<id>}`: field `n:<node>` is
 * "<channels held + reserved>:<expiry ms>" for each node, `t` and `ts` the
 * token bucket.  One Lua script per entity and round (EVALSHA, loaded again
 * on NOSCRIPT) drops the fields of nodes whose lease passed (a node killed
 * with -9: its channels come back within one lease), sums the others,
 * reserves for this node a part of the room left (room / nodes, at least 1;
 * nothing when no call asked) and writes its field with an expiry one lease
 * ahead; it refills the bucket, takes back the last grant less what was
 * used, and grants tokens the same way.  Atomically: Redis runs a script
 * with nothing interleaved, so the reservations never add up past the
 * limit.  Time is the Redis server's (TIME), never a node's: nodes with
 * skewed clocks share one bucket and one lease clock; Redis 7 replicates a
 * script's effects, so TIME before a write is allowed.  A node's one credit
 * call a round (limits.c) may take the bucket below zero: that debt is paid
 * before anyone is granted again.
 */
#include <errno.h>
#include <hiredis/hiredis.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sip/policy_private.h"

#define SYNC_LOG "sip"
#define SYNC_NODE_MAX 64
#define SYNC_BACKOFF_MS 500 /* between connection attempts while down */

/* KEYS[1] the entity's hash; ARGV node, channels, lease_ms, channel limit,
 * nodes, asked, cps, used and granted milli-tokens.  Returns {channels other
 * nodes hold or reserved, channels reserved here, bucket milli-tokens left
 * (-1: no CPS limit), milli-tokens granted here}. */
static const char sync_script[] =
    "local tm = redis.call('TIME')\n"
    "local now = tonumber(tm[1]) * 1000 + math.floor(tonumber(tm[2]) / 1000)\n"
    "local me = 'n:' .. ARGV[1]\n"
    "local mine, lease = tonumber(ARGV[2]), tonumber(ARGV[3])\n"
    "local limit, nodes, asked = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])\n"
    "local cps, used, granted = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])\n"
    "local others = 0\n"
    "local all = redis.call('HGETALL', KEYS[1])\n"
    "for i = 1, #all, 2 do\n"
    "  local f = all[i]\n"
    "  if string.sub(f, 1, 2) == 'n:' and f ~= me then\n"
    "    local n, exp = string.match(all[i + 1], '^(%d+):(%d+)$')\n"
    "    if n == nil or tonumber(exp) <= now then\n"
    "      redis.call('HDEL', KEYS[1], f)\n"
    "    else\n"
    "      others = others + tonumber(n)\n"
    "    end\n"
    "  end\n"
    "end\n"
    "local alloc = 0\n"
    "local room = limit - mine - others\n"
    "if limit > 0 and asked > 0 and room > 0 then\n"
    "  alloc = math.max(1, math.floor(room / nodes))\n"
    "end\n"
    "if mine + alloc > 0 then\n"
    "  redis.call('HSET', KEYS[1], me, string.format('%d:%d', mine + alloc, now + lease))\n"
    "else\n"
    "  redis.call('HDEL', KEYS[1], me)\n"
    "end\n"
    "local t, grant = -1, 0\n"
    "if cps > 0 then\n"
    "  local cap = cps * 1000\n"
    "  local v = redis.call('HMGET', KEYS[1], 't', 'ts')\n"
    "  t = tonumber(v[1])\n"
    "  local ts = tonumber(v[2])\n"
    "  if t == nil or ts == nil then t = cap; ts = now end\n"
    "  if now > ts then t = t + (now - ts) * cps; ts = now end\n"
    "  t = math.max(-cap, math.min(cap, t + granted - used))\n"
    "  if asked > 0 and t >= 1000 then\n"
    "    grant = math.max(1, math.floor(t / 1000 / nodes)) * 1000\n"
    "    t = t - grant\n"
    "  end\n"
    "  redis.call('HSET', KEYS[1], 't', string.format('%d', t), 'ts', string.format('%d', ts))\n"
    "end\n"
    "redis.call('PEXPIRE', KEYS[1], math.max(lease, 2000) + 1000)\n"
    "return {others, alloc, t, grant}\n";

struct sip_limits_sync {
	struct sip_limits *l;
	struct redis_target target;
	int timeout_ms, sync_ms, nodes;
	int64_t lease_ms;
	char node[SYNC_NODE_MAX];
	char sha[41];
	redisContext *c;
	int64_t retry_at_ms; /* no connection attempt before (mono) */
	bool was_up;
	struct sip_limit_report *rep;
	size_t cap;
	struct metric *up;
	pthread_t thread;
	bool started;
	pthread_mutex_t lock; /* guards stop, for the timed wait */
	pthread_cond_t wake;
	bool stop;
	bool closing; /* the last round: reserve nothing */
};

static const char *sync_kind_name(enum sip_limit_kind k)
{
	return k == SIP_LIMIT_TRUNK ? "trunk" : k == SIP_LIMIT_CUSTOMER ? "customer" : "carrier";
}

int sip_limits_redis_args(const struct sip_limit_report *r, const char *node, int64_t lease_ms,
			  int nodes, char key[SIP_LIMITS_KEY_MAX],
			  char argv[SIP_LIMITS_ARGS][SIP_LIMITS_ARG_MAX])
{
	/* The braces are a Redis Cluster hash tag: the entity's one key. */
	int n = snprintf(key, SIP_LIMITS_KEY_MAX, "warp:sip:limit:{%s:%s}", sync_kind_name(r->kind),
			 r->id);

	if (n < 0 || n >= SIP_LIMITS_KEY_MAX || !node[0] || strlen(node) >= SIP_LIMITS_ARG_MAX)
		return -ENOSPC;
	const long long v[SIP_LIMITS_ARGS - 1] = {
	    r->channels > 0 ? r->channels : 0,
	    lease_ms,
	    r->channel_limit,
	    nodes > 0 ? nodes : 1,
	    r->asked,
	    r->cps_limit,
	    r->used_milli > 0 ? r->used_milli : 0,
	    r->grant_milli > 0 ? r->grant_milli : 0,
	};

	snprintf(argv[0], SIP_LIMITS_ARG_MAX, "%s", node);
	for (size_t i = 1; i < SIP_LIMITS_ARGS; i++)
		snprintf(argv[i], SIP_LIMITS_ARG_MAX, "%lld", v[i - 1]);
	return 0;
}

/* A name no other live process has: host, pid and 32 random bits (a
 * restarted process is a new node; the old one's lease runs out). */
static void sync_node_name(char *out, size_t n)
{
	char host[32] = "";
	uint32_t r = 0;

	if (gethostname(host, sizeof(host) - 1) != 0)
		host[0] = '\0';
	host[sizeof(host) - 1] = '\0';
	random_bytes(&r, sizeof(r));
	snprintf(out, n, "%s-%d-%08x", host[0] ? host : "node", (int)getpid(), r);
}

struct sip_limits_sync *sip_limits_sync_new(struct sip_limits *l, const struct sip_limits_opts *o,
					    char *err, size_t errlen)
{
	struct sip_limits_sync *s = calloc(1, sizeof(*s));
	unsigned char md[20];
	unsigned int len = 0;
	struct metric_family *f;

	if (!s || redis_target_parse(&s->target, o->redis_url) < 0) {
		snprintf(err, errlen,
			 "[limits] redis_url: want redis://[:password@]host[:port][/db]");
		if (s)
			redis_target_fini(&s->target);
		free(s);
		return NULL;
	}
	s->l = l;
	s->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 50;
	s->sync_ms = o->sync_ms > 0 ? o->sync_ms : 10;
	s->lease_ms = o->lease_ms > 0 ? o->lease_ms : 3000;
	s->nodes = o->nodes > 0 ? o->nodes : 1;
	s->was_up = true; /* a start without Redis is logged */
	sync_node_name(s->node, sizeof(s->node));
	EVP_Digest(sync_script, sizeof(sync_script) - 1, md, &len, EVP_sha1(), NULL);
	hex_encode(md, sizeof(md), s->sha);
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->wake, NULL);
	f = metrics_gauge(metrics_default(), "warp_sip_limits_backend_up",
			  "1 while the cluster limits' Redis answers within [limits] timeout; 0 "
			  "while each node admits on its share.",
			  NULL);
	s->up = f ? metric_get(f) : NULL;
	if (s->up)
		metric_set(s->up, 0);
	return s;
}

static void sync_drop(struct sip_limits_sync *s)
{
	if (s->c)
		redisFree(s->c);
	s->c = NULL;
}

/* Reports every limited entry into s->rep, grown as needed: 0 and *n. */
static int sync_collect(struct sip_limits_sync *s, size_t *n)
{
	*n = sip_limits_report(s->l, s->rep, s->cap);
	while (*n > s->cap) {
		size_t cap = *n + *n / 2 + 16;
		struct sip_limit_report *r = realloc(s->rep, cap * sizeof(*r));

		if (!r)
			return -ENOMEM; /* no round: the backend counts as down */
		s->rep = r;
		s->cap = cap;
		*n = sip_limits_report(s->l, s->rep, s->cap);
	}
	for (size_t i = 0; s->closing && i < *n; i++)
		s->rep[i].asked = false;
	return 0;
}

/* Queues one EVALSHA per entry from..n (pipelined: one round trip). */
static int sync_send(struct sip_limits_sync *s, size_t from, size_t n)
{
	for (size_t i = from; i < n; i++) {
		char key[SIP_LIMITS_KEY_MAX], argv[SIP_LIMITS_ARGS][SIP_LIMITS_ARG_MAX];
		const char *av[4 + SIP_LIMITS_ARGS] = {"EVALSHA", s->sha, "1", key};

		if (sip_limits_redis_args(&s->rep[i], s->node, s->lease_ms, s->nodes, key, argv) <
		    0)
			return -ENOSPC;
		for (size_t k = 0; k < SIP_LIMITS_ARGS; k++)
			av[4 + k] = argv[k];
		if (redisAppendCommandArgv(s->c, 4 + SIP_LIMITS_ARGS, av, NULL) != REDIS_OK)
			return -EIO;
	}
	return 0;
}

/* The script's reply: four integers. */
static int sync_answer(const redisReply *rep, struct sip_limit_answer *a)
{
	int64_t v[4];

	if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 4)
		return -EIO;
	for (size_t i = 0; i < 4; i++) {
		if (rep->element[i]->type != REDIS_REPLY_INTEGER)
			return -EIO;
		v[i] = rep->element[i]->integer;
	}
	*a = (struct sip_limit_answer){
	    .others = v[0], .allow_channels = v[1], .room_milli = v[2], .grant_milli = v[3]};
	return 0;
}

/* Reads the answers for entries *from..n, moving *from past the ones taken
 * into views; -ENOENT when Redis lost the script (SCRIPT FLUSH, a failover:
 * the entries from *from on are to be sent again), -EIO on anything else
 * wrong or past the round's deadline. */
static int sync_receive(struct sip_limits_sync *s, size_t *from, size_t n, int64_t deadline_ms)
{
	int rc = 0;

	for (size_t i = *from; i < n; i++) {
		struct sip_limit_answer a;
		redisReply *rep = NULL;

		if (redisGetReply(s->c, (void **)&rep) != REDIS_OK || !rep)
			return -EIO; /* the connection is unusable now */
		if (rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, "NOSCRIPT", 8) == 0)
			rc = -ENOENT;
		else if (sync_answer(rep, &a) < 0)
			rc = rc ? rc : -EIO;
		else if (rc == 0 && i == *from) {
			sip_limits_view(s->l, &s->rep[i], &a);
			(*from)++;
		}
		freeReplyObject(rep);
	}
	return rc == 0 && time_mono_ms() > deadline_ms ? -EIO : rc;
}

static int sync_load(struct sip_limits_sync *s)
{
	redisReply *rep = redisCommand(s->c, "SCRIPT LOAD %s", sync_script);
	int rc = rep && rep->type == REDIS_REPLY_STRING ? 0 : -EIO;

	if (rep)
		freeReplyObject(rep);
	return rc;
}

/* A PING when nothing is limited, so that the gauge still tells. */
static int sync_ping(struct sip_limits_sync *s)
{
	redisReply *rep = redisCommand(s->c, "PING");
	int rc = rep && rep->type == REDIS_REPLY_STATUS ? 0 : -EIO;

	if (rep)
		freeReplyObject(rep);
	return rc;
}

/* One round: 0 when every entry has a fresh view. */
static int sync_round(struct sip_limits_sync *s)
{
	int64_t now = time_mono_ms(), deadline = now + s->timeout_ms;
	size_t n, done = 0;
	int rc;

	if (!s->c && now < s->retry_at_ms)
		return -EAGAIN;
	if (!s->c && !(s->c = redis_target_connect(&s->target, s->timeout_ms))) {
		s->retry_at_ms = now + SYNC_BACKOFF_MS;
		return -ECONNREFUSED;
	}
	if (sync_collect(s, &n) < 0)
		return -ENOMEM;
	if (n == 0)
		return sync_ping(s);
	rc = sync_send(s, 0, n);
	rc = rc ? rc : sync_receive(s, &done, n, deadline);
	if (rc == -ENOENT && sync_load(s) == 0) /* EVALSHA's SCRIPT LOAD fallback */
		rc = sync_send(s, done, n) ? -EIO : sync_receive(s, &done, n, deadline);
	return rc;
}

static void sync_health(struct sip_limits_sync *s, int rc)
{
	bool up = rc == 0;

	if (!up)
		sync_drop(s); /* a late answer must not be read as the next one's */
	sip_limits_backend_set(s->l, up);
	if (s->up)
		metric_set(s->up, up ? 1 : 0);
	if (up && !s->was_up)
		log_info(SYNC_LOG, "limits: Redis %s:%d reachable: limits hold across the cluster",
			 s->target.host, s->target.port);
	else if (!up && s->was_up)
		log_warn(
		    SYNC_LOG,
		    "limits: Redis %s:%d unusable: each node admits on its share of every limit",
		    s->target.host, s->target.port);
	s->was_up = up;
}

/* Waits ms or until stopped; true when stopped. */
static bool sync_sleep(struct sip_limits_sync *s, int ms)
{
	struct timespec ts;
	bool stop;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	ts.tv_sec += ms / 1000 + ts.tv_nsec / 1000000000L;
	ts.tv_nsec %= 1000000000L;
	pthread_mutex_lock(&s->lock);
	if (!s->stop)
		pthread_cond_timedwait(&s->wake, &s->lock, &ts);
	stop = s->stop;
	pthread_mutex_unlock(&s->lock);
	return stop;
}

static void *sync_main(void *arg)
{
	struct sip_limits_sync *s = arg;

	do {
		int rc = sync_round(s);

		if (rc != -EAGAIN) /* -EAGAIN: waiting to connect again, still down */
			sync_health(s, rc);
	} while (!sync_sleep(s, s->sync_ms));
	s->closing = true;
	sync_round(s); /* the calls have ended: this node's field goes */
	return NULL;
}

int sip_limits_sync_start(struct sip_limits_sync *s, char *err, size_t errlen)
{
	if (pthread_create(&s->thread, NULL, sync_main, s) != 0) {
		snprintf(err, errlen, "cannot start the Redis sync thread");
		return -EAGAIN;
	}
	s->started = true;
	return 0;
}

void sip_limits_sync_free(struct sip_limits_sync *s)
{
	if (!s)
		return;
	if (s->started) {
		pthread_mutex_lock(&s->lock);
		s->stop = true;
		pthread_cond_signal(&s->wake);
		pthread_mutex_unlock(&s->lock);
		pthread_join(s->thread, NULL);
	}
	sync_drop(s);
	pthread_cond_destroy(&s->wake);
	pthread_mutex_destroy(&s->lock);
	redis_target_fini(&s->target);
	free(s->rep);
	free(s);
}
