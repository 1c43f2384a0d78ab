/*
 * ngclient_harness.c — drives WARP's ng client (src/ng) from a script, so
 * tests/integration/test_ng_client.py can point it at real engines (WARP's
 * media role, Debian's rtpengine) started as child processes.
 *
 *	ngclient_harness --engines SPEC [--ping-ms N] [--miss K]
 *	                 [--retransmit-ms T] [--retransmits R]
 *
 * reads one command a line on stdin and answers one line on stdout:
 *
 *	offer CALLID PORT    ok offer engine=I port=P   (P: the m= port of the rewritten SDP)
 *	answer CALLID PORT   ok answer engine=I port=P
 *	query CALLID         ok query engine=I rtp_packets=N legs=L TAG=PACKETS ...
 *	delete CALLID        ok delete engine=I rtp_packets=N ...
 *	state                ok state up|suspect|down ...
 *
 * or "err CMD engine=I status=S reason" — while the event loop (with the
 * pinger) keeps running between commands.  The from-tag is "ft-CALLID" and
 * the to-tag "tt-CALLID", as in the media tests.
 */
#include "ng/ng.h"

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct harness {
	struct event_base *base;
	struct ng_engine_set *set;
	struct ng_client *client;
	struct ng_pinger *pinger;
	struct event *in;
	char line[4096];
	size_t len;
};

struct pending {
	char cmd[16];
	size_t engine;
};

static struct pending pend;

static void harness_sdp(struct buf *b, const char *port)
{
	buf_printf(b,
		   "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=harness\r\nc=IN IP4 127.0.0.1\r\n"
		   "t=0 0\r\nm=audio %s RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n",
		   port);
}

/* The decimal number at the start of s, or dflt. */
static int harness_int(const char *s, int dflt)
{
	size_t n = strspn(s, "0123456789");
	int64_t v;

	return n && str_to_i64((struct str){s, n}, &v) == 0 && v <= 1000000000 ? (int)v : dflt;
}

static void harness_print_stats(const struct bencode_node *reply)
{
	struct ng_call_stats st;

	if (ng_stats_parse(reply, &st) < 0)
		return;
	printf(" rtp_packets=%llu legs=%zu", (unsigned long long)st.rtp_packets, st.nlegs);
	for (size_t i = 0; i < st.nlegs; i++)
		printf(" %.*s=%llu", STR_FMT(st.leg[i].tag), (unsigned long long)st.leg[i].packets);
}

static void harness_on_reply(void *arg, int status, const struct bencode_node *reply,
			     struct str raw)
{
	struct str s;

	if (status != 0) {
		if (bencode_dict_get_str(reply, "error-reason", &s) < 0)
			s = str_from_cstr(ng_client_strerror(status));
		printf("err %s engine=%zu status=%d %.*s\n", pend.cmd, pend.engine, status,
		       STR_FMT(s));
		fflush(stdout);
		return;
	}
	printf("ok %s engine=%zu", pend.cmd, pend.engine);
	if (bencode_dict_get_str(reply, "sdp", &s) == 0) {
		const char *m = memmem(s.p, s.len, "m=audio ", 8);

		printf(" port=%d", m ? harness_int(m + 8, -1) : -1);
	}
	if (!strcmp(pend.cmd, "query") || !strcmp(pend.cmd, "delete"))
		harness_print_stats(reply);
	printf("\n");
	fflush(stdout);
}

static int harness_build(const char *cmd, const char *callid, const char *port, struct buf *b)
{
	char ft[160], tt[160];
	struct buf sdp;
	int rc;

	snprintf(ft, sizeof(ft), "ft-%s", callid);
	snprintf(tt, sizeof(tt), "tt-%s", callid);
	buf_init(&sdp);
	harness_sdp(&sdp, port ? port : "0");
	struct ng_params p = {.call_id = str_from_cstr(callid),
			      .from_tag = str_from_cstr(ft),
			      .sdp = {sdp.p, sdp.len}};

	if (!strcmp(cmd, "offer")) {
		rc = ng_build_offer(b, &p);
	} else if (!strcmp(cmd, "answer")) {
		p.to_tag = str_from_cstr(tt);
		rc = ng_build_answer(b, &p);
	} else if (!strcmp(cmd, "delete")) {
		rc = ng_build_delete(b, &p);
	} else if (!strcmp(cmd, "query")) {
		rc = ng_build_query(b, &(struct ng_params){.call_id = p.call_id});
	} else {
		rc = -EINVAL;
	}
	buf_fini(&sdp);
	return rc;
}

