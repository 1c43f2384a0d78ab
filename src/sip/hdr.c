/*
 * hdr.c — header names, method names and error phrases: the tables that map
 * what is written on the wire to enums and back.
 *
 * Header names are case-insensitive and many have a one-letter compact form
 * (RFC 3261 §7.3.3, and the IANA SIP parameters registry for later ones).
 */
#include "sip/lex.h"

#include <strings.h>

struct sip_hdr_name {
	const char *name;
	size_t len;   /* strlen(name), so that a lookup compares lengths first */
	char compact; /* 0 when none */
};

#define SIP_HDR_NAME(s, c)                                                                         \
	{                                                                                          \
		s, sizeof(s) - 1, c                                                                \
	}

static const struct sip_hdr_name sip_hdr_names[SIP_HDR_ID_COUNT] = {
    [SIP_HDR_ACCEPT] = SIP_HDR_NAME("Accept", 0),
    [SIP_HDR_ACCEPT_CONTACT] = SIP_HDR_NAME("Accept-Contact", 'a'),
    [SIP_HDR_ACCEPT_ENCODING] = SIP_HDR_NAME("Accept-Encoding", 0),
    [SIP_HDR_ACCEPT_LANGUAGE] = SIP_HDR_NAME("Accept-Language", 0),
    [SIP_HDR_ALERT_INFO] = SIP_HDR_NAME("Alert-Info", 0),
    [SIP_HDR_ALLOW] = SIP_HDR_NAME("Allow", 0),
    [SIP_HDR_ALLOW_EVENTS] = SIP_HDR_NAME("Allow-Events", 'u'),
    [SIP_HDR_AUTHENTICATION_INFO] = SIP_HDR_NAME("Authentication-Info", 0),
    [SIP_HDR_AUTHORIZATION] = SIP_HDR_NAME("Authorization", 0),
    [SIP_HDR_CALL_ID] = SIP_HDR_NAME("Call-ID", 'i'),
    [SIP_HDR_CALL_INFO] = SIP_HDR_NAME("Call-Info", 0),
    [SIP_HDR_CONTACT] = SIP_HDR_NAME("Contact", 'm'),
    [SIP_HDR_CONTENT_DISPOSITION] = SIP_HDR_NAME("Content-Disposition", 0),
    [SIP_HDR_CONTENT_ENCODING] = SIP_HDR_NAME("Content-Encoding", 'e'),
    [SIP_HDR_CONTENT_LANGUAGE] = SIP_HDR_NAME("Content-Language", 0),
    [SIP_HDR_CONTENT_LENGTH] = SIP_HDR_NAME("Content-Length", 'l'),
    [SIP_HDR_CONTENT_TYPE] = SIP_HDR_NAME("Content-Type", 'c'),
    [SIP_HDR_CSEQ] = SIP_HDR_NAME("CSeq", 0),
    [SIP_HDR_DATE] = SIP_HDR_NAME("Date", 0),
    [SIP_HDR_DIVERSION] = SIP_HDR_NAME("Diversion", 0),
    [SIP_HDR_ERROR_INFO] = SIP_HDR_NAME("Error-Info", 0),
    [SIP_HDR_EVENT] = SIP_HDR_NAME("Event", 'o'),
    [SIP_HDR_EXPIRES] = SIP_HDR_NAME("Expires", 0),
    [SIP_HDR_FROM] = SIP_HDR_NAME("From", 'f'),
    [SIP_HDR_IDENTITY] = SIP_HDR_NAME("Identity", 'y'),
    [SIP_HDR_IN_REPLY_TO] = SIP_HDR_NAME("In-Reply-To", 0),
    [SIP_HDR_MAX_FORWARDS] = SIP_HDR_NAME("Max-Forwards", 0),
    [SIP_HDR_MIME_VERSION] = SIP_HDR_NAME("MIME-Version", 0),
    [SIP_HDR_MIN_EXPIRES] = SIP_HDR_NAME("Min-Expires", 0),
    [SIP_HDR_MIN_SE] = SIP_HDR_NAME("Min-SE", 0),
    [SIP_HDR_ORGANIZATION] = SIP_HDR_NAME("Organization", 0),
    [SIP_HDR_P_ASSERTED_IDENTITY] = SIP_HDR_NAME("P-Asserted-Identity", 0),
    [SIP_HDR_P_PREFERRED_IDENTITY] = SIP_HDR_NAME("P-Preferred-Identity", 0),
    [SIP_HDR_PATH] = SIP_HDR_NAME("Path", 0),
    [SIP_HDR_PRIORITY] = SIP_HDR_NAME("Priority", 0),
    [SIP_HDR_PRIVACY] = SIP_HDR_NAME("Privacy", 0),
    [SIP_HDR_PROXY_AUTHENTICATE] = SIP_HDR_NAME("Proxy-Authenticate", 0),
    [SIP_HDR_PROXY_AUTHORIZATION] = SIP_HDR_NAME("Proxy-Authorization", 0),
    [SIP_HDR_PROXY_REQUIRE] = SIP_HDR_NAME("Proxy-Require", 0),
    [SIP_HDR_RACK] = SIP_HDR_NAME("RAck", 0),
    [SIP_HDR_REASON] = SIP_HDR_NAME("Reason", 0),
    [SIP_HDR_RECORD_ROUTE] = SIP_HDR_NAME("Record-Route", 0),
    [SIP_HDR_REFER_TO] = SIP_HDR_NAME("Refer-To", 'r'),
    [SIP_HDR_REFERRED_BY] = SIP_HDR_NAME("Referred-By", 'b'),
    [SIP_HDR_REJECT_CONTACT] = SIP_HDR_NAME("Reject-Contact", 'j'),
    [SIP_HDR_REPLACES] = SIP_HDR_NAME("Replaces", 0),
    [SIP_HDR_REPLY_TO] = SIP_HDR_NAME("Reply-To", 0),
    [SIP_HDR_REQUEST_DISPOSITION] = SIP_HDR_NAME("Request-Disposition", 'd'),
    [SIP_HDR_REQUIRE] = SIP_HDR_NAME("Require", 0),
    [SIP_HDR_RETRY_AFTER] = SIP_HDR_NAME("Retry-After", 0),
    [SIP_HDR_ROUTE] = SIP_HDR_NAME("Route", 0),
    [SIP_HDR_RSEQ] = SIP_HDR_NAME("RSeq", 0),
    [SIP_HDR_SERVER] = SIP_HDR_NAME("Server", 0),
    [SIP_HDR_SERVICE_ROUTE] = SIP_HDR_NAME("Service-Route", 0),
    [SIP_HDR_SESSION_EXPIRES] = SIP_HDR_NAME("Session-Expires", 'x'),
    [SIP_HDR_SUBJECT] = SIP_HDR_NAME("Subject", 's'),
    [SIP_HDR_SUBSCRIPTION_STATE] = SIP_HDR_NAME("Subscription-State", 0),
    [SIP_HDR_SUPPORTED] = SIP_HDR_NAME("Supported", 'k'),
    [SIP_HDR_TIMESTAMP] = SIP_HDR_NAME("Timestamp", 0),
    [SIP_HDR_TO] = SIP_HDR_NAME("To", 't'),
    [SIP_HDR_UNSUPPORTED] = SIP_HDR_NAME("Unsupported", 0),
    [SIP_HDR_USER_AGENT] = SIP_HDR_NAME("User-Agent", 0),
    [SIP_HDR_VIA] = SIP_HDR_NAME("Via", 'v'),
    [SIP_HDR_WARNING] = SIP_HDR_NAME("Warning", 0),
    [SIP_HDR_WWW_AUTHENTICATE] = SIP_HDR_NAME("WWW-Authenticate", 0),
};

