/*
 * role_private.h — private to src/billing: what the billing role's files
 * share (role.c runs the passes, role_cdr.c and role_msg.c rate one kind
 * of record each, role_charge.c posts a rated record to the ledger).
 */
#ifndef WARP_BILLING_ROLE_PRIVATE_H
#define WARP_BILLING_ROLE_PRIVATE_H

#include "billing.h"

/* What one pass of one kind did. */
struct role_pass {
	int64_t rated, quarantined;
	int64_t oldest_ms; /* created_at of the oldest record written; 0 if none */
	bool full;	   /* a whole batch was found: more may be waiting */
	/* bulk postings by kind, counted once the batch committed */
	int64_t posted[BILLING_ENTRY_KINDS], found[BILLING_ENTRY_KINDS],
	    refused[BILLING_ENTRY_KINDS];
};

/* role_cdr.c, role_msg.c: one batch of pending (then newly retriable
 * quarantined) records of r's version, in one transaction.  0 or a
 * negative store code (the batch rolled back, tried again next pass). */
int role_cdr_pass(struct store_conn *c, const struct billing_rating *r, int64_t version,
		  const struct billing_role_opts *o, struct role_pass *out);
int role_msg_pass(struct store_conn *c, const struct billing_rating *r, int64_t version,
		  const struct billing_role_opts *o, struct role_pass *out);

/* role_cdr.c, SQLite only: a batch of pending CDRs read and priced ahead,
 * outside the transaction that writes the batch before it (role_pipe.c,
 * decision 0052). */
struct role_cdr_batch;
/* The next up to batch pending CDRs of r's version after cursor
 * (rating_version, rowid), which moves past them; *out NULL when none,
 * *full when a whole batch was found.  0 or a store code. */
int role_cdr_read(struct store_conn *c, const struct billing_rating *r, int64_t version, int batch,
		  int64_t cursor[2], struct role_cdr_batch **out, bool *full);
/* In one transaction: the batch's CDRs whose rows are still as read
 * charged and written, the others (rated or re-queued meanwhile) left for
 * a later pass.  0 or a store code (rolled back). */
int role_cdr_commit(struct store_conn *c, const struct billing_role_opts *o,
		    struct role_cdr_batch *b, struct role_pass *out);
void role_cdr_batch_free(struct role_cdr_batch *b);

/* SQLite: a batch reads CDRs, ratings and ledger pages all over the file;
 * the role's connections (the rater's, the read-ahead's) keep 64 MiB of
 * them instead of the 2 MB default. */
#define ROLE_SQLITE_CACHE "PRAGMA cache_size = -65536"

/* role_pipe.c: on SQLite, with a backlog, pending CDR batches read and
 * priced on a second thread with its own connection while this one writes
 * the previous batch; until a batch comes short or stop(arg).  Adds what
 * it wrote to *written; 0 or a store code. */
int role_pipe_drain(const struct billing_role_opts *o, struct store_conn *c, bool (*stop)(void *),
		    void *arg, int64_t *written);
/* role.c: the metrics of one pass (role_count for "cdr" and the lag). */
void role_pass_metrics(const struct role_pass *cdr, const struct role_pass *msg);

/* A rated record's money for the ledger (role_charge.c). */
struct role_charge {
	const char *customer_id;
	const char *reference_type; /* "cdr", "message" */
	const char *key;	    /* "cdr:<id>", "msg:<group id>" */
	const char *reference_id;
	enum billing_entry_kind kind; /* BILLING_CALL_CHARGE or BILLING_MESSAGE_CHARGE */
	int64_t sell;		      /* the new price */
	int64_t charged;	      /* in: what the ledger holds; out: after the post */
	int64_t ratings;	      /* successful ratings before this one */
	const char *zone, *destination;
};

/* Inside the caller's transaction: the first rating posts the charge (or
 * finds the one prepaid settlement posted under the same key), a re-rating
 * the difference as an adjustment.  0, a ledger code (the record is
 * quarantined as ledger_refused; nothing of it was written) or a store
 * code (the caller rolls the batch back). */
int role_charge_post(struct store_conn *c, const struct billing_ledger_opts *o,
		     struct role_charge *ch);
/* True for a code role_charge_post gives for the record alone. */
bool role_charge_refused(int rc);

