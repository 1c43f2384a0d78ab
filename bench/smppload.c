/*
 * smppload.c — the customer ESME of bench/smsc.sh: binds as a transceiver
 * to an SMSC (WARP's smsc role), keeps a window of up to W submit_sm open
 * at a target rate (or as fast as the window allows, -r 0), answers every
 * deliver_sm receipt that comes back and matches it to its message, then
 * unbinds and prints one RESULT line.
 *
 * Message i of a run goes to PREFIX + TAG (3 digits) + i (8 digits), with
 * registered_delivery 1; the receipt, which travels back from the
 * destination, names the message by its source_addr, so receipts are
 * matched without trusting the SMSC's ids, a receipt counted twice is a
 * duplicate and one of another run's TAG is stale.  submit_sm_resp latency
 * is from the moment the PDU was queued to its answer being read.
 *
 *   RESULT tag=T target=R window=W sent=S ok=O errors=E status=0xSS:N,...
 *          submit_rate=X receipts=C dup_receipts=D stale_receipts=Z lost=L
 *          e2e_rate=Y p50_ms= p99_ms= max_ms= gen_cpu_s= gen_cpu_pct= wall_s=
 * lost: messages answered ESME_ROK whose receipt did not come within the
 * drain time.  e2e_rate: receipts per second from the first submit to the
 * last receipt.  gen_cpu_pct: this tool's CPU over the run as a share of one
 * CPU (at ~100 the generator, not the SMSC, is the limit).
 *
 * One thread, epoll; its own wire code (smppwire.h), not WARP's.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "smppconn.h"

#define LOAD_MSGS_MAX 20000000u /* 8 digits of message number */
#define LOAD_MSGS_UNPACED 2000000u
#define LOAD_WINDOW_MAX 10000u
#define LOAD_STATUSES 4
#define LOAD_BIND_WAIT_MS 3000
#define LOAD_BIND_PAUSE_MS 200
#define LOAD_UNBIND_WAIT_MS 2000
#define LOAD_PREFIX_MAX 8

enum { LOAD_F_RESP = 1, LOAD_F_ERROR = 2, LOAD_F_RECEIPT = 4 };

struct load_opts {
	uint16_t port;
	const char *system_id, *password, *prefix, *source;
	unsigned window, rate, tag, bind_tries;
	unsigned duration_ms, drain_ms;
};

struct load {
	struct load_opts o;
	struct smppc c;
	int ep;
	bool gone;
	int64_t bind_status; /* -1 until the bind_resp */
	bool unbound;
	uint32_t cap, sent, answered, ok, errors, receipts, dups, stale, inflight;
	uint32_t status[LOAD_STATUSES], status_n[LOAD_STATUSES];
	uint64_t *sent_us;
	uint32_t *lat_us;
	uint8_t *flags;
	uint64_t t0_us, last_receipt_us, last_resp_us;
	char tagged[LOAD_PREFIX_MAX + 4]; /* PREFIX + TAG */
	size_t tagged_len;
	uint8_t pdu[SMPPW_PDU_MAX];
};

static uint64_t load_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void load_send(struct load *l, struct smppw_out *o)
{
	if (smppc_send(&l->c, o->buf, smppw_end(o)) < 0)
		l->gone = true;
}

/* -------------------------------------------------------------- input */

static void load_status_count(struct load *l, uint32_t st)
{
	for (unsigned i = 0; i < LOAD_STATUSES; i++)
		if (l->status_n[i] == 0 || l->status[i] == st) {
			l->status[i] = st;
			l->status_n[i]++;
			return;
		}
}

static void load_submit_resp(struct load *l, const struct smppw_pdu *p)
{
	uint32_t i = p->seq - 1;

	if (p->seq == 0 || i >= l->sent || (l->flags[i] & (LOAD_F_RESP | LOAD_F_ERROR)))
		return;
	l->last_resp_us = load_now_us();
	l->lat_us[l->answered++] = (uint32_t)(l->last_resp_us - l->sent_us[i]);
	l->inflight--;
	if (p->status == 0) {
		l->flags[i] |= LOAD_F_RESP;
		l->ok++;
	} else {
		l->flags[i] |= LOAD_F_ERROR;
		l->errors++;
		load_status_count(l, p->status);
	}
}

/* The message a receipt's source_addr names, or -1 (stale: another run's
 * tag or a number not sent). */
