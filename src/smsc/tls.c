/*
 * tls.c — SMPP over TLS on both sides of the smsc.
 *
 * Customers' side: [smsc] tls_listen accepts ESMEs with tls_certificate and
 * tls_key (TLS 1.2 and later, core's tls.c); the handshake runs on the
 * session thread's loop like any read, bounded by tls_handshake_timeout,
 * and only then does the session read PDUs.  A handshake that fails is
 * counted in warp_smsc_tls_handshake_failures_total and logged, but not
 * once per attempt: a scanner or a misconfigured client retrying every
 * second would bury the log, so the first failure is logged at once and
 * the ones after it in the next TLS_LOG_WINDOW_MS in one line.
 *
 * Carriers' side: a connector with tls on gets a client context per bind,
 * verifying the server's chain against the connector's tls_ca_file (the
 * system's store when it has none) and its name against tls_server_name,
 * else its host (RFC 6125 §6; sent as SNI when it is a name).  There is no
 * way to skip the verification: a certificate that fails keeps the bind
 * down, with the reason in the log and the failure counted in
 * warp_smsc_connector_tls_failures_total.  The context is made on the
 * first connect, so a CA file fixed later is read on the next attempt.
 */
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <string.h>

#include "smsc/smsc_private.h"

#define TLS_LOG_WINDOW_MS 10000

static void smsc_tls_log_flush(evutil_socket_t fd, short what, void *arg)
{
	struct smsc *s = arg;

	(void)fd;
	(void)what;
	if (s->tls_unlogged)
		log_warn("smsc",
			 "%u more TLS handshakes failed on tls_listen in %d s (the last %s)",
			 s->tls_unlogged, TLS_LOG_WINDOW_MS / 1000, s->tls_last);
	s->tls_unlogged = 0;
	s->tls_logged_ms = time_mono_ms();
}

int smsc_tls_open(struct smsc *s, char *err, size_t errlen)
{
	char why[256];

	if (!s->o.tls)
		return 0;
	if (!s->o.tls_certificate[0] || !s->o.tls_key[0]) {
		snprintf(err, errlen, "[smsc] tls_listen is set but %s is empty",
			 s->o.tls_certificate[0] ? "tls_key" : "tls_certificate");
		return -1;
	}
	s->tls_ctx = tls_ctx_new(true);
	if (!s->tls_ctx) {
		snprintf(err, errlen, "[smsc] tls: %s", tls_error(why, sizeof(why)));
		return -1;
	}
	if (tls_ctx_use_pair(s->tls_ctx, "[smsc] tls_certificate", s->o.tls_certificate,
			     "[smsc] tls_key", s->o.tls_key, err, errlen) < 0)
		return -1;
	s->tls_log_timer = evtimer_new(s->base, smsc_tls_log_flush, s);
	s->m_tls_failed = metric_get(metrics_counter(
	    metrics_default(), "warp_smsc_tls_handshake_failures_total",
	    "TLS handshakes with ESMEs on [smsc] tls_listen that failed or timed out.", NULL));
	if (!s->tls_log_timer) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	s->tls_logged_ms = time_mono_ms() - TLS_LOG_WINDOW_MS;
	return 0;
}

/* After the session thread has stopped. */
void smsc_tls_close(struct smsc *s)
{
	if (s->tls_log_timer)
		event_free(s->tls_log_timer);
	s->tls_log_timer = NULL;
	SSL_CTX_free(s->tls_ctx);
	s->tls_ctx = NULL;
}

struct bufferevent *smsc_tls_accept(struct smsc *s, int fd)
{
	SSL *ssl = SSL_new(s->tls_ctx);
	return ssl ? tls_bev_new(s->base, fd, ssl) : NULL;
}

