/*
 * tendlc_mo.c — the 10DLC keywords of an MO (decision 0041): once mo.c
 * has stored an inbound message whose whole text is STOP (or one of its
 * synonyms), START or HELP (tendlc_keyword_match), this records what it
 * means and answers the handset, in one transaction on the upstream
 * thread:
 *   STOP   an opt-out for the pair (handset, our number), with the
 *          number's campaign's brand; the message.opt_out event;
 *   START  the pair's opt-out gone (brand-wide: every one of the brand's);
 *          the message.opt_in event;
 *   HELP   nothing recorded;
 * and, when the number is bound to a campaign whose text for it is set
 * (opt_out_text, opt_in_text, help_text), and a STOP or START changed
 * something (a second STOP is confirmed no more), that text as one MT from the
 * number back to the handset, queued like an HTTP send (client_ref
 * "10dlc-stop" …) so the dispatcher routes it as any other.  Its ids are
 * derived from the inbound message's, so a rerun never sends it twice.
 * The MO itself is delivered to the customer as every MO is.
 *
 * STOP and START bump the config version and wake the snapshot loader, so
 * the next MT to the pair is refused (or passes) at once here and within
 * [store] snapshot_poll elsewhere.
 */
#include <errno.h>
#include <jansson.h>
#include <string.h>

#include "smsc/smsc_private.h"

#define OPTOUT_SQL                                                                                 \
	"INSERT INTO opt_outs (id, customer_id, number, recipient, brand_id, source, keyword, "    \
	"created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 'keyword', $6, $7, $7) ON CONFLICT "  \
	"(customer_id, number, recipient) DO NOTHING"
#define OPTIN_SQL                                                                                  \
	"DELETE FROM opt_outs WHERE customer_id = $1 AND recipient = $2 AND (number = $3 OR "      \
	"brand_id = $4)"
#define EVENT_SQL                                                                                  \
	"INSERT INTO message_events (id, group_id, customer_id, type, data, created_at) VALUES "   \
	"($1, $2, $3, $4, $5, $6) ON CONFLICT (group_id, type) DO NOTHING"
#define REPLY_SQL                                                                                  \
	"INSERT INTO messages (id, group_id, part_seq, part_total, customer_id, origin, "          \
	"client_ref, source, source_ton, source_npi, destination, dest_ton, dest_npi, "            \
	"data_coding, esm_class, body, state, next_attempt_at, expires_at, created_at, "           \
	"updated_at) VALUES ($1, $2, $3, $4, $5, 'http', $6, $7, 1, 1, $8, 1, 1, $9, $10, $11, "   \
	"'queued', $12, $13, $12, $12) ON CONFLICT (id) DO NOTHING"
#define REPLY_PARTS_MAX 4

/* An MO's text as UTF-8, when it is short enough to be a keyword. */
enum tendlc_keyword smsc_tendlc_keyword(uint8_t data_coding, struct str body)
{
	char text[4 * TENDLC_KEYWORD_TEXT_MAX + 1];
	size_t n = 0;

	if (body.len > TENDLC_KEYWORD_TEXT_MAX ||
	    smpp_text_decode(data_coding, body, text, sizeof(text), &n) != 0)
		return TENDLC_KW_NONE;
	return tendlc_keyword_match((struct str){text, n});
}

/* The handset as E.164 with '+' (an MO source without one is international). */
static void plus(char *out, size_t n, const char *addr)
{
	snprintf(out, n, "%s%s", addr[0] == '+' ? "" : "+", addr);
}

