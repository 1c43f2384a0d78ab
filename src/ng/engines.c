/*
 * engines.c — the set of ng engines a proxy drives, their health, and
 * which engine each call goes to.
 *
 * The set is built once from configuration and shared by every SIP worker
 * and the pinger: the engine list is immutable, each engine's health is
 * one atomic, and the call → engine table is the only shared mutable data,
 * behind one mutex held for a few dozen instructions.
 *
 * Picking: weighted rendezvous (highest random weight) hashing.  For each
 * eligible engine a score w / -ln(u) is computed, u being a uniform number
 * in (0,1) hashed from (call-id, engine index); the highest score wins.  An
 * engine then wins a share of call-ids proportional to its weight, and the
 * winner for a call-id changes only when the winner itself leaves the
 * eligible set — so a call whose table entry was evicted, or that another
 * proxy replica sees, still finds its engine.  The table pins the pick for
 * the rest of the call even when the engine later goes DOWN or the set's
 * health changes.
 *
 * Table: set-associative, NG_STICKY_WAYS entries per bucket keyed by a
 * 64-bit hash of the call-id (a collision between two live call-ids needs
 * ~2^32 calls at once); a full bucket evicts its least recently used entry.
 */
#include "ng/ng.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define NG_STICKY_WAYS 8
#define NG_ENGINE_NAME_MAX 80

struct ng_engine {
	struct net_addr addr;
	unsigned weight;
	char name[NG_ENGINE_NAME_MAX];
	_Atomic int state;
};

struct ng_sticky_entry {
	uint64_t hash;
	uint64_t used; /* LRU stamp; 0 = empty */
	uint8_t engine;
};

struct ng_engine_set {
	struct ng_engine engine[NG_ENGINES_MAX];
	size_t n;
	pthread_mutex_t lock; /* guards everything below */
	struct ng_sticky_entry *table;
	size_t nbuckets;
	uint64_t clock;
	size_t sticky_count;
};

/* FNV-1a over the call-id, then splitmix64's finaliser to spread it. */
static uint64_t ng_hash_mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static uint64_t ng_callid_hash(struct str s)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < s.len; i++)
		h = (h ^ (uint8_t)s.p[i]) * 1099511628211ull;
	return ng_hash_mix(h);
}

static void ng_set_err(char *err, size_t errlen, const char *msg, struct str what)
{
	if (!err || errlen == 0)
		return;
	struct buf b;

	buf_init(&b);
	if (!what.p) /* "%.*s" needs an array even for length 0 */
		what = STR_LIT("");
	if (buf_printf(&b, "%s: \"%.*s\"", msg, STR_FMT(what)) == 0)
		str_copy(err, errlen, (struct str){b.p, b.len});
	else
		str_copy(err, errlen, str_from_cstr(msg));
	buf_fini(&b);
}

/* One "udp:ADDR[=W]" entry into e. */
static int ng_engine_parse(struct str tok, struct ng_engine *e, char *err, size_t errlen)
{
	struct str addr = tok, w = STR_NULL;
	ptrdiff_t eq = str_index(tok, '=');
	uint64_t weight = 1;

	if (eq >= 0) {
		addr = (struct str){tok.p, (size_t)eq};
		w = (struct str){tok.p + eq + 1, tok.len - (size_t)eq - 1};
		if (str_to_u64(w, &weight) < 0 || weight < 1 || weight > NG_ENGINE_WEIGHT_MAX) {
			ng_set_err(err, errlen, "ng engine weight must be 1..1000", tok);
			return -EINVAL;
		}
	}
	if (str_has_prefix(addr, STR_LIT("udp:")))
		addr = (struct str){addr.p + 4, addr.len - 4};
	else if (str_has_prefix(addr, STR_LIT("udp6:")))
		addr = (struct str){addr.p + 5, addr.len - 5};
	else {
		ng_set_err(err, errlen, "ng engine must start with udp: or udp6:", tok);
		return -EINVAL;
	}
	/* A port is required: an engine has no well-known one. */
	if (addr.len == 0 || addr.p[addr.len - 1] == ']' || str_index(addr, ':') < 0 ||
	    net_addr_parse(addr, 0, &e->addr) < 0 || net_addr_port(&e->addr) == 0) {
		ng_set_err(err, errlen, "ng engine needs an IP address and port", tok);
		return -EINVAL;
	}
	e->weight = (unsigned)weight;
	atomic_init(&e->state, NG_ENGINE_UP);
	return str_copy(e->name, sizeof(e->name), (struct str){tok.p, addr.p + addr.len - tok.p});
}

