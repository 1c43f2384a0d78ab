/*
 * reg_table.c — the live bindings of every registered trunk, in this
 * process's memory (decision 0047): what an origination call to a trunk's
 * number reads instead of asking the store on the event loop.
 *
 * The registrar's thread (reg_store.c) owns the writes: after each REGISTER
 * it commits it puts the address of record's bindings as the store now has
 * them (sip_reg_table_put), and every REG_TABLE_RELOAD_MS it reads all live
 * bindings of the store again (sip_reg_table_reload), which brings in those
 * other sip nodes wrote and drops those that expired or were removed.
 * Workers read (sip_reg_table_targets) with one short lock: a copy of at
 * most a trunk's few bindings out of a hash bucket.  The snapshot loader is
 * not used: it rebuilds every snapshot when the config version changes, and
 * a REGISTER every few seconds per PBX would rebuild the whole policy.
 *
 * Over TCP or TLS a binding this node received keeps the connection its
 * REGISTER came on (conn_id, conn_worker): a call to a PBX behind NAT goes
 * back through it (RFC 5626 §5.3), since a new connection to its received
 * address would not reach it.  When that connection closes the binding
 * goes (sip_reg_table_conn_lost, decision 0053): nothing else leads to it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sip/registrar.h"

#define REG_TABLE_BUCKETS 4096
#define REG_TABLE_ROWS_MAX 200000 /* bindings read by one reload */

/* One address of record's bindings. */
struct reg_aor {
	struct reg_aor *next; /* in its bucket */
	char trunk_id[ID_MAX];
	char aor[SIP_REG_AOR_MAX];
	size_t n;
	struct sip_reg_binding b[SIP_REG_CONTACTS_MAX];
};

/* Guarded by lock: the buckets and every reg_aor in them. */
struct sip_reg_table {
	pthread_mutex_t lock;
	struct reg_aor *buckets[REG_TABLE_BUCKETS];
};

