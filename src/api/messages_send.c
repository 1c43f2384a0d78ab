/*
 * messages_send.c — POST /api/v1/messages: a customer's message, checked
 * and cut into parts by message_input.c, stored as one row per part in
 * state 'queued' for the smsc role's dispatcher, and answered 202 only
 * after the commit (principle 2): the parts, and the Idempotency-Key
 * record of the answer, commit in one transaction, so a message is
 * either wholly queued and acknowledged or not at all (decision 0024).
 *
 * Refused before anything is stored: a suspended customer (403, as its
 * calls and binds are), and a destination no message route serves (422
 * no_route naming it; the SMPP server answers ESME_RINVDSTADR).
 */
#include <errno.h>
#include <string.h>

#include "api/message.h"

#define INSERT_SQL                                                                                 \
	"INSERT INTO messages (id, group_id, part_seq, part_total, customer_id, origin, "          \
	"client_ref, source, source_ton, source_npi, destination, dest_ton, dest_npi, "            \
	"data_coding, esm_class, body, state, next_attempt_at, expires_at, callback_url, "         \
	"created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 'http', $6, $7, $8, $9, $10, 1, 1, "  \
	"$11, $12, $13, 'queued', $14, $15, $16, $14, $14)"

/* The longest prefix wins at dispatch; here any route that serves the
 * destination, the customer's own or a global one, is enough. */
#define ROUTED_SQL                                                                                 \
	"SELECT id FROM message_routes WHERE (customer_id = $1 OR customer_id IS NULL) AND "       \
	"substr(CAST($2 AS TEXT), 1, length(prefix)) = prefix LIMIT 1"

enum send_result { SEND_QUEUED, SEND_REFUSED, SEND_FAILED };

void api_messages_metrics(struct api *a)
{
	static const char *const names[] = {"queued", "refused", "failed"};
	struct metric_family *f = metrics_counter(
	    metrics_default(), "warp_api_messages_total",
	    "Messages sent over HTTP: queued (202), refused (4xx) or not stored (store failure).",
	    "result");

	for (size_t i = 0; f && i < sizeof(names) / sizeof(names[0]); i++)
		a->m_messages[i] = metric_get(f, names[i]);
}

static void send_count(struct api_ctx *ctx, enum send_result r)
{
	if (ctx->api->m_messages[r])
		metric_inc(ctx->api->m_messages[r]);
}

static int send_customer_active(struct api_ctx *ctx, const char *customer, struct api_verr *e)
{
	struct store_res *r = NULL;
	struct store_param p[] = {store_p_text(customer)};
	int rc = store_exec(ctx->conn, "SELECT status FROM customers WHERE id = $1", p, 1, &r);
	bool active =
	    rc == 0 && store_res_rows(r) == 1 && strcmp(store_res_text(r, 0, 0), "active") == 0;

	store_res_free(r);
	if (rc < 0)
		return api_verr_set(e, 503, "store_unavailable", NULL,
				    "the store cannot be reached");
	if (!active)
		return api_verr_set(e, 403, "customer_suspended", NULL,
				    "customer %s is suspended: it may not send", customer);
	return 0;
}

static int send_routed(struct api_ctx *ctx, const char *customer, const struct api_msg_in *m,
		       struct api_verr *e)
{
	struct store_res *r = NULL;
	struct store_param p[] = {store_p_text(customer), store_p_text(m->to)};
	int rc = store_exec(ctx->conn, ROUTED_SQL, p, 2, &r);
	bool routed = rc == 0 && store_res_rows(r) > 0;

	store_res_free(r);
	if (rc < 0)
		return api_verr_set(e, 503, "store_unavailable", NULL,
				    "the store cannot be reached");
	if (!routed)
		return api_verr_set(e, 422, "no_route", "/to", "no message route serves +%s",
				    m->to);
	return 0;
}

static int send_insert_part(struct api_ctx *ctx, const char *group, const char *customer,
			    const struct api_msg_in *m, size_t i, int64_t now)
{
	char id[ID_MAX], hex[2 * SMPP_SM_MAX + 1];

	if (i == 0)
		snprintf(id, sizeof(id), "%s", group); /* part 1 carries the message's id */
	else if (id_new("msg", id, sizeof(id)) < 0)
		return -ENOMEM;
	hex_encode(m->parts[i].body, m->parts[i].len, hex);
	struct store_param p[] = {
	    store_p_text(id),
	    store_p_text(group),
	    store_p_int((int64_t)i + 1),
	    store_p_int((int64_t)m->nparts),
	    store_p_text(customer),
	    store_p_text(m->client_ref),
	    store_p_text(m->from),
	    store_p_int(m->from_ton),
	    store_p_int(m->from_npi),
	    store_p_text(m->to),
	    store_p_int(m->data_coding),
	    store_p_int(m->esm_class),
	    store_p_text(hex),
	    store_p_int(now),
	    store_p_int(m->expires_at),
	    store_p_text(m->callback_url),
	};
	return store_exec(ctx->conn, INSERT_SQL, p, sizeof(p) / sizeof(p[0]), NULL);
}

/* Every part and the Idempotency-Key record of the answer in one
 * transaction; *reply is the message as stored (the list's shape). */
static int send_store(struct api_ctx *ctx, const char *id, const char *customer,
		      const struct api_msg_in *m, int64_t now, json_t **reply)
{
	int rc = store_tx_begin(ctx->conn);

	for (size_t i = 0; rc == 0 && i < m->nparts; i++)
		rc = send_insert_part(ctx, id, customer, m, i, now);
	if (rc == 0 && !(*reply = api_msg_load(ctx, id, false, &rc)))
		rc = rc ? rc : -ENOENT;
	if (rc == 0) {
		json_t *body = json_pack("{s:O}", "data", *reply);
		rc = body ? api_idempotency_record(ctx, 202, body) : -ENOMEM;
		json_decref(body);
	}
	rc = rc ? rc : store_tx_commit(ctx->conn);
	if (rc < 0)
		store_tx_rollback(ctx->conn);
	return rc;
}

void api_messages_send(struct http_req *req, void *arg)
{
	struct api_ctx ctx;
	struct api_verr e = {0};
	struct api_msg_in m;
	const char *customer = NULL;
	char id[ID_MAX];
	json_t *body, *reply = NULL;
	int64_t now = time_wall_ms();
	(void)arg;

	if (api_ctx_init(&ctx, req) < 0 || !api_require_write(&ctx) || api_idempotency_replay(&ctx))
		return;
	if (!(body = http_req_json(req)))
		return;
	int rc = api_msg_parse(&ctx, body, now, &m, &e);
	rc = rc ? rc : api_body_customer(&ctx, body, &customer, &e);
	rc = rc ? rc : send_customer_active(&ctx, customer, &e);
	rc = rc ? rc : send_routed(&ctx, customer, &m, &e);
	if (rc < 0) {
		send_count(&ctx, e.status >= 500 ? SEND_FAILED : SEND_REFUSED);
		api_reply_verr(&ctx, &e);
		goto out;
	}
	if (id_new("msg", id, sizeof(id)) < 0) {
		http_reply_error(req, 500, "internal", "Internal error", NULL, "no random id");
		goto out;
	}
	rc = send_store(&ctx, id, customer, &m, now, &reply);
	send_count(&ctx, rc < 0 ? SEND_FAILED : SEND_QUEUED);
	if (rc < 0)
		api_reply_store_error(&ctx, rc, "message");
	else
		http_reply_data(req, 202, json_incref(reply));
out:
	json_decref(reply);
	json_decref(body);
}
