/*
 * sql.c — building one SQL statement with its parameters: the text grows in
 * a buffer while parameters are bound in order, each placeholder numbered
 * as it is written ("$3"), so the same builder serves SQLite and PostgreSQL.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_private.h"

void api_sql_init(struct api_sql *q)
{
	memset(q, 0, sizeof(*q));
	buf_init(&q->text);
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

int api_sql_param(struct api_sql *q, struct store_param p, char *owned)
{
	int rc = api_sql_bind(q, p, owned);
	return rc ? rc : buf_printf(&q->text, "$%zu", q->n);
}