static int kw_event(struct store_conn *c, const struct smsc_mo_keyword *k,
		    const struct tendlc_campaign_view *cv, bool brand_wide, int64_t now)
{
	char id[ID_MAX], recipient[SMPP_ADDR_WIDE_MAX + 2];
	bool stop = k->kw == TENDLC_KW_STOP;

	plus(recipient, sizeof(recipient), k->source);
	json_t *o =
	    json_pack("{s:s,s:s,s:s,s:s,s:s?,s:s?,s:s,s:I}", "id", k->id, "number", k->number,
		      "recipient", recipient, "keyword", k->word, "campaign_id", cv ? cv->id : NULL,
		      "brand_id", cv ? cv->brand_id : NULL, "scope",
		      brand_wide && cv ? "brand" : "number", "received_at", (json_int_t)now);
	char *data = o ? json_dumps(o, JSON_COMPACT) : NULL;
	int rc = data && id_new("evt", id, sizeof(id)) == 0 ? 0 : -ENOMEM;
	struct store_param p[] = {
	    store_p_text(id),	       store_p_text(k->id),
	    store_p_text(k->customer), store_p_text(stop ? "message.opt_out" : "message.opt_in"),
	    store_p_text(data),	       store_p_int(now)};
	rc = rc ? rc : store_exec(c, EVENT_SQL, p, 6, NULL);
	free(data);
	json_decref(o);
	return rc;
}

/* The opt-out recorded (STOP) or removed (START), and then its event: 1
 * when that changed the pair, 0 when it was so already (a second STOP, a
 * START with nothing to undo, the upstream resending the MO), <0. */
static int kw_record(struct store_conn *c, const struct smsc_mo_keyword *k,
		     const struct tendlc_campaign_view *cv, bool brand_wide, int64_t now)
{
	char id[ID_MAX], recipient[SMPP_ADDR_WIDE_MAX + 2];
	const char *brand = cv && cv->brand_id[0] ? cv->brand_id : NULL;
	struct store_res *r = NULL;
	int rc;

	plus(recipient, sizeof(recipient), k->source);
	if (k->kw == TENDLC_KW_STOP) {
		if (id_new("opt", id, sizeof(id)) < 0)
			return -ENOMEM;
		struct store_param p[] = {store_p_text(id),	   store_p_text(k->customer),
					  store_p_text(k->number), store_p_text(recipient),
					  store_p_text(brand),	   store_p_text(k->word),
					  store_p_int(now)};
		rc = store_exec(c, OPTOUT_SQL, p, 7, &r);
	} else {
		struct store_param p[] = {store_p_text(k->customer), store_p_text(recipient),
					  store_p_text(k->number),
					  store_p_text(brand_wide ? brand : NULL)};
		rc = store_exec(c, OPTIN_SQL, p, 4, &r);
	}
	bool changed = rc == 0 && store_res_changes(r) > 0;
	store_res_free(r);
	if (rc < 0 || !changed)
		return rc;
	rc = kw_event(c, k, cv, brand_wide, now);
	rc = rc ? rc : store_config_version_bump(c);
	return rc ? rc : 1;
}

