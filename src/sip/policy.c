/*
 * policy.c — the call policy behind policy.h: for each initial INVITE, who
 * is calling (a customer trunk by its ACL, or a carrier gateway), whether
 * the call is allowed, and where to send it, in which order.
 *
 * Termination (source matches a trunk ACL): the customer must be active and
 * the trunk enabled (403); the trunk's tech prefix is stripped from the
 * Request-URI user (a user without it is taken as it is; when trunks share
 * an address, the one whose tech prefix the user carries wins) and the rest
 * normalised to E.164 digits (484 when it cannot be: see
 * number_normalize); a blocked prefix answers 403; the route
 * is the longest prefix over the customer's and the global routes, the
 * customer's winning on equal length (so a longer global prefix beats a
 * shorter customer prefix: "longest prefix wins overall").  No route answers
 * 404 Not Found: no route is a permanent fact of the number, and a 503
 * would invite the customer to retry the same call.  Routes that exist but
 * whose carriers are all disabled, over their limits, or whose gateways are
 * all down answer 503 (temporary).  Carriers are tried by route priority,
 * weight-random within a priority (a route in lcr mode: by buy rate first,
 * lcr.c, decision 0038; no carrier left by it answers 503 with its reason);
 * each carrier's gateways by priority,
 * weight-random within a priority, skipping gateways the prober marked
 * down.  CPS and channel limits of trunk and customer answer 503 with the
 * reason "CPS limit" / "channel limit"; they are taken only once a route
 * exists, so refused numbers do not use up a customer's CPS.
 *
 * Carrier limits are charged per attempt (sip_policy_attempt_start): before
 * the core sends the INVITE to a gateway of carrier X, one CPS token of X
 * and a channel of X are taken (the channel only when the call does not
 * hold X's already, from an attempt at another gateway of X), and the
 * channel of the carrier the call leaves is given back; an answered call
 * keeps its carrier's channel to the end.  A carrier over a limit at that
 * moment is skipped (sip_policy_attempt_start refuses each of its targets);
 * when no target is left and a carrier limit skipped one, the call is
 * answered 503 with the reason "carrier CPS limit" / "carrier channel
 * limit" (sip_policy_attempts_exhausted).  A skipped target is not in the
 * CDR's attempts: an attempt is an INVITE sent, and the per-carrier
 * seizure counts come from them; the CDR's final reason names the limit.
 * Carriers already over a limit when the call is planned are left out of
 * the plan, and when that leaves no target the plan answers the same 503.
 *
 * Origination (source is a gateway address): the R-URI user, normalised,
 * must be a number with voice on and a trunk (404 otherwise); the targets
 * are that trunk's destinations (priority, then weight-random).  Channels
 * of the trunk and customer are held; CPS is a termination limit.
 *
 * Digest (digest.c): a source in no ACL whose request the core admitted
 * with a trunk's credentials is that trunk's termination, exactly as if
 * its address had matched (an ACL match is looked at first and suffices).
 *
 * Anything else answers 403.  The policy does not count its own refusals
 * towards a ban: the core calls sip_policy_note_refused once per refusal.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sip/policy_private.h"

#define POLICY_CHOICES_MAX 64 /* carriers of a route / gateways of a carrier considered */
#define POLICY_HOLD_MAX 2     /* trunk, customer */

/* What a call holds, allocated with its plan so that an attempt allocates
 * nothing: trunk and customer channels from the plan to the end; per target
 * the carrier's limit entry (NULL: none, as for origination); the carrier
 * whose channel the call holds now; and why a carrier was last skipped. */
struct policy_hold {
	struct sip_limit *e[POLICY_HOLD_MAX];
	struct sip_limit *carrier[SIP_TARGETS_MAX];
	struct sip_limit *held;
	int skipped; /* 0, SIP_LIMIT_E_CPS or SIP_LIMIT_E_CHANNEL */
};

/* ------------------------------------------------------------ random */

/* Per-thread xorshift64*: weight-random choices need speed, not secrecy. */
static uint64_t policy_rand(void)
{
	static _Thread_local uint64_t x;

	if (x == 0 && (random_bytes(&x, sizeof(x)) < 0 || x == 0))
		x = (uint64_t)time_mono_us() | 1;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	return x * 0x2545F4914F6CDD1DULL;
}

