/*
 * messages_send.c — POST /api/v1/messages: a customer's message, checked
 * and cut into parts by message_input.c, stored as one row per part in
 * state 'queued' for the smsc role's dispatcher, and answered 202 only
 * after the commit (principle 2).  The parts and the Idempotency-Key
 * record of the answer are one entry of the batching writer
 * (store_batch_add_group): they commit together or not at all, in one
 * group commit with the messages other HTTP workers send meanwhile
 * (decision 0027).  The worker does not wait for that commit: the request
 * is suspended (http_req_suspend) and the writer's done callback resumes
 * it on its own thread, which answers (decision 0031).  A client gone
 * meanwhile changes nothing: its message was accepted into the batch and
 * commits; only the answer is dropped.
 *
 * Refused before anything is stored: a suspended customer (403, as its
 * calls and binds are), and a destination no message route serves (422
 * no_route naming it; the SMPP server answers ESME_RINVDSTADR).  Both are
 * answered from snapshots (send_gate.c) when they know the customer and a
 * route, from the store otherwise, whose answer is then kept until the
 * snapshot's next version.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/message.h"
#include "smsc/smsc.h"

#define INSERT_SQL                                                                                 \
	"INSERT INTO messages (id, group_id, part_seq, part_total, customer_id, origin, "          \
	"client_ref, source, source_ton, source_npi, destination, dest_ton, dest_npi, "            \
	"data_coding, esm_class, body, state, next_attempt_at, expires_at, callback_url, "         \
	"created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 'http', $6, $7, $8, $9, $10, 1, 1, "  \
	"$11, $12, $13, 'queued', $14, $15, $16, $14, $14) ON CONFLICT (id) DO NOTHING"
#define INSERT_PARAMS 16

/* Group commit as for SMPP submits: a commit per 2 ms or 500 messages.  A
 * group retried after a commit whose answer was lost finds its parts
 * there (ON CONFLICT: ids are random, so only a retry collides). */
#define BATCH_QUEUE 4096
#define BATCH_ROWS 500
#define BATCH_DELAY_MS 2

enum send_result { SEND_QUEUED, SEND_REFUSED, SEND_FAILED };

int api_messages_start(struct api *a, struct snapshot_loader *loader)
{
	static const char *const names[] = {"queued", "refused", "failed"};
	struct metric_family *f = metrics_counter(
	    metrics_default(), "warp_api_messages_total",
	    "Messages sent over HTTP: queued (202), refused (4xx) or not stored (store failure).",
	    "result");

	for (size_t i = 0; f && i < sizeof(names) / sizeof(names[0]); i++)
		a->m_messages[i] = metric_get(f, names[i]);
	if (api_send_gate_register(a, loader) < 0)
		return -EIO;
	if (api_messages_start_tendlc(a, loader) < 0)
		return -EIO;
	a->msg_batch = store_batch_new(a->store, INSERT_SQL, INSERT_PARAMS, BATCH_QUEUE, BATCH_ROWS,
				       BATCH_DELAY_MS);
	return a->msg_batch ? 0 : -ENOMEM;
}

/* The snapshot belongs to the loader, which frees it. */
void api_messages_stop(struct api *a)
{
	store_batch_free(a->msg_batch); /* commits what is queued first */
	a->msg_batch = NULL;
}

static void send_count(struct api_ctx *ctx, enum send_result r)
{
	if (ctx->api->m_messages[r])
		metric_inc(ctx->api->m_messages[r]);
}

static int send_customer_active(struct api_ctx *ctx, const struct api_send_view *v,
				const char *customer, struct api_verr *e)
{
	bool active = false;

	if (api_send_view_customer(v, ctx->conn, customer, &active) < 0)
		return api_verr_set(e, 503, "store_unavailable", NULL,
				    "the store cannot be reached");
	if (!active)
		return api_verr_set(e, 403, "customer_suspended", NULL,
				    "customer %s is suspended: it may not send", customer);
	return 0;
}

/* The customer a send is for (api_body_customer); an admin's customer_id
 * the snapshot knows needs no query to prove it exists. */
static int send_customer_pick(struct api_ctx *ctx, const struct api_send_view *v,
			      const json_t *body, const char **out, struct api_verr *e)
{
	const char *given = json_string_value(json_object_get(body, "customer_id"));

	if (given && api_is_admin(ctx) && api_send_view_knows(v, given)) {
		*out = given;
		return 0;
	}
	return api_body_customer(ctx, body, out, e);
}