static int64_t load_receipt_index(const struct load *l, const struct smppw_sm *sm)
{
	uint64_t v = 0;

	if (sm->src_len != l->tagged_len + 8 || memcmp(sm->src, l->tagged, l->tagged_len) != 0)
		return -1;
	for (size_t k = l->tagged_len; k < sm->src_len; k++) {
		if (sm->src[k] < '0' || sm->src[k] > '9')
			return -1;
		v = v * 10 + (uint64_t)(sm->src[k] - '0');
	}
	return v < l->sent ? (int64_t)v : -1;
}

static void load_deliver(struct load *l, struct smppw_pdu *p)
{
	struct smppw_out o = {l->pdu, 0};
	struct smppw_sm sm;
	int64_t i;

	smppw_begin(&o, SMPPW_DELIVER_SM | SMPPW_RESP, 0, p->seq);
	smppw_cstr(&o, "", 0); /* message_id: unused in deliver_sm_resp */
	load_send(l, &o);
	if (smppw_sm_parse(&p->body, &sm) < 0 || !(sm.esm_class & SMPPW_ESM_RECEIPT))
		return;
	i = load_receipt_index(l, &sm);
	if (i < 0) {
		l->stale++;
	} else if (l->flags[i] & LOAD_F_RECEIPT) {
		l->dups++;
	} else {
		l->flags[i] |= LOAD_F_RECEIPT;
		l->receipts++;
		l->last_receipt_us = load_now_us();
	}
}

static void load_pdu(struct load *l, struct smppw_pdu *p)
{
	struct smppw_out o = {l->pdu, 0};

	switch (p->id) {
	case SMPPW_BIND_TRANSCEIVER | SMPPW_RESP:
		l->bind_status = p->status;
		break;
	case SMPPW_SUBMIT_SM | SMPPW_RESP:
		load_submit_resp(l, p);
		break;
	case SMPPW_DELIVER_SM:
		load_deliver(l, p);
		break;
	case SMPPW_ENQUIRE_LINK:
	case SMPPW_UNBIND:
		smppw_begin(&o, p->id | SMPPW_RESP, 0, p->seq);
		load_send(l, &o);
		l->unbound = p->id == SMPPW_UNBIND;
		break;
	case SMPPW_UNBIND | SMPPW_RESP:
		l->unbound = true;
		break;
	case SMPPW_GENERIC_NACK:
		l->errors++;
		load_status_count(l, p->status);
		break;
	default:
		break;
	}
}

/* Sends what is queued, waits up to timeout_ms for input and handles it. */
static void load_pump(struct load *l, int timeout_ms)
{
	struct epoll_event ev = {.events = EPOLLIN | (smppc_pending(&l->c) ? EPOLLOUT : 0)};
	struct smppw_pdu p;
	int rc;

	if (smppc_flush(&l->c) < 0) {
		l->gone = true;
		return;
	}
	epoll_ctl(l->ep, EPOLL_CTL_MOD, l->c.fd, &ev);
	if (epoll_wait(l->ep, &ev, 1, timeout_ms) <= 0 || !(ev.events & (EPOLLIN | EPOLLHUP)))
		return;
	if (smppc_read(&l->c) < 0)
		l->gone = true;
	while ((rc = smppc_next(&l->c, &p)) == 1)
		load_pdu(l, &p);
	if (rc < 0)
		l->gone = true;
}

/* --------------------------------------------------------------- bind */

static int load_connect(struct load *l)
{
	int fd = smppc_connect(l->o.port);
	struct epoll_event ev = {.events = EPOLLIN};

	if (fd < 0)
		return -1;
	smppc_init(&l->c, fd);
	l->gone = false;
	return epoll_ctl(l->ep, EPOLL_CTL_ADD, fd, &ev);
}

static void load_disconnect(struct load *l)
{
	if (l->c.fd >= 0)
		epoll_ctl(l->ep, EPOLL_CTL_DEL, l->c.fd, NULL);
	smppc_fini(&l->c);
}

/* One bind_transceiver (§4.1.5): its command_status, or -1 without answer. */
static int64_t load_bind_once(struct load *l)
{
	struct smppw_out o = {l->pdu, 0};
	uint64_t end;

	if (load_connect(l) < 0)
		return -1;
	smppw_begin(&o, SMPPW_BIND_TRANSCEIVER, 0, 0x7fffffffu);
	smppw_cstr(&o, l->o.system_id, strlen(l->o.system_id));
	smppw_cstr(&o, l->o.password, strlen(l->o.password));
	smppw_cstr(&o, "", 0); /* system_type */
	smppw_u8(&o, 0x34);    /* interface_version, addr_ton, addr_npi */
	smppw_u8(&o, 0);
	smppw_u8(&o, 0);
	smppw_cstr(&o, "", 0); /* address_range */
	load_send(l, &o);
	l->bind_status = -1;
	end = load_now_us() + LOAD_BIND_WAIT_MS * 1000u;
	while (l->bind_status < 0 && !l->gone && load_now_us() < end)
		load_pump(l, 10);
	return l->bind_status;
}

