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
 * forbids an address there).  TLS 1.2 at least.
 */
#include "sip/core.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>

const char *sip_tls_error(char *buf, size_t n)
{
	unsigned long e = ERR_get_error();
	if (!e)
		snprintf(buf, n, "no TLS error queued");
	else
		ERR_error_string_n(e, buf, n);
	ERR_clear_error();
	return buf;
}

static SSL_CTX *sip_tls_ctx(const SSL_METHOD *method)
{
	SSL_CTX *ctx = SSL_CTX_new(method);
	if (ctx && SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

static int sip_tls_server_ctx(struct sip_proxy *p, char *err, size_t errlen)
{
	const struct sip_proxy_opts *o = &p->o;
	char why[256];
	p->tls_server = sip_tls_ctx(TLS_server_method());
	if (!p->tls_server) {
		snprintf(err, errlen, "tls: %s", sip_tls_error(why, sizeof(why)));
		return -1;
	}
	if (SSL_CTX_use_certificate_chain_file(p->tls_server, o->tls_cert) != 1) {
		snprintf(err, errlen, "tls_cert %s: %s", o->tls_cert,
			 sip_tls_error(why, sizeof(why)));
		return -1;
	}
	if (SSL_CTX_use_PrivateKey_file(p->tls_server, o->tls_key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(p->tls_server) != 1) {
		snprintf(err, errlen, "tls_key %s: %s", o->tls_key,
			 sip_tls_error(why, sizeof(why)));
		return -1;
	}
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
	p->tls_client = sip_tls_ctx(TLS_client_method());
	if (!p->tls_client) {
		snprintf(err, errlen, "tls: %s", sip_tls_error(why, sizeof(why)));
		return -1;
	}
	if (have_ca) {
		if (SSL_CTX_load_verify_locations(p->tls_client, o->tls_ca, NULL) != 1 ||
		    (p->tls_server &&
		     SSL_CTX_load_verify_locations(p->tls_server, o->tls_ca, NULL) != 1)) {
			snprintf(err, errlen, "tls_ca %s: %s", o->tls_ca,
				 sip_tls_error(why, sizeof(why)));
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

/* Names the identity to check: an address literal ("[::1]" without its
 * brackets) or a DNS name, which also goes out as SNI. */
static int sip_tls_identity(SSL *ssl, struct str host)
{
	char name[SIP_HOST_MAX];
	if (host.len >= 2 && host.p[0] == '[' && host.p[host.len - 1] == ']')
		host = (struct str){host.p + 1, host.len - 2};
	if (host.len == 0 || str_copy(name, sizeof(name), host) < 0)
		return 0; /* nothing to name: the chain alone is verified */
	X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
	struct net_addr a;
	if (net_addr_parse(str_from_cstr(name), 1, &a) == 0)
		return X509_VERIFY_PARAM_set1_ip_asc(vp, name) == 1 ? 0 : -1;
	if (SSL_set_tlsext_host_name(ssl, name) != 1)
		return -1;
	return X509_VERIFY_PARAM_set1_host(vp, name, 0) == 1 ? 0 : -1;
}

SSL *sip_tls_client(struct sip_proxy *p, struct str host)
{
	SSL *ssl = p->tls_client ? SSL_new(p->tls_client) : NULL;
	if (ssl && !(p->o.tls_ca && p->o.tls_ca[0]))
		log_warn("sip", "TLS to %.*s: tls_ca is empty, its certificate is not verified",
			 STR_FMT(host));
	if (ssl && sip_tls_identity(ssl, host) < 0) {
		SSL_free(ssl);
		ssl = NULL;
	}
	return ssl;
}
