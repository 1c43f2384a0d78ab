/*
 * api_private.h — what the files of the api module share: the request
 * context, field validation, and the generic resource engine that serves
 * list/get/create/patch/delete for every table-backed resource.
 *
 * A resource is described once (struct api_resource: table, id prefix,
 * fields with their types and checks, who may see it); resource.c does the
 * rest: authorization and customer scoping, validation with JSON pointers,
 * cursor pagination, the events outbox, the config-version bump that makes
 * the SIP proxy and SMSC rebuild their snapshots, and Idempotency-Key.
 */
#ifndef WARP_API_PRIVATE_H
#define WARP_API_PRIVATE_H

#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>

#include "api/api.h"
#include "billing/billing.h"
#include "tendlc/tendlc.h"

struct api {
	struct store *store;
	struct auth *auth;
	struct ratelimit *rl;
	bool webhooks_allow_private;
	/* [smsc] default_validity and max_validity: a sent message's expiry. */
	int64_t msg_default_validity_ms, msg_max_validity_ms;
	/* warp_api_messages_total{result}: queued, refused, failed. */
	struct metric *m_messages[3];
	/* The batching writer of sent messages (messages_send.c). */
	struct store_batch *msg_batch;
	/* The send checks' snapshots (send_gate.c): customer statuses
	 * ("api_send") and the smsc's message routes; NULL without a snapshot
	 * loader: the store is asked every time. */
	struct snapshot *send_gate, *send_routes;
	/* The store's answers to what those did not know, until their next
	 * version: a fixed table under send_memo_lock (send_gate.c). */
	pthread_mutex_t send_memo_lock;
	struct api_send_memo *send_memo; /* API_SEND_MEMO_SLOTS */
	struct metric *m_send_store;	 /* warp_api_send_store_lookups_total */
	/* Mounted upstreams (upstream.c), guarded by the gateway. */
	struct api_upstream **upstreams;
	size_t nupstreams;
	/* Refused credentials, aggregated for the log (refusals.c). */
	struct api_refusals *refusals;
	/* [tendlc] campaign_max_numbers: a campaign's cap on bound numbers
	 * when it names none (campaigns.c). */
	int64_t campaign_max_numbers;
	/* The 10DLC snapshot the send checks read (send_tendlc.c); NULL
	 * without a snapshot loader: nothing is checked. */
	struct snapshot *tendlc;
	struct tendlc_opts tendlc_opts;
	/* [billing] keys the ledger needs (balances.c). */
	struct billing_ledger_opts ledger;
	/* [invoice] keys (invoices.c) and the /metrics gauges reading the
	 * invoice state, one per gauge, alive as long as the api. */
	struct invoice_opts invoice;
	struct api_invoice_gauge {
		struct api *api;
		int which;
	} invoice_gauges[4];
	struct snapshot *rating; /* prepaid sends (send_prepaid.c); NULL: none */
};

/* refusals.c: logs a refused credential from src, at most one line per
 * source and API_REFUSAL_INTERVAL_MS plus one with the count of the rest.
 * reason is static text. */
#define API_REFUSAL_INTERVAL_MS 10000
struct api_refusals *api_refusals_new(void);
void api_refusals_free(struct api_refusals *r);
void api_refusals_note(struct api_refusals *r, const struct net_addr *src, const char *reason,
		       int64_t now_ms);

/* One request being served: who asks, on which connection. */
struct api_ctx {
	struct api *api;
	struct http_req *req;
	const struct auth_identity *who;
	struct store_conn *conn;
	/* Idempotency-Key of a POST seen for the first time ("" when none), and
	 * the hash of the request it names. */
	char idem_key[256];
	char idem_hash[65];
	/* The request body of a create or patch, as given (borrowed). */
	json_t *body;
};

/* What the gateway attaches to each authenticated request (http_req_user). */
struct api_principal {
	struct api *api;
	struct auth_identity who;
};

/* Fills ctx for req from its principal; answers 503 itself and returns -1
 * when the store cannot be reached. */
