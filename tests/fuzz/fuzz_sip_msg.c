/*
 * libFuzzer target for src/sip: parses the input as one SIP datagram and then
 * reads every lazy accessor, so each header parser sees fuzzed values (also
 * after a failed parse, as a proxy building a 400 would).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sip/sip.h"

static void fuzz_sip_touch_addr(struct sip_msg *m, enum sip_hdr_id id)
{
	struct sip_addr a;
	struct str v;
	char out[256];
	size_t n;

	for (size_t i = 0; i < 4; i++) {
		if (sip_msg_addr(m, id, i, &a) != 0)
			break;
		sip_params_find(a.params, "expires", &v);
		sip_uri_param(&a.uri, "lr", &v);
		sip_uri_unescape(a.uri.user, out, sizeof(out), &n);
	}
}

static void fuzz_sip_touch(struct sip_msg *m)
{
	struct sip_uri uri;
	struct sip_via via;
	struct sip_addr addr;
	struct sip_cseq cseq;
	struct sip_value_iter it;
	struct str s, t;
	int mf;
	uint32_t exp;
	int64_t date;

	sip_msg_ruri(m, &uri);
	for (size_t i = 0; i < 8 && sip_msg_via(m, i, &via) == 0; i++)
		sip_params_find(via.params, "x", &s);
	sip_msg_from(m, &addr);
	sip_msg_to(m, &addr);
	fuzz_sip_touch_addr(m, SIP_HDR_CONTACT);
	fuzz_sip_touch_addr(m, SIP_HDR_ROUTE);
	fuzz_sip_touch_addr(m, SIP_HDR_RECORD_ROUTE);
	sip_msg_cseq(m, &cseq);
	sip_msg_call_id(m, &s);
	sip_msg_max_forwards(m, &mf);
	sip_msg_expires(m, &exp);
	sip_msg_content_type(m, &s, &t);
	sip_msg_date(m, &date);
	sip_value_iter_init(&it, m, SIP_HDR_SUPPORTED);
	while (sip_value_iter_next(&it, &s, NULL) == 0)
		;
	sip_msg_hdr_find(m, STR_LIT("X-Unknown"));
	sip_msg_can_reply(m);
	sip_msg_validate(m);
	(void)sip_msg_error(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sip_msg m;

	sip_msg_parse(&m, (const char *)data, size);
	fuzz_sip_touch(&m);
	/* The URI parser on its own, for inputs that never reach a header. */
	struct sip_uri uri;
	sip_uri_parse((struct str){(const char *)data, size < 512 ? size : 512}, &uri);
	return 0;
}
