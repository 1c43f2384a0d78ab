/*
 * invoice.c — `warp invoice run --period YYYY-MM [--customer ID] [--dry-run]`:
 * issues the closed period's invoices (and credit or debit notes for a
 * changed ledger), then sends every document of the period NetSuite has
 * not accepted yet, one PUT each, reporting failures per document.  With
 * --dry-run nothing is written to the store and no request is sent: the
 * request bodies go to [netsuite] dry_run_dir instead.  It prints the run
 * as JSON (what POST /api/v1/invoice-runs answers) and exits 1 when any
 * document failed, so a scheduler sees it; a rerun retries those.
 */
#include <errno.h>
#include <string.h>

#include "cmd/invoice.h"

int cmd_invoice_args(int argc, char **argv, int first, struct cmd_invoice_args *a,
		     const char **what, const char **arg)
{
	for (int i = first; i < argc; i++) {
		const char *o = argv[i];
		bool more = i + 1 < argc;
		if ((strcmp(o, "-c") == 0 || strcmp(o, "--config") == 0) && more)
			a->config_path = argv[++i];
		else if (strcmp(o, "--period") == 0 && more)
			a->period = argv[++i];
		else if (strcmp(o, "--customer") == 0 && more)
			a->customer = argv[++i];
		else if (strcmp(o, "--dry-run") == 0)
			a->dry_run = true;
		else {
			*what = "unexpected argument";
			*arg = o;
			return -EINVAL;
		}
	}
	if (!a->period) {
		*what = "invoice run needs --period YYYY-MM";
		return -EINVAL;
	}
	return 0;
}

void cmd_invoice_opts(const struct config *cfg, struct invoice_opts *io, struct netsuite_opts *no)
{
	*io = (struct invoice_opts){
	    .close_delay_ms = config_duration_ms(cfg, "invoice", "close_delay"),
	    .issuer_name = config_str(cfg, "invoice", "issuer_name"),
	    .issuer_address = config_str(cfg, "invoice", "issuer_address"),
	    .issuer_tax_id = config_str(cfg, "invoice", "issuer_tax_id"),
	};
	if (!no)
		return;
	*no = (struct netsuite_opts){
	    .account_id = config_str(cfg, "netsuite", "account_id"),
	    .base_url = config_str(cfg, "netsuite", "base_url"),
	    .consumer_key = config_str(cfg, "netsuite", "consumer_key"),
	    .consumer_secret = config_str(cfg, "netsuite", "consumer_secret"),
	    .token_id = config_str(cfg, "netsuite", "token_id"),
	    .token_secret = config_str(cfg, "netsuite", "token_secret"),
	    .entity_map = config_str(cfg, "netsuite", "entity_map"),
	    .item_map = config_str(cfg, "netsuite", "item_map"),
	    .calls_item = config_str(cfg, "netsuite", "calls_item"),
	    .sms_item = config_str(cfg, "netsuite", "sms_item"),
	    .adjustment_item = config_str(cfg, "netsuite", "adjustment_item"),
	    .ca_file = config_str(cfg, "netsuite", "ca_file"),
	    .timeout_ms = config_duration_ms(cfg, "netsuite", "timeout"),
	    .dry_run_dir = config_str(cfg, "netsuite", "dry_run_dir"),
	    .retry_base_ms = config_duration_ms(cfg, "netsuite", "retry_base"),
	    .retry_max_ms = config_duration_ms(cfg, "netsuite", "retry_max"),
	};
}

struct send_ctx {
	struct store_conn *conn;
	const struct netsuite_opts *no;
	struct invoice_run *run;
};

/* The outcome showing doc (by id), to carry its NetSuite state. */
static struct invoice_outcome *outcome_of(struct invoice_run *run, const char *id)
{
	for (size_t i = 0; i < run->n; i++)
		if (strcmp(run->outcomes[i].doc.id, id) == 0)
			return &run->outcomes[i];
	return NULL;
}

/* One stored unsent document of the period, loaded whole and sent. */
static int send_stored(const struct invoice *listed, void *arg)
{
	struct send_ctx *x = arg;
	struct invoice doc;
	int rc;

	invoice_init(&doc);
	rc = invoice_load(x->conn, listed->id, &doc);
	rc = rc ? rc : netsuite_send(x->conn, x->no, &doc, x->run->dry_run, time_wall_ms());
	x->run->failures += rc < 0;
	struct invoice_outcome *o = outcome_of(x->run, doc.id);
	if (o)
		o->doc.netsuite = doc.netsuite;
	invoice_fini(&doc);
	return 0;
}

static void send_all(struct store_conn *c, const struct netsuite_opts *no, struct invoice_run *run,
		     const char *customer)
{
	struct send_ctx x = {c, no, run};
	struct invoice_filter f = {
	    .customer_id = customer, .period = run->period.name, .unsent = true, .limit = 1000000};

	/* A dry run stored nothing: its new documents are sent from memory. */
	for (size_t i = 0; run->dry_run && i < run->n; i++) {
		struct invoice_outcome *o = &run->outcomes[i];
		if (o->action == INVOICE_ISSUED || o->action == INVOICE_CORRECTED)
			run->failures += netsuite_send(c, no, &o->doc, true, run->started_at) < 0;
	}
	if (invoice_list(c, &f, send_stored, &x) < 0)
		run->failures++;
}

int cmd_invoice_run(const struct config *cfg, struct store *s, const struct cmd_invoice_args *a,
		    FILE *out)
{
	struct invoice_opts io;
	struct netsuite_opts no;
	struct invoice_run run;
	struct store_conn *c = store_conn(s);
	int rc;

	cmd_invoice_opts(cfg, &io, &no);
	if (!c) {
		fprintf(stderr, "warp: store: cannot connect\n");
		return 1;
	}
	rc = invoice_run(c, &io, a->period, a->customer, a->dry_run, time_wall_ms(), &run);
	if (rc < 0) {
		fprintf(stderr, "warp: invoice run %s%s%s: %s\n", a->period,
			a->customer ? " for " : "", a->customer ? a->customer : "",
			invoice_strerror(rc));
		invoice_run_fini(&run);
		return 1;
	}
	if (a->dry_run || no.account_id[0])
		send_all(c, &no, &run, a->customer);
	else
		fprintf(stderr,
			"warp: [netsuite] account_id is not set: the documents stay pending\n");
	invoice_run_finish(c, &run, time_wall_ms());
	json_t *j = invoice_run_json(&run);
	json_dumpf(j, out, JSON_INDENT(2) | JSON_SORT_KEYS);
	fputc('\n', out);
	json_decref(j);
	rc = run.failures ? 1 : 0;
	invoice_run_fini(&run);
	return rc;
}
