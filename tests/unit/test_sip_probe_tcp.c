/* test_sip_probe_tcp.c — src/sip/probe.c with TCP gateways: the prober's
 * OPTIONS go over a TCP connection of its own, any response keeps the
 * gateway up, and a refused connection or an accepted one that never
 * answers marks it down within two rounds (warp_sip_gateway_up 0, skipped
 * by the planner), up again once something answers on its port.  The
 * gateways are loopback listeners run by a thread of the test. */
#include "test_store_fixture.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>

#include "sip/policy_private.h"

#define PROBE_MS 100
#define WAIT_ROUNDS 20 /* 20 x PROBE_MS: ten times the two rounds needed */

struct env {
	struct fixture *f;
	struct snapshot_loader *loader;
	struct sip_policy *p;
};

/* A TCP gateway on 127.0.0.1: accepts, reads one request, answers 405
 * (RFC 3261 §11.2 lets a gateway refuse OPTIONS; it is still alive) unless
 * silent, in which case it accepts and never writes. */
struct gateway {
	int lfd;
	uint16_t port;
	bool silent;
	atomic_int requests, over_tcp;
	atomic_bool stop;
	pthread_t thread;
};

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	char err[256];

	if (!e || fixture_setup_migrated((void **)&e->f) < 0 ||
	    store_exec(store_conn(e->f->store),
		       "INSERT INTO carriers (id, name, enabled, tech_prefix, stop_codes, "
		       "created_at, updated_at) VALUES ('car_t', 't', 1, '', '[]', 0, 0)",
		       NULL, 0, NULL) < 0)
		return -1;
	e->loader = snapshot_loader_new(e->f->store, 50);
	e->p = sip_policy_new(&(struct sip_policy_opts){.store = e->f->store,
							.loader = e->loader,
							.cfg = {.max_attempts = 1,
								.flood_table_size = 16,
								.probe_interval_ms = PROBE_MS}},
			      err, sizeof(err));
	if (!e->p)
		fprintf(stderr, "policy: %s\n", err);
	*state = e;
	return e->p ? 0 : -1;
}

/* The policy (its prober first) before its loader: the loader may outlive
 * it, the other way round it may not. */
static int teardown(void **state)
{
	struct env *e = *state;

	sip_policy_stop(e->p);
	sip_policy_free(e->p);
	snapshot_loader_stop(e->loader);
	snapshot_loader_free(e->loader);
	fixture_teardown((void **)&e->f);
	free(e);
	return 0;
}

/* A listening (or, with listen_too false, merely bound) TCP socket on
 * 127.0.0.1; port 0 picks one. */
static int tcp_socket(uint16_t *port, bool listen_too)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(*port)};
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	*port = ntohs(sin.sin_port);
	if (listen_too)
		assert_int_equal(listen(fd, 16), 0);
	return fd;
}

/* Reads one request's header block and answers it 405 with its Via. */
static void gateway_serve(struct gateway *g, int fd)
{
	char req[4096], resp[4600];
	size_t n = 0;
	struct pollfd pfd = {fd, POLLIN, 0};

	while (n < sizeof(req) - 1 && poll(&pfd, 1, 1000) > 0) {
		ssize_t r = recv(fd, req + n, sizeof(req) - 1 - n, 0);

		if (r <= 0)
			return;
		n += (size_t)r;
		req[n] = '\0';
		if (strstr(req, "\r\n\r\n"))
			break;
	}
	const char *via = strstr(req, "\r\nVia: ");
	const char *eol = via ? strstr(via + 2, "\r\n") : NULL;

	if (!eol || strncmp(req, "OPTIONS ", 8) != 0)
		return;
	atomic_fetch_add(&g->requests, 1);
	if (strstr(req, ";transport=tcp SIP/2.0\r\n") &&
	    strncmp(via, "\r\nVia: SIP/2.0/TCP ", 19) == 0)
		atomic_fetch_add(&g->over_tcp, 1);
	int w = snprintf(resp, sizeof(resp),
			 "SIP/2.0 405 Method Not Allowed%.*s\r\nContent-Length: 0\r\n\r\n",
			 (int)(eol - via), via);
	if (w > 0 && !g->silent)
		send(fd, resp, (size_t)w, MSG_NOSIGNAL);
}

