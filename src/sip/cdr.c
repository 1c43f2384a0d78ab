/*
 * cdr.c — one CDR row per call, written through the store's batching writer
 * (group commit), and the per-carrier call counters derived from it.
 *
 * The statement is INSERT … ON CONFLICT (call_id, direction) DO NOTHING, so
 * a batch the writer retries after a failed commit never doubles a call
 * (principle 2 of docs/ARCHITECTURE.md).  The caller's done callback runs on the writer
 * thread once the row is durable; the core frees the call after it.
 *
 * Durations: duration_ms runs from answer to end (0 for an unanswered call);
 * billable_ms is the duration rounded up to whole seconds, still in
 * milliseconds (61 001 ms bills 62 000 ms).  Rating increments (60/6, 6/6)
 * are the billing module's to apply on top.
 *
 * An origination CDR names the carrier and gateway the call came in from:
 * the core's targets for it are the customer's destinations, which have
 * none, so the gateway is found again here by the call's source address,
 * as plan_origination recognised it (in the snapshot current at the call's
 * end: a gateway deleted during the call leaves them empty).
 *
 * Metrics for ASR and ACD per carrier (Prometheus divides):
 *   warp_sip_carrier_attempts_total{carrier}   one per attempt (seizure)
 *   warp_sip_carrier_answered_total{carrier}   one per answered call
 *   warp_sip_carrier_duration_seconds_total{carrier}  answered seconds
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sip/policy_private.h"

#define CDR_COLUMNS SIP_CDR_COLUMNS
#define CDR_QUEUE_MAX 20000
#define CDR_BATCH_ROWS 256
#define CDR_BATCH_DELAY_MS 20

struct sip_cdr_writer {
	struct store_batch *batch;
};

/* A CDR the journal wrote for this call while its process seemed stopped
 * (journal.c: it was only cut off from the store) gives way to the real
 * one; any other existing row is this one retried, left as it is. */
static const char cdr_insert_sql[] =
    "INSERT INTO cdrs (" SIP_CDR_COLUMNS_SQL ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, "
    "$11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28) "
    "ON CONFLICT (call_id, direction) DO UPDATE SET carrier_id = excluded.carrier_id, "
    "gateway_id = excluded.gateway_id, end_ms = excluded.end_ms, "
    "duration_ms = excluded.duration_ms, billable_ms = excluded.billable_ms, "
    "final_code = excluded.final_code, final_reason = excluded.final_reason, "
    "hangup = excluded.hangup, attempts = excluded.attempts, "
    "rtp_packets_a = excluded.rtp_packets_a, rtp_packets_b = excluded.rtp_packets_b, "
    "rtp_lost_a = excluded.rtp_lost_a, rtp_lost_b = excluded.rtp_lost_b, "
    "rtp_jitter_us_a = excluded.rtp_jitter_us_a, rtp_jitter_us_b = excluded.rtp_jitter_us_b "
    "WHERE cdrs.final_reason = '" SIP_CDR_RECOVERED_REASON "'";

struct sip_cdr_writer *sip_cdr_writer_new(struct store *s)
{
	struct sip_cdr_writer *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->batch = store_batch_new(s, cdr_insert_sql, CDR_COLUMNS, CDR_QUEUE_MAX, CDR_BATCH_ROWS,
				   CDR_BATCH_DELAY_MS);
	if (!w->batch) {
		free(w);
		return NULL;
	}
	return w;
}

void sip_cdr_writer_free(struct sip_cdr_writer *w)
{
	if (!w)
		return;
	store_batch_free(w->batch); /* flushes first */
	free(w);
}

int64_t sip_cdr_duration_ms(const struct sip_cdr *c)
{
	return c->answer_ms > 0 && c->end_ms > c->answer_ms ? c->end_ms - c->answer_ms : 0;
}

int64_t sip_cdr_billable_ms(const struct sip_cdr *c)
{
	return (sip_cdr_duration_ms(c) + 999) / 1000 * 1000;
}

static const char *cdr_hangup_name(enum sip_hangup_side h)
{
	switch (h) {
	case SIP_HANGUP_CALLER:
		return "caller";
	case SIP_HANGUP_CALLEE:
		return "callee";
	case SIP_HANGUP_PROXY:
		return "proxy";
	default:
		return "none";
	}
}

/* [{"gateway_id":"gw_…","code":503,"start_ms":…}, …]; an origination's
 * attempts name the trunk tried: [{"trunk_id":"trk_…",…}]. */
