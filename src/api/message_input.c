/*
 * message_input.c — the body of POST /api/v1/messages, checked and encoded
 * without touching the store (so tests/fuzz/fuzz_api_message.c reaches all
 * of it): addresses, the text or binary user data and its parts, validity,
 * client reference and callback URL.
 *
 * Text goes out in the cheapest alphabet that carries every character:
 * GSM 03.38 (an extension character such as € counts two septets), else
 * UCS-2 (an emoji is a surrogate pair, two units).  Latin-1 is not chosen:
 * whether an upstream takes data_coding 3 is a property of the carrier
 * that WARP does not know yet, and UCS-2 always arrives intact.  A
 * character no alphabet would carry never becomes '?'.  Parts are cut as
 * UDH with an 8-bit reference (decision 0027).
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "api/message.h"

#define MEMBERS "from|to|text|binary|data_coding|callback_url|validity|client_ref|customer_id"
#define ALNUM_SENDER_MAX 11 /* 3GPP TS 23.040 §9.1.2.5: 11 alphanumerics in 7-bit */

/* ------------------------------------------------------------ base64 */

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	return c == '+' ? 62 : c == '/' ? 63 : -1;
}

int api_base64_decode(const char *s, size_t n, uint8_t *out, size_t cap, size_t *len)
{
	size_t o = 0;

	if (n % 4 != 0)
		return -EINVAL;
	for (size_t i = 0; i < n; i += 4) {
		uint32_t w = 0;
		size_t pad = 0;
		for (size_t k = 0; k < 4; k++) {
			/* '=' only as the last one or two characters (§3.2). */
			if (s[i + k] == '=' && i + 4 == n && k >= 2) {
				pad++;
				w <<= 6;
				continue;
			}
			int v = b64_value((unsigned char)s[i + k]);
			if (v < 0 || pad > 0)
				return -EINVAL;
			w = w << 6 | (uint32_t)v;
		}
		if (o + 3 - pad > cap)
			return -ENOSPC;
		out[o++] = (uint8_t)(w >> 16);
		if (pad < 2)
			out[o++] = (uint8_t)(w >> 8);
		if (pad < 1)
			out[o++] = (uint8_t)w;
	}
	*len = o;
	return 0;
}

/* ---------------------------------------------------------- RFC 3339 */

static int rfc_digits(const char *p, int n, int *out)
{
	*out = 0;
	for (int i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -EINVAL;
		*out = *out * 10 + (p[i] - '0');
	}
	return 0;
}

static bool rfc_date_valid(int y, int mo, int d)
{
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1])
		return false;
	return mo != 2 || d < 29 || leap;
}

/* time-offset: "Z" or "+hh:mm" / "-hh:mm" closing the string; ms east. */
static int rfc_offset(const char *p, int64_t *ms)
{
	int h, m;
	if ((p[0] == 'Z' || p[0] == 'z') && p[1] == '\0') {
		*ms = 0;
		return 0;
	}
	if ((p[0] != '+' && p[0] != '-') || rfc_digits(p + 1, 2, &h) < 0 || p[3] != ':' ||
	    rfc_digits(p + 4, 2, &m) < 0 || p[6] != '\0' || h > 23 || m > 59)
		return -EINVAL;
	*ms = ((int64_t)h * 60 + m) * 60000 * (p[0] == '-' ? -1 : 1);
	return 0;
}

