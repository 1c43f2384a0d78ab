/*
 * receipt_parse.c — what an upstream's delivery receipt says: the message
 * id and final state from its TLVs (receipted_message_id, message_state,
 * network_error_code, SMPP 3.4 §5.3.2) or, for upstreams that send only
 * text, from the Appendix B form
 *   "id:IIIII sub:SSS dlvrd:DDD submit date:... done date:... stat:DDDDDDD err:E text:...".
 * The TLVs win where both are present.  Outside input: fuzz_smsc_receipt.
 */
#include <string.h>
#include <strings.h>

#include "smsc/smsc_private.h"

static struct str text_field(struct str t, const char *name)
{
	size_t k = strlen(name);
	for (size_t i = 0; i + k <= t.len; i++) {
		if ((i == 0 || t.p[i - 1] == ' ') && strncasecmp(t.p + i, name, k) == 0) {
			size_t j = i + k;
			while (j < t.len && t.p[j] != ' ')
				j++;
			return (struct str){t.p + i + k, j - i - k};
		}
	}
	return STR_NULL;
}

static const char *state_from_tlv(uint8_t s)
{
	switch (s) {
	case 2:
		return "delivered";
	case 3:
		return "expired";
	case 4:
	case 5:
		return "undeliverable";
	case 8:
		return "rejected";
	default:
		return NULL; /* enroute, accepted, unknown */
	}
}

static const char *state_from_text(struct str stat)
{
	if (str_caseeq_cstr(stat, "DELIVRD"))
		return "delivered";
	if (str_caseeq_cstr(stat, "EXPIRED"))
		return "expired";
	if (str_caseeq_cstr(stat, "UNDELIV") || str_caseeq_cstr(stat, "DELETED"))
		return "undeliverable";
	if (str_caseeq_cstr(stat, "REJECTD"))
		return "rejected";
	return NULL;
}

/* message_state as the stat word of Appendix B. */
static const char *stat_of_tlv(uint8_t s)
{
	static const char *const names[] = {"",	       "ENROUTE", "DELIVRD", "EXPIRED", "DELETED",
					    "UNDELIV", "ACCEPTD", "UNKNOWN", "REJECTD"};
	return s < sizeof(names) / sizeof(names[0]) ? names[s] : "";
}

void smsc_receipt_parse(const struct smpp_pdu *p, struct smsc_receipt *r)
{
	struct str text =
	    (p->tlv.has & SMPP_HAS_MESSAGE_PAYLOAD) ? p->tlv.message_payload : p->short_message;
	struct str err = text_field(text, "err:");

	r->id = (p->tlv.has & SMPP_HAS_RECEIPTED_MESSAGE_ID) ? p->tlv.receipted_message_id
							     : text_field(text, "id:");
	r->state = (p->tlv.has & SMPP_HAS_MESSAGE_STATE)
		       ? state_from_tlv(p->tlv.message_state)
		       : state_from_text(text_field(text, "stat:"));
	struct str stat = text_field(text, "stat:");
	if (p->tlv.has & SMPP_HAS_MESSAGE_STATE)
		snprintf(r->stat, sizeof(r->stat), "stat:%s", stat_of_tlv(p->tlv.message_state));
	else
		snprintf(r->stat, sizeof(r->stat), "stat:%.*s", (int)(stat.len > 8 ? 8 : stat.len),
			 stat.p ? stat.p : "");
	if (p->tlv.has & SMPP_HAS_NETWORK_ERROR_CODE)
		snprintf(r->error, sizeof(r->error), "network:%u:%u", p->tlv.network_error_type,
			 p->tlv.network_error_code);
	else
		snprintf(r->error, sizeof(r->error), "err:%.*s", (int)(err.len > 8 ? 8 : err.len),
			 err.p ? err.p : "");
}

/* ",<word>," in list, the word compared without regard to case: upstreams
 * write "UNDELIV" and "undeliv" alike. */
static bool failover_has(const char *list, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = list; n && (p = strchr(p, ',')) && p[1]; p++)
		if (strncasecmp(p + 1, word, n) == 0 && p[1 + n] == ',')
			return true;
	return false;
}

bool smsc_receipt_retryable(const struct smsc_connector_cfg *cfg, const struct smsc_receipt *r)
{
	if (!r->state || strcmp(r->state, "delivered") == 0 || !cfg->failover_errors[0])
		return false;
	return failover_has(cfg->failover_errors, r->error) ||
	       failover_has(cfg->failover_errors, r->stat);
}