/* Binds, trying again while the SMSC refuses (its account snapshot may not
 * have the account yet): 0, or -1. */
static int load_bind(struct load *l)
{
	int64_t st = -1;

	for (unsigned t = 0; t < l->o.bind_tries; t++) {
		st = load_bind_once(l);
		if (st == 0)
			return 0;
		load_disconnect(l);
		usleep(LOAD_BIND_PAUSE_MS * 1000);
	}
	fprintf(stderr, "smppload: bind as %s refused (%lld) %u times\n", l->o.system_id,
		(long long)st, l->o.bind_tries);
	return -1;
}

/* -------------------------------------------------------------- submit */

static void load_submit(struct load *l)
{
	struct smppw_out o = {l->pdu, 0};
	char dst[32], text[48];
	uint32_t i = l->sent;
	int dn = snprintf(dst, sizeof(dst), "%s%08u", l->tagged, i);
	int tn = snprintf(text, sizeof(text), "warp bench %03u %08u", l->o.tag, i);
	struct smppw_sm sm = {.src = l->o.source,
			      .src_len = strlen(l->o.source),
			      .dst = dst,
			      .dst_len = (size_t)dn,
			      .text = text,
			      .text_len = (size_t)tn,
			      .registered_delivery = 1};

	smppw_begin(&o, SMPPW_SUBMIT_SM, 0, i + 1);
	smppw_sm_put(&o, &sm);
	load_send(l, &o);
	l->sent_us[i] = load_now_us();
	l->sent++;
	l->inflight++;
}

/* Keeps the window open at the rate for the duration, then waits for the
 * answers and receipts still due, at most drain_ms. */
static void load_traffic(struct load *l)
{
	uint64_t dur = (uint64_t)l->o.duration_ms * 1000u, now, end;

	l->t0_us = load_now_us();
	while (!l->gone && (now = load_now_us()) - l->t0_us < dur && l->sent < l->cap) {
		uint64_t due = l->o.rate ? (now - l->t0_us) * l->o.rate / 1000000u + 1 : l->cap;
		if (due > l->cap)
			due = l->cap;
		while (l->sent < due && l->inflight < l->o.window && !l->gone)
			load_submit(l);
		load_pump(l, 1);
	}
	end = load_now_us() + (uint64_t)l->o.drain_ms * 1000u;
	while (!l->gone && (l->answered < l->sent || l->receipts < l->ok) && load_now_us() < end)
		load_pump(l, 10);
}

static void load_unbind(struct load *l)
{
	struct smppw_out o = {l->pdu, 0};
	uint64_t end = load_now_us() + LOAD_UNBIND_WAIT_MS * 1000u;

	smppw_begin(&o, SMPPW_UNBIND, 0, 0x7ffffffeu);
	load_send(l, &o);
	while (!l->gone && !l->unbound && load_now_us() < end)
		load_pump(l, 10);
}

/* ------------------------------------------------------------- report */

static int load_cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static double load_pct_ms(const struct load *l, unsigned pct)
{
	if (!l->answered)
		return 0;
	size_t k = ((size_t)l->answered * pct + 99) / 100;
	return (double)l->lat_us[k ? k - 1 : 0] / 1000.0;
}

static void load_report(struct load *l, double cpu_s)
{
	uint64_t end = l->last_receipt_us > l->last_resp_us ? l->last_receipt_us : l->last_resp_us;
	double wall = end > l->t0_us ? (double)(end - l->t0_us) / 1e6 : 0;
	double resp_wall =
	    l->last_resp_us > l->t0_us ? (double)(l->last_resp_us - l->t0_us) / 1e6 : 0;
	double rcpt_wall =
	    l->last_receipt_us > l->t0_us ? (double)(l->last_receipt_us - l->t0_us) / 1e6 : 0;
	char st[LOAD_STATUSES * 24] = "-";
	size_t n = 0;

	qsort(l->lat_us, l->answered, sizeof(uint32_t), load_cmp_u32);
	for (unsigned i = 0; i < LOAD_STATUSES && l->status_n[i]; i++)
		n += (size_t)snprintf(st + n, sizeof(st) - n, "%s0x%02x:%u", i ? "," : "",
				      l->status[i], l->status_n[i]);
	printf("RESULT tag=%u target=%u window=%u sent=%u ok=%u errors=%u status=%s "
	       "submit_rate=%.0f receipts=%u dup_receipts=%u stale_receipts=%u lost=%u "
	       "e2e_rate=%.0f p50_ms=%.2f p99_ms=%.2f max_ms=%.2f gen_cpu_s=%.3f "
	       "gen_cpu_pct=%.0f wall_s=%.3f\n",
	       l->o.tag, l->o.rate, l->o.window, l->sent, l->ok, l->errors, st,
	       resp_wall > 0 ? l->ok / resp_wall : 0, l->receipts, l->dups, l->stale,
	       l->ok - (l->receipts < l->ok ? l->receipts : l->ok),
	       rcpt_wall > 0 ? l->receipts / rcpt_wall : 0, load_pct_ms(l, 50), load_pct_ms(l, 99),
	       l->answered ? (double)l->lat_us[l->answered - 1] / 1000.0 : 0, cpu_s,
	       wall > 0 ? 100.0 * cpu_s / wall : 0, wall);
	fflush(stdout);
}

