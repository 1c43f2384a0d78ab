/*
 * fuzz_api_message.c — arbitrary bytes as the body of POST /api/v1/messages
 * (message_input.c): parsed as http_req_json parses bodies, then checked and
 * encoded as the handler does before it reaches the store — addresses, text
 * in its alphabet and parts, base64 binary, validity in seconds or RFC 3339,
 * client_ref, callback_url.  The same bytes also go to the base64 and
 * RFC 3339 readers directly.  A refusal must name a 4xx and a code; an
 * accepted message must have 1 to API_MSG_PARTS_MAX parts that fit an SMS.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/message.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_body(const uint8_t *data, size_t size)
{
	static struct api api = {.msg_default_validity_ms = 172800000,
				 .msg_max_validity_ms = 259200000};
	static const struct auth_identity admin = {.role = AUTH_ROLE_ADMIN,
						   .scopes = AUTH_SCOPE_READ | AUTH_SCOPE_WRITE};
	struct api_ctx ctx = {.api = &api, .who = &admin};
	struct api_verr e = {0};
	struct api_msg_in m;
	json_t *body = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);

	if (!body)
		return;
	if (api_msg_parse(&ctx, body, 1800000000000LL, &m, &e) < 0) {
		if (e.status < 400 || e.status > 599 || !e.code[0])
			abort(); /* every refusal names an error status and a code */
	} else if (m.nparts < 1 || m.nparts > API_MSG_PARTS_MAX) {
		abort();
	} else {
		for (size_t i = 0; i < m.nparts; i++)
			if (m.parts[i].len == 0 || m.parts[i].len > SMPP_SM_MAX)
				abort();
	}
	json_decref(body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t out[API_MSG_BINARY_MAX];
	size_t len;
	int64_t ms;
	char *s = malloc(size + 1);

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (api_base64_decode(s, size, out, sizeof(out), &len) == 0 && len > size)
		abort();
	api_rfc3339_parse(s, &ms);
	free(s);
	fuzz_body(data, size);
	return 0;
}