static int send_routed(struct api_ctx *ctx, const struct api_send_view *v, const char *customer,
		       const struct api_msg_in *m, struct api_verr *e)
{
	bool routed = false;

	if (api_send_view_routed(v, ctx->conn, customer, m->to, &routed) < 0)
		return api_verr_set(e, 503, "store_unavailable", NULL,
				    "the store cannot be reached");
	if (!routed)
		return api_verr_set(e, 422, "no_route", "/to", "no message route serves +%s",
				    m->to);
	return 0;
}

/* Every check of a send before anything is stored: 0 with *customer set,
 * or e filled. */
static int send_check(struct api_ctx *ctx, const json_t *body, const struct api_msg_in *m,
		      const char **customer, struct api_verr *e)
{
	struct api_send_view v;
	int rc;

	api_send_view_acquire(ctx->api, &v);
	rc = send_customer_pick(ctx, &v, body, customer, e);
	rc = rc ? rc : send_customer_active(ctx, &v, *customer, e);
	rc = rc ? rc : send_routed(ctx, &v, *customer, m, e);
	rc = rc ? rc : api_send_tendlc_check(ctx->api, *customer, body, m, e); /* decision 0041 */
	api_send_view_release(&v);
	return rc;
}

/* The statements of a message's entry and what their parameters point
 * to (copied by store_batch_add_group). */
struct send_rows {
	struct store_param p[API_MSG_PARTS_MAX][INSERT_PARAMS];
	char ids[API_MSG_PARTS_MAX][ID_MAX];
	char hex[API_MSG_PARTS_MAX][2 * SMPP_SM_MAX + 1];
	/* parts, the key's, a prepaid customer's reservations */
	struct store_batch_stmt stmts[API_MSG_PARTS_MAX + API_IDEM_STMTS + API_SEND_PREPAID_STMTS];
};

static int send_rows_fill(struct send_rows *s, const char *group, const char *customer,
			  const struct api_msg_in *m, int64_t now)
{
	for (size_t i = 0; i < m->nparts; i++) {
		if (i == 0) /* part 1 carries the message's id */
			snprintf(s->ids[i], sizeof(s->ids[i]), "%s", group);
		else if (smsc_message_id_new(now, s->ids[i], sizeof(s->ids[i])) < 0)
			return -ENOMEM;
		hex_encode(m->parts[i].body, m->parts[i].len, s->hex[i]);
		struct store_param p[INSERT_PARAMS] = {
		    store_p_text(s->ids[i]),	 store_p_text(group),
		    store_p_int((int64_t)i + 1), store_p_int((int64_t)m->nparts),
		    store_p_text(customer),	 store_p_text(m->client_ref),
		    store_p_text(m->from),	 store_p_int(m->from_ton),
		    store_p_int(m->from_npi),	 store_p_text(m->to),
		    store_p_int(m->data_coding), store_p_int(m->esm_class),
		    store_p_text(s->hex[i]),	 store_p_int(now),
		    store_p_int(m->expires_at),	 store_p_text(m->callback_url),
		};
		memcpy(s->p[i], p, sizeof(p));
		s->stmts[i] = (struct store_batch_stmt){NULL, s->p[i], INSERT_PARAMS};
	}
	return 0;
}

/* A send between its handler and its answer: what the answer needs,
 * owned by the request's thread except status, which the writer sets
 * before it resumes the request. */
struct send_pending {
	struct http_req *req;
	struct api *api;
	json_t *reply; /* the message as stored */
	bool idem;     /* the request has an Idempotency-Key */
	bool prepaid;  /* its parts are reserved (send_prepaid.c) */
	int status;    /* of the commit: 0 once durable */
};

/* On the request's thread, once the entry's fate is known. */
static void send_answer(struct http_req *req, void *arg)
{
	struct send_pending *p = arg;
	struct api_ctx ctx = {.api = p->api, .req = req};
	int rc = p->status == -EAGAIN ? STORE_EBUSY : p->status; /* a full queue: 503, retry */

	if (rc == STORE_ECONFLICT && p->idem)
		rc = -EALREADY; /* a twin with this key committed first: 409 */
	send_count(&ctx, rc < 0 ? SEND_FAILED : SEND_QUEUED);
	if (rc < 0 && api_send_prepaid_refused(&ctx, rc, p->prepaid))
		; /* answered: 402 or 422 (send_prepaid.c) */
	else if (rc < 0)
		api_reply_store_error(&ctx, rc, "message");
	else
		http_reply_data(req, 202, json_incref(p->reply));
	json_decref(p->reply);
	free(p);
}

