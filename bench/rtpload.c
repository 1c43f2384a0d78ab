/*
 * rtpload.c — a UDP load generator for RTP relays that speak rtpengine's ng
 * protocol (WARP's media role, rtpengine itself).  Used only by
 * bench/media.sh; not installed.
 *
 * It sets up N calls with ng offer/answer (each party a UDP socket of its
 * own on 127.0.0.1, so the relay latches to real, distinct sources), then
 * steps the aggregate packet rate up.  Every call is a bidirectional stream:
 * party A sends to the port the answer gave, party B to the port the offer
 * gave, 172-byte RTP packets (12-byte header + 160 bytes of G.711, one 20 ms
 * frame), round-robin over all parties (BURST packets a turn, default 1) so
 * that no socket is favoured.
 *
 * Per step it counts packets sent and packets received back (a step number
 * in the payload keeps late packets of one step out of the next) and the
 * relay's CPU time from /proc/PID/stat (utime + stime of all its threads).
 * It stops after two consecutive steps with loss and prints one line per
 * step plus a RESULT line: the highest rate really offered (the generator
 * may fall short of a step's target when its own CPU is busy) that came back
 * without loss.
 *
 * Output (one line per step, then the summary):
 *   STEP label=L target=R sent=S recv=V lost=X pps=P cpu_s=C cpu_s_per_mpkt=M
 *   RESULT label=L calls=N lossfree_pps=P target=R generator_short=yes|no
 *          cpu_s_per_mpkt=M
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LOAD_PKT_LEN 172
#define LOAD_RTP_HDR 12
#define LOAD_MAGIC 0xa5
#define LOAD_BATCH 32
#define LOAD_STEPS_MAX 64
#define LOAD_CALLS_MAX 10000
#define LOAD_DRAIN_MS 300
#define LOAD_NG_TRIES 3
#define LOAD_REPLY_MAX 65536
#define LOAD_SEND_CHUNK 256 /* packets per pacing round at most */

struct load_party {
	int fd;
	uint16_t port;	/* ours */
	uint16_t relay; /* where we send to */
	uint16_t seq;
	uint32_t ts, ssrc;
};

struct load_opts {
	const char *label;
	uint16_t ng_port;
	int pid;
	unsigned calls;
	unsigned rates[LOAD_STEPS_MAX];
	unsigned nrates;
	unsigned step_ms;
	unsigned burst; /* packets a party sends back to back per turn */
	bool all_steps; /* do not stop at the first lossy pair of steps */
};

struct load_step {
	unsigned target;
	uint64_t sent, recv;
	double secs, cpu_s;
};

struct load {
	struct load_opts o;
	struct load_party *p; /* 2 per call: [2i] offerer, [2i+1] answerer */
	unsigned np;
	int ep, ng_fd;
	unsigned rr; /* round-robin cursor */
	struct load_step steps[LOAD_STEPS_MAX];
	long clk_tck;
};