/* Orders c (sorted by priority) weight-randomly within each priority:
 * repeated weighted draws without replacement.  Weights <= 0 are chosen
 * only after every positive weight of their priority. */
static void order_weighted(struct psnap_choice *c, size_t n)
{
	for (size_t g = 0; g < n;) {
		size_t end = g;

		while (end < n && c[end].priority == c[g].priority)
			end++;
		for (size_t pos = g; pos + 1 < end; pos++) {
			uint64_t sum = 0, r;
			size_t j = pos;

			for (size_t k = pos; k < end; k++)
				sum += c[k].weight > 0 ? (uint64_t)c[k].weight : 0;
			if (sum == 0)
				break;
			r = policy_rand() % sum;
			for (j = pos; j < end; j++) {
				uint64_t w = c[j].weight > 0 ? (uint64_t)c[j].weight : 0;

				if (r < w)
					break;
				r -= w;
			}
			struct psnap_choice t = c[pos];

			c[pos] = c[j];
			c[j] = t;
		}
		g = end;
	}
}

/* ------------------------------------------------------------ numbers */

/* The Request-URI user as E.164 digits.  Accepted: "+" and 7..15 digits,
 * "00" and 7..15 digits (international prefix), or 8..15 plain digits
 * already in international format (wholesale peers send them so); visual
 * separators "-", ".", "(", ")" are dropped (RFC 3966 §5.1.1).  Anything
 * else is an incomplete or foreign address: -EINVAL (484). */
static int number_normalize(struct str in, char *out, size_t n)
{
	size_t i = 0, j = 0, min = 8;

	if (in.len && in.p[0] == '+') {
		i = 1;
		min = 7;
	} else if (in.len >= 2 && in.p[0] == '0' && in.p[1] == '0') {
		i = 2;
		min = 7;
	}
	for (; i < in.len; i++) {
		char ch = in.p[i];

		if (ch == '-' || ch == '.' || ch == '(' || ch == ')')
			continue;
		if (ch < '0' || ch > '9' || j + 1 >= n || j >= 15)
			return -EINVAL;
		out[j++] = ch;
	}
	out[j] = '\0';
	return j >= min ? 0 : -EINVAL;
}

/* --------------------------------------------------------------- plan */

static int plan_reject(struct sip_call_plan *plan, int code, const char *reason)
{
	plan->reject_code = code;
	str_copy(plan->reject_reason, sizeof(plan->reject_reason), str_from_cstr(reason));
	plan->ntargets = 0;
	return 0;
}

static size_t plan_cap(const struct sip_call_plan *plan)
{
	size_t cap = plan->max_attempts > 0 ? (size_t)plan->max_attempts : 1;

	return cap < SIP_TARGETS_MAX ? cap : SIP_TARGETS_MAX;
}

/* out = a b, cut to fit (a 31-digit prefix with a 15-digit number fits). */
static void user_join(char *out, size_t n, const char *a, const char *b)
{
	size_t la = strnlen(a, n - 1), lb = strnlen(b, n - 1 - la);

	memcpy(out, a, la);
	memcpy(out + la, b, lb);
	out[la + lb] = '\0';
}

static void target_from_gateway(struct sip_target *t, const struct psnap_carrier *ca,
				const struct psnap_gateway *g, const char *number)
{
	memset(t, 0, sizeof(*t));
	t->addr = g->addr;
	t->transport = g->transport;
	str_copy(t->host, sizeof(t->host), str_from_cstr(g->host));
	t->port = g->port;
	user_join(t->user, sizeof(t->user), ca->tech_prefix, number);
	str_copy(t->carrier_id, sizeof(t->carrier_id), str_from_cstr(ca->id));
	str_copy(t->gateway_id, sizeof(t->gateway_id), str_from_cstr(g->id));
	memcpy(t->stop_codes, ca->stop_codes, sizeof(t->stop_codes));
	t->nstop_codes = ca->nstop_codes;
}

/* Candidates first .. first + n of one array (a carrier's gateways, a
 * trunk's destinations): rank gives each its priority and weight, take
 * turns the one at idx into a target (or none). */
