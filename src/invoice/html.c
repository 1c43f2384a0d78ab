/*
 * html.c — a document as a printable HTML page: issuer and customer,
 * number, dates, the lines with their quantities, the total, and for an
 * invoice the account summary.  Every text that came from a user (names,
 * zones, descriptions, the issuer's configuration) is escaped, so a
 * customer named "<script>" prints as that name.  Numbers, periods and
 * amounts are ours, the currency a checked ISO 4217 code.
 */
#include <errno.h>
#include <string.h>

#include "billing/billing.h"
#include "invoice/invoice_private.h"

/* HTML text and attribute escaping (the five characters that matter). */
static int esc(struct buf *b, const char *s)
{
	int rc = 0;
	for (; s && *s && rc == 0; s++) {
		switch (*s) {
		case '&':
			rc = buf_append_cstr(b, "&amp;");
			break;
		case '<':
			rc = buf_append_cstr(b, "&lt;");
			break;
		case '>':
			rc = buf_append_cstr(b, "&gt;");
			break;
		case '"':
			rc = buf_append_cstr(b, "&quot;");
			break;
		case '\'':
			rc = buf_append_cstr(b, "&#39;");
			break;
		default:
			rc = buf_append_char(b, *s);
		}
	}
	return rc;
}

static const char *money(int64_t micro, int decimals, char *b)
{
	billing_money_format(micro, decimals, b, BILLING_MONEY_BUF);
	return b;
}

static const char head_html[] =
    "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>";
static const char style_html[] =
    "</title>\n<style>\nbody{font-family:sans-serif;margin:2em;color:#111}\n"
    "table{border-collapse:collapse;width:100%}\nth,td{padding:.3em .6em;border-bottom:1px "
    "solid #ccc;text-align:left}\ntd.n,th.n{text-align:right}\n.parties{display:flex;"
    "justify-content:space-between;margin:1.5em 0}\n@media print{body{margin:0}}\n</style>\n"
    "</head>\n<body>\n";

static const char *doc_title(const struct invoice *inv)
{
	return inv->kind == INVOICE_KIND_CREDIT_NOTE  ? "Credit note"
	       : inv->kind == INVOICE_KIND_DEBIT_NOTE ? "Debit note"
						      : "Invoice";
}

static int html_parties(struct buf *b, const struct invoice *inv, const struct invoice_opts *o)
{
	char day[16], issued[32];
	int rc = buf_printf(b, "<h1>%s %s</h1>\n<div class=\"parties\">\n<div><strong>",
			    doc_title(inv), inv->number);
	rc = rc < 0 ? rc : esc(b, o->issuer_name);
	rc = rc < 0 ? rc : buf_append_cstr(b, "</strong><br>");
	rc = rc < 0 ? rc : esc(b, o->issuer_address);
	if (rc >= 0 && o->issuer_tax_id && o->issuer_tax_id[0]) {
		rc = buf_append_cstr(b, "<br>Tax id: ");
		rc = rc < 0 ? rc : esc(b, o->issuer_tax_id);
	}
	rc = rc < 0 ? rc : buf_append_cstr(b, "</div>\n<div>Bill to:<br><strong>");
	rc = rc < 0 ? rc : esc(b, inv->customer_name);
	rc = rc < 0 ? rc : buf_append_cstr(b, "</strong><br>Customer ");
	rc = rc < 0 ? rc : esc(b, inv->customer_id);
	invoice_period_last_day(&inv->period, day, sizeof(day));
	time_format_rfc3339(inv->issued_at, issued, sizeof(issued));
	issued[10] = '\0';
	rc = rc < 0 ? rc
		    : buf_printf(b,
				 "</div>\n</div>\n<p>Period %s (to %s) &middot; issued %s &middot; "
				 "currency %s</p>\n",
				 inv->period.name, day, issued, inv->currency);
	if (rc >= 0 && inv->corrects_number[0])
		rc = buf_printf(b, "<p>Corrects invoice %s.</p>\n", inv->corrects_number);
	return rc < 0 ? rc : 0;
}