int api_rfc3339_parse(const char *s, int64_t *out)
{
	int f[6], frac = 0, scale = 1000;
	int64_t offset;
	struct tm tm = {0};

	/* full-date "T" partial-time: YYYY-MM-DDTHH:MM:SS at fixed places. */
	if (strnlen(s, 20) < 20 || rfc_digits(s, 4, &f[0]) < 0 || s[4] != '-' ||
	    rfc_digits(s + 5, 2, &f[1]) < 0 || s[7] != '-' || rfc_digits(s + 8, 2, &f[2]) < 0 ||
	    (s[10] != 'T' && s[10] != 't') || rfc_digits(s + 11, 2, &f[3]) < 0 || s[13] != ':' ||
	    rfc_digits(s + 14, 2, &f[4]) < 0 || s[16] != ':' || rfc_digits(s + 17, 2, &f[5]) < 0)
		return -EINVAL;
	if (!rfc_date_valid(f[0], f[1], f[2]) || f[3] > 23 || f[4] > 59 || f[5] > 60)
		return -EINVAL;
	s += 19;
	if (*s == '.') { /* time-secfrac: milliseconds kept, the rest cut */
		if (s[1] < '0' || s[1] > '9')
			return -EINVAL;
		for (s++; *s >= '0' && *s <= '9'; s++)
			if (scale > 1)
				frac += (*s - '0') * (scale /= 10);
	}
	if (rfc_offset(s, &offset) < 0)
		return -EINVAL;
	tm.tm_year = f[0] - 1900;
	tm.tm_mon = f[1] - 1;
	tm.tm_mday = f[2];
	tm.tm_hour = f[3];
	tm.tm_min = f[4];
	tm.tm_sec = f[5]; /* a leap second (60) is the next minute's first */
	*out = (int64_t)timegm(&tm) * 1000 + frac - offset;
	return 0;
}

/* --------------------------------------------------------- addresses */

/* Letters, digits, space and . - _ & ' with at least one letter: what
 * handsets show of an alphanumeric sender (TON 5). */
static bool sender_alnum(const char *s)
{
	size_t n = strlen(s);
	bool letter = false;

	if (n == 0 || n > ALNUM_SENDER_MAX || s[0] == ' ' || s[n - 1] == ' ')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
		letter |= alpha;
		if (!alpha && !(c >= '0' && c <= '9') && !strchr(" .-_&'", c))
			return false;
	}
	return letter;
}

