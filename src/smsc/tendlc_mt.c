/*
 * tendlc_mt.c — the US 10DLC checks of submit_sm, data_sm and each
 * destination of submit_multi, made before the message is queued, from
 * the compliance snapshot POST /api/v1/messages reads too (src/tendlc/,
 * decision 0041).  Each refusal has its own command_status, so an ESME can
 * tell them apart:
 *   a US long code to a +1 destination, no active campaign:  ESME_RINVSRCADR
 *   a recipient that opted out of the number (or brand):     0x0401
 *   a text a content rule refuses:                           0x0402
 * (0x0400-0x04FF are the SMSC vendor-specific errors of SMPP 3.4 §5.1.3.)
 * The rule's name is counted in warp_tendlc_refusals_total{rule}.  A
 * replace_sm's new text meets the content rules of its message's
 * destination too (smsc_tendlc_replace), so a waiting message cannot be
 * given the link its submit would have been refused for.
 */
#include <stdlib.h>

#include "smsc/smsc_private.h"

/* The user data as UTF-8 text for the content rules, into out: none
 * (STR_NULL) for binary data_coding, or text that does not decode. */
static struct str mt_text(const struct smpp_pdu *p, char *out, size_t cap)
{
	struct str body;
	size_t n = 0;

	if (smsc_submit_body(p, &body) != SMPP_ESME_ROK || !body.p)
		return STR_NULL;
	if ((p->esm_class & SMPP_ESM_UDHI) && body.len > 0) {
		size_t udh = 1 + (uint8_t)body.p[0];
		if (udh > body.len)
			return STR_NULL;
		body.p += udh;
		body.len -= udh;
	}
	if (body.len > SMSC_TENDLC_TEXT_MAX)
		body.len = SMSC_TENDLC_TEXT_MAX; /* the rules read the first part's worth */
	if (smpp_text_decode(p->data_coding, body, out, cap, &n) != 0)
		return STR_NULL;
	return (struct str){out, n};
}

/* hot path: no allocation, no locks, no I/O */
uint32_t smsc_tendlc_check(const struct smsc_session *ss, const struct smpp_pdu *p, struct str dest)
{
	struct snapshot *snap = ss->s->tendlc;
	const struct tendlc_snap *t = snap ? snapshot_acquire(snap) : NULL;
	char text[4 * SMSC_TENDLC_TEXT_MAX + 1]; /* UTF-8: at most 4 octets an input octet */
	struct tendlc_verdict v;
	uint32_t status = SMPP_ESME_ROK;

	if (!t)
		return status;
	/* Only US destinations have content rules: others skip the decode. */
	struct str body =
	    tendlc_is_us_destination(dest) ? mt_text(p, text, sizeof(text)) : STR_NULL;
	switch (tendlc_mt_check(t, ss->customer_id, p->source.addr, dest, body, &v)) {
	case TENDLC_UNREGISTERED:
		status = SMPP_ESME_RINVSRCADR;
		break;
	case TENDLC_OPTED_OUT:
		status = SMSC_TENDLC_OPTED_OUT;
		break;
	case TENDLC_CONTENT:
		status = SMSC_TENDLC_CONTENT;
		break;
	default:
		break;
	}
	if (v.rule != TENDLC_OK || v.tag)
		log_debug("smsc", "account %s: submit from %.*s to %.*s %s by 10DLC rule %s",
			  ss->account_id, STR_FMT(p->source.addr), STR_FMT(dest),
			  v.rule != TENDLC_OK ? "refused" : "tagged", v.rule ? v.name : v.tag);
	snapshot_release(snap, t);
	return status;
}

/* The hold-for-review rule a leased message's text matches, or NULL
 * (decision 0050); t held by the caller. */
const char *smsc_tendlc_review(const struct tendlc_snap *t, const struct smsc_out_msg *m)
{
	char text[4 * SMSC_TENDLC_TEXT_MAX + 1];

	if (!tendlc_snap_has_review(t) || !tendlc_is_us_destination(str_from_cstr(m->dest)))
		return NULL;
	struct smpp_pdu pdu = {.data_coding = m->data_coding,
			       .esm_class = m->esm_class,
			       .short_message = {(const char *)m->body, m->body_len}};
	return tendlc_review_rule(t, str_from_cstr(m->dest), mt_text(&pdu, text, sizeof(text)));
}

struct str smsc_tendlc_text(const struct smsc_out_msg *m, char *out, size_t cap)
{
	struct smpp_pdu pdu = {.data_coding = m->data_coding,
			       .esm_class = m->esm_class,
			       .short_message = {(const char *)m->body, m->body_len}};
	return mt_text(&pdu, out, cap);
}

#define REPLACE_ROW_SQL                                                                            \
	"SELECT destination, data_coding, esm_class FROM messages WHERE group_id = $1 AND "        \
	"customer_id = $2 AND part_total = 1"

/* On the upstream thread, before replace_sm's UPDATE: ESME_ROK, or the
 * status a content rule refuses the new text (hex, as stored) with.  The
 * message's source and destination do not change, so only the content
 * rules can answer differently from its submit. */
uint32_t smsc_tendlc_replace(struct smsc *s, struct store_conn *c, const char *id,
			     const char *customer, const char *source, const char *hex)
{
	struct store_param p[] = {store_p_text(id), store_p_text(customer)};
	struct store_res *r = NULL;
	const struct tendlc_snap *t = s->tendlc ? snapshot_acquire(s->tendlc) : NULL;
	uint8_t *body = NULL;
	size_t len = 0;
	uint32_t status = SMPP_ESME_ROK;

	if (!t || store_exec(c, REPLACE_ROW_SQL, p, 2, &r) < 0 || store_res_rows(r) != 1 ||
	    !tendlc_is_us_destination(str_from_cstr(store_res_text(r, 0, 0))) ||
	    smsc_hex_decode(hex, &body, &len) < 0)
		goto done; /* the UPDATE finds no such message, or it is not a US one */
	struct smpp_pdu pdu = {.data_coding = (uint8_t)store_res_int(r, 0, 1),
			       .esm_class = (uint8_t)store_res_int(r, 0, 2),
			       .short_message = {(const char *)body, len}};
	char text[4 * SMSC_TENDLC_TEXT_MAX + 1];
	struct tendlc_verdict v;
	if (tendlc_mt_check(t, customer, str_from_cstr(source),
			    str_from_cstr(store_res_text(r, 0, 0)),
			    mt_text(&pdu, text, sizeof(text)), &v) == TENDLC_CONTENT)
		status = SMSC_TENDLC_CONTENT;
done:
	free(body);
	store_res_free(r);
	if (t)
		snapshot_release(s->tendlc, t);
	return status;
}