struct plan_source {
	size_t first, n;
	void (*rank)(const struct psnap *s, size_t idx, struct psnap_choice *c);
	void (*take)(const struct psnap *s, size_t idx, const void *arg,
		     struct sip_call_plan *plan);
	const void *arg;
};

/* Appends src's candidates to the plan by priority, weight-random within
 * one (order_weighted), up to the plan's cap. */
static void plan_add_ordered(const struct psnap *s, const struct plan_source *src,
			     struct sip_call_plan *plan)
{
	struct psnap_choice c[POLICY_CHOICES_MAX];
	size_t n = src->n < POLICY_CHOICES_MAX ? src->n : POLICY_CHOICES_MAX;

	for (size_t i = 0; i < n; i++) {
		c[i].idx = src->first + i;
		src->rank(s, c[i].idx, &c[i]);
	}
	order_weighted(c, n);
	for (size_t i = 0; i < n && plan->ntargets < plan_cap(plan); i++)
		src->take(s, c[i].idx, src->arg, plan);
}

static void gateway_rank(const struct psnap *s, size_t idx, struct psnap_choice *c)
{
	c->priority = s->gateways[idx].priority;
	c->weight = s->gateways[idx].weight;
}

/* A gateway of carrier arg, unless unresolved or marked down by the prober. */
static void gateway_take(const struct psnap *s, size_t idx, const void *arg,
			 struct sip_call_plan *plan)
{
	const struct psnap_gateway *g = &s->gateways[idx];

	if (!g->resolved || atomic_load_explicit(&g->state->down, memory_order_relaxed))
		return;
	target_from_gateway(&plan->targets[plan->ntargets++], arg, g, plan->normalized);
}

/* Appends the usable gateways of ca, in order, up to the plan's cap. */
static void plan_add_carrier(const struct psnap *s, const struct psnap_carrier *ca,
			     struct sip_call_plan *plan)
{
	const struct plan_source src = {ca->gw_first, ca->ngw, gateway_rank, gateway_take, ca};

	plan_add_ordered(s, &src, plan);
}

/* Adds the targets of the route's carriers in order; a carrier over a
 * limit now is left out, and *limited says why (0: none was). */
static int plan_add_route(struct sip_policy *p, const struct psnap *s, const struct psnap_trunk *t,
			  const struct psnap_route *rt, int64_t now_ms, struct sip_call_plan *plan,
			  int *limited)
{
	struct psnap_choice ch[POLICY_CHOICES_MAX];
	size_t n = rt->nchoices < POLICY_CHOICES_MAX ? rt->nchoices : POLICY_CHOICES_MAX;
	int lcr_out;

	memcpy(ch, &s->choices[rt->choice_first], n * sizeof(*ch));
	if (rt->lcr && (lcr_out = sip_lcr_choices(p, s, t, rt, plan, ch, &n)) != 0)
		return lcr_out;
	order_weighted(ch, n);
	for (size_t i = 0; i < n && plan->ntargets < plan_cap(plan); i++) {
		const struct psnap_carrier *ca = &s->carriers[ch[i].idx];

		if (!ca->enabled)
			continue;
		if (!sip_limits_available(p->env->limits, ca->limit, true, now_ms)) {
			*limited = sip_limits_available(p->env->limits, ca->limit, false, now_ms)
				       ? SIP_LIMIT_E_CPS
				       : SIP_LIMIT_E_CHANNEL;
			continue;
		}
		size_t first = plan->ntargets;

		plan_add_carrier(s, ca, plan);
		for (size_t k = first; k < plan->ntargets; k++) {
			plan->targets[k].has_buy_rate = ch[i].has_buy_rate;
			plan->targets[k].buy_rate = ch[i].buy_rate;
		}
	}
	return 0;
}

static void plan_count_reject(struct sip_policy *p, int why)
{
	struct metric *m = why == SIP_LIMIT_E_CPS ? p->cps_rejects : p->channel_rejects;

	if (m)
		metric_inc(m);
}

