/*
 * mo_webhook.c — inbound (MO) messages as the message.received webhook.
 *
 * A customer whose enabled webhooks take message.received (the type
 * itself, "message.*" or "*") gets its MO that way and never on an SMPP
 * session: which of the two applies is decided by what the customer set
 * up, not by which is faster, so every MO goes one way only (decision
 * 0025).  The webhook check is in SQL over the event_types JSON text,
 * with the same three patterns the dispatcher matches, so that smsc needs
 * nothing of the api module (decision 0022); receipts.c's MO lease leaves
 * such customers' rows alone by the same clause.
 *
 * Each such pending row, joined already when it came in parts, becomes a
 * message_events row (decision 0026: the table is the interface to the
 * webhook dispatcher) and is marked delivered to "webhook" in the same
 * transaction; UNIQUE (group_id, type) and the state guard keep a second
 * process from writing it twice.
 */
#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "smsc/smsc_private.h"

#define MO_WEBHOOK_BATCH 100
#define MO_WEBHOOK_POLL_MS 100 /* as the session path polls (receipts.c) */

#define PENDING_SQL                                                                                \
	"SELECT m.id, m.customer_id, m.source, m.number, m.data_coding, m.body, m.parts, "         \
	"m.part_total, m.carrier_id, m.created_at FROM inbound_messages m WHERE m.state = "        \
	"'pending' AND m.lease_until <= $1 AND m.expires_at > $1 AND " SMSC_MO_BY_WEBHOOK(         \
	    "m.customer_id") " ORDER BY m.created_at LIMIT 100"

/* The user data as the webhook shows it: UTF-8 text for a text coding,
 * else base64 under "binary" (as POST /api/v1/messages takes it). */
static int mo_webhook_body(json_t *o, uint8_t coding, const uint8_t *data, size_t len)
{
	/* Either fits: UTF-8 takes at most 3 octets a character (a GSM
	 * septet or a UCS-2 unit), base64 4 for every 3. */
	size_t cap = 4 * len + 1, n = 0;
	char *text = malloc(cap);
	int rc = -ENOMEM;

	if (!text)
		return rc;
	if (smpp_text_decode(coding, (struct str){(const char *)data, len}, text, cap, &n) == 0) {
		text[n] = '\0';
		rc = json_object_set_new(o, "text", json_stringn(text, n));
	} else {
		EVP_EncodeBlock((unsigned char *)text, data, (int)len);
		rc = json_object_set_new(o, "text", json_null()) ||
		     json_object_set_new(o, "binary", json_string(text));
	}
	free(text);
	return rc ? -ENOMEM : 0;
}

/* The event's data (docs/openapi.yaml, MessageReceivedData). */
static char *mo_webhook_data(const struct store_res *r, size_t i)
{
	uint8_t *body = NULL;
	size_t len = 0;
	char *text = NULL;
	json_t *o =
	    json_pack("{s:s,s:s,s:s,s:I,s:{s:I,s:I},s:s,s:I}", "id", store_res_text(r, i, 0),
		      "from", store_res_text(r, i, 2), "to", store_res_text(r, i, 3), "data_coding",
		      (json_int_t)store_res_int(r, i, 4), "parts", "received",
		      (json_int_t)store_res_int(r, i, 6), "total",
		      (json_int_t)store_res_int(r, i, 7), "carrier_id", store_res_text(r, i, 8),
		      "received_at", (json_int_t)store_res_int(r, i, 9));

	if (o && smsc_hex_decode(store_res_text(r, i, 5), &body, &len) == 0 &&
	    mo_webhook_body(o, (uint8_t)store_res_int(r, i, 4), body, len) == 0)
		text = json_dumps(o, JSON_COMPACT);
	free(body);
	json_decref(o);
	return text;
}

/* One row to its event: 1 when written, 0 when another process (or the
 * session path, before the customer's webhook existed) took it first. */
static int mo_webhook_one(struct store_conn *c, const struct store_res *r, size_t i, int64_t now)
{
	char id[ID_MAX], *data = mo_webhook_data(r, i);
	struct store_res *u = NULL;
	int rc = data ? id_new("evt", id, sizeof(id)) : -ENOMEM;

	if (rc < 0)
		goto out;
	rc = store_tx_begin(c);
	struct store_param m[] = {store_p_text(store_res_text(r, i, 0)), store_p_int(now)};
	rc = rc ? rc
		: store_exec(c,
			     "UPDATE inbound_messages SET state = 'delivered', delivered_to = "
			     "'webhook', updated_at = $2 WHERE id = $1 AND state = 'pending' AND "
			     "lease_until <= $2",
			     m, 2, &u);
	bool mine = rc == 0 && store_res_changes(u) > 0;
	struct store_param e[] = {store_p_text(id), store_p_text(store_res_text(r, i, 0)),
				  store_p_text(store_res_text(r, i, 1)), store_p_text(data),
				  store_p_int(now)};
	if (mine)
		rc =
		    store_exec(c,
			       "INSERT INTO message_events (id, group_id, customer_id, type, data, "
			       "created_at) VALUES ($1, $2, $3, 'message.received', $4, $5) "
			       "ON CONFLICT (group_id, type) DO NOTHING",
			       e, 5, NULL);
	rc = rc == 0 && mine ? store_tx_commit(c) : rc;
	if (rc < 0 || !mine)
		store_tx_rollback(c);
	rc = rc < 0 ? rc : mine;
out:
	store_res_free(u);
	free(data);
	return rc;
}

void smsc_mo_webhook_tick(struct smsc_out *o)
{
	struct store_conn *c = store_conn(o->store);
	struct store_res *r = NULL;
	int64_t now = time_wall_ms();
	struct store_param p[] = {store_p_int(now)};

	if (time_mono_ms() - o->mo_webhook_polled_ms < MO_WEBHOOK_POLL_MS)
		return;
	o->mo_webhook_polled_ms = time_mono_ms();
	if (!c || smsc_out_exec(o, PENDING_SQL, p, 1, &r) < 0)
		return;
	for (size_t i = 0; i < store_res_rows(r) && i < MO_WEBHOOK_BATCH; i++) {
		int rc = mo_webhook_one(c, r, i, now);
		if (rc > 0)
			metric_inc(o->m_mo_webhook);
		else if (rc < 0)
			log_warn("smsc", "MO %s to its webhook: store: %s", store_res_text(r, i, 0),
				 store_strerror(rc));
	}
	store_res_free(r);
}