static double load_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* utime + stime (fields 14 and 15 of proc(5)), after the ")" of comm. */
static double load_cpu_seconds(const struct load *l)
{
	char path[64], buf[1024];
	unsigned long ut = 0, st = 0;
	FILE *f;

	if (l->o.pid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", l->o.pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	const char *p = strrchr(buf, ')');
	if (!p ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return 0;
	return (double)(ut + st) / (double)l->clk_tck;
}

/* ------------------------------------------------------------------- ng */

static int load_ng_open(struct load *l)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(l->o.ng_port)};
	struct timeval tv = {2, 0};

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l->ng_fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (l->ng_fd < 0 || connect(l->ng_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	setsockopt(l->ng_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return 0;
}

/* Sends one request (retransmitting with the same cookie, as a proxy does)
 * and returns the reply length, or -1. */
static int load_ng_call(struct load *l, const char *msg, size_t len, char *reply)
{
	for (int t = 0; t < LOAD_NG_TRIES; t++) {
		if (send(l->ng_fd, msg, len, 0) < 0)
			return -1;
		ssize_t n = recv(l->ng_fd, reply, LOAD_REPLY_MAX - 1, 0);
		if (n > 0) {
			reply[n] = 0;
			return (int)n;
		}
	}
	return -1;
}

/* The port of the rewritten SDP's m= line, or 0. */
static uint16_t load_sdp_port(const char *reply)
{
	const char *m = strstr(reply, "m=audio ");
	unsigned long v;

	if (!m || strstr(reply, "6:result2:ok") == NULL)
		return 0;
	v = strtoul(m + 8, NULL, 10);
	return v > 0 && v < 65536 ? (uint16_t)v : 0;
}

/* offer (answer == false) or answer for call i; returns the relay port the
 * other party must send to, or 0. */
static uint16_t load_ng_offer(struct load *l, unsigned i, bool answer)
{
	static char msg[4096], reply[LOAD_REPLY_MAX];
	char sdp[512];
	const struct load_party *me = &l->p[2 * i + (answer ? 1 : 0)];
	int sl, ml;

	sl = snprintf(sdp, sizeof(sdp),
		      "v=0\r\no=- %u 1 IN IP4 127.0.0.1\r\ns=rtpload\r\nc=IN IP4 127.0.0.1\r\n"
		      "t=0 0\r\nm=audio %u RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n",
		      i + 1, me->port);
	ml = snprintf(msg, sizeof(msg),
		      "%s-%c%u d7:command%zu:%s7:call-id%zu:%s-%u8:from-tag4:ft%02u%s3:sdp%d:%se",
		      l->o.label, answer ? 'a' : 'o', i, strlen(answer ? "answer" : "offer"),
		      answer ? "answer" : "offer",
		      strlen(l->o.label) + 1 + (size_t)snprintf(NULL, 0, "%u", i), l->o.label, i,
		      i % 100, answer ? "6:to-tag4:tt00" : "", sl, sdp);
	if (ml <= 0 || (size_t)ml >= sizeof(msg) || load_ng_call(l, msg, (size_t)ml, reply) < 0)
		return 0;
	return load_sdp_port(reply);
}

static void load_ng_delete(struct load *l, unsigned i)
{
	char msg[512], reply[LOAD_REPLY_MAX];
	int n = snprintf(NULL, 0, "%u", i);
	int ml = snprintf(
	    msg, sizeof(msg), "%s-d%u d7:command6:delete7:call-id%zu:%s-%u8:from-tag4:ft%02ue",
	    l->o.label, i, strlen(l->o.label) + 1 + (size_t)n, l->o.label, i, i % 100);

	if (ml > 0 && (size_t)ml < sizeof(msg))
		load_ng_call(l, msg, (size_t)ml, reply);
}

/* -------------------------------------------------------------- parties */

static int load_party_open(struct load *l, struct load_party *p, unsigned idx)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sa);
	int big = 1 << 20;
	struct epoll_event ev = {.events = EPOLLIN, .data.u32 = idx};

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	p->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	if (p->fd < 0 || bind(p->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    getsockname(p->fd, (struct sockaddr *)&sa, &sl) < 0)
		return -errno;
	/* our own receive side must never be where packets are lost */
	if (setsockopt(p->fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big)) < 0)
		setsockopt(p->fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	p->port = ntohs(sa.sin_port);
	p->ssrc = 0x10000000u + idx;
	if (epoll_ctl(l->ep, EPOLL_CTL_ADD, p->fd, &ev) < 0)
		return -errno;
	return 0;
}

static int load_party_connect(struct load_party *p)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(p->relay)};

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return connect(p->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ? -errno : 0;
}

static int load_calls_setup(struct load *l)
{
	for (unsigned i = 0; i < l->np; i++)
		if (load_party_open(l, &l->p[i], i) < 0) {
			fprintf(stderr, "rtpload: socket %u: %s\n", i, strerror(errno));
			return -1;
		}
	for (unsigned i = 0; i < l->o.calls; i++) {
		uint16_t to_b = load_ng_offer(l, i, false);
		uint16_t to_a = to_b ? load_ng_offer(l, i, true) : 0;
		if (!to_a) {
			fprintf(stderr, "rtpload: ng offer/answer of call %u failed\n", i);
			return -1;
		}
		l->p[2 * i].relay = to_a;
		l->p[2 * i + 1].relay = to_b;
		if (load_party_connect(&l->p[2 * i]) < 0 ||
		    load_party_connect(&l->p[2 * i + 1]) < 0)
			return -1;
	}
	return 0;
}

/* ------------------------------------------------------------- traffic */

/* Sends k packets from party p in one sendmmsg. */
static unsigned load_send(struct load_party *p, unsigned k, uint8_t step)
{
	static uint8_t pkt[LOAD_BATCH][LOAD_PKT_LEN];
	struct mmsghdr mm[LOAD_BATCH];
	struct iovec iov[LOAD_BATCH];

	for (unsigned j = 0; j < k; j++) {
		uint8_t *b = pkt[j];
		b[0] = 0x80;
		b[1] = 0; /* PCMU */
		b[2] = (uint8_t)(p->seq >> 8);
		b[3] = (uint8_t)p->seq;
		for (int s = 0; s < 4; s++) {
			b[4 + s] = (uint8_t)(p->ts >> (24 - 8 * s));
			b[8 + s] = (uint8_t)(p->ssrc >> (24 - 8 * s));
		}
		b[LOAD_RTP_HDR] = LOAD_MAGIC;
		b[LOAD_RTP_HDR + 1] = step;
		p->seq++;
		p->ts += 160;
		iov[j] = (struct iovec){b, LOAD_PKT_LEN};
		mm[j] = (struct mmsghdr){.msg_hdr = {.msg_iov = &iov[j], .msg_iovlen = 1}};
	}
	int n = sendmmsg(p->fd, mm, k, MSG_DONTWAIT);
	return n > 0 ? (unsigned)n : 0;
}

/* Reads whatever is ready; counts packets of step `step`. */
static void load_receive(struct load *l, int timeout_ms, uint8_t step, struct load_step *s)
{
	static uint8_t buf[LOAD_BATCH][LOAD_PKT_LEN + 64];
	struct epoll_event evs[256];
	struct mmsghdr mm[LOAD_BATCH];
	struct iovec iov[LOAD_BATCH];
	int ne = epoll_wait(l->ep, evs, 256, timeout_ms);

	for (int e = 0; e < ne; e++) {
		int fd = l->p[evs[e].data.u32].fd;
		for (;;) {
			for (unsigned j = 0; j < LOAD_BATCH; j++) {
				iov[j] = (struct iovec){buf[j], sizeof(buf[j])};
				mm[j] = (struct mmsghdr){
				    .msg_hdr = {.msg_iov = &iov[j], .msg_iovlen = 1}};
			}
			int n = recvmmsg(fd, mm, LOAD_BATCH, MSG_DONTWAIT, NULL);
			for (int j = 0; j < n; j++)
				if (mm[j].msg_len == LOAD_PKT_LEN &&
				    buf[j][LOAD_RTP_HDR] == LOAD_MAGIC &&
				    buf[j][LOAD_RTP_HDR + 1] == step)
					s->recv++;
			if (n < LOAD_BATCH)
				break;
		}
	}
}

/* One step: rate pps for step_ms, paced, the parties taking turns. */
static void load_step_run(struct load *l, unsigned idx)
{
	struct load_step *s = &l->steps[idx];
	double t0 = load_now(), dur = l->o.step_ms / 1000.0, t, cpu0 = load_cpu_seconds(l);
	uint8_t tag = (uint8_t)(idx + 1);

	s->target = l->o.rates[idx];
	while ((t = load_now() - t0) < dur) {
		uint64_t due = (uint64_t)(t * s->target);
		unsigned k = 0;
		while (s->sent < due && k < LOAD_SEND_CHUNK) {
			struct load_party *p = &l->p[l->rr];
			uint64_t want = due - s->sent;
			unsigned b = want < l->o.burst ? (unsigned)want : l->o.burst;
			l->rr = (l->rr + 1) % l->np;
			s->sent += load_send(p, b, tag);
			k += b;
		}
		load_receive(l, 0, tag, s);
	}
	s->secs = load_now() - t0;
	for (double end = load_now() + LOAD_DRAIN_MS / 1000.0; load_now() < end;)
		load_receive(l, 10, tag, s);
	s->cpu_s = load_cpu_seconds(l) - cpu0;
}

/* The rate a step really offered (the generator may fall short of the
 * target when its own CPU is busy). */
static double load_step_pps(const struct load_step *s)
{
	return (double)s->sent / s->secs;
}

static void load_step_print(const struct load *l, const struct load_step *s)
{
	printf("STEP label=%s target=%u sent=%llu recv=%llu lost=%lld pps=%.0f cpu_s=%.3f "
	       "cpu_s_per_mpkt=%.3f\n",
	       l->o.label, s->target, (unsigned long long)s->sent, (unsigned long long)s->recv,
	       (long long)s->sent - (long long)s->recv, load_step_pps(s), s->cpu_s,
	       s->recv ? s->cpu_s / ((double)s->recv / 1e6) : 0.0);
	fflush(stdout);
}

/* Loss-free: every packet came back. */
static bool load_step_clean(const struct load_step *s)
{
	return s->recv == s->sent;
}

static void load_run(struct load *l)
{
	int best = -1, lossy = 0;

	for (unsigned i = 0; i < l->o.nrates; i++) {
		load_step_run(l, i);
		load_step_print(l, &l->steps[i]);
		if (load_step_clean(&l->steps[i])) {
			if (best < 0 ||
			    load_step_pps(&l->steps[i]) > load_step_pps(&l->steps[best]))
				best = (int)i;
			lossy = 0;
		} else if (++lossy == 2 && !l->o.all_steps) {
			break;
		}
	}
	const struct load_step *b = best >= 0 ? &l->steps[best] : NULL;
	printf("RESULT label=%s calls=%u lossfree_pps=%.0f target=%u generator_short=%s "
	       "cpu_s_per_mpkt=%.3f\n",
	       l->o.label, l->o.calls, b ? load_step_pps(b) : 0.0, b ? b->target : 0,
	       b && load_step_pps(b) < 0.98 * b->target ? "yes" : "no",
	       b && b->recv ? b->cpu_s / ((double)b->recv / 1e6) : 0.0);
}

/* ---------------------------------------------------------------- main */

static int load_rates_parse(struct load_opts *o, char *list)
{
	char *save = NULL;

	for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		char *end;
		unsigned long v = strtoul(t, &end, 10);
		if (*end || v == 0 || v > 10000000 || o->nrates == LOAD_STEPS_MAX)
			return -1;
		o->rates[o->nrates++] = (unsigned)v;
	}
	return o->nrates ? 0 : -1;
}

