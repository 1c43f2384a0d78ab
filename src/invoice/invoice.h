/*
 * invoice.h — customers' invoices made from the ledger, and their delivery
 * to NetSuite as SuiteTalk REST records (docs/decisions/0040).
 *
 * A period is a calendar month in UTC ("2026-11").  Once it has ended
 * (plus [invoice] close_delay) it is closed: a run issues one invoice per
 * customer with ledger entries in it, lines by zone for calls (count,
 * billable minutes, amount) and SMS (segments, amount), one line per
 * adjustment or refund text, and beside them the payments (top-ups) and
 * the opening and closing balances.  An issued document never changes.  A
 * rerun recomputes the period: when nothing differs it changes nothing;
 * when the ledger's entries of the period differ from what was issued (a
 * charge posted late with the call's time, a correction) it issues one
 * credit note (or debit note) for the difference, so the documents of a
 * period always add up to what its ledger says.
 *
 * Amounts are micro-units; each line is rounded once to the currency's
 * decimals (half away from zero) and a document's total is the sum of its
 * rounded lines, so the printed lines add up to the printed total.
 *
 * Nothing here is for a hot path: every function takes the calling
 * thread's store connection and may run many queries.
 */
#ifndef WARP_INVOICE_H
#define WARP_INVOICE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/core.h"
#include "store/store.h"

#define INVOICE_PERIOD_LEN 8  /* "2026-11" and its NUL */
#define INVOICE_TEXT_MAX 200  /* a line's zone or description, a customer's name */
#define INVOICE_NUMBER_MAX 24 /* "INV-000001" */
#define INVOICE_EXTID_MAX 96  /* "WARP-cus_…-202611-0" */
#define INVOICE_ERROR_MAX 512
#define INVOICE_LINES_MAX 10000 /* distinct lines of one document */

enum invoice_err {
	INVOICE_EPERIOD = -3001,     /* not YYYY-MM */
	INVOICE_EOPEN = -3002,	     /* the period has not closed yet */
	INVOICE_ENOCUSTOMER = -3003, /* no such customer */
	INVOICE_ETOOMANY = -3004,    /* more than INVOICE_LINES_MAX lines */
	INVOICE_ENOTFOUND = -3005,   /* no such document */
};
const char *invoice_strerror(int err);

/* ------------------------------------------------------------- periods */

struct invoice_period {
	char name[INVOICE_PERIOD_LEN]; /* "2026-11" */
	int year, month;
	int64_t start_ms, end_ms; /* [start, end) in UTC */
};

/* "YYYY-MM" (years 2000-9999) into p; 0 or INVOICE_EPERIOD. */
int invoice_period_parse(const char *s, struct invoice_period *p);
/* The period's last day, "2026-11-30" (out >= 11 bytes). */
void invoice_period_last_day(const struct invoice_period *p, char *out, size_t n);
/* "Nov 2026", NetSuite's default name of the accounting period. */
void invoice_period_label(const struct invoice_period *p, char *out, size_t n);

/* ------------------------------------------------------------ documents */

enum invoice_kind { INVOICE_KIND_INVOICE = 0, INVOICE_KIND_CREDIT_NOTE, INVOICE_KIND_DEBIT_NOTE };
enum invoice_line_kind {
	INVOICE_LINE_CALLS = 0,
	INVOICE_LINE_SMS,
	INVOICE_LINE_ADJUSTMENT,
	INVOICE_LINE_REFUND,
};
const char *invoice_kind_name(enum invoice_kind k);	      /* "invoice", … */
const char *invoice_line_kind_name(enum invoice_line_kind k); /* "calls", … */

/* One line.  A line is named by (kind, text): text is the zone of calls
 * and SMS ("" when the zone is unknown), the entry's description of an
 * adjustment or refund. */
struct invoice_line {
	enum invoice_line_kind kind;
	char text[INVOICE_TEXT_MAX + 1];
	int64_t count;	     /* calls, SMS segments, or entries */
	int64_t billable_ms; /* calls: the billed duration */
	int64_t amount;	     /* micro-units owed: charges > 0, credits < 0 */
	int64_t amount_rounded;
};

struct invoice_netsuite {
	char state[12];	    /* "pending", "sent", "failed" */
	char record_id[64]; /* NetSuite's internal id, from the Location of the 204 */
	char error[INVOICE_ERROR_MAX];
	int64_t attempts;
	int64_t sent_at; /* ms; 0 before the first success */
	int64_t next_at; /* ms: not sent again before (backoff or a sender's lease) */
	char file[256];	 /* a dry run's: where the request body was written */
};