/* 503 for a carrier over its limit (why: SIP_LIMIT_E_*). */
static int plan_reject_carrier(struct sip_policy *p, struct sip_call_plan *plan, int why)
{
	plan_count_reject(p, why);
	return plan_reject(plan, 503,
			   why == SIP_LIMIT_E_CPS ? "carrier CPS limit" : "carrier channel limit");
}

/* Takes trunk and customer limits for a routed plan and notes each
 * target's carrier entry; carriers are charged per attempt.  limited: why
 * a carrier was left out of the plan (0: none was), as if it had been
 * skipped at its attempt. */
static int plan_take_limits(struct sip_policy *p, const struct psnap *s,
			    const struct psnap_trunk *t, bool cps, int limited, int64_t now_ms,
			    struct sip_call_plan *plan)
{
	struct policy_hold h = {.e = {t->limit, t->customer_limit}, .skipped = limited};
	int rc = sip_limits_take(p->env->limits, h.e, POLICY_HOLD_MAX, cps, now_ms, NULL);

	if (rc != 0) {
		plan_count_reject(p, rc);
		return plan_reject(plan, 503,
				   rc == SIP_LIMIT_E_CPS ? "CPS limit" : "channel limit");
	}
	for (size_t i = 0; i < plan->ntargets && i < SIP_TARGETS_MAX; i++) {
		const struct psnap_carrier *ca =
		    plan->targets[i].carrier_id[0]
			? psnap_carrier_find(s, plan->targets[i].carrier_id)
			: NULL;

		h.carrier[i] = ca ? ca->limit : NULL;
	}
	plan->hold = malloc(sizeof(h));
	if (!plan->hold) {
		sip_limits_release(p->env->limits, h.e, POLICY_HOLD_MAX);
		return -ENOMEM;
	}
	memcpy(plan->hold, &h, sizeof(h));
	return 0;
}

static bool blocked_prefix(const struct psnap *s, const struct psnap_trunk *t, const char *num)
{
	for (size_t i = 0; i < t->nblocked; i++) {
		const char *b = s->blocked[t->blocked_first + i];

		if (b[0] && strncmp(num, b, strlen(b)) == 0)
			return true;
	}
	return false;
}

static int plan_termination(struct sip_policy *p, const struct psnap *s,
			    const struct psnap_trunk *t, int64_t now_ms, struct sip_call_plan *plan)
{
	struct str user = str_from_cstr(plan->dialed);
	struct str tp = str_from_cstr(t->tech_prefix);
	const struct psnap_route *rt;
	int limited = 0;

	plan->dir = SIP_DIR_TERMINATION;
	str_copy(plan->customer_id, sizeof(plan->customer_id), str_from_cstr(t->customer_id));
	str_copy(plan->trunk_id, sizeof(plan->trunk_id), str_from_cstr(t->id));
	plan->max_duration_ms = t->max_duration_ms;
	plan->media_relay = t->media_relay;
	plan->topology_hiding = t->topology_hiding;
	if (!t->customer_active)
		return plan_reject(plan, 403, "customer suspended");
	if (!t->enabled)
		return plan_reject(plan, 403, "trunk disabled");
	if (tp.len && str_has_prefix(user, tp)) {
		user.p += tp.len;
		user.len -= tp.len;
	}
	if (number_normalize(user, plan->normalized, sizeof(plan->normalized)) < 0)
		return plan_reject(plan, 484, "number not E.164");
	if (blocked_prefix(s, t, plan->normalized))
		return plan_reject(plan, 403, "destination blocked");
	rt = psnap_route_find(s, t->customer_id, plan->normalized);
	if (!rt)
		return plan_reject(plan, 404, "no route");
	int lcr_out = plan_add_route(p, s, t, rt, now_ms, plan, &limited);

	if (lcr_out)
		return plan_reject(plan, 503, sip_lcr_reject_reason(lcr_out));
	if (plan->ntargets == 0 && limited)
		return plan_reject_carrier(p, plan, limited);
	if (plan->ntargets == 0)
		return plan_reject(plan, 503, "no carrier available");
	return plan_take_limits(p, s, t, true, limited, now_ms, plan);
}

static void dest_rank(const struct psnap *s, size_t idx, struct psnap_choice *c)
{
	c->priority = s->dests[idx].priority;
	c->weight = s->dests[idx].weight;
}

