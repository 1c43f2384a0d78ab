/*
 * fuzz_export_response.c — libFuzzer target for the readers of what the
 * token endpoint and BigQuery answer (src/export/): the first byte picks
 * the reader (token, insertErrors, job), the rest is the body.  A token
 * read must be non-empty with a positive lifetime; an insertErrors index
 * must be one the reader vouched for (non-negative); nothing may crash or
 * leak.  Otherwise abort.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "export/export_private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int on_error(size_t index, const char *reason, void *arg)
{
	size_t *n = arg;

	if (!reason || !reason[0] || index > (size_t)INT64_MAX)
		abort();
	(*n)++;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char st[16], reason[64], msg[128], *tok = NULL;
	int64_t exp = 0;
	size_t n = 0;

	if (size < 1)
		return 0;
	const char *body = (const char *)data + 1;
	switch (data[0] % 3) {
	case 0:
		if (export_token_parse(body, size - 1, &tok, &exp) == 0 && (!tok[0] || exp <= 0))
			abort();
		free(tok);
		break;
	case 1:
		export_insert_errors_parse(body, size - 1, on_error, &n);
		break;
	default:
		if (export_job_parse(body, size - 1, st, sizeof(st), reason, sizeof(reason), msg,
				     sizeof(msg)) == 0 &&
		    strlen(st) >= sizeof(st))
			abort();
	}
	return 0;
}
