/*
 * tls.c — the proxy's TLS contexts for SIP over TLS (RFC 3261 §26.2).
 *
 * TLS is TCP's framing and connection table (transport.c) with an SSL
 * object under the bufferevent; this file only makes those objects.  The
 * server context holds tls_cert and tls_key and, with tls_verify_clients,
 * asks for a client certificate verified by tls_ca.  The client context
 * verifies gateways against tls_ca (without it nothing is verified: said
 * at start when there is a TLS listener, and on every connection we open
 * unverified); the identity checked is the host of the URI the next
 * hop came from (RFC 5922 §4), sent as SNI when it is a name (RFC 6066 §3
 * forbids an address there).  TLS 1.2 at least.  What the smsc shares
 * with this (contexts, identity, bufferevents) is core's tls.c.
 */
#include "sip/proxy_private.h"

#include <openssl/ssl.h>
#include <stdio.h>

static int sip_tls_server_ctx(struct sip_proxy *p, char *err, size_t errlen)
{
	const struct sip_proxy_opts *o = &p->o;
	char why[256];
	p->tls_server = tls_ctx_new(true);
	if (!p->tls_server) {
		snprintf(err, errlen, "tls: %s", tls_error(why, sizeof(why)));
		return -1;
	}
	if (tls_ctx_use_pair(p->tls_server, "tls_cert", o->tls_cert, "tls_key", o->tls_key, err,
			     errlen) < 0)
		return -1;
	if (o->tls_verify_clients)
		SSL_CTX_set_verify(p->tls_server, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
				   NULL);
	return 0;
}

int sip_tls_open(struct sip_proxy *p, char *err, size_t errlen)
{
	const struct sip_proxy_opts *o = &p->o;
	bool have_ca = o->tls_ca && o->tls_ca[0];
	char why[256];
	if (p->ntls && (!o->tls_cert || !o->tls_cert[0] || !o->tls_key || !o->tls_key[0])) {
		snprintf(err, errlen, "tls_listen needs %s",
			 !o->tls_cert || !o->tls_cert[0] ? "tls_cert" : "tls_key");
		return -1;
	}
	if (o->tls_verify_clients && !have_ca) {
		snprintf(err, errlen, "tls_verify_clients needs tls_ca");
		return -1;
	}
	if (p->ntls && sip_tls_server_ctx(p, err, errlen) < 0)
		return -1;
	p->tls_client = tls_ctx_new(false);
	if (!p->tls_client) {
		snprintf(err, errlen, "tls: %s", tls_error(why, sizeof(why)));
		return -1;
	}
	if (have_ca) {
		if (SSL_CTX_load_verify_locations(p->tls_client, o->tls_ca, NULL) != 1 ||
		    (p->tls_server &&
		     SSL_CTX_load_verify_locations(p->tls_server, o->tls_ca, NULL) != 1)) {
			snprintf(err, errlen, "tls_ca %s: %s", o->tls_ca,
				 tls_error(why, sizeof(why)));
			return -1;
		}
		SSL_CTX_set_verify(p->tls_client, SSL_VERIFY_PEER, NULL);
	} else if (p->ntls) {
		log_warn("sip", "tls_ca is empty: gateways' TLS certificates are not verified");
	}
	return 0;
}

void sip_tls_close(struct sip_proxy *p)
{
	SSL_CTX_free(p->tls_server);
	SSL_CTX_free(p->tls_client);
	p->tls_server = p->tls_client = NULL;
}

SSL *sip_tls_server(struct sip_proxy *p)
{
	return p->tls_server ? SSL_new(p->tls_server) : NULL;
}

SSL *sip_tls_client(struct sip_proxy *p, struct str host)
{
	SSL *ssl = p->tls_client ? SSL_new(p->tls_client) : NULL;
	if (ssl && !(p->o.tls_ca && p->o.tls_ca[0]))
		log_warn("sip", "TLS to %.*s: tls_ca is empty, its certificate is not verified",
			 STR_FMT(host));
	if (ssl && tls_identity_set(ssl, host) < 0) {
		SSL_free(ssl);
		ssl = NULL;
	}
	return ssl;
}