static bool ng_is_sep(char c)
{
	return c == ' ' || c == '\t' || c == ',' || c == ';' || c == '\n' || c == '\r';
}

static int ng_engines_parse(struct ng_engine_set *s, const char *spec, char *err, size_t errlen)
{
	const char *p = spec ? spec : "";

	while (*p) {
		while (*p && ng_is_sep(*p))
			p++;
		const char *start = p;

		while (*p && !ng_is_sep(*p))
			p++;
		if (p == start)
			break;
		if (s->n == NG_ENGINES_MAX) {
			ng_set_err(err, errlen, "too many ng engines (16 at most)", STR_NULL);
			return -E2BIG;
		}
		if (ng_engine_parse((struct str){start, (size_t)(p - start)}, &s->engine[s->n], err,
				    errlen) < 0)
			return -EINVAL;
		s->n++;
	}
	if (s->n == 0) {
		ng_set_err(err, errlen, "no ng engine given", str_from_cstr(spec ? spec : ""));
		return -EINVAL;
	}
	return 0;
}

struct ng_engine_set *ng_engine_set_new(const char *spec, size_t sticky_max, char *err,
					size_t errlen)
{
	struct ng_engine_set *s = calloc(1, sizeof(*s));

	if (!s) {
		ng_set_err(err, errlen, "out of memory", STR_NULL);
		return NULL;
	}
	pthread_mutex_init(&s->lock, NULL);
	if (ng_engines_parse(s, spec, err, errlen) < 0)
		goto fail;
	if (sticky_max == 0)
		sticky_max = NG_STICKY_DEFAULT;
	s->nbuckets = (sticky_max + NG_STICKY_WAYS - 1) / NG_STICKY_WAYS;
	s->table = calloc(s->nbuckets * NG_STICKY_WAYS, sizeof(*s->table));
	if (!s->table) {
		ng_set_err(err, errlen, "out of memory", STR_NULL);
		goto fail;
	}
	return s;
fail:
	ng_engine_set_free(s);
	return NULL;
}

void ng_engine_set_free(struct ng_engine_set *s)
{
	if (!s)
		return;
	pthread_mutex_destroy(&s->lock);
	free(s->table);
	free(s);
}

size_t ng_engine_set_count(const struct ng_engine_set *s)
{
	return s->n;
}

const struct net_addr *ng_engine_addr(const struct ng_engine_set *s, size_t i)
{
	return i < s->n ? &s->engine[i].addr : NULL;
}

unsigned ng_engine_weight(const struct ng_engine_set *s, size_t i)
{
	return i < s->n ? s->engine[i].weight : 0;
}

const char *ng_engine_name(const struct ng_engine_set *s, size_t i)
{
	return i < s->n ? s->engine[i].name : "";
}

enum ng_engine_state ng_engine_state_get(const struct ng_engine_set *s, size_t i)
{
	if (i >= s->n)
		return NG_ENGINE_DOWN;
	/* atomic_load takes a non-const pointer in C17. */
	struct ng_engine *e = (struct ng_engine *)&s->engine[i];

	return (enum ng_engine_state)atomic_load_explicit(&e->state, memory_order_relaxed);
}

