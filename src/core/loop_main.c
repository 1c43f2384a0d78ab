/*
 * loop_main.c — the main thread's loop: signals become stop and reload.
 *
 * SIGTERM (what Kubernetes and systemd send) and SIGINT call on_stop and
 * then let the loop exit, so loop_main_run returns 0 and the caller tears
 * down in order.  SIGHUP calls on_reload and keeps running.  SIGPIPE is
 * ignored process-wide: a peer closing a socket must be an EPIPE on that
 * write, not the death of the process.
 *
 * A signal that arrives while the process is still starting must not kill
 * it with the default action: loop_main_block_signals() holds them from the
 * first moment, and loop_main_run() lets them through once its handlers are
 * in place, so an early SIGTERM becomes an orderly stop.
 */
#include "core/core.h"

#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <signal.h>

struct loop_main {
	struct event_base *base;
	const struct loop_main_hooks *hooks;
};

static void loop_main_signal(evutil_socket_t sig, short what, void *arg)
{
	struct loop_main *m = arg;
	const struct loop_main_hooks *h = m->hooks;

	if (sig == SIGHUP) {
		log_info("core", "SIGHUP: reloading");
		if (h && h->on_reload)
			h->on_reload(h->arg);
		return;
	}
	log_info("core", "%s: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	if (h && h->on_stop)
		h->on_stop(h->arg);
	event_base_loopexit(m->base, NULL);
}

static void loop_main_sigset(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGHUP);
}

int loop_main_block_signals(void)
{
	sigset_t set;
	loop_main_sigset(&set);
	return -pthread_sigmask(SIG_BLOCK, &set, NULL);
}

int loop_main_run(struct event_base *base, const struct loop_main_hooks *hooks)
{
	static const int sigs[] = {SIGTERM, SIGINT, SIGHUP};
	sigset_t set;
	struct event *ev[3] = {NULL, NULL, NULL};
	struct loop_main m = {base, hooks};
	int rc = 0;

	signal(SIGPIPE, SIG_IGN);
	for (size_t i = 0; i < 3 && rc == 0; i++) {
		ev[i] = evsignal_new(base, sigs[i], loop_main_signal, &m);
		if (!ev[i] || evsignal_add(ev[i], NULL) < 0)
			rc = -ENOMEM;
	}
	/* Handlers are installed: signals held since start-up arrive now. */
	loop_main_sigset(&set);
	if (rc == 0)
		pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	if (rc == 0 && event_base_loop(base, EVLOOP_NO_EXIT_ON_EMPTY) < 0)
		rc = -EIO;
	for (size_t i = 0; i < 3; i++)
		if (ev[i])
			event_free(ev[i]);
	return rc;
}

void loop_main_stop(struct event_base *base)
{
	event_base_loopexit(base, NULL);
}
