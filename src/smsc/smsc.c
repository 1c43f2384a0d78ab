/*
 * smsc.c — the smsc role's lifecycle: the accounts snapshot, the listener,
 * the session thread, the password thread and the store writer, and their
 * teardown in the order that loses no acknowledged message.
 */
#include <errno.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "smsc/smsc_private.h"

static void smsc_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
			int salen, void *arg)
{
	(void)l;
	smsc_session_accept(arg, fd, sa, salen, false);
}

static void smsc_accept_tls(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
			    int salen, void *arg)
{
	(void)l;
	smsc_session_accept(arg, fd, sa, salen, true);
}

/* Seconds: the target is a p99 under 10 ms at 5,000 messages/s. */
static const double resp_bounds[] = {0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1};

static void smsc_metrics_init(struct smsc *s)
{
	struct metrics *r = metrics_default();
	struct metric_family *binds =
	    metrics_counter(r, "warp_smsc_binds_total", "SMPP binds by result.", "result");
	struct metric_family *submits = metrics_counter(
	    r, "warp_smsc_submits_total", "submit_sm and data_sm from ESMEs, by result.", "result");

	s->m_binds_ok = metric_get(binds, "ok");
	s->m_binds_refused = metric_get(binds, "refused");
	s->m_submits_ok = metric_get(submits, "accepted");
	s->m_submits_refused = metric_get(submits, "refused");
	s->m_sessions =
	    metric_get(metrics_gauge(r, "warp_smsc_sessions", "ESME connections open now.", NULL));
	s->m_resp_seconds = metric_get(metrics_histogram(
	    r, "warp_smsc_submit_resp_seconds",
	    "From a submit_sm's arrival to its submit_sm_resp (the store commit included).", NULL,
	    resp_bounds, sizeof(resp_bounds) / sizeof(resp_bounds[0])));
	smsc_ops_metrics_init(s);
}

/* One listener (key names it in errors) whose connections go to cb. */
static int smsc_listen(struct smsc *s, const struct net_addr *a, const char *key,
		       evconnlistener_cb cb, struct evconnlistener **out, char *err, size_t errlen)
{
	char where[NET_ADDR_STRLEN];
	int fd = net_socket_bind(a, SOCK_STREAM, false);

	net_addr_format(a, where, sizeof(where));
	if (fd < 0) {
		snprintf(err, errlen, "[smsc] %s %s: %s", key, where,
			 fd == -EADDRINUSE ? "port in use" : strerror(-fd));
		return fd;
	}
	*out = evconnlistener_new(s->base, cb, s, LEV_OPT_CLOSE_ON_FREE, 0, fd);
	if (!*out) {
		close(fd);
		snprintf(err, errlen, "[smsc] %s %s: cannot watch the socket", key, where);
		return -ENOMEM;
	}
	log_info("smsc", "SMPP%s listening on %s", *key == 't' ? " over TLS" : "", where);
	return 0;
}

static int smsc_listen_all(struct smsc *s, char *err, size_t errlen)
{
	if (smsc_listen(s, &s->o.listen, "listen", smsc_accept, &s->listener, err, errlen) < 0)
		return -1;
	if (s->o.tls && (smsc_tls_open(s, err, errlen) < 0 ||
			 smsc_listen(s, &s->o.tls_listen, "tls_listen", smsc_accept_tls,
				     &s->tls_listener, err, errlen) < 0))
		return -1;
	return 0;
}

struct smsc *smsc_new(const struct smsc_opts *o, char *err, size_t errlen)
{
	struct smsc *s = calloc(1, sizeof(*s));

	if (!s)
		goto oom;
	s->o = *o;
	s->hex = malloc(2 * SMPP_PDU_MAX_LEN + 1);
	s->send = malloc(SMPP_PDU_MAX_LEN);
	s->pool = loop_pool_new(2, "smsc"); /* 0: sessions, 1: upstream */
	if (!s->hex || !s->send || !s->pool)
		goto oom;
	s->base = loop_pool_base(s->pool, 0);
	smsc_metrics_init(s);
	s->accounts = snapshot_register(o->loader, "smpp_accounts", smsc_accounts_build,
					smsc_accounts_free, NULL);
	if (!s->accounts) {
		snprintf(err, errlen, "cannot read the SMPP accounts from the store");
		goto fail;
	}
	if (!(s->tendlc = tendlc_snapshot_register(o->loader, "smsc", &o->tendlc))) {
		snprintf(err, errlen, "cannot read the 10DLC campaigns from the store");
		goto fail;
	}
	if (smsc_submit_prepare(s) < 0 || !(s->verify = smsc_verify_new(s->pool)))
		goto oom;
	s->out = smsc_out_new(s, loop_pool_base(s->pool, 1));
	if (!s->out) {
		snprintf(err, errlen,
			 "cannot read the message routes and connectors from the store");
		goto fail;
	}
	if (smsc_listen_all(s, err, errlen) < 0)
		goto fail;
	return s;
oom:
	snprintf(err, errlen, "out of memory");
fail:
	smsc_free(s);
	return NULL;
}

int smsc_start(struct smsc *s)
{
	int rc = loop_pool_start(s->pool);
	s->started = rc == 0;
	if (rc == 0)
		rc = smsc_prepaid_start(s->prepaid);
	return rc;
}

static void smsc_shutdown_sessions(void *arg)
{
	struct smsc *s = arg;

	if (s->listener)
		evconnlistener_free(s->listener);
	if (s->tls_listener)
		evconnlistener_free(s->tls_listener);
	s->listener = s->tls_listener = NULL;
	smsc_session_close_all(s);
}

static void smsc_stop_upstream(void *arg)
{
	struct smsc *s = arg;
	smsc_out_free(s->out);
	s->out = NULL;
}

static void smsc_barrier(void *arg)
{
	(void)arg; /* runs after every answer queued before it */
}

/* Sessions close first, on their thread, and the upstream binds on theirs
 * (their submits in flight go back to the queue); then the password checks and the
 * store writer finish what they hold (their answers queue onto the session
 * thread, where they find dead sessions and free them); a last call on the
 * session thread runs after all of those, and only then does it stop. */
void smsc_free(struct smsc *s)
{
	if (!s)
		return;
	bool running = s->started;
	if (running)
		loop_pool_call_wait(s->pool, 0, smsc_shutdown_sessions, s);
	else
		smsc_shutdown_sessions(s);
	if (running) {
		loop_pool_call_wait(s->pool, 1, smsc_stop_upstream, s);
		/* the MO answers the store writer queued while it drained */
		loop_pool_call_wait(s->pool, 1, smsc_barrier, s);
	} else {
		smsc_stop_upstream(s);
	}
	smsc_verify_free(s->verify);
	store_batch_free(s->insert);
	store_batch_free(s->insert_prepaid);
	smsc_prepaid_free(s->prepaid);
	if (running) {
		loop_pool_call_wait(s->pool, 0, smsc_barrier, s);
		loop_pool_stop(s->pool);
	}
	smsc_tls_close(s); /* its timer is on the stopped session thread */
	loop_pool_free(s->pool);
	smsc_live_free_all(&s->live);
	free(s->hex);
	free(s->send);
	free(s);
}