void ng_engine_state_set(struct ng_engine_set *s, size_t i, enum ng_engine_state st)
{
	if (i >= s->n)
		return;
	int old = atomic_exchange_explicit(&s->engine[i].state, (int)st, memory_order_relaxed);

	if (old != (int)st)
		log_msg(st == NG_ENGINE_UP ? LOG_INFO : LOG_WARN, "ng", "engine %s is %s",
			s->engine[i].name,
			st == NG_ENGINE_UP	  ? "up"
			: st == NG_ENGINE_SUSPECT ? "suspect"
						  : "down");
}

/* Weighted rendezvous hashing among engines in state want. */
static int ng_engine_hrw(const struct ng_engine_set *s, uint64_t h, enum ng_engine_state want)
{
	double best = -1.0;
	int win = -1;

	for (size_t i = 0; i < s->n; i++) {
		if (ng_engine_state_get(s, i) != want)
			continue;
		uint64_t x = ng_hash_mix(h ^ (0x9e3779b97f4a7c15ull * (i + 1)));
		/* u in (0,1): 53 random bits, never 0 nor 1 */
		double u = ((double)(x >> 11) + 0.5) / 9007199254740992.0;
		double score = (double)s->engine[i].weight / -log(u);

		if (score > best) {
			best = score;
			win = (int)i;
		}
	}
	return win;
}

static int ng_engine_choose(const struct ng_engine_set *s, uint64_t h)
{
	int i = ng_engine_hrw(s, h, NG_ENGINE_UP);

	return i >= 0 ? i : ng_engine_hrw(s, h, NG_ENGINE_SUSPECT);
}

/* The entry for h in its bucket, or the slot to reuse (*found false). */
static struct ng_sticky_entry *ng_sticky_slot(struct ng_engine_set *s, uint64_t h, bool *found)
{
	struct ng_sticky_entry *b = &s->table[(h % s->nbuckets) * NG_STICKY_WAYS], *victim = b;

	for (size_t w = 0; w < NG_STICKY_WAYS; w++) {
		if (b[w].used && b[w].hash == h) {
			*found = true;
			return &b[w];
		}
		if (b[w].used < victim->used)
			victim = &b[w];
	}
	*found = false;
	return victim;
}

int ng_engine_set_pick(struct ng_engine_set *s, struct str call_id, size_t *idx)
{
	uint64_t h = ng_callid_hash(call_id);
	struct ng_sticky_entry *e;
	bool found;
	int i;

	if (call_id.len == 0) {
		uint64_t r;

		if (random_bytes(&r, sizeof(r)) < 0)
			r = (uint64_t)time_mono_us();
		i = ng_engine_choose(s, r);
		if (i < 0)
			return -EHOSTUNREACH;
		*idx = (size_t)i;
		return 0;
	}
	pthread_mutex_lock(&s->lock);
	e = ng_sticky_slot(s, h, &found);
	if (found) {
		i = e->engine;
	} else if ((i = ng_engine_choose(s, h)) >= 0) {
		s->sticky_count += e->used ? 0 : 1;
		e->hash = h;
		e->engine = (uint8_t)i;
	}
	if (i >= 0)
		e->used = ++s->clock;
	pthread_mutex_unlock(&s->lock);
	if (i < 0)
		return -EHOSTUNREACH;
	*idx = (size_t)i;
	return 0;
}

void ng_engine_set_forget(struct ng_engine_set *s, struct str call_id)
{
	uint64_t h = ng_callid_hash(call_id);
	struct ng_sticky_entry *e;
	bool found;

	pthread_mutex_lock(&s->lock);
	e = ng_sticky_slot(s, h, &found);
	if (found) {
		memset(e, 0, sizeof(*e));
		s->sticky_count--;
	}
	pthread_mutex_unlock(&s->lock);
}

size_t ng_engine_set_sticky_count(struct ng_engine_set *s)
{
	size_t n;

	pthread_mutex_lock(&s->lock);
	n = s->sticky_count;
	pthread_mutex_unlock(&s->lock);
	return n;
}