/* ---------------------------------------------------------------- main */

static int load_args(struct load_opts *o, int argc, char **argv)
{
	int c;

	*o = (struct load_opts){.system_id = "bench",
				.password = "pw",
				.prefix = "4479",
				.source = "15550100",
				.window = 10,
				.duration_ms = 10000,
				.drain_ms = 10000,
				.bind_tries = 50};
	while ((c = getopt(argc, argv, "p:u:w:P:W:r:t:d:D:B:s:")) != -1) {
		char *end = NULL;
		unsigned long v = strchr("pWrtdDB", c) ? strtoul(optarg, &end, 10) : 0;
		if (end && (*end || v > 100000000ul))
			return -1;
		if (c == 'p' && v > 0 && v < 65536)
			o->port = (uint16_t)v;
		else if (c == 'u')
			o->system_id = optarg;
		else if (c == 'w')
			o->password = optarg;
		else if (c == 'P' && strlen(optarg) <= LOAD_PREFIX_MAX)
			o->prefix = optarg;
		else if (c == 'W' && v > 0 && v <= LOAD_WINDOW_MAX)
			o->window = (unsigned)v;
		else if (c == 'r')
			o->rate = (unsigned)v;
		else if (c == 't' && v < 1000)
			o->tag = (unsigned)v;
		else if (c == 'd' && v >= 100)
			o->duration_ms = (unsigned)v;
		else if (c == 'D')
			o->drain_ms = (unsigned)v;
		else if (c == 'B' && v > 0)
			o->bind_tries = (unsigned)v;
		else if (c == 's' && strlen(optarg) <= 20)
			o->source = optarg; /* bench/holds.sh: a US long code bound to a campaign */
		else
			return -1;
	}
	return o->port ? 0 : -1;
}

static int load_alloc(struct load *l)
{
	uint64_t want =
	    l->o.rate ? (uint64_t)l->o.rate * l->o.duration_ms / 1000u + 2 : LOAD_MSGS_UNPACED;

	l->cap = (uint32_t)(want < LOAD_MSGS_MAX ? want : LOAD_MSGS_MAX);
	l->sent_us = calloc(l->cap, sizeof(*l->sent_us));
	l->lat_us = calloc(l->cap, sizeof(*l->lat_us));
	l->flags = calloc(l->cap, 1);
	l->tagged_len =
	    (size_t)snprintf(l->tagged, sizeof(l->tagged), "%s%03u", l->o.prefix, l->o.tag);
	return l->sent_us && l->lat_us && l->flags ? 0 : -1;
}

int main(int argc, char **argv)
{
	static struct load l = {.c.fd = -1, .ep = -1};
	int rc = 1;

	if (load_args(&l.o, argc, argv) < 0) {
		fprintf(stderr,
			"usage: smppload -p PORT [-u SYSTEM_ID] [-w PASSWORD] [-W WINDOW]\n"
			"                [-r RATE (0: as the window allows)] [-d MS] [-D "
			"DRAIN_MS]\n"
			"                [-P DEST_PREFIX] [-t TAG 0..999] [-B BIND_TRIES] [-s SOURCE]\n");
		return 2;
	}
	l.ep = epoll_create1(0);
	if (l.ep < 0 || load_alloc(&l) < 0) {
		fprintf(stderr, "smppload: %s\n", strerror(errno));
		goto out;
	}
	if (load_bind(&l) < 0)
		goto out;
	load_traffic(&l);
	load_unbind(&l);
	load_report(&l, smppc_cpu_seconds(0));
	rc = l.gone && l.answered < l.sent ? 1 : 0;
out:
	load_disconnect(&l);
	free(l.sent_us);
	free(l.lat_us);
	free(l.flags);
	if (l.ep >= 0)
		close(l.ep);
	return rc;
}