int api_ctx_init(struct api_ctx *ctx, struct http_req *req);
bool api_is_admin(const struct api_ctx *ctx);
/* Answers 403 and returns false unless the caller is an admin. */
bool api_require_admin(struct api_ctx *ctx);
/* Answers 403 and returns false unless the caller may write. */
bool api_require_write(struct api_ctx *ctx);

/* True when path lies under prefix, segment by segment, ignoring empty
 * segments as the router does ("//a///b" is under "/a"). */
bool api_path_under(const char *path, const char *prefix);
/* True when path lies under a mounted upstream's prefix. */
bool api_upstream_covers(const struct api *a, const char *path);
void api_upstreams_free(struct api *a);

/* An optional filter parameter in SQL: "$2 IS NULL" alone gives PostgreSQL
 * no type to infer for $2, so the test casts it. */
#define API_SQL_UNSET(param, type) "CAST(" param " AS " type ") IS NULL"

/* ------------------------------------------------------- validation */

/* The first problem found in a request body: answered as 422 (or the given
 * status) with a JSON pointer to the field. */
struct api_verr {
	int status;
	char code[48];
	char pointer[128];
	char detail[256];
};

int api_verr_set(struct api_verr *e, int status, const char *code, const char *pointer,
		 const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void api_reply_verr(struct api_ctx *ctx, const struct api_verr *e);
/* Answers a store failure: 409 on a conflict, 503 when down, 500 otherwise. */
void api_reply_store_error(struct api_ctx *ctx, int rc, const char *what);

enum api_ftype {
	API_F_STR,
	API_F_INT,
	API_F_BOOL,
	API_F_ENUM, /* choices "a|b|c" */
	API_F_JSON, /* an array or object kept as JSON text */
};

enum api_fflag {
	API_F_REQUIRED = 1 << 0,  /* must be given on create */
	API_F_READONLY = 1 << 1,  /* set by the server; refused in bodies */
	API_F_WRITEONLY = 1 << 2, /* accepted, never shown (passwords, secrets) */
	API_F_IMMUTABLE = 1 << 3, /* given on create, refused in PATCH */
	API_F_NULLABLE = 1 << 4,  /* null is a value */
	API_F_URL = 1 << 5,       /* a URL: shown with its password masked (url_redact) */
};

struct api_field;

/* A field's own check: may rewrite *val (steal the old, store a new
 * reference), e.g. a password into its HA1 hash; returns 0 or fills e. */
typedef int (*api_field_check_fn)(struct api_ctx *ctx, const struct api_field *f, json_t **val,
				  struct api_verr *e);

struct api_field {
	const char *name;   /* JSON member */
	const char *column; /* NULL: same as name */
	enum api_ftype type;
	unsigned flags;
	int64_t min, max;    /* ints: value range; strings: length (max 0 = 255) */
	const char *choices; /* API_F_ENUM */
	api_field_check_fn check;
};

/* True when v is one of choices ("a|b|c"). */
bool api_in_choices(const char *choices, const char *v);
/* Checks one value against its field's type, range and check function. */
int api_field_validate(struct api_ctx *ctx, const struct api_field *f, json_t **val,
		       struct api_verr *e);

/* Shared checks (check.c). */
bool api_is_digits(const char *s, size_t min, size_t max);
bool api_is_e164(const char *s);
/* An IPv4 or IPv6 address as inet_pton reads it: no port, no brackets. */
bool api_is_ip_literal(const char *s);
bool api_is_host(const char *s);
/* Printable ASCII without spaces (0x21 to 0x7e). */
bool api_is_printable(const char *s);
/* An api_check_list entry: a string of 1 to 64 printable characters
 * without spaces (a customer's label, a connector's failover error). */
int api_check_word_entry(struct api_ctx *ctx, const json_t *v, const char *ptr, struct api_verr *e);
int api_check_list(struct api_ctx *ctx, const struct api_field *f, const json_t *list,
		   size_t max, int (*each)(struct api_ctx *ctx, const json_t *v, const char *ptr,
					   struct api_verr *e),
		   struct api_verr *e);
const json_t *api_member(const json_t *obj, const char *name, const char *ptr, char *out, size_t n);
int api_check_int_member(const json_t *obj, const char *name, const char *ptr, int64_t min,
			 int64_t max, bool required, struct api_verr *e);
int api_check_members(const json_t *obj, const char *ptr, const char *allowed,
		      struct api_verr *e);
/* Refuses (409 acl_conflict) an ACL entry of the trunk obj (as it will be
 * stored) that a trunk other than id (NULL on create) claims with the same
 * network, port and tech_prefix (trunk_acl.c). */
/* Digest credentials of obj (a trunk or a trunk's device) as they will be
 * stored (trunks.c): a password becomes its MD5 and SHA-256 HA1s
 * ("password", "password_sha256"), realm "warp" unless given; a new username
 * or realm needs the password again; a null username clears them all. */
int api_digest_credentials(struct api_ctx *ctx, json_t *obj, struct api_verr *e);
int api_trunk_acl_unclaimed(struct api_ctx *ctx, const char *id, const json_t *obj,
			    struct api_verr *e);
int api_check_tech_prefix(struct api_ctx *ctx, const struct api_field *f, json_t **val,
			  struct api_verr *e);
/* A host name or an IP address without a port ("invalid_host"). */
int api_check_host(struct api_ctx *ctx, const struct api_field *f, json_t **val,
		   struct api_verr *e);
/* SMPP 3.4 §5.2.1: system_id is a C-Octet String of at most 16 octets,
 * password of at most 9 and system_type of at most 13, the terminating NUL
 * included. */
#define API_SMPP_SYSTEM_ID_MAX 15
#define API_SMPP_PASSWORD_MAX 8
#define API_SMPP_SYSTEM_TYPE_MAX 12
/* An SMPP system_id (SMPP 3.4 §5.2.1): printable ASCII ("invalid_system_id");
 * the field's max gives its length. */
int api_check_system_id(struct api_ctx *ctx, const struct api_field *f, json_t **val,
			struct api_verr *e);
/* A webhook or callback URL at pointer (webhooks.c): http(s), and no
 * literal non-public address unless [webhooks] allow_private. */
int api_check_webhook_url(struct api_ctx *ctx, const char *url, const char *pointer,
			  struct api_verr *e);
/* The customer a new row belongs to: the caller's own, or for admins the
 * one body's customer_id names, which must exist (resource.c). */
int api_body_customer(struct api_ctx *ctx, const json_t *body, const char **out,
		      struct api_verr *e);
/* A field naming a row of table, which must exist: 422 with code at the
 * field's pointer, "no <what> <id>", otherwise. */
int api_check_exists(struct api_ctx *ctx, const struct api_field *f, const char *table,
		     const char *code, const char *what, const json_t *val, struct api_verr *e);

/* ------------------------------------------------------- resources */

enum api_scope {
	API_SCOPE_ADMIN,    /* carriers, routes: admins only (403 otherwise) */
	API_SCOPE_CUSTOMER, /* rows carry customer_id; customers see their own */
	API_SCOPE_SELF,	    /* customers: a customer sees only itself */
};

struct api_resource {
	const char *name; /* singular, for events and errors: "trunk" */
	const char *path; /* collection path: "/api/v1/trunks" */
	const char *table;
	const char *id_prefix; /* "trk" */
	enum api_scope scope;
	/* Nested collections (a carrier's gateways): the path parameter that
	 * names the parent and the column that holds it. */
	const char *parent_param;
	const char *parent_column;
	const struct api_resource *parent;
	const struct api_field *fields;
	size_t nfields;
	/* Cross-field and referential checks on the object as it will be
	 * stored (create: the body; patch: the stored row merged with it). */
	int (*validate)(struct api_ctx *ctx, const char *id, json_t *obj, bool creating,
			struct api_verr *e);
	/* Refuses a delete (409) while something depends on the row. */
	int (*can_delete)(struct api_ctx *ctx, const char *id, struct api_verr *e);
	/* Runs inside a delete's transaction before the row goes: writes the
	 * events of the rows that go with it (a carrier's gateways). */
	int (*before_delete)(struct api_ctx *ctx, const char *id);
	/* Handlers replacing the generic create or delete (arg: the resource). */
	http_handler_fn create;
	http_handler_fn destroy;
};

static inline const char *api_field_column(const struct api_field *f)
{
	return f->column ? f->column : f->name;
}

static inline bool api_res_has_customer(const struct api_resource *res)
{
	return res->scope == API_SCOPE_CUSTOMER;
}

/* ------------------------------------------------ statements (sql.c) */

#define API_SQL_MAX_PARAMS 48

/* The SQL text and parameters of one statement under construction. */
struct api_sql {
	struct buf text;
	struct store_param params[API_SQL_MAX_PARAMS];
	char *owned[API_SQL_MAX_PARAMS]; /* texts this statement allocated */
	size_t n;
};

void api_sql_init(struct api_sql *q);
void api_sql_fini(struct api_sql *q);
/* Adds a parameter, taking ownership of owned (freed with the statement). */
int api_sql_bind(struct api_sql *q, struct store_param p, char *owned);
/* Adds a parameter and writes its placeholder ("$3") into the text. */
int api_sql_param(struct api_sql *q, struct store_param p, char *owned);

/* ------------------------------------------------ reading rows (rows.c) */

/* "SELECT id, customer_id, …, created_at, updated_at FROM t" appended to b. */
int api_rows_select(struct buf *b, const struct api_resource *res);
/* " WHERE …" restricting to rows the caller may see (and the parent). */
int api_rows_scope(struct api_ctx *ctx, const struct api_resource *res, struct api_sql *q);
/* One row, laid out by api_rows_select, as a JSON object. */
json_t *api_row_json(const struct api_resource *res, const struct store_res *r, size_t row);
/* {"data":{…}} for the row as text: 1 when found, 0 when absent or not
 * visible, negative on failure. */
int api_resource_load_text(struct api_ctx *ctx, const struct api_resource *res, const char *id,
			   struct buf *out);

/* GET …/{id} of a table whose rows carry customer_id (events, CDRs): the
 * row with the path's id, a customer seeing only its own; columns is
 * "SELECT … FROM table"; render turns the row into JSON; 404 when absent. */
typedef json_t *(*api_row_render_fn)(const struct store_res *r, size_t row, void *arg);
void api_reply_owned_row(struct api_ctx *ctx, const char *columns, const char *what,
			 api_row_render_fn render, void *arg);

/* Adds the five routes of res to r. */
int api_resource_routes(struct api *a, struct http_router *r, const struct api_resource *res);

/* Reads one row of res visible to the caller as JSON; NULL when absent or
 * not visible (the caller answers 404). */
json_t *api_resource_load(struct api_ctx *ctx, const struct api_resource *res, const char *id);

/* Inside a transaction the caller began: emits "<name>.<verb>" with row as
 * data, records a create's response for its Idempotency-Key, and commits;
 * rolls back on failure.  row is borrowed. */
int api_resource_finish_write(struct api_ctx *ctx, const struct api_resource *res, const char *id,
			      const char *verb, json_t *row);

/* True when a row of table with this id exists and, for customer callers,
 * belongs to them (customer_col may be NULL for admin-only tables). */
bool api_row_visible(struct api_ctx *ctx, const char *table, const char *customer_col,
		     const char *id);

/* ----------------------------------------------------------- events */

/* Writes an event into the outbox inside the caller's transaction and bumps
 * the config version, whose new value orders the event.  data is borrowed. */
int api_event_emit(struct api_ctx *ctx, const char *customer_id, const char *type,
		   const char *resource_id, const json_t *data);
/* GET /api/v1/events and /api/v1/events/{id}. */
int api_events_routes(struct http_router *r);
/* GET /api/v1/webhooks/{id}/deliveries (deliveries.c). */
int api_deliveries_routes(struct http_router *r);
/* PUT, GET and DELETE /api/v1/customers/{id}/callback-secret: the key
 * that signs deliveries to messages' callback URLs (callback_secret.c). */
int api_callback_secret_routes(struct http_router *r);
/* GET /api/v1/cdrs and /api/v1/cdrs/{id} (cdrs.c). */
int api_cdrs_routes(struct http_router *r);
/* POST, GET /api/v1/messages and GET /api/v1/messages/{id} (messages.c). */
int api_messages_routes(struct http_router *r);
/* A customer's balance-transactions, balance and ledger (balances.c). */
int api_balances_routes(struct http_router *r);
/* sip_bans.c: GET /api/v1/sip/bans */
int api_sip_bans_routes(struct http_router *r);
/* registrations.c: GET /api/v1/trunks/{id}/registrations */
int api_registrations_routes(struct http_router *r);
/* invoices.c: invoice runs and documents, and the invoice gauges. */
int api_invoices_routes(struct api *a, struct http_router *r);
/* export_state.c: GET /api/v1/export, /api/v1/export/quarantine */
int api_export_routes(struct http_router *r);

/* ------------------------------------------------------- idempotency */

/* For POST with an Idempotency-Key: true when the request was answered from
 * a stored response (or refused with 409) and the handler must stop. */
bool api_idempotency_replay(struct api_ctx *ctx);
/* Records the response to the request's Idempotency-Key (if any) inside the
 * caller's transaction, so the change and its record commit together. */
int api_idempotency_record(struct api_ctx *ctx, int status, const json_t *body);
/* The same record as statements of a batch entry (store_batch_add_group),
 * for a change written through the batching writer: the removal of an
 * expired record under the key, then the record; 2 (the statements in
 * out->stmts), 0 when the request has no key, negative on failure.  The
 * entry then fails with STORE_ECONFLICT when a concurrent request with the
 * key committed first.  out->text is freed by api_idem_stmt_fini. */
#define API_IDEM_STMTS 2
struct api_idem_stmt {
	struct store_batch_stmt stmts[API_IDEM_STMTS];
	struct store_param del[3];
	struct store_param params[6];
	char *text;
};
int api_idempotency_batch_stmt(struct api_ctx *ctx, int status, const json_t *body,
			       struct api_idem_stmt *out);
static inline void api_idem_stmt_fini(struct api_idem_stmt *s)
{
	free(s->text);
	s->text = NULL;
}

/* ------------------------------------------------------- pagination */

struct api_page {
	int64_t limit;	   /* 1..API_PAGE_MAX */
	const char *after; /* NULL for the first page */
};

#define API_PAGE_DEFAULT 50
#define API_PAGE_MAX 500

/* Reads limit/after from the query; answers 400 itself on bad values. */
int api_page_parse(struct api_ctx *ctx, struct api_page *p);
/* The cursor of a list paged by seq (events, deliveries): 0 for the first
 * page; answers 400 itself when it is not one. */
int api_page_after_seq(struct api_ctx *ctx, const struct api_page *p, int64_t *after);
/* {"data": items, "next_cursor": …}: items holds up to limit+1 rows; the
 * extra one only tells that another page exists; the cursor is the member
 * key_name of the last row kept.  Steals items. */
void api_page_reply(struct api_ctx *ctx, const struct api_page *p, json_t *items,
		    const char *key_name);
/* The page of a list query whose result was rc and r: each row through
 * render, or the store error (what names the resource). */
typedef json_t *(*api_page_render_fn)(const struct store_res *r, size_t row);
void api_page_reply_rows(struct api_ctx *ctx, const struct api_page *p, int rc,
			 const struct store_res *r, api_page_render_fn render, const char *what,
			 const char *key_name);

/* ------------------------------------------------- resource tables */

/* Validates every member of a request body against res, in place (field
 * types and checks; the resource's validate hook, which may read the
 * store, is not run).  creating says whether required fields must be
 * present and immutable ones may be.  0, or e filled and negative. */
int api_body_validate(struct api_ctx *ctx, const struct api_resource *res, json_t *body,
		      bool creating, struct api_verr *e);

extern const struct api_resource api_customers;
extern const struct api_resource api_trunks;
extern const struct api_resource api_trunk_devices;
extern const struct api_resource api_carriers;
extern const struct api_resource api_gateways;
extern const struct api_resource api_routes;
extern const struct api_resource api_numbers;
extern const struct api_resource api_webhooks;
extern const struct api_resource api_keys;
extern const struct api_resource api_smpp_accounts;
extern const struct api_resource api_message_routes;
extern const struct api_resource api_smpp_connectors;
extern const struct api_resource api_rate_decks;
/* US 10DLC (campaigns.c, opt_outs.c, content_rules.c; decision 0041). */
extern const struct api_resource api_brands;
extern const struct api_resource api_campaigns;
extern const struct api_resource api_campaign_numbers;
extern const struct api_resource api_opt_outs;
extern const struct api_resource api_content_rules;
/* POST /api/v1/opt-out-imports (opt_outs.c). */
int api_opt_outs_routes(struct http_router *r);
/* The portability table and POST /api/v1/carrier-prefix-imports
 * (carrier_prefixes.c; decision 0050). */
extern const struct api_resource api_carrier_prefixes;
int api_carrier_prefixes_routes(struct http_router *r);
/* POST /api/v1/messages/{id}/release (message_release.c; decision 0050). */
int api_message_release_routes(struct http_router *r);

/* ------------------------------------------------------- rate decks */

/* ISO 4217: three upper-case letters ("invalid_value" at /currency). */
int api_check_currency(struct api_ctx *ctx, const struct api_field *f, json_t **val,
		       struct api_verr *e);

/* Where a deck is being assigned, for api_deck_assignable. */
struct api_deck_use {
	const char *direction;	      /* "sell" or "buy" */
	const char *currency;	      /* the customer's currency; NULL: any (a carrier's) */
	const char *owner;	      /* the customer's or carrier's id; NULL on create */
	const char *pointer;	      /* the member naming the deck: "/sell_deck_id" */
	const char *currency_pointer; /* where a currency mismatch is reported */
};

/* 0 when deck (a JSON string, or null for none) names a rate deck of the
 * use's direction and currency that is shared or kept for the use's owner;
 * otherwise e filled (422 not_found, wrong_direction, currency_mismatch,
 * not_owner; 503) and negative (rate_decks.c). */
int api_deck_assignable(struct api_ctx *ctx, const json_t *deck, const struct api_deck_use *use,
			struct api_verr *e);
/* The versions of a deck: list, one, activate, rows (deck_versions.c). */
int api_deck_versions_routes(struct http_router *r);
/* POST …/rate-decks/{id}/versions with the CSV body (deck_import.c). */
void api_deck_import(struct http_req *req, void *arg);
/* GET …/versions/{number}/preview (deck_preview.c). */
void api_deck_preview(struct http_req *req, void *arg);
/* The version with this id as JSON (its state as of now), or NULL. */
json_t *api_deck_version_load(struct api_ctx *ctx, const char *id);
/* The version {number} of deck {id} of the request: its row (columns as
 * api_deck_version_load reads them) in *r and 1 when found; 0 after
 * answering 404, negative after answering a store error.  Free *r always. */
int api_deck_version_find(struct api_ctx *ctx, struct store_res **r);
/* The number of the deck's version in force at now (0: none). */
int api_deck_active_number(struct api_ctx *ctx, const char *deck, int64_t now, int64_t *number);

/* ------------------------------------------------------- ratings */

/* cdrs.c: what the billing role made of a CDR or message part (the
 * columns of cdr_ratings / message_ratings of migration 0025 a query
 * selects with API_RATING_COLUMNS(alias), from column `first`) as the
 * "rating" object: state and the sell price with its currency and zone for
 * anyone; reason, side, buy cost, margin, prefix, destination and deck
 * versions for admins. */
#define API_RATING_COLUMNS(t)                                                                      \
	t ".state, " t ".reason, " t ".side, " t ".currency, " t ".sell, " t ".buy_currency, " t  \
	".buy, " t ".margin, " t ".prefix, " t ".zone, " t ".destination, " t ".sell_deck_id, " t \
	".sell_deck_version, " t ".buy_deck_id, " t ".buy_deck_version, " t ".ratings, " t      \
	".rated_at"
#define API_RATING_NCOLUMNS 17
json_t *api_rating_json(const struct store_res *r, size_t row, size_t first, bool admin);

#endif
