/*
 * send_tendlc.c — the US 10DLC checks of POST /api/v1/messages, made
 * before anything is stored, from the compliance snapshot (src/tendlc/,
 * decision 0041) the SMPP server reads too, so both paths refuse the same
 * messages for the same rule: a US long code without an active campaign
 * of the sender (422 unregistered_long_code), a recipient that opted out
 * of the number or its brand (422 opted_out), a text a content rule
 * refuses (422 content_refused, naming the rule).
 */
#include "api/message.h"

int api_messages_start_tendlc(struct api *a, struct snapshot_loader *loader)
{
	if (!loader)
		return 0;
	a->tendlc = tendlc_snapshot_register(loader, "api", &a->tendlc_opts);
	return a->tendlc ? 0 : -1;
}

static int tendlc_refusal(const struct tendlc_verdict *v, const struct api_msg_in *m,
			  struct api_verr *e)
{
	switch (v->rule) {
	case TENDLC_UNREGISTERED:
		return api_verr_set(e, 422, "unregistered_long_code", "/from",
				    "rule unregistered_long_code: +%s is a US long code with no "
				    "active 10DLC campaign of this customer",
				    m->from);
	case TENDLC_OPTED_OUT:
		return api_verr_set(e, 422, "opted_out", "/to",
				    "rule opted_out: +%s opted out of messages from %s%s", m->to,
				    m->from_ton == 1 ? "+" : "", m->from);
	default:
		return api_verr_set(e, 422, "content_refused", "/text",
				    "rule %s: the text is refused on US routes", v->name);
	}
}

/* hot path: no allocation, no locks, no I/O (the snapshot's) */
int api_send_tendlc_check(struct api *a, const char *customer, const json_t *body,
			  const struct api_msg_in *m, struct api_verr *e)
{
	const struct tendlc_snap *s = a->tendlc ? snapshot_acquire(a->tendlc) : NULL;
	const json_t *t = json_object_get(body, "text");
	struct str text = json_is_string(t)
			      ? (struct str){json_string_value(t), json_string_length(t)}
			      : STR_NULL;
	struct tendlc_verdict v;
	int rc = 0;

	if (!s)
		return 0;
	if (tendlc_mt_check(s, customer, str_from_cstr(m->from), str_from_cstr(m->to), text, &v) !=
	    TENDLC_OK)
		rc = tendlc_refusal(&v, m, e);
	else if (v.tag)
		log_info("api", "message from %s to %s tagged by content rule %s", m->from, m->to,
			 v.tag);
	snapshot_release(a->tendlc, s);
	return rc;
}