static void harness_state(struct harness *h)
{
	static const char *names[] = {"up", "suspect", "down"};

	printf("ok state");
	for (size_t i = 0; i < ng_engine_set_count(h->set); i++)
		printf(" %s", names[ng_engine_state_get(h->set, i)]);
	printf("\n");
	fflush(stdout);
}

static void harness_command(struct harness *h, char *line)
{
	char *save = NULL, *cmd = strtok_r(line, " \t\r", &save);
	char *callid = cmd ? strtok_r(NULL, " \t\r", &save) : NULL;
	char *port = callid ? strtok_r(NULL, " \t\r", &save) : NULL;
	struct buf b;
	int rc;

	if (!cmd)
		return;
	if (!strcmp(cmd, "state")) {
		harness_state(h);
		return;
	}
	buf_init(&b);
	snprintf(pend.cmd, sizeof(pend.cmd), "%s", cmd);
	rc = callid ? harness_build(cmd, callid, port, &b) : -EINVAL;
	rc = rc ? rc : ng_engine_set_pick(h->set, str_from_cstr(callid), &pend.engine);
	rc = rc ? rc
		: ng_client_request_engine(h->client, pend.engine, (struct str){b.p, b.len},
					   harness_on_reply, h, NULL);
	if (rc < 0) {
		printf("err %s engine=-1 status=%d %s\n", cmd, rc, ng_client_strerror(rc));
		fflush(stdout);
	}
	buf_fini(&b);
}

static void harness_on_stdin(evutil_socket_t fd, short what, void *arg)
{
	struct harness *h = arg;
	ssize_t n = read(fd, h->line + h->len, sizeof(h->line) - 1 - h->len);
	char *nl;

	if (n <= 0) {
		event_base_loopbreak(h->base);
		return;
	}
	h->len += (size_t)n;
	while ((nl = memchr(h->line, '\n', h->len))) {
		*nl = 0;
		harness_command(h, h->line);
		h->len -= (size_t)(nl + 1 - h->line);
		memmove(h->line, nl + 1, h->len);
	}
	if (h->len == sizeof(h->line) - 1)
		h->len = 0; /* an overlong line is dropped */
}

static int harness_opt(int argc, char **argv, const char *name, int dflt)
{
	for (int i = 1; i + 1 < argc; i++)
		if (!strcmp(argv[i], name))
			return harness_int(argv[i + 1], dflt);
	return dflt;
}

int main(int argc, char **argv)
{
	struct harness h = {0};
	const char *spec = NULL;
	char err[256];

	for (int i = 1; i + 1 < argc; i++)
		if (!strcmp(argv[i], "--engines"))
			spec = argv[i + 1];
	log_setup(LOG_WARN, LOG_FORMAT_TEXT, stderr);
	h.set = ng_engine_set_new(spec, 0, err, sizeof(err));
	if (!h.set) {
		fprintf(stderr, "ngclient_harness: %s\n", err);
		return 2;
	}
	struct ng_client_opts o = {harness_opt(argc, argv, "--retransmit-ms", 200),
				   (unsigned)harness_opt(argc, argv, "--retransmits", 2), 256};

	h.base = event_base_new();
	h.client = ng_client_new(h.set, h.base, &o);
	h.pinger = ng_pinger_new(h.set, h.base, harness_opt(argc, argv, "--ping-ms", 200),
				 (unsigned)harness_opt(argc, argv, "--miss", 3));
	h.in = event_new(h.base, 0, EV_READ | EV_PERSIST, harness_on_stdin, &h);
	if (!h.client || !h.pinger || !h.in || event_add(h.in, NULL) < 0)
		return 2;
	event_base_dispatch(h.base);
	event_free(h.in);
	ng_pinger_free(h.pinger);
	ng_client_free(h.client);
	ng_engine_set_free(h.set);
	event_base_free(h.base);
	return 0;
}