void smsc_tls_failed(struct smsc_session *ss, bool timed_out)
{
	struct smsc *s = ss->s;
	char ip[NET_ADDR_STRLEN], why[256];
	int64_t now = time_mono_ms();

	metric_inc(s->m_tls_failed);
	net_addr_format(&ss->peer, ip, sizeof(ip));
	if (timed_out)
		snprintf(why, sizeof(why), "no handshake within %lld ms",
			 (long long)s->o.tls_handshake_ms);
	else
		tls_failure(ss->bev, why, sizeof(why));
	if (!s->tls_unlogged && now - s->tls_logged_ms >= TLS_LOG_WINDOW_MS) {
		log_warn("smsc", "TLS handshake from %s failed: %s", ip, why);
		s->tls_logged_ms = now;
		return;
	}
	snprintf(s->tls_last, sizeof(s->tls_last), "from %s: %s", ip, why);
	if (s->tls_unlogged++ == 0) {
		int64_t left = TLS_LOG_WINDOW_MS - (now - s->tls_logged_ms);
		if (left < 0)
			left = 0;
		struct timeval tv = {(time_t)(left / 1000), (suseconds_t)(left % 1000) * 1000};
		evtimer_add(s->tls_log_timer, &tv);
	}
}

/* ---------------------------------------------------------- connectors */

static int smsc_tls_client_ctx(struct smsc_upbind *b, char *why, size_t n)
{
	const char *ca = b->cfg.tls_ca_file;
	char e[200];

	if (b->tls_ctx)
		return 0;
	b->tls_ctx = tls_ctx_new(false);
	if (!b->tls_ctx) {
		snprintf(why, n, "TLS: %s", tls_error(e, sizeof(e)));
		return -1;
	}
	if (ca[0] ? SSL_CTX_load_verify_locations(b->tls_ctx, ca, NULL) != 1
		  : SSL_CTX_set_default_verify_paths(b->tls_ctx) != 1) {
		snprintf(why, n, "TLS: %s %s: %s", ca[0] ? "tls_ca_file" : "the system's CA store",
			 ca, tls_error(e, sizeof(e)));
		SSL_CTX_free(b->tls_ctx);
		b->tls_ctx = NULL;
		return -1;
	}
	SSL_CTX_set_verify(b->tls_ctx, SSL_VERIFY_PEER, NULL);
	return 0;
}

struct bufferevent *smsc_tls_connect_bev(struct smsc_upbind *b, char *why, size_t n)
{
	const char *name = b->cfg.tls_server_name[0] ? b->cfg.tls_server_name : b->cfg.host;
	SSL *ssl = NULL;

	if (smsc_tls_client_ctx(b, why, n) < 0)
		goto fail;
	ssl = SSL_new(b->tls_ctx);
	if (!ssl || tls_identity_set(ssl, str_from_cstr(name)) < 0) {
		snprintf(why, n, "TLS: cannot check the name %s", name);
		SSL_free(ssl);
		goto fail;
	}
	struct bufferevent *bev = tls_bev_new(b->o->base, -1, ssl);
	if (!bev)
		snprintf(why, n, "out of memory");
	return bev;
fail:
	metric_inc(b->m_tls_failed);
	return NULL;
}

/* Why a TLS connector's connection failed before it was up; counted as a
 * TLS failure only when TLS said so (a refused TCP connect is not one). */
void smsc_tls_connect_failed(struct smsc_upbind *b, char *why, size_t n)
{
	char e[200];

	if (tls_failure(b->bev, e, sizeof(e))) {
		metric_inc(b->m_tls_failed);
		snprintf(why, n, "TLS handshake failed: %s", e);
	} else {
		snprintf(why, n, "connection failed before the TLS handshake completed");
	}
}

struct metric *smsc_tls_connector_metric(const struct smsc_connector_cfg *cfg)
{
	struct metric_family *f = metrics_counter(
	    metrics_default(), "warp_smsc_connector_tls_failures_total",
	    "TLS connections to an upstream that failed: certificate or name not verified, "
	    "handshake refused, CA file unreadable.",
	    "connector,carrier");
	return f ? metric_get(f, cfg->id, cfg->carrier_id) : NULL;
}