static void *gateway_run(void *arg)
{
	struct gateway *g = arg;
	int held[64];
	size_t nheld = 0;

	while (!atomic_load(&g->stop)) {
		struct pollfd pfd = {g->lfd, POLLIN, 0};

		if (poll(&pfd, 1, 20) <= 0)
			continue;
		int fd = accept(g->lfd, NULL, NULL);

		if (fd < 0)
			continue;
		gateway_serve(g, fd);
		if (g->silent && nheld < 64)
			held[nheld++] = fd; /* open, never answered: the prober must time out */
		else
			close(fd);
	}
	while (nheld)
		close(held[--nheld]);
	return NULL;
}

static void gateway_start(struct gateway *g, bool silent)
{
	g->lfd = tcp_socket(&g->port, true);
	g->silent = silent;
	atomic_store(&g->stop, false);
	assert_int_equal(pthread_create(&g->thread, NULL, gateway_run, g), 0);
}

static void gateway_stop(struct gateway *g)
{
	atomic_store(&g->stop, true);
	pthread_join(g->thread, NULL);
	close(g->lfd);
}

/* Provisions a TCP gateway with probe on and starts the prober. */
static void probe_tcp_gateway(struct env *e, const char *id, uint16_t port)
{
	char sql[512];

	snprintf(sql, sizeof(sql),
		 "INSERT INTO gateways (id, carrier_id, host, port, transport, weight, priority, "
		 "probe, created_at, updated_at) VALUES ('%s', 'car_t', '127.0.0.1', %u, 'tcp', "
		 "1, 0, 1, 0, 0)",
		 id, (unsigned)port);
	fixture_exec_ok(store_conn(e->f->store), sql);
	snapshot_loader_reload(e->loader);
	assert_int_equal(sip_policy_start(e->p), 0);
}

/* 1: up, 0: down, by the prober's mark and warp_sip_gateway_up alike;
 * -1 when they disagree or the gateway is unknown. */
static int gw_health(struct env *e, const char *id)
{
	struct metric_family *f =
	    metrics_gauge(metrics_default(), "warp_sip_gateway_up", "", "gateway");
	const struct psnap *s = snapshot_acquire(e->p->snap);
	const struct psnap_gateway *g = psnap_gateway_find(s, id);
	int up = g ? !atomic_load(&g->state->down) : -1;

	snapshot_release(e->p->snap, s);
	return f && up == metric_value(metric_get(f, id)) ? up : -1;
}

/* Waits (bounded) until the gateway's health is want; returns it. */
static int wait_health(struct env *e, const char *id, int want)
{
	for (int i = 0; i < WAIT_ROUNDS * 5 && gw_health(e, id) != want; i++)
		usleep(PROBE_MS * 1000 / 5);
	return gw_health(e, id);
}

static void test_tcp_gateway_answering_405_stays_up_probed_over_tcp(void **state)
{
	struct env *e = *state;
	struct gateway g = {.port = 0};

	gateway_start(&g, false);
	probe_tcp_gateway(e, "gw_t_live", g.port);
	for (int i = 0; i < WAIT_ROUNDS * 5 && atomic_load(&g.requests) < 3; i++)
		usleep(PROBE_MS * 1000 / 5);
	assert_true(atomic_load(&g.requests) >= 3);
	assert_int_equal(atomic_load(&g.over_tcp), atomic_load(&g.requests));
	assert_int_equal(gw_health(e, "gw_t_live"), 1);
	gateway_stop(&g);
}

static void test_tcp_gateway_refusing_is_down_then_up_when_listening(void **state)
{
	struct env *e = *state;
	uint16_t port = 0;
	int bound = tcp_socket(&port, false); /* bound, not listening: refused */
	struct gateway g = {.port = port};

	probe_tcp_gateway(e, "gw_t_refuse", port);
	assert_int_equal(wait_health(e, "gw_t_refuse", 0), 0);
	close(bound);
	gateway_start(&g, false);
	assert_int_equal(wait_health(e, "gw_t_refuse", 1), 1);
	gateway_stop(&g);
}

static void test_tcp_gateway_accepting_but_silent_is_down(void **state)
{
	struct env *e = *state;
	struct gateway g = {.port = 0};

	gateway_start(&g, true);
	probe_tcp_gateway(e, "gw_t_silent", g.port);
	assert_int_equal(wait_health(e, "gw_t_silent", 0), 0);
	assert_true(atomic_load(&g.requests) >= 2);
	gateway_stop(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	    T(test_tcp_gateway_answering_405_stays_up_probed_over_tcp),
	    T(test_tcp_gateway_refusing_is_down_then_up_when_listening),
	    T(test_tcp_gateway_accepting_but_silent_is_down),
#undef T
	};

	return FIXTURE_RUN("test_sip_probe_tcp", tests);
}
