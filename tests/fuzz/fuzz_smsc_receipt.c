/*
 * fuzz_smsc_receipt.c — libFuzzer target for the upstream receipt parser
 * (src/smsc/receipt_parse.c).  The input is a receipt's text (short_message
 * or message_payload, by its first byte); the id found must be a view
 * inside it and the error text bounded.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smsc/smsc_private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smpp_pdu p;
	struct smsc_receipt r;

	if (size == 0)
		return 0;
	smpp_pdu_init(&p, SMPP_DELIVER_SM, 1);
	p.esm_class = SMSC_ESM_RECEIPT;
	struct str text = {(const char *)data + 1, size - 1};
	if (data[0] & 1) {
		p.tlv.has |= SMPP_HAS_MESSAGE_PAYLOAD;
		p.tlv.message_payload = text;
	} else {
		p.short_message = text;
	}
	if (data[0] & 2) {
		p.tlv.has |= SMPP_HAS_MESSAGE_STATE;
		p.tlv.message_state = data[0] >> 4;
	}
	smsc_receipt_parse(&p, &r);
	if (r.id.p && (r.id.p < text.p || r.id.p + r.id.len > text.p + text.len))
		abort();
	if (strnlen(r.error, sizeof(r.error)) == sizeof(r.error))
		abort();
	return 0;
}
