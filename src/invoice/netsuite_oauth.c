/*
 * netsuite_oauth.c — OAuth 1.0a signatures for NetSuite's token-based
 * authentication (RFC 5849 with HMAC-SHA256, as NetSuite requires).
 *
 * The signature base string is the method, the base string URI and the
 * normalized parameters, each percent-encoded and joined by '&' (§3.4.1);
 * the key is the encoded consumer secret and token secret joined by '&'
 * (§3.4.2).  The realm is NetSuite's account id; it goes in the header
 * but, as §3.4.1.3.1 says, not into the signed parameters.  Our requests
 * carry no query and a JSON body, so the oauth_* protocol parameters are
 * the only ones signed (§3.4.1.3.1: a non-form body is not included).
 */
#include <ctype.h>
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>

#include "invoice/invoice_private.h"

int netsuite_pct_encode(struct buf *out, struct str s)
{
	static const char hex[] = "0123456789ABCDEF";
	int rc = 0;

	/* §3.6: unreserved characters stay, every other byte is %XX in upper case. */
	for (size_t i = 0; i < s.len && rc == 0; i++) {
		unsigned char c = (unsigned char)s.p[i];
		if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~')
			rc = buf_append_char(out, (char)c);
		else
			rc = buf_printf(out, "%%%c%c", hex[c >> 4], hex[c & 15]) < 0 ? -ENOMEM : 0;
	}
	return rc;
}

static int pct(struct buf *out, const char *s)
{
	return netsuite_pct_encode(out, str_from_cstr(s ? s : ""));
}

/* §3.4.1.2: scheme and host in lower case, the default port left out. */
static int base_uri(const char *url, struct buf *out)
{
	const char *host = strstr(url, "://");
	const char *path = host ? strchr(host + 3, '/') : NULL;
	size_t hlen;
	int rc = 0;

	if (!host || !path || strchr(url, '?'))
		return -EINVAL;
	for (const char *p = url; p < host + 3 && rc == 0; p++)
		rc = buf_append_char(out, (char)tolower((unsigned char)*p));
	hlen = (size_t)(path - host - 3);
	if (strncmp(url, "https", 5) == 0 && hlen > 4 && strncmp(path - 4, ":443", 4) == 0)
		hlen -= 4;
	else if (strncmp(url, "http:", 5) == 0 && hlen > 3 && strncmp(path - 3, ":80", 3) == 0)
		hlen -= 3;
	for (size_t i = 0; i < hlen && rc == 0; i++)
		rc = buf_append_char(out, (char)tolower((unsigned char)host[3 + i]));
	return rc ? rc : buf_append_cstr(out, path);
}

/* §3.4.1.3.2: the parameters sorted by name; these names are in order. */
static int params(const struct netsuite_oauth *o, struct buf *out)
{
	const char *kv[6][2] = {
	    {"oauth_consumer_key", o->consumer_key},
	    {"oauth_nonce", o->nonce},
	    {"oauth_signature_method", "HMAC-SHA256"},
	    {"oauth_timestamp", o->timestamp},
	    {"oauth_token", o->token_id},
	    {"oauth_version", "1.0"},
	};
	int rc = 0;

	for (int i = 0; i < 6 && rc == 0; i++) {
		rc = i ? buf_append_char(out, '&') : 0;
		rc = rc ? rc : pct(out, kv[i][0]);
		rc = rc ? rc : buf_append_char(out, '=');
		rc = rc ? rc : pct(out, kv[i][1]);
	}
	return rc;
}

int netsuite_oauth_base_string(const struct netsuite_oauth *o, const char *method, const char *url,
			       struct buf *out)
{
	struct buf uri, prm;
	int rc;

	buf_init(&uri);
	buf_init(&prm);
	rc = base_uri(url, &uri);
	rc = rc ? rc : params(o, &prm);
	rc = rc ? rc : pct(out, method);
	rc = rc ? rc : buf_append_char(out, '&');
	rc = rc ? rc : netsuite_pct_encode(out, (struct str){uri.p, uri.len});
	rc = rc ? rc : buf_append_char(out, '&');
	rc = rc ? rc : netsuite_pct_encode(out, (struct str){prm.p, prm.len});
	buf_fini(&uri);
	buf_fini(&prm);
	return rc;
}

int netsuite_oauth_sign(const struct netsuite_oauth *o, const char *base, char *out, size_t n)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	struct buf key;
	int rc;

	buf_init(&key);
	rc = pct(&key, o->consumer_secret);
	rc = rc ? rc : buf_append_char(&key, '&');
	rc = rc ? rc : pct(&key, o->token_secret);
	if (rc == 0 && !HMAC(EVP_sha256(), key.p, (int)key.len, (const unsigned char *)base,
			     strlen(base), mac, &maclen))
		rc = -EIO;
	if (rc == 0 && n < 4 * ((maclen + 2) / 3) + 1)
		rc = -ENOSPC;
	if (rc == 0)
		EVP_EncodeBlock((unsigned char *)out, mac, (int)maclen);
	buf_fini(&key);
	return rc;
}

/* name="value" with the value encoded (§3.5.1), after a ", " but the first. */
static int header_param(struct buf *out, const char *name, const char *value, bool first)
{
	int rc = buf_printf(out, "%s%s=\"", first ? "" : ", ", name) < 0 ? -ENOMEM : 0;
	rc = rc ? rc : pct(out, value);
	return rc ? rc : buf_append_char(out, '"');
}

int netsuite_oauth_header(const struct netsuite_oauth *o, const char *method, const char *url,
			  struct buf *out)
{
	char sig[96];
	struct buf base;
	int rc;

	buf_init(&base);
	rc = netsuite_oauth_base_string(o, method, url, &base);
	rc = rc ? rc : netsuite_oauth_sign(o, base.p, sig, sizeof(sig));
	rc = rc ? rc : buf_append_cstr(out, "OAuth ");
	rc = rc ? rc : header_param(out, "realm", o->realm, true);
	rc = rc ? rc : header_param(out, "oauth_consumer_key", o->consumer_key, false);
	rc = rc ? rc : header_param(out, "oauth_token", o->token_id, false);
	rc = rc ? rc : header_param(out, "oauth_signature_method", "HMAC-SHA256", false);
	rc = rc ? rc : header_param(out, "oauth_timestamp", o->timestamp, false);
	rc = rc ? rc : header_param(out, "oauth_nonce", o->nonce, false);
	rc = rc ? rc : header_param(out, "oauth_version", "1.0", false);
	rc = rc ? rc : header_param(out, "oauth_signature", sig, false);
	buf_fini(&base);
	return rc;
}