static enum sip_hdr_id sip_hdr_id_compact(char c)
{
	if (c >= 'A' && c <= 'Z')
		c = (char)(c - 'A' + 'a');
	for (int id = 1; id < SIP_HDR_ID_COUNT; id++)
		if (sip_hdr_names[id].compact == c)
			return (enum sip_hdr_id)id;
	return SIP_HDR_OTHER;
}

/* hot path: no allocation, no locks, no I/O
 * Runs for every header of every message: the lengths are compared before
 * any text (a strlen per table entry was 10 % of the proxy's instructions). */
enum sip_hdr_id sip_hdr_id_from_name(struct str name)
{
	if (name.len == 1)
		return sip_hdr_id_compact(name.p[0]);
	for (int id = 1; id < SIP_HDR_ID_COUNT; id++) {
		const struct sip_hdr_name *h = &sip_hdr_names[id];
		if (h->len == name.len && strncasecmp(h->name, name.p, name.len) == 0)
			return (enum sip_hdr_id)id;
	}
	return SIP_HDR_OTHER;
}

const char *sip_hdr_name(enum sip_hdr_id id)
{
	if (id <= SIP_HDR_OTHER || id >= SIP_HDR_ID_COUNT)
		return NULL;
	return sip_hdr_names[id].name;
}

