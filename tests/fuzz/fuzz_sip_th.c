/*
 * fuzz_sip_th.c — arbitrary bytes as a message of a hidden call through
 * topology hiding's rewriting (src/sip/th.c, decision 0028): the Call-ID
 * shape sip_proxy_owner reads, the state made from an INVITE, and the
 * rewriting of the same bytes as a request and as a response towards
 * either side.  Nothing may read outside the input or the state; a message
 * that does not parse stops after the owner check.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sip/th.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_th_rewrite(struct sip_msg *m, struct sip_th *th, enum sip_th_side toward)
{
	struct sip_listen at = {.host = "192.0.2.1", .port = 5060};
	struct sip_th_view v = {
	    .th = th, .toward = toward, .contact = "<sip:th-x@192.0.2.1:5060>", .at = &at};
	struct buf out;
	buf_init(&out);
	sip_th_build_copy(&out, m, &v);
	buf_reset(&out);
	v.contact_done = false;
	if (!m->is_request)
		sip_th_build_response(&out, m, &v, &th->caller_up);
	buf_fini(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned char key[SIP_TH_KEY_LEN];
	struct str s = {(const char *)data, size};
	struct sip_peer src = {0};
	struct sip_msg m;
	struct sip_th th;
	unsigned owner;

	sip_th_call_id_owner(s, &owner);
	if (size > SIP_MSG_MAX_SIZE || sip_msg_parse(&m, s.p, s.len) != 0)
		return 0;
	if (sip_th_init(&th, &m, &src, key, 1) == 0 && sip_th_target(&th, "192.0.2.1") == 0) {
		if (!sip_th_call_id_owner(str_from_cstr(th.call_id[SIP_TH_CALLEE]), &owner) ||
		    owner != 1)
			abort();
		fuzz_th_rewrite(&m, &th, SIP_TH_CALLEE);
		fuzz_th_rewrite(&m, &th, SIP_TH_CALLER);
	}
	sip_th_fini(&th);
	return 0;
}