/* role.c: the columns of a rated record, set from parameters $2 … $17
 * ($1 is the row's id) that role_price_params fills into v[1 …]. */
#define ROLE_PRICE_PARAMS 17
#define ROLE_PRICE_SET                                                                             \
	"state = 'rated', reason = NULL, side = NULL, currency = $2, sell = $3, "                  \
	"buy_currency = $4, buy = $5, margin = $6, prefix = $7, zone = $8, destination = $9, "     \
	"sell_deck_id = $10, sell_deck_version = $11, buy_deck_id = $12, "                         \
	"buy_deck_version = $13, charged = $14, ratings = $15, rating_version = $16, "             \
	"rated_at = $17"
void role_price_params(const struct billing_rated *p, int64_t charged, int64_t ratings,
		       int64_t version, struct store_param *v);
/* The same columns in role_price_params' order after the id, for a
 * multi-row upsert, and their update from excluded. */
#define ROLE_PRICE_COLUMNS                                                                         \
	"currency, sell, buy_currency, buy, margin, prefix, zone, destination, sell_deck_id, "     \
	"sell_deck_version, buy_deck_id, buy_deck_version, charged, ratings, rating_version, "     \
	"rated_at"
#define ROLE_PRICE_EXCLUDED                                                                        \
	"currency = excluded.currency, sell = excluded.sell, buy_currency = "                      \
	"excluded.buy_currency, buy = excluded.buy, margin = excluded.margin, prefix = "           \
	"excluded.prefix, zone = excluded.zone, destination = excluded.destination, "              \
	"sell_deck_id = excluded.sell_deck_id, sell_deck_version = excluded.sell_deck_version, "   \
	"buy_deck_id = excluded.buy_deck_id, buy_deck_version = excluded.buy_deck_version, "       \
	"charged = excluded.charged, ratings = excluded.ratings, rating_version = "                \
	"excluded.rating_version, rated_at = excluded.rated_at"
/* The quarantine of a row: $1 id, $2 reason, $3 side, $4 rating version. */
#define ROLE_QUARANTINE_SET                                                                        \
	"state = 'quarantined', reason = $2, side = $3, rating_version = $4, rated_at = $5"
/* Records the pass's results in the metrics. */
void role_count(const char *kind, const struct role_pass *p);

/* role_rows.c: head ("INSERT INTO t (a, b)") VALUES (…), … tail ("ON
 * CONFLICT …") for nrows rows of ncols parameters each, params row after
 * row; 0 or a store code. */
#define ROLE_ROWS_CHUNK 64
int role_exec_rows(struct store_conn *c, const char *head, const char *tail, size_t ncols,
		   const struct store_param *params, size_t nrows);

/* role_ledger.c: many postings in the caller's transaction, as
 * billing_ledger_post_locked would post them one by one but with a few
 * statements per customer.  Each post's result: ROLE_POSTED,
 * ROLE_FOUND (an entry had its key already: found_amount is that entry's,
 * nothing posted) or a ledger code (refused: an unknown customer, a
 * currency that is not its balance's, an amount out of range). */
enum { ROLE_POSTED = 0, ROLE_FOUND = 1 };
struct role_post {
	const char *customer_id;
	char key[BILLING_LEDGER_KEY_MAX + 1];
	enum billing_entry_kind kind;
	int64_t amount; /* signed, as the entry's */
	const char *reference_type, *reference_id;
	char description[BILLING_LEDGER_TEXT_MAX + 1];
	/* in: a postpaid call's first charge, which may be folded with the
	 * group's others into one entry (decision 0052) */
	bool foldable;
	int result;
	int64_t found_amount;
	/* filled when posted; folded: the shared entry's, fold_head on the
	 * first of its posts (so the entry is counted once) */
	char id[ID_MAX];
	int64_t seq, balance_after;
	bool folded, fold_head;
};
/* Posts p[0..n) (reordered: sorted by customer).  A customer's foldable
 * posts not found under their keys, two or more, become one call_charge
 * entry for their sum (key "cdrs:<first key's record>", reference type
 * cdr_batch, no reference id): each is then ROLE_POSTED with folded set
 * and that entry's id.  0 or a store code (the caller rolls back). */
int role_ledger_post_many(struct store_conn *c, const struct billing_ledger_opts *o,
			  struct role_post **p, size_t n);

#endif