struct invoice {
	char id[ID_MAX];		 /* "inv_…"; "" for a preview */
	char number[INVOICE_NUMBER_MAX]; /* "INV-000001", "CN-000002"; "" for a preview */
	int64_t number_seq;		 /* the number's 1, 2, 3 … (the lists' cursor) */
	enum invoice_kind kind;
	char customer_id[ID_MAX];
	char customer_name[INVOICE_TEXT_MAX + 1];
	struct invoice_period period;
	int64_t seq;		  /* 0 the invoice, 1, 2 … its corrections */
	char corrects_id[ID_MAX]; /* a note: the invoice it corrects */
	char corrects_number[INVOICE_NUMBER_MAX];
	char external_id[INVOICE_EXTID_MAX]; /* NetSuite's externalId */
	char currency[4];
	int decimals; /* the currency's */
	/* Exact micro-units.  Opening and closing: the sum of the customer's
	 * entries before the period's start and end; payments: its top-ups. */
	int64_t opening_balance, payments, closing_balance;
	int64_t total;	 /* the sum of the lines' amount_rounded */
	int64_t entries; /* ledger entries the period holds */
	int64_t issued_at;
	struct invoice_netsuite netsuite;
	struct invoice_line *lines;
	size_t nlines, cap;
};

void invoice_init(struct invoice *inv);
void invoice_fini(struct invoice *inv);

/* Computes the period's invoice of a customer from the ledger (not
 * stored: id and number stay "").  0, INVOICE_ENOCUSTOMER, or a store
 * code. */
int invoice_compute(struct store_conn *c, const char *customer_id, const struct invoice_period *p,
		    struct invoice *out);

/* Reads a stored document with its lines and NetSuite state; 0 or
 * INVOICE_ENOTFOUND or a store code. */
int invoice_load(struct store_conn *c, const char *id, struct invoice *out);

/* The stored documents a filter selects, newest first, without lines. */
struct invoice_filter {
	const char *customer_id; /* NULL: all */
	const char *period;	 /* NULL: all */
	const char *ns_state;	 /* NULL: all; "pending", "sent", "failed" */
	bool unsent;		 /* only documents pending or failed */
	int64_t before_seq;	 /* number_seq < this; 0: from the newest */
	int64_t limit;
};
typedef int (*invoice_each_fn)(const struct invoice *inv, void *arg);
int invoice_list(struct store_conn *c, const struct invoice_filter *f, invoice_each_fn each,
		 void *arg);

/* ----------------------------------------------------------------- runs */

struct invoice_opts {
	int64_t close_delay_ms;					  /* [invoice] close_delay */
	const char *issuer_name, *issuer_address, *issuer_tax_id; /* [invoice] issuer_* */
};

/* What a run did for one customer. */
enum invoice_action {
	INVOICE_ISSUED = 0, /* a new invoice */
	INVOICE_UNCHANGED,  /* issued before, the ledger agrees */
	INVOICE_CORRECTED,  /* issued before; a credit or debit note for the difference */
	INVOICE_FAILED,
	INVOICE_EMPTY, /* no entries and no documents: nothing issued */
};
const char *invoice_action_name(enum invoice_action a);

struct invoice_outcome {
	enum invoice_action action;
	char customer_id[ID_MAX];
	struct invoice doc; /* issued, the correction, or the invoice unchanged */
	char error[INVOICE_ERROR_MAX];
};

struct invoice_run {
	char id[ID_MAX]; /* "ivr_…"; "" for a dry run */
	struct invoice_period period;
	bool dry_run;
	int64_t started_at, finished_at;
	struct invoice_outcome *outcomes;
	size_t n, cap;
	int64_t failures; /* outcomes failed, and NetSuite deliveries failed */
};

/* Runs the period for one customer (customer_id) or for every customer
 * with entries in it or documents of it.  A dry run computes the same but
 * writes nothing.  A period not yet closed is INVOICE_EOPEN, a bad or
 * unknown customer INVOICE_ENOCUSTOMER; per-customer failures are
 * outcomes.  The run is recorded (invoice_runs) unless dry. */
int invoice_run(struct store_conn *c, const struct invoice_opts *o, const char *period,
		const char *customer_id, bool dry_run, int64_t now_ms, struct invoice_run *run);
void invoice_run_fini(struct invoice_run *run);
/* Records the run's end (finished_at, failures) after its deliveries. */
int invoice_run_finish(struct store_conn *c, struct invoice_run *run, int64_t now_ms);

/* ----------------------------------------------------------- rendering */

/* The document as the API's JSON (lines included when it has them). */
json_t *invoice_json(const struct invoice *inv);
json_t *invoice_run_json(const struct invoice_run *run);
/* A printable HTML document, every text escaped. */
int invoice_html(const struct invoice *inv, const struct invoice_opts *o, struct buf *out);

/* State for /metrics and the API: the last finished run and the documents
 * whose NetSuite delivery is pending or failed. */
struct invoice_state {
	int64_t last_run_at; /* ms; 0 before any */
	int64_t last_run_failures;
	int64_t ns_pending, ns_failed;
};
int invoice_state_get(struct store_conn *c, struct invoice_state *out);
/* The last `limit` recorded runs, newest first, as a JSON array. */
int invoice_runs_json(struct store_conn *c, int64_t limit, json_t **out);

/* ------------------------------------------------------------- NetSuite */

/*
 * NetSuite SuiteTalk REST: each document is PUT to
 * <base_url>/services/rest/record/v1/<invoice|creditMemo>/eid:<externalId>,
 * an upsert by external id, so a retry never makes a second record; the
 * request is signed with OAuth 1.0a token-based authentication
 * (HMAC-SHA256, RFC 5849, realm = the account id).
 */
