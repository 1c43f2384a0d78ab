/*
 * access.c — the lazy side of struct sip_msg: header lookup and iteration,
 * and the accessors that parse one header's value on first use and cache it
 * in the message (the way Kamailio's parse_headers/parse_via work), so a
 * proxy pays only for the headers its decision reads.
 */
#include "sip/lex.h"

/* hot path: no allocation, no locks, no I/O */

#define SIP_CACHE_PENDING 1

const struct sip_hdr *sip_msg_hdr_first(const struct sip_msg *m, enum sip_hdr_id id)
{
	if ((unsigned)id >= SIP_HDR_ID_COUNT || m->first[id] == SIP_HDR_NONE)
		return NULL;
	return &m->hdrs[m->first[id]];
}

const struct sip_hdr *sip_msg_hdr_next(const struct sip_msg *m, const struct sip_hdr *h)
{
	return h->next == SIP_HDR_NONE ? NULL : &m->hdrs[h->next];
}

const struct sip_hdr *sip_msg_hdr_find(const struct sip_msg *m, struct str name)
{
	enum sip_hdr_id id = sip_hdr_id_from_name(name);

	if (id != SIP_HDR_OTHER)
		return sip_msg_hdr_first(m, id);
	for (const struct sip_hdr *h = sip_msg_hdr_first(m, SIP_HDR_OTHER); h;
	     h = sip_msg_hdr_next(m, h))
		if (str_caseeq(h->name, name))
			return h;
	return NULL;
}

size_t sip_msg_hdr_count(const struct sip_msg *m, enum sip_hdr_id id)
{
	size_t n = 0;

	for (const struct sip_hdr *h = sip_msg_hdr_first(m, id); h; h = sip_msg_hdr_next(m, h))
		n++;
	return n;
}

void sip_value_iter_init(struct sip_value_iter *it, const struct sip_msg *m, enum sip_hdr_id id)
{
	const struct sip_hdr *h = sip_msg_hdr_first(m, id);

	it->m = m;
	it->hdr = h ? (uint16_t)(h - m->hdrs) : SIP_HDR_NONE;
	it->off = 0;
}

int sip_value_iter_next(struct sip_value_iter *it, struct str *value, const struct sip_hdr **hdr)
{
	while (it->hdr != SIP_HDR_NONE) {
		const struct sip_hdr *h = &it->m->hdrs[it->hdr];
		/* An empty header ("Supported:") holds no value at all. */
		if (h->value.len > 0 && sip_lex_next_value(h->value, &it->off, value) == 0) {
			if (hdr)
				*hdr = h;
			return 0;
		}
		it->hdr = h->next;
		it->off = 0;
	}
	return SIP_E_NOT_FOUND;
}

struct sip_hdr_text {
	const char *missing;
	const char *multiple;
};

static struct sip_hdr_text sip_msg_hdr_text(enum sip_hdr_id id)
{
	switch (id) {
	case SIP_HDR_VIA:
		return (struct sip_hdr_text){"missing Via", "several Via"};
	case SIP_HDR_FROM:
		return (struct sip_hdr_text){"missing From", "several From values"};
	case SIP_HDR_TO:
		return (struct sip_hdr_text){"missing To", "several To values"};
	case SIP_HDR_CALL_ID:
		return (struct sip_hdr_text){"missing Call-ID", "several Call-ID values"};
	case SIP_HDR_CSEQ:
		return (struct sip_hdr_text){"missing CSeq", "several CSeq values"};
	case SIP_HDR_MAX_FORWARDS:
		return (struct sip_hdr_text){"missing Max-Forwards", "several Max-Forwards values"};
	default:
		return (struct sip_hdr_text){NULL, NULL};
	}
}

/* The value of a header that may appear once (RFC 3261 §7.3.1). */
static int sip_msg_single(struct sip_msg *m, enum sip_hdr_id id, struct str *value)
{
	const struct sip_hdr *h = sip_msg_hdr_first(m, id);

	if (!h)
		return sip_msg_fail(m, SIP_E_MISSING, sip_msg_hdr_text(id).missing);
	if (h->next != SIP_HDR_NONE)
		return sip_msg_fail(m, SIP_E_MULTIPLE, sip_msg_hdr_text(id).multiple);
	*value = h->value;
	return 0;
}

static int sip_msg_cache_done(struct sip_msg *m, enum sip_cache_slot slot, int rc)
{
	m->cache.rc[slot] = (int8_t)rc;
	return rc ? sip_msg_fail(m, rc, NULL) : 0;
}

/* RFC 3261 §19.1.1: a Request-URI has no headers; §16.3 item 2: a scheme we
 * cannot serve is answered 416. */
static int sip_msg_ruri_parse(struct sip_msg *m)
{
	struct sip_uri *u = &m->cache.ruri;

	if (!m->is_request || !m->ruri.p)
		return SIP_E_RURI;
	if (sip_uri_parse(m->ruri, u) != 0)
		return SIP_E_RURI;
	if (u->scheme == SIP_URI_OTHER)
		return SIP_E_URI_SCHEME;
	if (u->headers.p)
		return SIP_E_RURI;
	return 0;
}