static const char *member_string(const json_t *body, const char *name)
{
	const json_t *v = json_object_get(body, name);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* from: E.164 (TON 1 international, NPI 1 ISDN), a short code of 3 to 8
 * digits (TON 3 network specific) or an alphanumeric sender (TON 5). */
static int msg_from(const json_t *body, struct api_msg_in *m, struct api_verr *e)
{
	const char *s = member_string(body, "from");

	if (!json_object_get(body, "from"))
		return api_verr_set(e, 422, "required", "/from", "'from' is required");
	if (s && api_is_e164(s)) {
		snprintf(m->from, sizeof(m->from), "%s", s + 1);
		m->from_ton = m->from_npi = 1;
	} else if (s && api_is_digits(s, 3, 8)) {
		snprintf(m->from, sizeof(m->from), "%s", s);
		m->from_ton = 3;
	} else if (s && sender_alnum(s)) {
		snprintf(m->from, sizeof(m->from), "%s", s);
		m->from_ton = 5;
	} else {
		return api_verr_set(
		    e, 422, "invalid_sender", "/from",
		    "'from' is an E.164 number (+ and 7 to 15 digits), a short code "
		    "of 3 to 8 digits or 1 to 11 letters, digits, spaces and .-_&' "
		    "with a letter");
	}
	return 0;
}

static int msg_to(const json_t *body, struct api_msg_in *m, struct api_verr *e)
{
	const char *s = member_string(body, "to");

	if (!json_object_get(body, "to"))
		return api_verr_set(e, 422, "required", "/to", "'to' is required");
	if (!s || !api_is_e164(s))
		return api_verr_set(e, 422, "invalid_number", "/to",
				    "'to' is an E.164 number: + and 7 to 15 digits");
	snprintf(m->to, sizeof(m->to), "%s", s + 1);
	return 0;
}

/* ------------------------------------------------------------- parts */

/* Cuts enc into m's parts, each with its UDH when there are several. */
static int msg_parts(struct api_msg_in *m, struct str enc, const char *ptr, struct api_verr *e)
{
	struct str segs[API_MSG_PARTS_MAX];
	size_t n = 0;
	uint8_t ref = 0;

	if (smpp_segments_split(m->data_coding, SMPP_CONCAT_UDH8, enc, NULL, 0, &n) < 0 ||
	    n > API_MSG_PARTS_MAX)
		return api_verr_set(e, 422, "too_long", ptr,
				    "the message needs more than %d parts (%s)", API_MSG_PARTS_MAX,
				    m->encoding);
	if (smpp_segments_split(m->data_coding, SMPP_CONCAT_UDH8, enc, segs, n, &n) < 0 ||
	    (n > 1 && random_bytes(&ref, 1) < 0))
		return api_verr_set(e, 500, "internal", NULL,
				    "the message cannot be cut into parts");
	for (size_t i = 0; i < n; i++) {
		struct smpp_pdu p = {0};
		struct smpp_concat c = {ref, (uint8_t)n, (uint8_t)(i + 1)};
		struct api_msg_part *part = &m->parts[i];
		if (smpp_segment_fill(&p, SMPP_CONCAT_UDH8, &c, segs[i], part->body,
				      sizeof(part->body)) < 0)
			return api_verr_set(e, 500, "internal", NULL, "a part does not fit an SMS");
		if (p.short_message.p != (const char *)part->body)
			memcpy(part->body, p.short_message.p, p.short_message.len);
		part->len = p.short_message.len;
		m->esm_class = p.esm_class;
	}
	m->nparts = n;
	return 0;
}

static int msg_text(const json_t *v, struct api_msg_in *m, struct api_verr *e)
{
	uint8_t enc[2 * API_MSG_TEXT_MAX]; /* UCS-2 of ASCII: two octets each */
	struct str utf8 = {json_string_value(v), json_string_length(v)};
	size_t len = 0;

	if (!json_is_string(v) || utf8.len == 0 || utf8.len > API_MSG_TEXT_MAX ||
	    memchr(utf8.p, '\0', utf8.len))
		return api_verr_set(e, 422, "invalid_text", "/text",
				    "'text' is 1 to %d octets of UTF-8 without NUL",
				    API_MSG_TEXT_MAX);
	if (smpp_text_choose(utf8, false, &m->data_coding) < 0 ||
	    smpp_text_encode(utf8, m->data_coding, enc, sizeof(enc), &len) < 0)
		return api_verr_set(e, 422, "invalid_text", "/text", "'text' cannot be encoded");
	m->encoding = api_msg_encoding(m->data_coding);
	return msg_parts(m, (struct str){(const char *)enc, len}, "/text", e);
}

static int msg_binary(const json_t *body, const json_t *v, struct api_msg_in *m, struct api_verr *e)
{
	uint8_t raw[API_MSG_BINARY_MAX];
	size_t len = 0;
	int rc = api_check_int_member(body, "data_coding", "", 0, 255, false, e);

	if (rc < 0)
		return rc;
	const json_t *dc = json_object_get(body, "data_coding");
	m->data_coding = dc ? (uint8_t)json_integer_value(dc) : SMPP_DC_BINARY;
	m->encoding = "binary";
	rc = json_is_string(v) ? api_base64_decode(json_string_value(v), json_string_length(v), raw,
						   sizeof(raw), &len)
			       : -EINVAL;
	if (rc == -ENOSPC)
		return api_verr_set(e, 422, "too_long", "/binary",
				    "'binary' holds at most %d octets", API_MSG_BINARY_MAX);
	if (rc < 0 || len == 0)
		return api_verr_set(e, 422, "invalid_base64", "/binary",
				    "'binary' is 1 or more octets in base64 (RFC 4648 §4, padded)");
	return msg_parts(m, (struct str){(const char *)raw, len}, "/binary", e);
}

/* text, or binary with an optional data_coding (default 4, 8-bit data). */
static int msg_body(const json_t *body, struct api_msg_in *m, struct api_verr *e)
{
	const json_t *text = json_object_get(body, "text");
	const json_t *bin = json_object_get(body, "binary");

	if (text && bin)
		return api_verr_set(e, 422, "conflict", "/binary",
				    "give 'text' or 'binary', not both");
	if (!text && !bin)
		return api_verr_set(e, 422, "required", "/text", "'text' or 'binary' is required");
	if (text && json_object_get(body, "data_coding"))
		return api_verr_set(e, 422, "conflict", "/data_coding",
				    "'data_coding' goes with 'binary'; a text's is chosen for it");
	return text ? msg_text(text, m, e) : msg_binary(body, bin, m, e);
}

/* ------------------------------------------------------------- times */

/* validity: seconds from now or an RFC 3339 time; absent, [smsc]
 * default_validity.  Never past max_validity (cut to it, as for SMPP). */
static int msg_validity(struct api_ctx *ctx, const json_t *body, int64_t now, struct api_msg_in *m,
			struct api_verr *e)
{
	const json_t *v = json_object_get(body, "validity");
	int64_t max = ctx->api->msg_max_validity_ms;

	if (!v) {
		m->expires_at = now + ctx->api->msg_default_validity_ms;
	} else if (json_is_integer(v)) {
		if (json_integer_value(v) < 1 || json_integer_value(v) > INT64_MAX / 1000 - now)
			return api_verr_set(e, 422, "out_of_range", "/validity",
					    "'validity' in seconds must be at least 1");
		m->expires_at = now + json_integer_value(v) * 1000;
	} else if (!json_is_string(v) ||
		   api_rfc3339_parse(json_string_value(v), &m->expires_at) < 0) {
		return api_verr_set(e, 422, "invalid_validity", "/validity",
				    "'validity' is seconds or an RFC 3339 time such as "
				    "2026-12-24T18:00:00Z");
	} else if (m->expires_at <= now) {
		return api_verr_set(e, 422, "out_of_range", "/validity",
				    "'validity' is in the past");
	}
	if (m->expires_at > now + max)
		m->expires_at = now + max;
	return 0;
}

static int msg_refs(struct api_ctx *ctx, const json_t *body, struct api_msg_in *m,
		    struct api_verr *e)
{
	const json_t *ref = json_object_get(body, "client_ref");
	const json_t *url = json_object_get(body, "callback_url");

	if (ref && (!json_is_string(ref) || json_string_length(ref) == 0 ||
		    json_string_length(ref) > API_MSG_REF_MAX ||
		    !api_is_printable(json_string_value(ref))))
		return api_verr_set(e, 422, "invalid_client_ref", "/client_ref",
				    "'client_ref' is 1 to %d printable ASCII characters",
				    API_MSG_REF_MAX);
	if (url && (!json_is_string(url) || json_string_length(url) > API_MSG_URL_MAX))
		return api_verr_set(e, 422, "invalid_url", "/callback_url",
				    "'callback_url' is an http:// or https:// URL of at most %d "
				    "characters",
				    API_MSG_URL_MAX);
	if (url && api_check_webhook_url(ctx, json_string_value(url), "/callback_url", e) < 0)
		return -EINVAL;
	m->client_ref = ref ? json_string_value(ref) : NULL;
	m->callback_url = url ? json_string_value(url) : NULL;
	return 0;
}

int api_msg_parse(struct api_ctx *ctx, const json_t *body, int64_t now_ms, struct api_msg_in *m,
		  struct api_verr *e)
{
	int rc = api_check_members(body, "", MEMBERS, e);

	memset(m, 0, sizeof(*m));
	rc = rc ? rc : msg_from(body, m, e);
	rc = rc ? rc : msg_to(body, m, e);
	rc = rc ? rc : msg_body(body, m, e);
	rc = rc ? rc : msg_validity(ctx, body, now_ms, m, e);
	return rc ? rc : msg_refs(ctx, body, m, e);
}

const char *api_msg_encoding(int64_t data_coding)
{
	switch (data_coding) {
	case SMPP_DC_DEFAULT:
		return "gsm7";
	case SMPP_DC_IA5: /* what some ESMEs send ASCII text as */
		return "ia5";
	case SMPP_DC_LATIN1:
		return "latin1";
	case SMPP_DC_UCS2:
		return "ucs2";
	default:
		return "binary";
	}
}