static void dest_take(const struct psnap *s, size_t idx, const void *arg,
		      struct sip_call_plan *plan)
{
	const struct psnap_dest *de = &s->dests[idx];
	struct sip_target *tg = &plan->targets[plan->ntargets++];

	(void)arg;
	*tg = de->target;
	if (!de->has_user) /* the customer's equipment gets E.164 with '+' */
		user_join(tg->user, sizeof(tg->user), "+", plan->normalized);
}

static int plan_origination(struct sip_policy *p, const struct psnap *s, int64_t now_ms,
			    struct sip_call_plan *plan)
{
	const struct psnap_number *nu = NULL;
	const struct psnap_trunk *t;

	plan->dir = SIP_DIR_ORIGINATION;
	if (number_normalize(str_from_cstr(plan->dialed), plan->normalized,
			     sizeof(plan->normalized)) == 0)
		nu = psnap_number_find(s, plan->normalized);
	if (!nu || !nu->voice || nu->trunk == SIZE_MAX)
		return plan_reject(plan, 404, "unknown number");
	t = &s->trunks[nu->trunk];
	str_copy(plan->customer_id, sizeof(plan->customer_id), str_from_cstr(t->customer_id));
	str_copy(plan->trunk_id, sizeof(plan->trunk_id), str_from_cstr(t->id));
	plan->max_duration_ms = t->max_duration_ms;
	plan->media_relay = t->media_relay;
	plan->topology_hiding = t->topology_hiding;
	if (!t->customer_active)
		return plan_reject(plan, 403, "customer suspended");
	if (!t->enabled)
		return plan_reject(plan, 403, "trunk disabled");
	const struct plan_source src = {t->dest_first, t->ndests, dest_rank, dest_take, NULL};

	/* A PBX that registers is where its REGISTER said (decision 0047). */
	if (p->o.registered)
		plan->ntargets =
		    p->o.registered(p->o.registered_arg, t->id, plan->targets, plan_cap(plan));
	plan->fork = plan->ntargets > 1; /* a PBX's devices ring together (§16.7) */
	if (plan->ntargets == 0)
		plan_add_ordered(s, &src, plan);
	if (plan->ntargets == 0)
		return plan_reject(plan, 480, "no destination");
	return plan_take_limits(p, s, t, false, 0, now_ms, plan);
}

/* Copies the user part of uri (unescaped; parameters after ';' dropped). */
static void user_copy(char *out, size_t n, const struct sip_uri *u)
{
	size_t len = 0;

	out[0] = '\0';
	if (sip_uri_unescape(u->user, out, n - 1, &len) < 0)
		len = 0;
	out[len] = '\0';
	char *semi = strchr(out, ';'); /* RFC 3966 §3 / RFC 3261 §19.1.6 user=phone */

	if (semi)
		*semi = '\0';
}

static void plan_init(struct sip_policy *p, struct sip_msg *m, struct sip_call_plan *plan)
{
	struct sip_addr from;

	memset(plan, 0, sizeof(*plan));
	plan->setup_timeout_ms = p->o.cfg.setup_timeout_ms;
	plan->max_attempts = p->o.cfg.max_attempts;
	if (sip_msg_from(m, &from) == 0)
		user_copy(plan->caller, sizeof(plan->caller), &from.uri);
}

/* The targets were built in scratch space: a routed plan keeps a copy the
 * size of what it found (a held call should not carry sixteen slots), any
 * other outcome none.  Failing that copy undoes the plan's hold. */
static int plan_targets_keep(struct sip_policy *p, struct sip_call_plan *plan, int rc)
{
	const struct sip_target *scratch = plan->targets;

	plan->targets = NULL;
	if (rc < 0 || plan->reject_code || plan->ntargets == 0) {
		plan->ntargets = 0;
		return rc;
	}
	plan->targets = malloc(plan->ntargets * sizeof(*plan->targets));
	if (!plan->targets) {
		plan->ntargets = 0;
		sip_policy_call_end(p, plan);
		return -ENOMEM;
	}
	memcpy(plan->targets, scratch, plan->ntargets * sizeof(*plan->targets));
	return 0;
}