static int cdr_attempts_json(const struct sip_cdr *c, struct buf *out)
{
	const char *key = c->plan->dir == SIP_DIR_ORIGINATION ? "trunk_id" : "gateway_id";
	int rc = buf_append_char(out, '[');

	for (size_t i = 0; i < c->nattempts && i < SIP_ATTEMPTS_MAX && rc == 0; i++) {
		const struct sip_cdr_attempt *a = &c->attempts[i];

		rc = buf_printf(out, "%s{\"%s\":\"", i ? "," : "", key);
		rc = rc ? rc : buf_append_json_escaped(out, str_from_cstr(a->target_id));
		rc = rc ? rc
			: buf_printf(out, "\",\"code\":%d,\"start_ms\":%lld", a->code,
				     (long long)a->start_ms);
		if (rc == 0 && a->has_buy_rate) /* lcr: the rate it was chosen at */
			rc = buf_printf(out, ",\"buy_rate\":%lld", (long long)a->buy_rate);
		rc = rc ? rc : buf_append_char(out, '}');
	}
	return rc ? rc : buf_append_char(out, ']');
}

static struct store_param p_text_or_null(const char *s)
{
	return s && *s ? store_p_text(s) : store_p_null();
}

static struct store_param p_stat(int64_t v)
{
	return v >= 0 ? store_p_int(v) : store_p_null();
}

/* The gateway a call from source ("ip:port") came in through: one on that
 * address and port, else the first on that address (psnap_is_gateway_ip
 * matches by address alone).  Once per call, off the packet path. */
static const struct psnap_gateway *cdr_inbound_gateway(const struct psnap *s, const char *source)
{
	const struct psnap_gateway *first = NULL;
	struct psnap_ip want, ip;
	struct net_addr a;

	if (net_addr_parse(str_from_cstr(source), 0, &a) < 0 || !psnap_ip_of(&a, &want))
		return NULL;
	for (size_t i = 0; i < s->ngateways; i++) {
		const struct psnap_gateway *g = &s->gateways[i];

		if (!g->resolved || !psnap_ip_of(&g->addr, &ip) || psnap_cmp_ip(&ip, &want) != 0)
			continue;
		if (net_addr_port(&g->addr) == net_addr_port(&a))
			return g;
		if (!first)
			first = g;
	}
	return first;
}

/* The carrier and gateway columns: the answering or last one tried for a
 * termination, the inbound one for an origination. */
struct cdr_peer {
	const char *carrier_id, *gateway_id;
};

static struct cdr_peer cdr_peer_of(const struct psnap *s, const struct sip_cdr *c)
{
	const struct psnap_gateway *g = NULL;

	if (c->plan->dir == SIP_DIR_ORIGINATION && !c->gateway_id[0] && s)
		g = cdr_inbound_gateway(s, c->source);
	if (g)
		return (struct cdr_peer){s->carriers[g->carrier].id, g->id};
	return (struct cdr_peer){c->carrier_id, c->gateway_id};
}

static void cdr_params(const struct sip_cdr *c, const char *id, const char *attempts,
		       struct cdr_peer peer, struct store_param *v)
{
	const struct sip_call_plan *pl = c->plan;
	size_t i = 0;

	v[i++] = store_p_text(id);
	v[i++] = store_p_text(c->call_id);
	v[i++] = store_p_text(pl->dir == SIP_DIR_ORIGINATION ? "origination" : "termination");
	v[i++] = p_text_or_null(pl->customer_id);
	v[i++] = p_text_or_null(pl->trunk_id);
	v[i++] = p_text_or_null(peer.carrier_id);
	v[i++] = p_text_or_null(peer.gateway_id);
	v[i++] = store_p_text(pl->caller);
	v[i++] = store_p_text(pl->dialed);
	v[i++] = p_text_or_null(pl->normalized);
	v[i++] = store_p_text(c->source);
	v[i++] = store_p_int(c->start_ms);
	v[i++] = c->answer_ms > 0 ? store_p_int(c->answer_ms) : store_p_null();
	v[i++] = store_p_int(c->end_ms);
	v[i++] = store_p_int(sip_cdr_duration_ms(c));
	v[i++] = store_p_int(sip_cdr_billable_ms(c));
	v[i++] = store_p_int(c->final_code);
	v[i++] = p_text_or_null(c->final_reason);
	v[i++] = store_p_text(cdr_hangup_name(c->hangup));
	v[i++] = store_p_text(attempts);
	v[i++] = c->pdd_ms >= 0 ? store_p_int(c->pdd_ms) : store_p_null();
	for (int k = 0; k < 3; k++) {
		const int64_t *st = k == 0   ? c->rtp_packets
				    : k == 1 ? c->rtp_lost
					     : c->rtp_jitter_us;

		v[i++] = p_stat(st[0]);
		v[i++] = p_stat(st[1]);
	}
	v[i++] = store_p_int(time_wall_ms());
}

