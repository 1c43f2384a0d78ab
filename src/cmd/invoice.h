/*
 * invoice.h — `warp invoice run`, and the [invoice] and [netsuite] keys
 * as the invoice module's options (the api role takes them too).
 */
#ifndef WARP_CMD_INVOICE_H
#define WARP_CMD_INVOICE_H

#include <stdbool.h>

#include "core/core.h"
#include "invoice/invoice.h"
#include "store/store.h"

struct cmd_invoice_args {
	const char *config_path;
	const char *period;   /* --period YYYY-MM */
	const char *customer; /* --customer ID, or NULL */
	bool dry_run;
};

/* argv from "run" on into a; 0, or -EINVAL with the complaint in what/arg. */
int cmd_invoice_args(int argc, char **argv, int first, struct cmd_invoice_args *a,
		     const char **what, const char **arg);

void cmd_invoice_opts(const struct config *cfg, struct invoice_opts *io, struct netsuite_opts *no);

/* Runs the period, sends its unsent documents to NetSuite (or, dry, writes
 * their bodies), prints the run as JSON on out.  The exit code: 0, or 1
 * when the run or any document failed. */
int cmd_invoice_run(const struct config *cfg, struct store *s, const struct cmd_invoice_args *a,
		    FILE *out);

#endif
