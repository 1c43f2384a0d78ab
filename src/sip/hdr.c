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
	char compact; /* 0 when none */
};

static const struct sip_hdr_name sip_hdr_names[SIP_HDR_ID_COUNT] = {
    [SIP_HDR_ACCEPT] = {"Accept", 0},
    [SIP_HDR_ACCEPT_CONTACT] = {"Accept-Contact", 'a'},
    [SIP_HDR_ACCEPT_ENCODING] = {"Accept-Encoding", 0},
    [SIP_HDR_ACCEPT_LANGUAGE] = {"Accept-Language", 0},
    [SIP_HDR_ALERT_INFO] = {"Alert-Info", 0},
    [SIP_HDR_ALLOW] = {"Allow", 0},
    [SIP_HDR_ALLOW_EVENTS] = {"Allow-Events", 'u'},
    [SIP_HDR_AUTHENTICATION_INFO] = {"Authentication-Info", 0},
    [SIP_HDR_AUTHORIZATION] = {"Authorization", 0},
    [SIP_HDR_CALL_ID] = {"Call-ID", 'i'},
    [SIP_HDR_CALL_INFO] = {"Call-Info", 0},
    [SIP_HDR_CONTACT] = {"Contact", 'm'},
    [SIP_HDR_CONTENT_DISPOSITION] = {"Content-Disposition", 0},
    [SIP_HDR_CONTENT_ENCODING] = {"Content-Encoding", 'e'},
    [SIP_HDR_CONTENT_LANGUAGE] = {"Content-Language", 0},
    [SIP_HDR_CONTENT_LENGTH] = {"Content-Length", 'l'},
    [SIP_HDR_CONTENT_TYPE] = {"Content-Type", 'c'},
    [SIP_HDR_CSEQ] = {"CSeq", 0},
    [SIP_HDR_DATE] = {"Date", 0},
    [SIP_HDR_DIVERSION] = {"Diversion", 0},
    [SIP_HDR_ERROR_INFO] = {"Error-Info", 0},
    [SIP_HDR_EVENT] = {"Event", 'o'},
    [SIP_HDR_EXPIRES] = {"Expires", 0},
    [SIP_HDR_FROM] = {"From", 'f'},
    [SIP_HDR_IDENTITY] = {"Identity", 'y'},
    [SIP_HDR_IN_REPLY_TO] = {"In-Reply-To", 0},
    [SIP_HDR_MAX_FORWARDS] = {"Max-Forwards", 0},
    [SIP_HDR_MIME_VERSION] = {"MIME-Version", 0},
    [SIP_HDR_MIN_EXPIRES] = {"Min-Expires", 0},
    [SIP_HDR_MIN_SE] = {"Min-SE", 0},
    [SIP_HDR_ORGANIZATION] = {"Organization", 0},
    [SIP_HDR_P_ASSERTED_IDENTITY] = {"P-Asserted-Identity", 0},
    [SIP_HDR_P_PREFERRED_IDENTITY] = {"P-Preferred-Identity", 0},
    [SIP_HDR_PATH] = {"Path", 0},
    [SIP_HDR_PRIORITY] = {"Priority", 0},
    [SIP_HDR_PRIVACY] = {"Privacy", 0},
    [SIP_HDR_PROXY_AUTHENTICATE] = {"Proxy-Authenticate", 0},
    [SIP_HDR_PROXY_AUTHORIZATION] = {"Proxy-Authorization", 0},
    [SIP_HDR_PROXY_REQUIRE] = {"Proxy-Require", 0},
    [SIP_HDR_RACK] = {"RAck", 0},
    [SIP_HDR_REASON] = {"Reason", 0},
    [SIP_HDR_RECORD_ROUTE] = {"Record-Route", 0},
    [SIP_HDR_REFER_TO] = {"Refer-To", 'r'},
    [SIP_HDR_REFERRED_BY] = {"Referred-By", 'b'},
    [SIP_HDR_REJECT_CONTACT] = {"Reject-Contact", 'j'},
    [SIP_HDR_REPLACES] = {"Replaces", 0},
    [SIP_HDR_REPLY_TO] = {"Reply-To", 0},
    [SIP_HDR_REQUEST_DISPOSITION] = {"Request-Disposition", 'd'},
    [SIP_HDR_REQUIRE] = {"Require", 0},
    [SIP_HDR_RETRY_AFTER] = {"Retry-After", 0},
    [SIP_HDR_ROUTE] = {"Route", 0},
    [SIP_HDR_RSEQ] = {"RSeq", 0},
    [SIP_HDR_SERVER] = {"Server", 0},
    [SIP_HDR_SERVICE_ROUTE] = {"Service-Route", 0},
    [SIP_HDR_SESSION_EXPIRES] = {"Session-Expires", 'x'},
    [SIP_HDR_SUBJECT] = {"Subject", 's'},
    [SIP_HDR_SUBSCRIPTION_STATE] = {"Subscription-State", 0},
    [SIP_HDR_SUPPORTED] = {"Supported", 'k'},
    [SIP_HDR_TIMESTAMP] = {"Timestamp", 0},
    [SIP_HDR_TO] = {"To", 't'},
    [SIP_HDR_UNSUPPORTED] = {"Unsupported", 0},
    [SIP_HDR_USER_AGENT] = {"User-Agent", 0},
    [SIP_HDR_VIA] = {"Via", 'v'},
    [SIP_HDR_WARNING] = {"Warning", 0},
    [SIP_HDR_WWW_AUTHENTICATE] = {"WWW-Authenticate", 0},
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

/* hot path: no allocation, no locks, no I/O */
enum sip_hdr_id sip_hdr_id_from_name(struct str name)
{
	if (name.len == 1)
		return sip_hdr_id_compact(name.p[0]);
	for (int id = 1; id < SIP_HDR_ID_COUNT; id++) {
		const char *n = sip_hdr_names[id].name;
		if (strlen(n) == name.len && strncasecmp(n, name.p, name.len) == 0)
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