static const char *const sip_method_names[] = {
    [SIP_METHOD_INVITE] = "INVITE",   [SIP_METHOD_ACK] = "ACK",
    [SIP_METHOD_BYE] = "BYE",	      [SIP_METHOD_CANCEL] = "CANCEL",
    [SIP_METHOD_OPTIONS] = "OPTIONS", [SIP_METHOD_REGISTER] = "REGISTER",
    [SIP_METHOD_PRACK] = "PRACK",     [SIP_METHOD_SUBSCRIBE] = "SUBSCRIBE",
    [SIP_METHOD_NOTIFY] = "NOTIFY",   [SIP_METHOD_PUBLISH] = "PUBLISH",
    [SIP_METHOD_INFO] = "INFO",	      [SIP_METHOD_REFER] = "REFER",
    [SIP_METHOD_MESSAGE] = "MESSAGE", [SIP_METHOD_UPDATE] = "UPDATE",
};

enum sip_method sip_method_from_str(struct str name)
{
	for (size_t i = 1; i < sizeof(sip_method_names) / sizeof(sip_method_names[0]); i++)
		if (str_eq_cstr(name, sip_method_names[i]))
			return (enum sip_method)i;
	return SIP_METHOD_OTHER;
}

static const char *const sip_err_phrases[] = {
    [0] = "no error",
    [-SIP_E_TOO_BIG] = "message too large",
    [-SIP_E_INCOMPLETE] = "incomplete message",
    [-SIP_E_START_LINE] = "bad start line",
    [-SIP_E_VERSION] = "unsupported SIP version",
    [-SIP_E_STATUS] = "bad status code",
    [-SIP_E_HDR_LINE] = "bad header line",
    [-SIP_E_TOO_MANY_HDRS] = "too many headers",
    [-SIP_E_CONTENT_LENGTH] = "bad Content-Length",
    [-SIP_E_BODY_SHORT] = "Content-Length mismatch",
    [-SIP_E_MISSING] = "missing header",
    [-SIP_E_MULTIPLE] = "several values in a single-value header",
    [-SIP_E_VIA] = "bad Via",
    [-SIP_E_FROM] = "bad From",
    [-SIP_E_TO] = "bad To",
    [-SIP_E_CALL_ID] = "bad Call-ID",
    [-SIP_E_CSEQ] = "bad CSeq",
    [-SIP_E_CSEQ_METHOD] = "CSeq method mismatch",
    [-SIP_E_MAX_FORWARDS] = "bad Max-Forwards",
    [-SIP_E_CONTACT] = "bad Contact",
    [-SIP_E_ADDR] = "bad address header",
    [-SIP_E_URI] = "bad URI",
    [-SIP_E_RURI] = "bad Request-URI",
    [-SIP_E_URI_SCHEME] = "unsupported URI scheme",
    [-SIP_E_DATE] = "bad Date",
    [-SIP_E_EXPIRES] = "bad Expires",
    [-SIP_E_CONTENT_TYPE] = "bad Content-Type",
    [-SIP_E_NOT_FOUND] = "not found",
    [-SIP_E_NO_SPACE] = "buffer too small",
    [-SIP_E_METHOD] = "bad method",
};

const char *sip_strerror(int err)
{
	size_t i = err <= 0 ? (size_t)-err : SIZE_MAX;

	if (i >= sizeof(sip_err_phrases) / sizeof(sip_err_phrases[0]) || !sip_err_phrases[i])
		return "unknown error";
	return sip_err_phrases[i];
}

int sip_err_status(int err)
{
	switch (err) {
	case SIP_OK:
		return 200;
	case SIP_E_TOO_BIG:
		return 513; /* RFC 3261 §21.4.24 Message Too Large */
	case SIP_E_VERSION:
		return 505; /* §21.5.7 Version Not Supported */
	case SIP_E_URI_SCHEME:
		return 416; /* §21.4.14 Unsupported URI Scheme */
	default:
		return 400;
	}
}