/* On the writer's thread: the request goes back to its own. */
static void send_stored(void *arg, int status)
{
	struct send_pending *p = arg;

	p->status = status;
	http_req_resume(p->req, send_answer, p);
}

/* The message as the list shows it (messages.c msg_json), from what was
 * stored. */
static json_t *send_reply(const char *id, const char *customer, const struct api_msg_in *m,
			  int64_t now)
{
	json_t *o = json_object();

	json_object_set_new(o, "id", json_string(id));
	json_object_set_new(o, "customer_id", json_string(customer));
	json_object_set_new(o, "origin", json_string("http"));
	json_object_set_new(o, "from",
			    m->from_ton == 1 ? json_sprintf("+%s", m->from) : json_string(m->from));
	json_object_set_new(o, "to", json_sprintf("+%s", m->to));
	json_object_set_new(o, "status", json_string("queued"));
	json_object_set_new(o, "encoding", json_string(api_msg_encoding(m->data_coding)));
	json_object_set_new(o, "segments", json_integer((json_int_t)m->nparts));
	json_object_set_new(o, "client_ref",
			    m->client_ref ? json_string(m->client_ref) : json_null());
	json_object_set_new(o, "callback_url",
			    m->callback_url ? json_string(m->callback_url) : json_null());
	json_object_set_new(o, "created_at", json_integer(now));
	json_object_set_new(o, "updated_at", json_integer(now));
	json_object_set_new(o, "expires_at", json_integer(m->expires_at));
	json_object_set_new(o, "hold", json_null()); /* held only once leased (decision 0050) */
	return o;
}

/* Queues every part and the Idempotency-Key record of p->reply as one
 * entry and suspends the request until send_stored resumes it; on failure
 * the request is resumed at once with the error, so send_answer is the one
 * place that answers. */
static void send_store(struct api_ctx *ctx, const char *id, const char *customer,
		       const struct api_msg_in *m, int64_t now, struct send_pending *p)
{
	struct send_rows rows;
	struct api_idem_stmt idem = {0};
	struct api_send_prepaid pre;
	size_t n = m->nparts;
	/* The record's body, only when there is a key to record it under. */
	json_t *body = ctx->idem_key[0] ? json_pack("{s:O}", "data", p->reply) : NULL;
	int rc = body || !ctx->idem_key[0] ? send_rows_fill(&rows, id, customer, m, now) : -ENOMEM;

	rc = rc ? rc : api_idempotency_batch_stmt(ctx, 202, body, &idem);
	if (rc > 0) {
		for (int i = 0; i < rc; i++)
			rows.stmts[n++] = idem.stmts[i];
		p->idem = true;
		rc = 0;
	}
	rc = rc ? rc : api_send_prepaid(ctx, customer, m, rows.ids, now, &pre, rows.stmts, &n);
	p->prepaid = rc == 0 && pre.on;
	/* Suspended first: the writer may resume it before add returns. */
	http_req_suspend(ctx->req);
	rc = rc ? rc : store_batch_add_group(ctx->api->msg_batch, rows.stmts, n, send_stored, p);
	if (rc < 0)
		send_stored(p, rc);
	api_idem_stmt_fini(&idem);
	json_decref(body);
}

void api_messages_send(struct http_req *req, void *arg)
{
	struct api_ctx ctx;
	struct api_verr e = {0};
	struct api_msg_in m;
	const char *customer = NULL;
	char id[ID_MAX];
	json_t *body;
	struct send_pending *p = NULL;
	int64_t now = time_wall_ms();
	(void)arg;

	if (api_ctx_init(&ctx, req) < 0 || !api_require_write(&ctx) || api_idempotency_replay(&ctx))
		return;
	if (!(body = http_req_json(req)))
		return;
	int rc = api_msg_parse(&ctx, body, now, &m, &e);
	rc = rc ? rc : send_check(&ctx, body, &m, &customer, &e);
	if (rc < 0) {
		send_count(&ctx, e.status >= 500 ? SEND_FAILED : SEND_REFUSED);
		api_reply_verr(&ctx, &e);
		goto out;
	}
	if (smsc_message_id_new(now, id, sizeof(id)) < 0 || !(p = calloc(1, sizeof(*p))) ||
	    !(p->reply = send_reply(id, customer, &m, now))) {
		free(p);
		http_reply_error(req, 500, "internal", "Internal error", NULL, "out of memory");
		goto out;
	}
	p->req = req;
	p->api = ctx.api;
	send_store(&ctx, id, customer, &m, now, p); /* answered by send_answer */
out:
	json_decref(body);
}
