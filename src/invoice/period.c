/*
 * period.c — invoice periods (calendar months in UTC) and the names of the
 * module's enums and errors.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "invoice/invoice.h"

/* Days from 1970-01-01 to y-m-d of the proleptic Gregorian calendar: the
 * civil-to-days count done with March as the first month, so the leap day
 * is the year's last. */
static int64_t days_from_civil(int y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

int invoice_period_parse(const char *s, struct invoice_period *p)
{
	int64_t y, m;

	if (!s || strlen(s) != 7 || s[4] != '-' || str_to_i64((struct str){s, 4}, &y) < 0 ||
	    str_to_i64((struct str){s + 5, 2}, &m) < 0 || s[0] < '0' || s[5] < '0' || y < 2000 ||
	    m < 1 || m > 12)
		return INVOICE_EPERIOD;
	memset(p, 0, sizeof(*p));
	memcpy(p->name, s, 7);
	p->year = (int)y;
	p->month = (int)m;
	p->start_ms = days_from_civil(p->year, p->month, 1) * 86400000LL;
	p->end_ms = (m == 12 ? days_from_civil(p->year + 1, 1, 1)
			     : days_from_civil(p->year, p->month + 1, 1)) *
		    86400000LL;
	return 0;
}

void invoice_period_last_day(const struct invoice_period *p, char *out, size_t n)
{
	int64_t days = (p->end_ms - p->start_ms) / 86400000LL;
	snprintf(out, n, "%04d-%02d-%02d", p->year, p->month, (int)days);
}

void invoice_period_label(const struct invoice_period *p, char *out, size_t n)
{
	static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	snprintf(out, n, "%s %04d", months[p->month - 1], p->year);
}

const char *invoice_kind_name(enum invoice_kind k)
{
	static const char *const names[] = {"invoice", "credit_note", "debit_note"};
	return (unsigned)k < 3 ? names[k] : "invoice";
}

const char *invoice_line_kind_name(enum invoice_line_kind k)
{
	static const char *const names[] = {"calls", "sms", "adjustment", "refund"};
	return (unsigned)k < 4 ? names[k] : "adjustment";
}

const char *invoice_action_name(enum invoice_action a)
{
	static const char *const names[] = {"issued", "unchanged", "corrected", "failed", "empty"};
	return (unsigned)a < 5 ? names[a] : "failed";
}

const char *invoice_strerror(int err)
{
	switch (err) {
	case INVOICE_EPERIOD:
		return "a period is a month, YYYY-MM";
	case INVOICE_EOPEN:
		return "the period has not closed yet";
	case INVOICE_ENOCUSTOMER:
		return "no such customer";
	case INVOICE_ETOOMANY:
		return "too many lines in one document";
	case INVOICE_ENOTFOUND:
		return "no such invoice";
	default:
		return err >= STORE_ERR && err <= STORE_EDOWN ? store_strerror(err)
							      : strerror(-err);
	}
}

void invoice_init(struct invoice *inv)
{
	memset(inv, 0, sizeof(*inv));
	strcpy(inv->netsuite.state, "pending");
}

void invoice_fini(struct invoice *inv)
{
	free(inv->lines);
	inv->lines = NULL;
	inv->nlines = inv->cap = 0;
}
