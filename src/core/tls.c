/*
 * tls.c — the OpenSSL pieces every TLS-speaking role shares (SIP over TLS,
 * SMPP over TLS): contexts that refuse anything older than TLS 1.2, a
 * server context loaded from a PEM chain and its key with errors naming
 * the configuration keys, the identity a client checks (RFC 6125 §6: a DNS
 * name, also sent as SNI, or an address literal, never sent as SNI since
 * RFC 6066 §3 forbids it), the reason a verification failed, and the
 * bufferevent that runs the handshake without blocking its loop.
 */
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

#include "core/core.h"

const char *tls_error(char *buf, size_t n)
{
	unsigned long e = ERR_get_error();
	if (!e)
		snprintf(buf, n, "no TLS error queued");
	else
		ERR_error_string_n(e, buf, n);
	ERR_clear_error();
	return buf;
}

SSL_CTX *tls_ctx_new(bool server)
{
	SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	if (ctx && SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

int tls_ctx_use_pair(SSL_CTX *ctx, const char *cert_key, const char *cert, const char *key_key,
		     const char *key, char *err, size_t errlen)
{
	char why[256];
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		snprintf(err, errlen, "%s %s: %s", cert_key, cert, tls_error(why, sizeof(why)));
		return -1;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, errlen, "%s %s: %s", key_key, key, tls_error(why, sizeof(why)));
		return -1;
	}
	return 0;
}

int tls_identity_set(SSL *ssl, struct str host)
{
	char name[256];
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

/* libevent queues the SSL_get_error() code (SSL_ERROR_SSL, _SYSCALL) among
 * the library's errors; only an error with a library says what failed. */
bool tls_failure(struct bufferevent *bev, char *buf, size_t n)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);
	long v = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
	unsigned long e, first = 0;
	char lib[160] = "connection closed during the handshake";

	while ((e = bufferevent_get_openssl_error(bev)))
		if (!first && ERR_GET_LIB(e))
			first = e;
	if (first)
		ERR_error_string_n(first, lib, sizeof(lib));
	if (v != X509_V_OK)
		snprintf(buf, n, "%s (%s)", lib, X509_verify_cert_error_string(v));
	else
		snprintf(buf, n, "%s", lib);
	return first || v != X509_V_OK;
}

struct bufferevent *tls_bev_new(struct event_base *base, int fd, SSL *ssl)
{
	struct bufferevent *bev = bufferevent_openssl_socket_new(
	    base, fd, ssl, fd < 0 ? BUFFEREVENT_SSL_CONNECTING : BUFFEREVENT_SSL_ACCEPTING,
	    BEV_OPT_CLOSE_ON_FREE);
	if (!bev)
		SSL_free(ssl);
	else /* a peer closing without close_notify is a closed connection */
		bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}
