/*
 * fuzz_invoice_answer.c — libFuzzer target for NetSuite's answer to a
 * record PUT (netsuite_answer_read): the first two bytes pick the status,
 * the input up to the first newline is the Location header, the rest the
 * body.  Whatever the server sends gives either a record id that is one
 * plausible token or a reason, both NUL-terminated in their buffers.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "invoice/invoice.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char loc[512], id[64], err[INVOICE_ERROR_MAX];
	const char *p = (const char *)data;
	size_t nl;
	long status;

	if (size < 2)
		return 0;
	status = 100 + (long)((data[0] << 8 | data[1]) % 500);
	p += 2;
	size -= 2;
	nl = 0;
	while (nl < size && p[nl] != '\n')
		nl++;
	if (nl >= sizeof(loc))
		return 0;
	memcpy(loc, p, nl);
	loc[nl] = '\0';
	const char *body = nl < size ? p + nl + 1 : NULL;
	size_t blen = nl < size ? size - nl - 1 : 0;
	int rc = netsuite_answer_read(status, loc, body, blen, id, sizeof(id), err, sizeof(err));
	if (rc == 0 && (status < 200 || status > 299 || !id[0] || strlen(id) >= sizeof(id) ||
			strpbrk(id, " \t\r\n\"") || err[0]))
		abort();
	if (rc != 0 && (rc != -EIO || !err[0] || strlen(err) >= sizeof(err)))
		abort();
	return 0;
}