static int load_args(struct load_opts *o, int argc, char **argv)
{
	int c;

	*o = (struct load_opts){.label = "relay", .calls = 100, .step_ms = 3000, .burst = 1};
	while ((c = getopt(argc, argv, "l:n:p:c:r:s:b:a")) != -1) {
		char *end = NULL;
		unsigned long v = optarg ? strtoul(optarg, &end, 10) : 0;
		if (c == 'l')
			o->label = optarg;
		else if (c == 'n' && !*end && v > 0 && v < 65536)
			o->ng_port = (uint16_t)v;
		else if (c == 'p' && !*end)
			o->pid = (int)v;
		else if (c == 'c' && !*end && v > 0 && v <= LOAD_CALLS_MAX)
			o->calls = (unsigned)v;
		else if (c == 'r' && load_rates_parse(o, optarg) == 0)
			continue;
		else if (c == 's' && !*end && v >= 100)
			o->step_ms = (unsigned)v;
		else if (c == 'b' && !*end && v > 0 && v <= LOAD_BATCH)
			o->burst = (unsigned)v;
		else if (c == 'a')
			o->all_steps = true;
		else
			return -1;
	}
	return o->ng_port && o->nrates ? 0 : -1;
}

int main(int argc, char **argv)
{
	static struct load l;
	struct rlimit rl;

	if (load_args(&l.o, argc, argv) < 0) {
		fprintf(stderr,
			"usage: rtpload -n NG_PORT -r RATE[,RATE...] [-l LABEL] [-p RELAY_PID]\n"
			"               [-c CALLS] [-s STEP_MS] [-b BURST] [-a (all steps)]\n");
		return 2;
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	l.clk_tck = sysconf(_SC_CLK_TCK);
	l.np = 2 * l.o.calls;
	l.p = calloc(l.np, sizeof(*l.p));
	l.ep = epoll_create1(0);
	if (!l.p || l.ep < 0 || load_ng_open(&l) < 0 || load_calls_setup(&l) < 0)
		return 1;
	load_run(&l);
	for (unsigned i = 0; i < l.o.calls; i++)
		load_ng_delete(&l, i);
	return 0;
}