struct netsuite_opts {
	const char *account_id; /* "1234567_SB1"; NULL or "": NetSuite is off */
	const char *base_url;	/* "": https://<account>.suitetalk.api.netsuite.com */
	const char *consumer_key, *consumer_secret, *token_id, *token_secret;
	const char *entity_map; /* "cus_…=1234,cus_…=5678": customer to entity id */
	const char *item_map;	/* "Zone=201,…": a zone to an item id */
	const char *calls_item, *sms_item, *adjustment_item; /* items for what item_map lacks */
	const char *ca_file; /* CA bundle for the server's certificate; NULL: system */
	int64_t timeout_ms;
	const char *dry_run_dir; /* where --dry-run writes the request bodies */
	/* After a failed delivery the document waits retry_base doubled per
	 * attempt failed, at most retry_max (with jitter), kept in the store
	 * (netsuite_next_at) so a restart waits the same. */
	int64_t retry_base_ms, retry_max_ms;
	/* set: a request in flight is abandoned (the billing role stopping);
	 * NULL: none.  The document stays unsent and goes again. */
	atomic_bool *stop;
};

/* RFC 5849 §3.6 percent-encoding of s appended to out. */
int netsuite_pct_encode(struct buf *out, struct str s);

/* The pieces of one signature (RFC 5849 §3.4.1). */
struct netsuite_oauth {
	const char *realm, *consumer_key, *consumer_secret, *token_id, *token_secret;
	const char *timestamp, *nonce;
};
/* The signature base string of method and url (no query). */
int netsuite_oauth_base_string(const struct netsuite_oauth *o, const char *method, const char *url,
			       struct buf *out);
/* The base64 HMAC-SHA256 signature of the base string. */
int netsuite_oauth_sign(const struct netsuite_oauth *o, const char *base, char *out, size_t n);
/* The value of the Authorization header: "OAuth realm=…, …". */
int netsuite_oauth_header(const struct netsuite_oauth *o, const char *method, const char *url,
			  struct buf *out);

/* Value of key in a "k=v,k=v" map, copied into out; false when absent. */
bool netsuite_map_get(const char *map, const char *key, char *out, size_t n);

/* The record type ("invoice" or "creditMemo"), URL and JSON body of a
 * document; -ENOENT with a reason in err when the mapping lacks its
 * customer or an item. */
int netsuite_request(const struct netsuite_opts *o, const struct invoice *inv, struct buf *url,
		     struct buf *body, char *err, size_t errlen);

/* What NetSuite answered a PUT (status, the Location header's value, the
 * body of len bytes, not NUL-terminated): 0 with the record's internal id
 * (the Location's last path segment) for a 2xx naming one, else -EIO with
 * the reason in err: "HTTP 400: " and NetSuite's o:errorDetails[0].detail
 * (or its title). */
int netsuite_answer_read(long status, const char *location, const char *body, size_t len,
			 char *record_id, size_t idn, char *err, size_t errn);

/* Sends one document (PUT by external id) and records the outcome in the
 * store (invoices.netsuite_*); dry: the body written to
 * <dry_run_dir>/<externalId>.json instead, nothing recorded.  0 when
 * accepted (or written), a negative code with the reason in inv->netsuite. */
int netsuite_send(struct store_conn *c, const struct netsuite_opts *o, struct invoice *inv,
		  bool dry, int64_t now_ms);

/* The wait before attempt attempts + 1 after attempts failed ones (>= 1):
 * base doubled per failure, at most max, the second half random by rnd
 * ("equal jitter", so documents that failed together are spread out). */
int64_t netsuite_retry_delay(int64_t attempts, int64_t base_ms, int64_t max_ms, uint32_t rnd);

/*
 * The billing role's NetSuite delivery (docs/decisions/0054): one thread
 * with its own store connection that sends every document NetSuite has not
 * accepted once it is due (netsuite_next_at), however it was issued — by
 * `warp invoice run` or POST /api/v1/invoice-runs.  Each document is
 * claimed first (its next_at moved on by a lease, only if no one moved it
 * meanwhile), so two billing processes never send one at the same time;
 * the PUT is an upsert by external id, so a send repeated after a crash
 * updates the record it made.  A failure waits netsuite_retry_delay.
 *
 *   struct netsuite_sender *s = netsuite_sender_new(&opts);
 *   netsuite_sender_start(s);  ...  netsuite_sender_free(s);  (stops, joins)
 */
struct netsuite_sender_opts {
	struct store *store;
	struct netsuite_opts ns; /* its strings must outlive the sender */
	int64_t poll_ms;	 /* how often due documents are looked for */
};
struct netsuite_sender;
struct netsuite_sender *netsuite_sender_new(const struct netsuite_sender_opts *o);
int netsuite_sender_start(struct netsuite_sender *s);
void netsuite_sender_free(struct netsuite_sender *s);
/* One pass on the calling thread's connection: sends up to `max` due
 * documents; the number sent (accepted or not), or a store code. */
int netsuite_sender_pass(struct store_conn *c, const struct netsuite_opts *o, int64_t now_ms,
			 int max);

#endif