static int html_line(struct buf *b, const struct invoice_line *l, int dec)
{
	char m[BILLING_MONEY_BUF], q[64];
	const char *what = l->kind == INVOICE_LINE_CALLS    ? "Calls"
			   : l->kind == INVOICE_LINE_SMS    ? "SMS"
			   : l->kind == INVOICE_LINE_REFUND ? "Refund"
							    : "Adjustment";
	int rc = buf_printf(b, "<tr><td>%s", what);

	if (l->kind <= INVOICE_LINE_SMS) {
		rc = rc < 0 ? rc : buf_append_cstr(b, " &mdash; ");
		rc = rc < 0 ? rc : esc(b, l->text[0] ? l->text : "other destinations");
	} else {
		rc = rc < 0 ? rc : buf_append_cstr(b, ": ");
		rc = rc < 0 ? rc : esc(b, l->text);
	}
	if (l->kind == INVOICE_LINE_CALLS)
		snprintf(q, sizeof(q), "%lld call%s, %s min", (long long)l->count,
			 l->count == 1 ? "" : "s",
			 money(l->billable_ms * (BILLING_MICRO / 1000) / 60, 2, m));
	else if (l->kind == INVOICE_LINE_SMS)
		snprintf(q, sizeof(q), "%lld segment%s", (long long)l->count,
			 l->count == 1 ? "" : "s");
	else
		snprintf(q, sizeof(q), "%lld", (long long)l->count);
	rc = rc < 0 ? rc
		    : buf_printf(b, "</td><td class=\"n\">%s</td><td class=\"n\">%s</td></tr>\n", q,
				 money(l->amount_rounded, dec, m));
	return rc < 0 ? rc : 0;
}

static int html_summary(struct buf *b, const struct invoice *inv)
{
	char a[BILLING_MONEY_BUF], p[BILLING_MONEY_BUF], t[BILLING_MONEY_BUF], c[BILLING_MONEY_BUF];
	int dec = inv->decimals;
	int rc = buf_printf(b,
			    "<h2>Account</h2>\n<table>\n<tr><td>Opening balance</td><td "
			    "class=\"n\">%s</td></tr>\n<tr><td>Payments received</td><td "
			    "class=\"n\">%s</td></tr>\n<tr><td>This invoice</td><td "
			    "class=\"n\">%s</td></tr>\n<tr><th>Closing balance</th><th "
			    "class=\"n\">%s</th></tr>\n</table>\n",
			    money(inv->opening_balance, dec, a), money(inv->payments, dec, p),
			    money(-inv->total, dec, t), money(inv->closing_balance, dec, c));
	return rc < 0 ? rc : 0;
}

int invoice_html(const struct invoice *inv, const struct invoice_opts *o, struct buf *b)
{
	char m[BILLING_MONEY_BUF];
	int rc = buf_append_cstr(b, head_html);

	rc = rc < 0 ? rc : buf_printf(b, "%s %s", doc_title(inv), inv->number);
	rc = rc < 0 ? rc : buf_append_cstr(b, style_html);
	rc = rc < 0 ? rc : html_parties(b, inv, o);
	rc =
	    rc < 0
		? rc
		: buf_append_cstr(b, "<table>\n<tr><th>Description</th><th "
				     "class=\"n\">Quantity</th><th class=\"n\">Amount</th></tr>\n");
	for (size_t i = 0; rc >= 0 && i < inv->nlines; i++)
		rc = html_line(b, &inv->lines[i], inv->decimals);
	rc = rc < 0 ? rc
		    : buf_printf(b,
				 "<tr><th colspan=\"2\">Total %s</th><th class=\"n\">%s</th></tr>\n"
				 "</table>\n",
				 inv->currency, money(inv->total, inv->decimals, m));
	if (rc >= 0 && inv->kind == INVOICE_KIND_INVOICE)
		rc = html_summary(b, inv);
	rc = rc < 0 ? rc : buf_append_cstr(b, "</body>\n</html>\n");
	return rc < 0 ? -ENOMEM : 0;
}