void sip_cdr_count(const struct psnap *s, const struct sip_cdr *cdr)
{
	if (cdr->plan->dir != SIP_DIR_TERMINATION)
		return;
	for (size_t i = 0; i < cdr->nattempts && i < SIP_ATTEMPTS_MAX; i++) {
		const struct psnap_gateway *g = psnap_gateway_find(s, cdr->attempts[i].target_id);

		if (g && s->carriers[g->carrier].attempts)
			metric_inc(s->carriers[g->carrier].attempts);
	}
	const struct psnap_carrier *ca = cdr->answer_ms > 0 && cdr->carrier_id[0]
					     ? psnap_carrier_find(s, cdr->carrier_id)
					     : NULL;

	if (ca && ca->answered)
		metric_inc(ca->answered);
	if (ca && ca->duration_s)
		metric_add(ca->duration_s, sip_cdr_duration_ms(cdr) / 1000);
}

/* cdr's row into v: a new id in id, the attempts' JSON in attempts (both
 * referenced by v); *s is the snapshot acquired for it (release it). */
static int cdr_row(struct sip_policy *p, const struct sip_cdr *cdr, char *id, struct buf *attempts,
		   const struct psnap **s, struct store_param *v)
{
	int rc;

	*s = NULL;
	if (!cdr->plan || !cdr->call_id[0])
		return -EINVAL;
	rc = cdr->id && cdr->id[0] ? (snprintf(id, ID_MAX, "%s", cdr->id), 0)
				   : id_new("cdr", id, ID_MAX);
	rc = rc ? rc : cdr_attempts_json(cdr, attempts);
	if (rc < 0)
		return rc;
	*s = snapshot_acquire(p->snap);
	cdr_params(cdr, id, attempts->p, cdr_peer_of(*s, cdr), v);
	return 0;
}

int sip_cdr_open(struct sip_policy *p, const struct sip_cdr *cdr)
{
	struct store_param v[CDR_COLUMNS];
	const struct psnap *s;
	char id[ID_MAX];
	struct buf attempts;
	int rc;

	if (!p->journal)
		return 0;
	buf_init(&attempts);
	rc = cdr_row(p, cdr, id, &attempts, &s, v);
	/* The params are copied when queued: the snapshot's ids may go. */
	if (rc == 0) {
		struct store_param open_v[SIP_CDR_COLUMNS + 1];
		struct store_batch_stmt g = sip_journal_open_stmt(p->journal, open_v, v);

		rc = store_batch_add_group(p->cdr->batch, &g, 1, NULL, NULL);
	}
	if (s)
		snapshot_release(p->snap, s);
	if (rc < 0)
		log_error("sip", "call journal: %s not recorded as open: %s", cdr->call_id,
			  strerror(-rc));
	buf_fini(&attempts);
	return rc;
}

int sip_cdr_submit(struct sip_policy *p, const struct sip_cdr *cdr,
		   void (*done)(void *arg, int status), void *arg)
{
	struct store_param v[CDR_COLUMNS], close_v[2];
	struct store_batch_stmt g[2];
	const struct psnap *s;
	char id[ID_MAX];
	struct buf attempts;
	int rc;

	buf_init(&attempts);
	rc = cdr_row(p, cdr, id, &attempts, &s, v);
	/* An answered call's open row (journal.c) goes in the CDR's own
	 * transaction: never a moment with both rows or neither. */
	if (rc == 0 && p->journal && cdr->answer_ms > 0) {
		g[0] = (struct store_batch_stmt){NULL, v, CDR_COLUMNS};
		g[1] = sip_journal_close_stmt(close_v, cdr->call_id, v[2].s);
		rc = store_batch_add_group(p->cdr->batch, g, 2, done, arg);
	} else if (rc == 0) {
		rc = store_batch_add(p->cdr->batch, v, done, arg);
	}
	if (rc == 0 && s)
		sip_cdr_count(s, cdr);
	if (s)
		snapshot_release(p->snap, s);
	if (rc < 0)
		log_error("sip", "CDR of %s not queued: %s", cdr->call_id,
			  rc == -EAGAIN ? "writer queue full" : strerror(-rc));
	buf_fini(&attempts);
	return rc;
}