int sip_policy_plan_invite(struct sip_policy *p, struct sip_msg *m, const struct net_addr *src,
			   int64_t now_ms, struct sip_call_plan *plan)
{
	struct sip_target scratch[SIP_TARGETS_MAX];
	struct sip_uri ruri;
	const struct psnap *s;
	size_t t;
	int rc;

	plan_init(p, m, plan);
	if (sip_msg_ruri(m, &ruri) < 0)
		return plan_reject(plan, 400, "bad Request-URI");
	user_copy(plan->dialed, sizeof(plan->dialed), &ruri);
	s = snapshot_acquire(p->snap);
	if (!s)
		return -EAGAIN;
	plan->targets = scratch;
	t = psnap_trunk_find(s, src, str_from_cstr(plan->dialed));
	if (t != SIZE_MAX)
		rc = plan_termination(p, s, &s->trunks[t], now_ms, plan);
	else if (psnap_is_gateway_ip(s, src))
		rc = plan_origination(p, s, now_ms, plan);
	else if ((t = sip_digest_admitted_trunk(s, m, src)) != SIZE_MAX)
		rc = plan_termination(p, s, &s->trunks[t], now_ms, plan);
	else
		rc = plan_reject(plan, 403, "unknown source");
	snapshot_release(p->snap, s);
	return plan_targets_keep(p, plan, rc);
}

void sip_policy_plan_targets_free(struct sip_call_plan *plan)
{
	free(plan->targets);
	plan->targets = NULL;
	plan->ntargets = 0;
}

void sip_policy_call_answered(struct sip_policy *p, struct sip_call_plan *plan)
{
	/* Channels stay held until sip_policy_call_end; answer statistics
	 * come from the CDR (sip_cdr_submit), which knows the carrier. */
	(void)p;
	(void)plan;
}

/* hot path: no allocation, one lock of the limit table */
int sip_policy_attempt_start(struct sip_policy *p, struct sip_call_plan *plan, size_t i,
			     int64_t now_ms)
{
	struct policy_hold *h = plan->hold;
	struct sip_limit *to;
	int rc;

	if (!h || i >= SIP_TARGETS_MAX)
		return 0;
	to = h->carrier[i];
	if (!to) {
		/* No carrier (origination): a carrier held before is left. */
		if (h->held)
			sip_limits_release(p->env->limits, &h->held, 1);
		h->held = NULL;
		return 0;
	}
	rc = sip_limits_move(p->env->limits, h->held, to, true, now_ms);
	if (rc != 0) {
		h->skipped = rc;
		return -EBUSY;
	}
	h->held = to;
	return 0;
}

int sip_policy_attempts_exhausted(struct sip_policy *p, struct sip_call_plan *plan)
{
	const struct policy_hold *h = plan->hold;

	if (!h || !h->skipped)
		return 0;
	return plan_reject_carrier(p, plan, h->skipped) == 0 ? 503 : 0;
}

void sip_policy_call_end(struct sip_policy *p, struct sip_call_plan *plan)
{
	struct policy_hold *h = plan->hold;

	sip_policy_plan_targets_free(plan);
	if (!h)
		return;
	sip_limits_release(p->env->limits, h->e, POLICY_HOLD_MAX);
	if (h->held)
		sip_limits_release(p->env->limits, &h->held, 1);
	free(h);
	plan->hold = NULL;
}

/* ------------------------------------------------------------ sources */

/* A known trunk or gateway address is never ignored, even if it was banned
 * while unknown and provisioned since: the snapshot is asked only for a
 * banned source, so the packet path pays nothing for the rule. */
bool sip_policy_source_banned(struct sip_policy *p, const struct net_addr *src, int64_t now_ms)
{
	if (!sip_bans_check(p->bans, src, now_ms) || sip_policy_source_known(p, src))
		return false;
	metric_inc(p->banned_ignored);
	return true;
}

/* Refusals of known sources (a trunk dialling a blocked prefix) never
 * count towards a ban: only strangers are banned. */
