/*
 * digest.c — proxy-to-user authentication (RFC 3261 §22.3) for trunks whose
 * customers have no fixed address: a stranger's out-of-dialog request gets
 * 407 Proxy Authentication Required with a Digest challenge (RFC 7616 with
 * qop=auth: SHA-256 first, then MD5, as RFC 8760 §2.4 orders them for SIP),
 * and its retry is admitted as the trunk whose username, realm and HA1 of
 * the algorithm it chose produce the response it sent.  A realm none of
 * whose credentials has a SHA-256 HA1 (passwords set before migration 0026)
 * is offered MD5 alone, and a SHA-256 answer for credentials that only
 * have an MD5 HA1 gets a new challenge offering MD5 alone (decision 0048).
 *
 * Nonces carry their own proof (RFC 2617 §3.2.1 leaves the form to the
 * server): base64 of the issue time (8 bytes, big-endian ms) and the first
 * 16 bytes of HMAC-SHA256(secret, time), with a secret drawn once per
 * process.  No table of issued nonces, so nothing for a scanner to fill and
 * any worker thread verifies any nonce.  A nonce is good for a configured
 * time.  Within it, a response is admitted once: the policy remembers each
 * admitted (nonce, nc, cnonce, response) in a fixed table until the nonce
 * expires, and the same credentials again — a replay by whoever captured
 * them — get a fresh challenge (stale=true: a client that merely reused
 * them retries without asking its user).  Legitimate clients count nc up
 * or take a new nonce, so they never repeat one.
 *
 * The credentials live in the policy snapshot (snapshot.c), by (username,
 * realm).  Several trunks may share a username and realm: the one whose
 * HA1 verifies wins.  A trunk with an ACL is admitted by address alone, as
 * before; its credentials also admit it from anywhere else.
 */
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "sip/policy_private.h"

#define DIGEST_TTL_DEFAULT_MS 300000
#define DIGEST_MAC_LEN 16
#define DIGEST_RAW_LEN (8 + DIGEST_MAC_LEN)

/* ------------------------------------------------ per-process state */

static unsigned char digest_secret[32];
static struct metric *digest_challenges;
static struct metric_family *digest_failures;
static pthread_once_t digest_once = PTHREAD_ONCE_INIT;

static void digest_init(void)
{
	struct metrics *m = metrics_default();
	struct metric_family *f;

	if (random_bytes(digest_secret, sizeof(digest_secret)) < 0)
		log_error("sip", "digest: no random secret; nonces are predictable");
	f = metrics_counter(m, "warp_sip_auth_challenges_total",
			    "407 digest challenges sent to sources in no trunk ACL.", NULL);
	digest_challenges = f ? metric_get(f) : NULL;
	digest_failures = metrics_counter(
	    m, "warp_sip_auth_failures_total",
	    "Digest credentials refused, by reason: user, response, nonce, malformed (403) and "
	    "replay (a new 407).",
	    "reason");
}

static void digest_fail_count(const char *reason)
{
	if (digest_failures)
		metric_inc(metric_get(digest_failures, reason));
}

/* ---------------------------------------------------------- the math */

size_t sip_digest_hex_len(enum sip_digest_alg alg)
{
	return alg == SIP_DIGEST_SHA256 ? 64 : 32;
}

/* H of the n parts joined with ':', as lowercase hex (RFC 7616 §3.4.1's
 * KD and H, for MD5 or SHA-256). */
static void digest_join(enum sip_digest_alg alg, const struct str *part, size_t n,
			char out[SIP_DIGEST_HEX])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	size_t want = sip_digest_hex_len(alg) / 2;
	EVP_MD_CTX *h = EVP_MD_CTX_new();
	int ok =
	    h && EVP_DigestInit_ex(h, alg == SIP_DIGEST_SHA256 ? EVP_sha256() : EVP_md5(), NULL);

	for (size_t i = 0; ok && i < n; i++)
		ok = (i == 0 || EVP_DigestUpdate(h, ":", 1)) &&
		     EVP_DigestUpdate(h, part[i].p, part[i].len);
	ok = ok && EVP_DigestFinal_ex(h, md, &len) && len == want;
	EVP_MD_CTX_free(h);
	if (!ok) {
		memset(out, 0, SIP_DIGEST_HEX); /* matches no response */
		return;
	}
	hex_encode(md, want, out);
}

