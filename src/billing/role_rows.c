/*
 * role_rows.c — one statement for many rows: "<head> VALUES (…), (…) <tail>"
 * run in chunks of ROLE_ROWS_CHUNK rows, so a batch of a thousand records
 * costs a few statements instead of a thousand (the billing role's
 * ledger entries and rating rows).  The chunk's text is the same from one
 * batch to the next, so SQLite finds it prepared in its statement cache.
 */
#include <errno.h>

#include "role_private.h"

static int rows_sql(struct buf *sql, const char *head, const char *tail, size_t ncols, size_t nrows)
{
	int rc = buf_printf(sql, "%s VALUES ", head);
	size_t arg = 1;

	for (size_t r = 0; r < nrows && rc == 0; r++) {
		rc = buf_append_str(sql, r ? STR_LIT(", (") : STR_LIT("("));
		for (size_t c = 0; c < ncols && rc == 0; c++)
			rc = buf_printf(sql, "%s$%zu", c ? ", " : "", arg++);
		rc = rc ? rc : buf_append_char(sql, ')');
	}
	return rc ? rc : buf_printf(sql, " %s", tail);
}

int role_exec_rows(struct store_conn *c, const char *head, const char *tail, size_t ncols,
		   const struct store_param *params, size_t nrows)
{
	struct buf full, part;
	int rc = 0;

	buf_init(&full);
	buf_init(&part);
	if (nrows >= ROLE_ROWS_CHUNK)
		rc = rows_sql(&full, head, tail, ncols, ROLE_ROWS_CHUNK);
	for (size_t done = 0; done < nrows && rc == 0;) {
		size_t k = nrows - done < ROLE_ROWS_CHUNK ? nrows - done : ROLE_ROWS_CHUNK;

		if (k < ROLE_ROWS_CHUNK)
			rc = rows_sql(&part, head, tail, ncols, k);
		rc = rc ? rc
			: store_exec(c, k < ROLE_ROWS_CHUNK ? part.p : full.p,
				     params + done * ncols, k * ncols, NULL);
		done += k;
	}
	buf_fini(&full);
	buf_fini(&part);
	return rc;
}