static void policy_note(struct sip_policy *p, const struct net_addr *src, int64_t now_ms,
			bool challenge)
{
	int64_t until;

	if (sip_policy_source_known(p, src))
		return;
	until = challenge ? sip_bans_note_challenge(p->bans, src, now_ms)
			  : sip_bans_note(p->bans, src, now_ms);
	if (!until)
		return;
	int64_t wall = time_wall_ms(); /* now_ms is the packet path's clock */
	metric_inc(p->bans_started);
	sip_ban_log_note(p->ban_log, src, wall + (until - now_ms), wall);
}

void sip_policy_note_refused(struct sip_policy *p, const struct net_addr *src, int64_t now_ms)
{
	policy_note(p, src, now_ms, false);
}

void sip_policy_note_challenged(struct sip_policy *p, const struct net_addr *src, int64_t now_ms)
{
	policy_note(p, src, now_ms, true);
}

void sip_policy_note_authenticated(struct sip_policy *p, const struct net_addr *src)
{
	sip_bans_note_authenticated(p->bans, src);
}

bool sip_policy_source_known(struct sip_policy *p, const struct net_addr *src)
{
	const struct psnap *s = snapshot_acquire(p->snap);
	bool known;

	if (!s)
		return false;
	known = psnap_trunk_find(s, src, STR_NULL) != SIZE_MAX || psnap_is_gateway_ip(s, src);
	snapshot_release(p->snap, s);
	return known;
}

/* ----------------------------------------------------------- lifetime */

/* An unlabelled counter of the policy's (NULL when it cannot be made). */
static struct metric *policy_counter(struct metrics *m, const char *name, const char *help)
{
	struct metric_family *f = metrics_counter(m, name, help, NULL);
	return f ? metric_get(f) : NULL;
}

static void policy_metrics(struct sip_policy *p)
{
	struct metrics *m = metrics_default();

	p->cps_rejects =
	    policy_counter(m, "warp_sip_cps_rejects_total",
			   "Calls refused with 503 for a CPS limit (trunk, customer or carrier).");
	p->channel_rejects = policy_counter(m, "warp_sip_channel_rejects_total",
					    "Calls refused with 503 for a channel limit.");
	p->bans_started =
	    policy_counter(m, "warp_sip_bans_total",
			   "Sources banned for flooding or scanning (too many refusals within "
			   "[sip] flood_window): ignored for flood_ban.");
	p->banned_ignored = policy_counter(m, "warp_sip_banned_ignored_total",
					   "Messages from banned sources dropped unanswered.");
	sip_lcr_metrics(p);
	p->env->gw_up =
	    metrics_gauge(m, "warp_sip_gateway_up",
			  "1 while the gateway answers OPTIONS probes, 0 when down, -1 when not "
			  "probed (probe off, or no probe round has decided yet).",
			  "gateway");
	p->env->gw_info = metrics_gauge(m, "warp_sip_gateway_info",
					"1 per gateway in the store: its carrier and address.",
					"gateway,carrier,carrier_name,host,port,transport");
	p->env->car_attempts =
	    metrics_counter(m, "warp_sip_carrier_attempts_total",
			    "INVITE attempts (seizures) sent to the carrier.", "carrier");
	p->env->car_answered =
	    metrics_counter(m, "warp_sip_carrier_answered_total",
			    "Calls the carrier answered; ASR = answered / attempts.", "carrier");
	p->env->car_duration = metrics_counter(
	    m, "warp_sip_carrier_duration_seconds_total",
	    "Answered seconds on the carrier; ACD = duration / answered.", "carrier");
}

/* [limits] backend = redis: the table admits on cluster views brought by
 * the sync thread (decision 0046), and says so in two series. */
static int policy_limits_cluster(struct sip_policy *p, char *err, size_t errlen)
{
	struct metric_family *f =
	    metrics_counter(metrics_default(), "warp_sip_limits_fallback_total",
			    "Limit checks made on this node's share of a limit because the "
			    "cluster view (Redis) was unavailable.",
			    NULL);

	sip_limits_cluster(p->env->limits, p->o.cfg.limits.nodes, f ? metric_get(f) : NULL);
	p->limits_sync = sip_limits_sync_new(p->env->limits, &p->o.cfg.limits, err, errlen);
	return p->limits_sync ? 0 : -EINVAL;
}