void sip_digest_ha1(enum sip_digest_alg alg, struct str user, struct str realm, struct str password,
		    char out[SIP_DIGEST_HEX])
{
	const struct str parts[] = {user, realm, password};

	digest_join(alg, parts, 3, out);
}

void sip_digest_response(enum sip_digest_alg alg, const char *ha1, struct str nonce, struct str nc,
			 struct str cnonce, struct str qop, struct str method, struct str uri,
			 char out[SIP_DIGEST_HEX])
{
	char ha2[SIP_DIGEST_HEX];
	const struct str a2[] = {method, uri};

	digest_join(alg, a2, 2, ha2);
	const struct str kd[] = {
	    str_from_cstr(ha1), nonce, nc, cnonce, qop, {ha2, sip_digest_hex_len(alg)}};

	digest_join(alg, kd, 6, out);
}

/* ------------------------------------------------------------ nonces */

static void nonce_mac(const unsigned char ts[8], unsigned char mac[DIGEST_MAC_LEN])
{
	unsigned char full[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	pthread_once(&digest_once, digest_init);
	if (!HMAC(EVP_sha256(), digest_secret, sizeof(digest_secret), ts, 8, full, &len))
		memset(full, 0, sizeof(full));
	memcpy(mac, full, DIGEST_MAC_LEN);
}

void sip_digest_nonce_make(int64_t now_ms, char *out, size_t n)
{
	unsigned char raw[DIGEST_RAW_LEN];
	char b64[SIP_DIGEST_NONCE_MAX];
	uint64_t t = (uint64_t)now_ms;

	for (int i = 7; i >= 0; i--, t >>= 8)
		raw[i] = (unsigned char)t;
	nonce_mac(raw, raw + 8);
	EVP_EncodeBlock((unsigned char *)b64, raw, sizeof(raw)); /* 32 chars, no padding */
	psnap_copy_cstr(out, n, b64);
}

int sip_digest_nonce_check(struct str nonce, int64_t now_ms, int64_t ttl_ms)
{
	unsigned char raw[DIGEST_RAW_LEN + 2], mac[DIGEST_MAC_LEN];
	char in[SIP_DIGEST_NONCE_MAX];
	uint64_t t = 0;

	/* Exactly what sip_digest_nonce_make writes: 32 base64 characters. */
	if (nonce.len != 32 || str_copy(in, sizeof(in), nonce) < 0 ||
	    strspn(in, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/") != 32 ||
	    EVP_DecodeBlock(raw, (const unsigned char *)in, 32) != DIGEST_RAW_LEN)
		return SIP_DIGEST_E_BAD;
	nonce_mac(raw, mac);
	if (CRYPTO_memcmp(mac, raw + 8, DIGEST_MAC_LEN) != 0)
		return SIP_DIGEST_E_BAD;
	for (int i = 0; i < 8; i++)
		t = t << 8 | raw[i];
	if ((int64_t)t > now_ms)
		return SIP_DIGEST_E_BAD; /* not issued by this clock */
	return now_ms - (int64_t)t > ttl_ms ? SIP_DIGEST_E_STALE : 0;
}

/* ------------------------------------------------ replay table */

#define SEEN_WAYS 4

struct seen_entry {
	uint64_t key;
	int64_t expires_ms;
};

struct sip_digest_seen {
	pthread_mutex_t lock;
	size_t mask; /* buckets - 1 */
	struct seen_entry *e;
};

struct sip_digest_seen *sip_digest_seen_new(size_t slots)
{
	struct sip_digest_seen *t = calloc(1, sizeof(*t));
	size_t buckets = 1;

	while (buckets * SEEN_WAYS < slots)
		buckets <<= 1;
	if (!t || !(t->e = calloc(buckets * SEEN_WAYS, sizeof(t->e[0])))) {
		free(t);
		return NULL;
	}
	t->mask = buckets - 1;
	pthread_mutex_init(&t->lock, NULL);
	return t;
}

void sip_digest_seen_free(struct sip_digest_seen *t)
{
	if (!t)
		return;
	pthread_mutex_destroy(&t->lock);
	free(t->e);
	free(t);
}

/* FNV-1a over the parts that make one use of a nonce unique. */
static uint64_t seen_key(const struct sip_digest_cred *c)
{
	const struct str parts[] = {c->nonce, c->nc, c->cnonce, c->response};
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		for (size_t k = 0; k < parts[i].len; k++)
			h = (h ^ (unsigned char)parts[i].p[k]) * 0x100000001b3ull;
		h = (h ^ 0xff) * 0x100000001b3ull; /* part separator */
	}
	return h;
}

/* Records c's use until expires_ms; false when it was used already.  A
 * full bucket gives up the entry nearest its end. */
static bool seen_first_use(struct sip_digest_seen *t, const struct sip_digest_cred *c,
			   int64_t now_ms, int64_t expires_ms)
{
	uint64_t key = seen_key(c);
	struct seen_entry *b, *victim;
	bool first = true;

	pthread_mutex_lock(&t->lock);
	b = &t->e[(key & t->mask) * SEEN_WAYS];
	victim = &b[0];
	for (int i = 0; i < SEEN_WAYS; i++) {
		if (b[i].key == key && b[i].expires_ms > now_ms) {
			first = false;
			break;
		}
		if (b[i].expires_ms < victim->expires_ms)
			victim = &b[i];
	}
	if (first)
		*victim = (struct seen_entry){key, expires_ms};
	pthread_mutex_unlock(&t->lock);
	return first;
}

/* ------------------------------------------- Proxy-Authorization */

static size_t skip_lws(struct str v, size_t i)
{
	while (i < v.len && (v.p[i] == ' ' || v.p[i] == '\t' || v.p[i] == '\r' || v.p[i] == '\n'))
		i++;
	return i;
}

static struct str *digest_slot(struct sip_digest_cred *c, struct str name)
{
	static const char *const names[] = {"username",	 "realm",  "nonce", "uri", "response",
					    "algorithm", "cnonce", "qop",   "nc"};
	struct str *slots[] = {&c->user,      &c->realm,  &c->nonce, &c->uri, &c->response,
			       &c->algorithm, &c->cnonce, &c->qop,   &c->nc};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (str_caseeq_cstr(name, names[i]))
			return slots[i];
	return NULL;
}

/* One "name=value" at v[*i]; a quoted value is taken as written between
 * its quotes (a backslash escape in it is refused: no name or nonce of
 * ours has one). */
static int digest_param(struct str v, size_t *i, struct str *name, struct str *value)
{
	size_t k = *i, start;

	for (start = k; k < v.len && v.p[k] != '=' && v.p[k] != ',' && v.p[k] != ' '; k++)
		;
	*name = (struct str){v.p + start, k - start};
	k = skip_lws(v, k);
	if (k >= v.len || v.p[k] != '=' || name->len == 0)
		return -EINVAL;
	k = skip_lws(v, k + 1);
	if (k < v.len && v.p[k] == '"') {
		for (start = ++k; k < v.len && v.p[k] != '"' && v.p[k] != '\\'; k++)
			;
		if (k >= v.len || v.p[k] != '"')
			return -EINVAL;
		*value = (struct str){v.p + start, k - start};
		k++;
	} else {
		for (start = k; k < v.len && v.p[k] != ',' && v.p[k] != ' ' && v.p[k] != '\t'; k++)
			;
		*value = (struct str){v.p + start, k - start};
	}
	*i = k;
	return 0;
}

int sip_digest_cred_parse(struct str v, struct sip_digest_cred *c)
{
	size_t i = 0;

	memset(c, 0, sizeof(*c));
	if (v.len < 7 || strncasecmp(v.p, "Digest", 6) != 0 || (v.p[6] != ' ' && v.p[6] != '\t'))
		return -EINVAL;
	for (i = skip_lws(v, 6); i < v.len; i = skip_lws(v, i)) {
		struct str name, value, *slot;

		if (v.p[i] == ',') {
			i++;
			continue;
		}
		if (digest_param(v, &i, &name, &value) < 0)
			return -EINVAL;
		slot = digest_slot(c, name);
		if (slot)
			*slot = value;
	}
	return 0;
}

static bool digest_realm_ours(const struct psnap *s, struct str realm)
{
	for (size_t i = 0; i < s->nrealms; i++)
		if (str_eq_cstr(realm, s->realms[i]))
			return true;
	return false;
}

/* Who asks: the proxy (§22.3: 407, Proxy-Authenticate, Proxy-Authorization)
 * or the registrar (§22.2: 401, WWW-Authenticate, Authorization). */
enum digest_kind { DIGEST_PROXY, DIGEST_REGISTRAR };

/* The first credentials for one of our realms, parsed; NULL when none
 * (others are for proxies further on, §22.3, and stay). */
static const struct sip_hdr *digest_find(const struct psnap *s, const struct sip_msg *m,
					 enum digest_kind kind, struct sip_digest_cred *c)
{
	enum sip_hdr_id id =
	    kind == DIGEST_PROXY ? SIP_HDR_PROXY_AUTHORIZATION : SIP_HDR_AUTHORIZATION;
	for (const struct sip_hdr *h = sip_msg_hdr_first(m, id); h; h = sip_msg_hdr_next(m, h))
		if (sip_digest_cred_parse(h->value, c) == 0 && digest_realm_ours(s, c->realm))
			return h;
	return NULL;
}

/* ------------------------------------------------------ verification */

/* The algorithm c answers with: none is MD5 (RFC 7616 §3.3); -EINVAL for
 * one not verified here (the -sess variants, SHA-512-256). */
static int digest_alg_of(const struct sip_digest_cred *c, enum sip_digest_alg *alg)
{
	*alg = SIP_DIGEST_MD5;
	if (c->algorithm.len == 0 || str_caseeq_cstr(c->algorithm, "MD5"))
		return 0;
	*alg = SIP_DIGEST_SHA256;
	return str_caseeq_cstr(c->algorithm, "SHA-256") ? 0 : -EINVAL;
}

static const char *cred_ha1(const struct psnap_cred *cr, enum sip_digest_alg alg)
{
	return alg == SIP_DIGEST_SHA256 ? cr->ha1_sha256 : cr->ha1;
}

/* True when some credentials of (user, realm) from index i on have an
 * HA1 for alg. */
static bool digest_has_alg(const struct psnap *s, size_t i, const struct sip_digest_cred *c,
			   enum sip_digest_alg alg)
{
	for (; i < s->ncreds && str_eq_cstr(c->user, s->creds[i].user) &&
	       str_eq_cstr(c->realm, s->creds[i].realm);
	     i++)
		if (cred_ha1(&s->creds[i], alg)[0])
			return true;
	return false;
}

/* The index into s->creds whose alg HA1 yields c's response, or SIZE_MAX. */
static size_t digest_match(const struct psnap *s, const struct sip_digest_cred *c,
			   enum sip_digest_alg alg, struct str method)
{
	char want[SIP_DIGEST_HEX], got[SIP_DIGEST_HEX];
	size_t hex = sip_digest_hex_len(alg), i = psnap_cred_find(s, c->user, c->realm);

	if (i == SIZE_MAX || c->response.len != hex)
		return SIZE_MAX;
	for (size_t k = 0; k < hex; k++) /* hex is case-insensitive */
		got[k] = (char)(c->response.p[k] >= 'A' && c->response.p[k] <= 'F'
				    ? c->response.p[k] - 'A' + 'a'
				    : c->response.p[k]);
	for (; i < s->ncreds && str_eq_cstr(c->user, s->creds[i].user) &&
	       str_eq_cstr(c->realm, s->creds[i].realm);
	     i++) {
		const char *ha1 = cred_ha1(&s->creds[i], alg);

		if (!ha1[0])
			continue;
		sip_digest_response(alg, ha1, c->nonce, c->nc, c->cnonce, c->qop, method, c->uri,
				    want);
		if (CRYPTO_memcmp(want, got, hex) == 0)
			return i;
	}
	return SIZE_MAX;
}

/* One challenge line into out[0..n); its length, or 0 when it does not fit. */
static size_t digest_challenge_line(char *out, size_t n, enum digest_kind kind, const char *realm,
				    const char *nonce, const char *alg, bool stale)
{
	int k = snprintf(out, n,
			 "%s: Digest realm=\"%s\", nonce=\"%s\", qop=\"auth\", algorithm=%s%s\r\n",
			 kind == DIGEST_PROXY ? "Proxy-Authenticate" : "WWW-Authenticate", realm,
			 nonce, alg, stale ? ", stale=true" : "");

	return k < 0 || (size_t)k >= n ? 0 : (size_t)k;
}

/* What a challenge offers a realm with SHA-256 HA1s (decision 0053). */
enum digest_offer { DIGEST_OFFER_MD5, DIGEST_OFFER_MD5_FIRST, DIGEST_OFFER_SHA256_FIRST };

static enum digest_offer digest_offer_of(const struct sip_policy *p)
{
	if (!p->o.cfg.digest_sha256)
		return DIGEST_OFFER_MD5;
	return p->o.cfg.digest_sha256_first ? DIGEST_OFFER_SHA256_FIRST : DIGEST_OFFER_MD5_FIRST;
}

/* The challenge: one Proxy-Authenticate (or WWW-Authenticate) per realm
 * and algorithm (§22.3, §20.28, §20.44).  A realm with SHA-256 HA1s gets
 * both when offer says so, in its order: a client takes the first it
 * supports (RFC 8760 §2.4), and many take the first whatever it is
 * (decision 0053).  Whole lines only. */
static void digest_challenge(const struct psnap *s, enum digest_kind kind, int64_t now_ms,
			     bool stale, enum digest_offer offer, struct sip_digest_admit *a)
{
	char nonce[SIP_DIGEST_NONCE_MAX];
	size_t off = 0, n = 1;

	sip_digest_nonce_make(now_ms, nonce, sizeof(nonce));
	a->code = kind == DIGEST_PROXY ? 407 : 401;
	a->tag = kind == DIGEST_PROXY ? "a407" : "a401";
	a->extra[0] = '\0';
	for (size_t i = 0; i < s->nrealms && n > 0; i++) {
		bool both = offer != DIGEST_OFFER_MD5 && s->realm_sha256[i];
		const char *algs[2] = {"MD5", NULL};

		if (both && offer == DIGEST_OFFER_SHA256_FIRST)
			algs[0] = "SHA-256", algs[1] = "MD5";
		else if (both)
			algs[1] = "SHA-256";
		for (size_t j = 0; j < 2 && algs[j] && n > 0; j++) {
			n = digest_challenge_line(a->extra + off, sizeof(a->extra) - off, kind,
						  s->realms[i], nonce, algs[j], stale);
			off += n;
		}
	}
	a->extra[off] = '\0';
	if (digest_challenges)
		metric_inc(digest_challenges);
}

static void digest_refuse(struct sip_digest_admit *a, const char *reason, const char *count)
{
	a->code = 403;
	a->tag = "a403";
	snprintf(a->extra, sizeof(a->extra), "Reason: SIP;cause=403;text=\"%s\"\r\n", reason);
	if (count)
		digest_fail_count(count);
}

/* ------------------------------------------------------- admission */

/* What this thread admitted last: sip_request_invite runs the plan on the
 * same thread right after the admission, with the stripped request. */
static _Thread_local struct {
	bool set;
	char call_id[256];
	struct net_addr src;
	size_t trunk;
	char trunk_id[ID_MAX];
	char user[65];
} digest_admitted;

/* The admitted request without the header it used, parsed into a->msg. */
static _Thread_local char digest_copy[SIP_MSG_MAX_SIZE + 1];

static int digest_strip(const struct sip_msg *m, const struct sip_hdr *h,
			struct sip_digest_admit *a)
{
	size_t head = (size_t)(h->line.p - m->raw.p);
	size_t tail = m->raw.len - head - h->line.len;

	if (m->raw.len > SIP_MSG_MAX_SIZE)
		return -E2BIG;
	memcpy(digest_copy, m->raw.p, head);
	memcpy(digest_copy + head, h->line.p + h->line.len, tail);
	return sip_msg_parse(&a->msg, digest_copy, head + tail) == 0 ? 0 : -EINVAL;
}

static void digest_remember(const struct psnap *s, struct sip_msg *m, const struct net_addr *src,
			    size_t cred)
{
	struct str cid;

	digest_admitted.set =
	    sip_msg_call_id(m, &cid) == 0 &&
	    str_copy(digest_admitted.call_id, sizeof(digest_admitted.call_id), cid) == 0;
	digest_admitted.src = *src;
	digest_admitted.trunk = s->creds[cred].trunk;
	psnap_copy_cstr(digest_admitted.trunk_id, sizeof(digest_admitted.trunk_id),
			s->trunks[s->creds[cred].trunk].id);
	psnap_copy_cstr(digest_admitted.user, sizeof(digest_admitted.user), s->creds[cred].user);
}

size_t sip_digest_admitted_trunk(const struct psnap *s, struct sip_msg *m,
				 const struct net_addr *src)
{
	struct str cid;
	bool same = digest_admitted.set && net_addr_equal(src, &digest_admitted.src) &&
		    sip_msg_call_id(m, &cid) == 0 && str_eq_cstr(cid, digest_admitted.call_id);
	size_t t = digest_admitted.trunk;

	digest_admitted.set = false;
	if (!same)
		return SIZE_MAX;
	if (t < s->ntrunks && strcmp(s->trunks[t].id, digest_admitted.trunk_id) == 0)
		return t;
	for (t = 0; t < s->ntrunks; t++) /* the snapshot changed in between */
		if (strcmp(s->trunks[t].id, digest_admitted.trunk_id) == 0)
			return t;
	return SIZE_MAX;
}

/* What a SHA-256 answer for credentials with only an MD5 HA1 gets: a new
 * challenge offering MD5 alone (decision 0048). */
static const char DIGEST_MD5_ONLY[] = "md5 only";

/* Why c does not admit m, or NULL when it does (cred set). */
static const char *digest_refusal(const struct psnap *s, struct sip_msg *m,
				  const struct sip_digest_cred *c, size_t *cred)
{
	enum sip_digest_alg alg;
	size_t first;

	/* RFC 7616 §3.4: qop=auth as offered, MD5 or SHA-256.  The digest-uri
	 * is taken as the client wrote it, not held to the Request-URI
	 * (§3.4.6): SIP clients differ (SIPp writes the proxy's address),
	 * Kamailio's auth does not check it either; a replay is caught by
	 * seen_first_use whatever the uri. */
	if (!str_eq_cstr(c->qop, "auth") || c->nc.len == 0 || c->cnonce.len == 0 ||
	    c->uri.len == 0 || digest_alg_of(c, &alg) < 0)
		return "malformed";
	first = psnap_cred_find(s, c->user, c->realm);
	if (first == SIZE_MAX)
		return "user";
	if (!digest_has_alg(s, first, c, alg))
		return DIGEST_MD5_ONLY;
	*cred = digest_match(s, c, alg, m->method_name);
	return *cred == SIZE_MAX ? "response" : NULL;
}

/* Checks c against s for m; fills a (code 0 when admitted). */
static void digest_verify(struct sip_policy *p, const struct psnap *s, enum digest_kind kind,
			  struct sip_msg *m, const struct sip_hdr *h,
			  const struct sip_digest_cred *c, const struct net_addr *src,
			  int64_t now_ms, int64_t ttl_ms, struct sip_digest_admit *a)
{
	int nonce = sip_digest_nonce_check(c->nonce, now_ms, ttl_ms);
	const char *why = nonce == 0 ? NULL : "nonce";
	size_t cred = SIZE_MAX;

	if (nonce == SIP_DIGEST_E_STALE) {
		/* RFC 7616 §3.3 stale */
		digest_challenge(s, kind, now_ms, true, digest_offer_of(p), a);
		return;
	}
	if (!why)
		why = digest_refusal(s, m, c, &cred);
	if (why == DIGEST_MD5_ONLY) {
		/* stale=true: the client retries with the same password. */
		digest_challenge(s, kind, now_ms, true, DIGEST_OFFER_MD5, a);
		return;
	}
	if (!why && !seen_first_use(p->digest_seen, c, now_ms, now_ms + ttl_ms)) {
		digest_fail_count("replay");
		digest_challenge(s, kind, now_ms, true, digest_offer_of(p), a);
		return;
	}
	if (!why && digest_strip(m, h, a) < 0)
		why = "malformed";
	if (why) {
		digest_refuse(a, "bad credentials", why);
		return;
	}
	digest_remember(s, &a->msg, src, cred);
	a->code = 0;
}

/* Challenges, refuses or admits m in s; a->code 0 when admitted. */
static void digest_check(struct sip_policy *p, const struct psnap *s, enum digest_kind kind,
			 struct sip_msg *m, const struct net_addr *src, int64_t now_ms,
			 struct sip_digest_admit *a)
{
	int64_t ttl =
	    p->o.cfg.digest_nonce_ttl_ms > 0 ? p->o.cfg.digest_nonce_ttl_ms : DIGEST_TTL_DEFAULT_MS;
	struct sip_digest_cred c;
	const struct sip_hdr *h = digest_find(s, m, kind, &c);

	if (!h)
		digest_challenge(s, kind, now_ms, false, digest_offer_of(p), a);
	else
		digest_verify(p, s, kind, m, h, &c, src, now_ms, ttl, a);
}

int sip_policy_digest_admit(struct sip_policy *p, struct sip_msg *m, const struct net_addr *src,
			    int64_t now_ms, struct sip_digest_admit *a)
{
	const struct psnap *s = snapshot_acquire(p->snap);

	pthread_once(&digest_once, digest_init);
	digest_admitted.set = false;
	digest_refuse(a, "unknown source", NULL);
	a->tag = "u403";
	a->stateful = false; /* as before: strangers cost no state */
	if (!s)
		return a->code;
	if (s->ncreds > 0) {
		digest_check(p, s, DIGEST_PROXY, m, src, now_ms, a);
		a->stateful = m->method == SIP_METHOD_INVITE;
	}
	snapshot_release(p->snap, s);
	return a->code;
}

int sip_policy_digest_register(struct sip_policy *p, struct sip_msg *m, const struct net_addr *src,
			       int64_t now_ms, struct sip_digest_admit *a,
			       struct sip_registrant *who)
{
	const struct psnap *s = snapshot_acquire(p->snap);

	pthread_once(&digest_once, digest_init);
	digest_admitted.set = false;
	memset(who, 0, sizeof(*who));
	digest_refuse(a, "no credentials to register with", NULL);
	a->tag = "r403";
	a->stateful = false;
	if (!s)
		return a->code;
	if (s->ncreds > 0)
		digest_check(p, s, DIGEST_REGISTRAR, m, src, now_ms, a);
	if (a->code == 0) {
		psnap_copy_cstr(who->trunk_id, sizeof(who->trunk_id), digest_admitted.trunk_id);
		psnap_copy_cstr(who->user, sizeof(who->user), digest_admitted.user);
		digest_admitted.set = false; /* a REGISTER plans no call */
	}
	snapshot_release(p->snap, s);
	return a->code;
}