/* One row per part of text, from the number back to the handset. */
static int kw_reply(struct smsc_out *o, struct store_conn *c, const struct smsc_mo_keyword *k,
		    const char *text, int64_t now)
{
	uint8_t enc[4 * 320], udh[SMPP_SM_MAX], dc = 0;
	struct str segs[REPLY_PARTS_MAX], utf8 = str_from_cstr(text);
	char ids[REPLY_PARTS_MAX][ID_MAX + 8], hex[2 * SMPP_SM_MAX + 1], ref[24];
	const char *suffix = strchr(k->id, '_') ? strchr(k->id, '_') + 1 : k->id;
	size_t len = 0, n = 0;
	int rc = 0;

	if (smpp_text_choose(utf8, false, &dc) != 0 ||
	    smpp_text_encode(utf8, dc, enc, sizeof(enc), &len) != 0 ||
	    smpp_segments_split(dc, SMPP_CONCAT_UDH8, (struct str){(const char *)enc, len}, segs,
				REPLY_PARTS_MAX, &n) != 0)
		return -EINVAL;
	snprintf(ref, sizeof(ref), "10dlc-%s",
		 k->kw == TENDLC_KW_STOP    ? "stop"
		 : k->kw == TENDLC_KW_START ? "start"
					    : "help");
	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct smpp_pdu part = {0};
		struct smpp_concat cc = {(uint16_t)(now & 0xff), (uint8_t)n, (uint8_t)(i + 1)};
		snprintf(ids[i], sizeof(ids[i]), "msg_%s_r%c", suffix, (char)('1' + i));
		part.short_message = segs[i];
		if (n > 1 &&
		    smpp_segment_fill(&part, SMPP_CONCAT_UDH8, &cc, segs[i], udh, sizeof(udh)) != 0)
			return -EINVAL;
		hex_encode(part.short_message.p, part.short_message.len, hex);
		struct store_param p[] = {
		    store_p_text(ids[i]),
		    store_p_text(ids[0]),
		    store_p_int((int64_t)i + 1),
		    store_p_int((int64_t)n),
		    store_p_text(k->customer),
		    store_p_text(ref),
		    store_p_text(k->number + 1),
		    store_p_text(k->source[0] == '+' ? k->source + 1 : k->source),
		    store_p_int(dc),
		    store_p_int(part.esm_class),
		    store_p_text(hex),
		    store_p_int(now),
		    store_p_int(now + o->s->o.default_validity_ms),
		};
		rc = store_exec(c, REPLY_SQL, p, 13, NULL);
	}
	return rc;
}

static const char *kw_text(enum tendlc_keyword kw, const struct tendlc_campaign_view *cv)
{
	if (!cv)
		return "";
	return kw == TENDLC_KW_STOP    ? cv->opt_out_text
	       : kw == TENDLC_KW_START ? cv->opt_in_text
				       : cv->help_text;
}

static int kw_write(struct smsc_out *o, const struct smsc_mo_keyword *k,
		    const struct tendlc_campaign_view *cv, bool brand_wide)
{
	struct store_conn *c = store_conn(o->store);
	int64_t now = time_wall_ms();
	const char *text = kw_text(k->kw, cv);
	int rc = c ? store_tx_begin(c) : -EIO;

	/* The confirmation goes once, when the pair changed (CTIA §5: one
	 * message confirms the opt-out, and nothing follows it). */
	if (rc == 0 && k->kw != TENDLC_KW_HELP && (rc = kw_record(c, k, cv, brand_wide, now)) == 0)
		text = "";
	rc = rc < 0 ? rc : 0;
	if (rc == 0 && text[0] && (rc = kw_reply(o, c, k, text, now)) == -EINVAL) {
		log_warn("smsc", "MO %s: the campaign's %s text cannot be sent as SMS", k->id,
			 k->word);
		rc = 0; /* the opt-out counts more than its confirmation */
	}
	rc = rc ? rc : store_tx_commit(c);
	if (rc < 0 && c)
		store_tx_rollback(c);
	return rc;
}

/* On the upstream thread, after k's inbound row committed. */
void smsc_tendlc_mo(struct smsc_out *o, const struct smsc_mo_keyword *k)
{
	struct snapshot *snap = o->s->tendlc;
	const struct tendlc_snap *t = snap ? snapshot_acquire(snap) : NULL;
	struct tendlc_campaign_view cv;
	bool bound = t && tendlc_number_campaign(t, str_from_cstr(k->number), &cv) == 1;
	int rc = kw_write(o, k, bound ? &cv : NULL, tendlc_snap_brand_wide(t));

	if (t)
		snapshot_release(snap, t);
	if (rc < 0) {
		log_warn("smsc", "MO %s: %s from %s to %s not recorded: %s", k->id, k->word,
			 k->source, k->number, store_strerror(rc));
		return;
	}
	log_info("smsc", "MO %s: %s from %s to %s (campaign %s)", k->id, k->word, k->source,
		 k->number, bound ? cv.id : "none");
	if (k->kw != TENDLC_KW_HELP)
		snapshot_loader_reload(o->s->o.loader);
}