uint32_t sip_reg_hash(const char *key)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (const char *s = key; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

static size_t reg_table_hash(const char *trunk_id)
{
	return sip_reg_hash(trunk_id) % REG_TABLE_BUCKETS;
}

struct sip_reg_table *sip_reg_table_new(void)
{
	struct sip_reg_table *t = calloc(1, sizeof(*t));
	if (t)
		pthread_mutex_init(&t->lock, NULL);
	return t;
}

static void reg_table_clear(struct reg_aor **buckets)
{
	for (size_t i = 0; i < REG_TABLE_BUCKETS; i++)
		while (buckets[i]) {
			struct reg_aor *a = buckets[i];
			buckets[i] = a->next;
			free(a);
		}
}

void sip_reg_table_free(struct sip_reg_table *t)
{
	if (!t)
		return;
	reg_table_clear(t->buckets);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

static struct reg_aor **reg_table_slot(struct reg_aor **buckets, const char *trunk_id,
				       const char *aor)
{
	struct reg_aor **pa = &buckets[reg_table_hash(trunk_id)];
	while (*pa && (strcmp((*pa)->trunk_id, trunk_id) != 0 || strcmp((*pa)->aor, aor) != 0))
		pa = &(*pa)->next;
	return pa;
}

/* A binding of old with b's contact and source keeps its connection and
 * its keep-alive state. */
static void reg_table_keep_conn(const struct reg_aor *old, struct sip_reg_binding *b)
{
	for (size_t i = 0; old && i < old->n; i++) {
		const struct sip_reg_binding *o = &old->b[i];
		if (strcmp(o->contact, b->contact) != 0 || !net_addr_equal(&o->addr, &b->addr) ||
		    o->transport != b->transport)
			continue;
		if (!b->conn_id) {
			b->conn_id = o->conn_id;
			b->conn_worker = o->conn_worker;
		}
		if (b->local)
			continue; /* its REGISTER came just now: alive */
		b->local = o->local;
		b->pinged = o->pinged;
		b->misses = o->misses;
		b->token = o->token;
	}
}

/* Puts n bindings (copied) as the AOR's in buckets; n 0 removes it. */
static int reg_table_put_in(struct reg_aor **buckets, const char *trunk_id, const char *aor,
			    struct sip_reg_binding *b, size_t n)
{
	struct reg_aor **pa = reg_table_slot(buckets, trunk_id, aor);
	struct reg_aor *a = *pa;

	for (size_t i = 0; i < n; i++)
		reg_table_keep_conn(a, &b[i]);
	if (n == 0) {
		if (a) {
			*pa = a->next;
			free(a);
		}
		return 0;
	}
	if (!a) {
		a = calloc(1, sizeof(*a));
		if (!a)
			return -ENOMEM;
		snprintf(a->trunk_id, sizeof(a->trunk_id), "%s", trunk_id);
		snprintf(a->aor, sizeof(a->aor), "%s", aor);
		*pa = a;
	}
	a->n = n < SIP_REG_CONTACTS_MAX ? n : SIP_REG_CONTACTS_MAX;
	memcpy(a->b, b, a->n * sizeof(*b));
	return 0;
}

int sip_reg_table_put(struct sip_reg_table *t, const char *trunk_id, const char *aor,
		      struct sip_reg_binding *b, size_t n)
{
	pthread_mutex_lock(&t->lock);
	int rc = reg_table_put_in(t->buckets, trunk_id, aor, b, n);
	pthread_mutex_unlock(&t->lock);
	return rc;
}

int sip_reg_binding_from_row(struct sip_reg_binding *b, const char *contact, const char *received,
			     const char *transport, int64_t q, int64_t expires_at,
			     int64_t expires_s)
{
	memset(b, 0, sizeof(*b));
	if (snprintf(b->contact, sizeof(b->contact), "%s", contact) >= (int)sizeof(b->contact) ||
	    net_addr_parse(str_from_cstr(received), 5060, &b->addr) < 0)
		return -EINVAL;
	b->transport = strcmp(transport, "tls") == 0   ? SIP_TRANSPORT_TLS
		       : strcmp(transport, "tcp") == 0 ? SIP_TRANSPORT_TCP
						       : SIP_TRANSPORT_UDP;
	b->q = (int)q;
	b->live_until = expires_at + expires_s * 500; /* migration 0021 */
	return 0;
}

/* The rows of one reload into buckets, grouped by (trunk, AOR) as ordered. */
static int reg_table_fill(struct reg_aor **buckets, struct reg_aor **old, struct store_res *r)
{
	struct sip_reg_binding b[SIP_REG_CONTACTS_MAX];
	char trunk[ID_MAX] = "", aor[SIP_REG_AOR_MAX] = "";
	size_t n = 0, rows = store_res_rows(r);
	int rc = 0;

	for (size_t i = 0; i <= rows && rc == 0; i++) {
		bool same = i < rows && strcmp(store_res_text(r, i, 0), trunk) == 0 &&
			    strcmp(store_res_text(r, i, 1), aor) == 0;
		if (!same && n) {
			const struct reg_aor *was = *reg_table_slot(old, trunk, aor);
			for (size_t k = 0; k < n; k++)
				reg_table_keep_conn(was, &b[k]);
			rc = reg_table_put_in(buckets, trunk, aor, b, n);
			n = 0;
		}
		if (i == rows)
			break;
		snprintf(trunk, sizeof(trunk), "%s", store_res_text(r, i, 0));
		snprintf(aor, sizeof(aor), "%s", store_res_text(r, i, 1));
		if (n < SIP_REG_CONTACTS_MAX &&
		    sip_reg_binding_from_row(&b[n], store_res_text(r, i, 2),
					     store_res_text(r, i, 3), store_res_text(r, i, 4),
					     store_res_int(r, i, 5), store_res_int(r, i, 6),
					     store_res_int(r, i, 7)) == 0)
			n++;
	}
	return rc;
}

int sip_reg_table_reload(struct sip_reg_table *t, struct store_conn *c, int64_t now_ms)
{
	const struct store_param p[] = {store_p_int(now_ms), store_p_int(REG_TABLE_ROWS_MAX)};
	struct reg_aor **fresh = calloc(REG_TABLE_BUCKETS, sizeof(*fresh));
	struct store_res *r = NULL;
	int rc = fresh ? 0 : -ENOMEM;

	if (rc == 0)
		rc =
		    store_exec(c,
			       "SELECT trunk_id, aor, contact, received, transport, q, expires_at, "
			       "expires_s FROM registrations WHERE expires_at + expires_s * 500 > "
			       "$1 ORDER BY trunk_id, aor, created_at, id LIMIT $2",
			       p, 2, &r);
	if (rc == 0) {
		pthread_mutex_lock(&t->lock);
		rc = reg_table_fill(fresh, t->buckets, r);
		if (rc == 0) /* swap: the old entries go with fresh below */
			for (size_t i = 0; i < REG_TABLE_BUCKETS; i++) {
				struct reg_aor *o = t->buckets[i];
				t->buckets[i] = fresh[i];
				fresh[i] = o;
			}
		pthread_mutex_unlock(&t->lock);
	}
	store_res_free(r);
	if (fresh)
		reg_table_clear(fresh);
	free(fresh);
	return rc;
}

/* Higher q first (RFC 3261 §16.6 leaves the order to the proxy; §10.2.1.2
 * says q ranks contacts), then as registered. */
static void reg_table_sort(struct sip_reg_binding *b, size_t n)
{
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && b[j].q > b[j - 1].q; j--) {
			struct sip_reg_binding x = b[j];
			b[j] = b[j - 1];
			b[j - 1] = x;
		}
}

size_t sip_reg_table_find(struct sip_reg_table *t, const char *trunk_id, int64_t now_ms,
			  struct sip_reg_binding *out, size_t max)
{
	size_t n = 0;

	pthread_mutex_lock(&t->lock);
	for (const struct reg_aor *a = t->buckets[reg_table_hash(trunk_id)]; a; a = a->next)
		for (size_t i = 0; strcmp(a->trunk_id, trunk_id) == 0 && i < a->n && n < max; i++)
			if (a->b[i].live_until > now_ms)
				out[n++] = a->b[i];
	pthread_mutex_unlock(&t->lock);
	reg_table_sort(out, n);
	return n;
}

/* --------------------------------------------------------- keep-alive */

struct reg_ping_list {
	struct sip_reg_ping *v;
	size_t n, cap;
};

static struct sip_reg_ping *reg_ping_push(struct reg_ping_list *l, const struct reg_aor *a,
					  const struct sip_reg_binding *b)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct sip_reg_ping *v = realloc(l->v, cap * sizeof(*v));
		if (!v)
			return NULL;
		l->v = v;
		l->cap = cap;
	}
	struct sip_reg_ping *p = &l->v[l->n++];
	snprintf(p->trunk_id, sizeof(p->trunk_id), "%s", a->trunk_id);
	snprintf(p->aor, sizeof(p->aor), "%s", a->aor);
	snprintf(p->contact, sizeof(p->contact), "%s", b->contact);
	p->addr = b->addr;
	p->token = b->token;
	return p;
}