int sip_msg_ruri(struct sip_msg *m, struct sip_uri *out)
{
	if (m->cache.rc[SIP_CACHE_RURI] == SIP_CACHE_PENDING)
		sip_msg_cache_done(m, SIP_CACHE_RURI, sip_msg_ruri_parse(m));
	*out = m->cache.ruri;
	return m->cache.rc[SIP_CACHE_RURI];
}

static int sip_msg_via_find(struct sip_msg *m, size_t idx, struct sip_via *out)
{
	struct sip_value_iter it;
	struct str v;

	sip_value_iter_init(&it, m, SIP_HDR_VIA);
	if (it.hdr == SIP_HDR_NONE)
		return sip_msg_fail(m, SIP_E_MISSING, "missing Via");
	for (size_t i = 0; sip_value_iter_next(&it, &v, NULL) == 0; i++) {
		if (i < idx)
			continue;
		int rc = sip_via_parse(v, out);
		return rc ? sip_msg_fail(m, rc, NULL) : 0;
	}
	return SIP_E_NOT_FOUND;
}

int sip_msg_via(struct sip_msg *m, size_t idx, struct sip_via *out)
{
	if (idx > 0)
		return sip_msg_via_find(m, idx, out);
	if (m->cache.rc[SIP_CACHE_VIA] == SIP_CACHE_PENDING)
		m->cache.rc[SIP_CACHE_VIA] = (int8_t)sip_msg_via_find(m, 0, &m->cache.via);
	*out = m->cache.via;
	return m->cache.rc[SIP_CACHE_VIA];
}

static int sip_addr_err(enum sip_hdr_id id)
{
	switch (id) {
	case SIP_HDR_FROM:
		return SIP_E_FROM;
	case SIP_HDR_TO:
		return SIP_E_TO;
	case SIP_HDR_CONTACT:
		return SIP_E_CONTACT;
	default:
		return SIP_E_ADDR;
	}
}

static int sip_msg_addr_parse(struct str v, enum sip_hdr_id id, struct sip_addr *out)
{
	if (sip_addr_parse(v, out) != 0 || (out->wildcard && id != SIP_HDR_CONTACT))
		return sip_addr_err(id);
	return 0;
}

/* From and To are single-valued: the whole value is one address, so an
 * unquoted comma is a syntax error rather than a second value. */
static int sip_msg_single_addr(struct sip_msg *m, enum sip_hdr_id id, enum sip_cache_slot slot,
			       struct sip_addr *cached, struct sip_addr *out)
{
	struct str v;

	if (m->cache.rc[slot] == SIP_CACHE_PENDING) {
		int rc = sip_msg_single(m, id, &v);
		if (rc == 0)
			rc = sip_msg_addr_parse(v, id, cached);
		sip_msg_cache_done(m, slot, rc);
	}
	*out = *cached;
	return m->cache.rc[slot];
}

int sip_msg_from(struct sip_msg *m, struct sip_addr *out)
{
	return sip_msg_single_addr(m, SIP_HDR_FROM, SIP_CACHE_FROM, &m->cache.from, out);
}

int sip_msg_to(struct sip_msg *m, struct sip_addr *out)
{
	return sip_msg_single_addr(m, SIP_HDR_TO, SIP_CACHE_TO, &m->cache.to, out);
}

int sip_msg_addr(struct sip_msg *m, enum sip_hdr_id id, size_t idx, struct sip_addr *out)
{
	struct sip_value_iter it;
	struct str v;

	if (id == SIP_HDR_FROM && idx == 0)
		return sip_msg_from(m, out);
	if (id == SIP_HDR_TO && idx == 0)
		return sip_msg_to(m, out);
	sip_value_iter_init(&it, m, id);
	for (size_t i = 0; sip_value_iter_next(&it, &v, NULL) == 0; i++) {
		if (i < idx)
			continue;
		int rc = sip_msg_addr_parse(v, id, out);
		return rc ? sip_msg_fail(m, rc, NULL) : 0;
	}
	return SIP_E_NOT_FOUND;
}

static int sip_msg_cseq_parse(struct sip_msg *m)
{
	struct str v;
	int rc = sip_msg_single(m, SIP_HDR_CSEQ, &v);

	if (rc != 0)
		return rc;
	rc = sip_cseq_parse(v, &m->cache.cseq);
	if (rc != 0)
		return rc;
	/* RFC 3261 §8.1.1.5: the method matches the request's (RFC 4475 §3.1.2.17-18). */
	if (m->is_request && !str_eq(m->cache.cseq.method_name, m->method_name))
		return SIP_E_CSEQ_METHOD;
	return 0;
}

