/*
 * sql.c — building one SQL statement with its parameters: the text grows in
 * a buffer while parameters are bound in order, each placeholder numbered
 * as it is written ("$3"), so the same builder serves SQLite and PostgreSQL.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_private.h"

/* Room for a resource's SELECT list and its WHERE clause at once, so the
 * text is not regrown four or five times (best effort: a failed reserve is
 * retried by the appends). */
#define API_SQL_TEXT_RESERVE 512

void api_sql_init(struct api_sql *q)
{
	memset(q, 0, sizeof(*q));
	buf_init(&q->text);
	buf_reserve(&q->text, API_SQL_TEXT_RESERVE);
}

void api_sql_fini(struct api_sql *q)
{
	for (size_t i = 0; i < q->n; i++)
		free(q->owned[i]);
	buf_fini(&q->text);
}

int api_sql_bind(struct api_sql *q, struct store_param p, char *owned)
{
	if (q->n == API_SQL_MAX_PARAMS) {
		free(owned);
		return -E2BIG;
	}
	q->params[q->n] = p;
	q->owned[q->n] = owned;
	q->n++;
	return 0;
}

/* The placeholder's digits by hand: buf_printf measured and then wrote it,
 * two vsnprintf calls per parameter on every query. */
int api_sql_param(struct api_sql *q, struct store_param p, char *owned)
{
	char ph[24];
	size_t i = sizeof(ph), n;
	int rc = api_sql_bind(q, p, owned);

	if (rc)
		return rc;
	n = q->n;
	do {
		ph[--i] = (char)('0' + n % 10);
		n /= 10;
	} while (n);
	ph[--i] = '$';
	return buf_append(&q->text, ph + i, sizeof(ph) - i);
}
