/*
 * netsuite_answer.c — what NetSuite's answer to a record PUT says.  A
 * created or updated record is 204 No Content with the record's URL in
 * Location (…/record/v1/invoice/<internal id>); an error is a JSON
 * document with a title and o:errorDetails, each with a detail.  This is
 * outside input, so it is parsed without trusting it: any status, any
 * Location, any body (bounded by the caller) gives an id or a reason.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "invoice/invoice_private.h"

/* The Location's last path segment, when it is a plausible id. */
static bool location_id(const char *location, char *id, size_t n)
{
	const char *slash = location ? strrchr(location, '/') : NULL;
	const char *p = slash ? slash + 1 : NULL;
	size_t len = p ? strcspn(p, "?#") : 0;

	if (!len || len >= n)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)p[i] <= ' ' || p[i] == '"' || (unsigned char)p[i] >= 0x7f)
			return false;
	memcpy(id, p, len);
	id[len] = '\0';
	return true;
}

int netsuite_answer_read(long status, const char *location, const char *body, size_t len,
			 char *record_id, size_t idn, char *err, size_t errn)
{
	json_t *j;
	const char *detail, *title;

	if (status >= 200 && status < 300) {
		if (location_id(location, record_id, idn)) {
			err[0] = '\0';
			return 0;
		}
		snprintf(err, errn, "HTTP %ld without a record Location", status);
		return -EIO;
	}
	j = body && len ? json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL) : NULL;
	detail = json_string_value(
	    json_object_get(json_array_get(json_object_get(j, "o:errorDetails"), 0), "detail"));
	title = json_string_value(json_object_get(j, "title"));
	snprintf(err, errn, "HTTP %ld: %.400s", status,
		 detail	 ? detail
		 : title ? title
			 : "no detail");
	json_decref(j);
	return -EIO;
}