/* One AOR's round: its dead bindings out (into dead), the others pinged. */
static void reg_ping_aor(struct reg_aor *a, int misses, struct reg_ping_list *pings,
			 struct reg_ping_list *dead)
{
	for (size_t i = 0; i < a->n;) {
		struct sip_reg_binding *b = &a->b[i];
		if (!b->local || b->transport != SIP_TRANSPORT_UDP) {
			i++;
			continue;
		}
		if (b->pinged)
			b->misses++;
		if (b->misses >= misses && reg_ping_push(dead, a, b)) {
			a->b[i] = a->b[--a->n]; /* out of the table now, the store next */
			continue;
		}
		random_bytes(&b->token, sizeof(b->token));
		b->pinged = reg_ping_push(pings, a, b) != NULL;
		i++;
	}
}

struct sip_reg_ping *sip_reg_table_ping_round(struct sip_reg_table *t, int misses, size_t *n,
					      struct sip_reg_ping **dead, size_t *ndead)
{
	struct reg_ping_list pings = {0}, gone = {0};

	pthread_mutex_lock(&t->lock);
	for (size_t i = 0; i < REG_TABLE_BUCKETS; i++)
		for (struct reg_aor *a = t->buckets[i]; a; a = a->next)
			reg_ping_aor(a, misses > 0 ? misses : 1, &pings, &gone);
	pthread_mutex_unlock(&t->lock);
	*n = pings.n;
	*dead = gone.v;
	*ndead = gone.n;
	return pings.v;
}

/* ------------------------------------------------- closed connections */

struct sip_reg_ping *sip_reg_table_conn_lost(struct sip_reg_table *t, unsigned worker,
					     uint64_t conn_id, size_t *n)
{
	struct reg_ping_list gone = {0};

	pthread_mutex_lock(&t->lock);
	for (size_t i = 0; conn_id && i < REG_TABLE_BUCKETS; i++)
		for (struct reg_aor *a = t->buckets[i]; a; a = a->next)
			for (size_t k = 0; k < a->n;) {
				const struct sip_reg_binding *b = &a->b[k];
				if (b->conn_id != conn_id || b->conn_worker != worker ||
				    !reg_ping_push(&gone, a, b)) {
					k++;
					continue;
				}
				a->b[k] = a->b[--a->n]; /* out of the table now, the store next */
			}
	pthread_mutex_unlock(&t->lock);
	*n = gone.n;
	return gone.v;
}

void sip_reg_table_pong(struct sip_reg_table *t, const char *trunk_id, uint64_t token)
{
	pthread_mutex_lock(&t->lock);
	for (struct reg_aor *a = t->buckets[reg_table_hash(trunk_id)]; a; a = a->next)
		for (size_t i = 0; strcmp(a->trunk_id, trunk_id) == 0 && i < a->n; i++)
			if (a->b[i].pinged && a->b[i].token == token) {
				a->b[i].pinged = false;
				a->b[i].misses = 0;
			}
	pthread_mutex_unlock(&t->lock);
}

int sip_reg_ping_branch_parse(struct str branch, char *trunk, size_t n, uint64_t *token)
{
	const size_t pre = sizeof(SIP_REG_PING_BRANCH) - 1;
	struct str rest;
	ptrdiff_t dot;
	uint64_t v = 0;

	if (!str_has_prefix(branch, STR_LIT(SIP_REG_PING_BRANCH)))
		return -EINVAL;
	rest = (struct str){branch.p + pre, branch.len - pre};
	dot = str_index(rest, '.');
	/* "<trunk>.<16 hex digits>" */
	if (dot <= 0 || (size_t)dot >= n || rest.len - (size_t)dot - 1 != 16)
		return -EINVAL;
	for (size_t i = (size_t)dot + 1; i < rest.len; i++) {
		char c = rest.p[i];
		int d = c >= '0' && c <= '9'   ? c - '0'
			: c >= 'a' && c <= 'f' ? c - 'a' + 10
			: c >= 'A' && c <= 'F' ? c - 'A' + 10
					       : -1;
		if (d < 0)
			return -EINVAL;
		v = v << 4 | (uint64_t)d;
	}
	memcpy(trunk, rest.p, (size_t)dot);
	trunk[dot] = '\0';
	*token = v;
	return 0;
}