int sip_msg_cseq(struct sip_msg *m, struct sip_cseq *out)
{
	if (m->cache.rc[SIP_CACHE_CSEQ] == SIP_CACHE_PENDING)
		sip_msg_cache_done(m, SIP_CACHE_CSEQ, sip_msg_cseq_parse(m));
	*out = m->cache.cseq;
	return m->cache.rc[SIP_CACHE_CSEQ];
}

int sip_msg_call_id(struct sip_msg *m, struct str *out)
{
	struct str v;

	if (m->cache.rc[SIP_CACHE_CALL_ID] == SIP_CACHE_PENDING) {
		int rc = sip_msg_single(m, SIP_HDR_CALL_ID, &v);
		if (rc == 0)
			rc = sip_call_id_parse(v, &m->cache.call_id);
		sip_msg_cache_done(m, SIP_CACHE_CALL_ID, rc);
	}
	*out = m->cache.call_id;
	return m->cache.rc[SIP_CACHE_CALL_ID];
}

int sip_msg_max_forwards(struct sip_msg *m, int *out)
{
	struct str v;
	uint64_t n = 0;

	if (m->cache.rc[SIP_CACHE_MAX_FORWARDS] == SIP_CACHE_PENDING) {
		int rc = sip_msg_single(m, SIP_HDR_MAX_FORWARDS, &v);
		if (rc == 0 && sip_uint_value_parse(v, 255, &n) != 0)
			rc = SIP_E_MAX_FORWARDS;
		m->cache.max_forwards = (int)n;
		sip_msg_cache_done(m, SIP_CACHE_MAX_FORWARDS, rc);
	}
	*out = m->cache.max_forwards;
	return m->cache.rc[SIP_CACHE_MAX_FORWARDS];
}

int sip_msg_expires(struct sip_msg *m, uint32_t *out)
{
	const struct sip_hdr *h = sip_msg_hdr_first(m, SIP_HDR_EXPIRES);
	uint64_t n;

	if (!h)
		return SIP_E_MISSING;
	if (h->next != SIP_HDR_NONE)
		return sip_msg_fail(m, SIP_E_MULTIPLE, "several Expires values");
	if (sip_uint_value_parse(h->value, UINT32_MAX, &n) != 0)
		return sip_msg_fail(m, SIP_E_EXPIRES, NULL);
	*out = (uint32_t)n;
	return 0;
}

int sip_msg_content_type(struct sip_msg *m, struct str *type, struct str *params)
{
	const struct sip_hdr *h = sip_msg_hdr_first(m, SIP_HDR_CONTENT_TYPE);

	if (!h)
		return SIP_E_MISSING;
	if (h->next != SIP_HDR_NONE)
		return sip_msg_fail(m, SIP_E_MULTIPLE, "several Content-Type values");
	int rc = sip_content_type_parse(h->value, type, params);
	return rc ? sip_msg_fail(m, rc, NULL) : 0;
}

int sip_msg_date(struct sip_msg *m, int64_t *wall_ms)
{
	const struct sip_hdr *h = sip_msg_hdr_first(m, SIP_HDR_DATE);

	if (!h)
		return SIP_E_MISSING;
	if (h->next != SIP_HDR_NONE)
		return sip_msg_fail(m, SIP_E_MULTIPLE, "several Date values");
	int rc = sip_date_parse(h->value, wall_ms);
	return rc ? sip_msg_fail(m, rc, NULL) : 0;
}

bool sip_msg_can_reply(struct sip_msg *m)
{
	struct sip_via via;

	/* An ACK is never answered (RFC 3261 §17.2.1, §17.2.3). */
	if (!m->is_request || m->method == SIP_METHOD_ACK)
		return false;
	if (sip_msg_via(m, 0, &via) != 0)
		return false;
	return sip_msg_hdr_first(m, SIP_HDR_FROM) && sip_msg_hdr_first(m, SIP_HDR_TO) &&
	       sip_msg_hdr_first(m, SIP_HDR_CALL_ID) && sip_msg_hdr_first(m, SIP_HDR_CSEQ);
}

int sip_msg_validate(struct sip_msg *m)
{
	struct sip_via via;
	struct sip_addr addr;
	struct sip_cseq cseq;
	struct sip_uri uri;
	struct str call_id;
	int mf, rc;

	/* Faults of other accessors called earlier (Date, Contact) do not count
	 * here: only the parse's and the checks' own. */
	if (m->parse_err)
		return m->parse_err;
	if ((rc = sip_msg_via(m, 0, &via)) || (rc = sip_msg_from(m, &addr)) ||
	    (rc = sip_msg_to(m, &addr)) || (rc = sip_msg_call_id(m, &call_id)) ||
	    (rc = sip_msg_cseq(m, &cseq)))
		return rc;
	if (m->is_request && (rc = sip_msg_ruri(m, &uri)))
		return rc;
	/* Max-Forwards may be absent in an RFC 2543 request (RFC 4475 §3.4.1). */
	if (sip_msg_hdr_first(m, SIP_HDR_MAX_FORWARDS) && (rc = sip_msg_max_forwards(m, &mf)))
		return rc;
	return 0;
}