bool sip_policy_limits_degraded(struct sip_policy *p)
{
	return p->limits_sync && sip_limits_degraded(p->env->limits);
}

struct sip_policy *sip_policy_new(const struct sip_policy_opts *o, char *err, size_t errlen)
{
	struct sip_policy *p = calloc(1, sizeof(*p));

	if (!p || !o->store || !o->loader) {
		snprintf(err, errlen, "sip policy: %s",
			 p ? "a store and a loader are required" : "out of memory");
		free(p);
		return NULL;
	}
	p->o = *o;
	p->o.cfg.setup_timeout_ms = o->cfg.setup_timeout_ms > 0 ? o->cfg.setup_timeout_ms : 8000;
	p->o.cfg.max_attempts = o->cfg.max_attempts > 0 ? o->cfg.max_attempts : 5;
	p->env = psnap_env_new();
	if (!p->env) {
		snprintf(err, errlen, "sip policy: out of memory");
		free(p);
		return NULL;
	}
	policy_metrics(p);
	p->bans = sip_bans_new(o->cfg.flood_table_size ? o->cfg.flood_table_size : 4096,
			       o->cfg.flood_refusals, o->cfg.flood_window_ms, o->cfg.flood_ban_ms);
	p->cdr = sip_cdr_writer_new(o->store);
	p->ban_log = o->store ? sip_ban_log_new(o->store) : NULL;
	p->digest_seen = sip_digest_seen_new(SIP_DIGEST_SEEN_SLOTS);
	if (o->cfg.call_heartbeat_ms > 0)
		p->journal = sip_journal_new(o->store, o->cfg.call_heartbeat_ms);
	if (!p->bans || !p->cdr || !p->digest_seen || (o->store && !p->ban_log) ||
	    (o->cfg.call_heartbeat_ms > 0 && !p->journal)) {
		snprintf(err, errlen, "sip policy: out of memory");
		goto fail;
	}
	if (o->cfg.limits.redis && policy_limits_cluster(p, err, errlen) < 0)
		goto fail;
	p->snap = snapshot_register(o->loader, "sip_policy", psnap_build, psnap_free, p->env);
	if (!p->snap) {
		snprintf(err, errlen, "sip policy: the first snapshot build failed");
		goto fail;
	}
	return p;
fail:
	sip_policy_free(p);
	return NULL;
}

int sip_policy_start(struct sip_policy *p)
{
	char err[128];

	if (p->journal && sip_journal_start(p->journal, err, sizeof(err)) < 0) {
		log_error("sip", "call journal: %s", err);
		return -EAGAIN;
	}
	if (p->limits_sync && sip_limits_sync_start(p->limits_sync, err, sizeof(err)) < 0) {
		log_error("sip", "limits: %s", err);
		return -EAGAIN;
	}
	if (p->o.cfg.probe_interval_ms <= 0 || p->prober)
		return 0;
	p->prober = sip_prober_new(p->snap, p->o.cfg.probe_interval_ms, p->o.tls_client);
	if (!p->prober)
		return -ENOMEM;
	if (sip_prober_start(p->prober, err, sizeof(err)) < 0) {
		log_error("sip", "gateway prober: %s", err);
		sip_prober_free(p->prober);
		p->prober = NULL;
		return -EIO;
	}
	return 0;
}

void sip_policy_stop(struct sip_policy *p)
{
	sip_prober_free(p->prober);
	p->prober = NULL;
}

/* The loader may outlive the policy: its snapshots keep the shared tables
 * alive (psnap_env) and later builds are refused. */
void sip_policy_free(struct sip_policy *p)
{
	if (!p)
		return;
	sip_policy_stop(p);
	sip_limits_sync_free(p->limits_sync); /* before the table goes */
	sip_cdr_writer_free(p->cdr);	      /* flushes the journal's rows too */
	sip_journal_free(p->journal);
	sip_bans_free(p->bans);
	sip_ban_log_free(p->ban_log);
	sip_digest_seen_free(p->digest_seen);
	atomic_store(&p->env->closed, true);
	psnap_env_release(p->env);
	free(p);
}
