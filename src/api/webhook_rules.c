/*
 * webhook_rules.c — the webhook dispatcher's pure rules, kept apart from its
 * thread and I/O (webhook_dispatch.c) so they are tested on their own: the
 * signature every delivery carries, the retry backoff, and which event types
 * a webhook's patterns select.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>

#include "api/webhook_dispatch.h"

int api_webhook_dispatch_sign(struct str secret, int64_t ts, struct str body, char *out, size_t n)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	char hex[2 * EVP_MAX_MD_SIZE + 1];
	struct buf msg;
	int rc = 0;

	buf_init(&msg);
	if (buf_printf(&msg, "%" PRId64 ".", ts) < 0 || buf_append_str(&msg, body) < 0) {
		rc = -ENOMEM;
		goto out;
	}
	if (!HMAC(EVP_sha256(), secret.p, (int)secret.len, (const unsigned char *)msg.p, msg.len,
		  mac, &maclen)) {
		rc = -EIO;
		goto out;
	}
	hex_encode(mac, maclen, hex);
	int w = snprintf(out, n, "t=%" PRId64 ",v1=%s", ts, hex);
	rc = w < 0 || (size_t)w >= n ? -ENOSPC : 0;
out:
	buf_fini(&msg);
	return rc;
}

int64_t api_webhook_dispatch_backoff_ms(int64_t base_ms, int64_t max_ms, int64_t n, uint32_t r)
{
	int64_t d = base_ms > 0 ? base_ms : 1;
	for (int64_t i = 1; i < n && d < max_ms; i++)
		d = d > INT64_MAX / 2 ? INT64_MAX : d * 2;
	if (d > max_ms)
		d = max_ms;
	return d - (int64_t)(r % (uint64_t)(d / 4 + 1));
}

static bool pattern_matches(const char *pat, const char *type)
{
	size_t len = strlen(pat);
	if (strcmp(pat, "*") == 0)
		return true;
	/* "trunk.*": every type in the "trunk." family, not "trunks.x". */
	if (len >= 2 && strcmp(pat + len - 2, ".*") == 0)
		return strncmp(type, pat, len - 1) == 0;
	return strcmp(pat, type) == 0;
}

bool api_webhook_dispatch_type_matches(const char *event_types_json, const char *type)
{
	json_t *list = json_loads(event_types_json, 0, NULL);
	bool hit = false;
	size_t i;
	json_t *v;

	if (json_is_array(list))
		json_array_foreach(list, i, v)
		{
			if (json_is_string(v) && pattern_matches(json_string_value(v), type)) {
				hit = true;
				break;
			}
		}
	json_decref(list);
	return hit;
}
