/*
 * fuzz_smpp.c — libFuzzer target for the SMPP 3.4 codec (src/smpp/).
 *
 * Each input is a stream of PDUs, framed by command_length as a session
 * frames them.  Every PDU that decodes is walked (submit_multi lists) and
 * encoded again; that encoding must decode, and encode to the same bytes
 * (the codec writes known TLVs in a fixed order, so the first re-encoding
 * is canonical).  A PDU that does not decode must still get its answer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smpp/smpp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t out1[SMPP_PDU_MAX_LEN], out2[SMPP_PDU_MAX_LEN];

static void fuzz_smpp_walk(const struct smpp_pdu *p)
{
	struct str raw = p->dests;
	struct smpp_dest d;
	struct smpp_unsuccess u;

	while (raw.len && smpp_dest_next(&raw, &d) == 0)
		;
	raw = p->unsuccess;
	while (raw.len && smpp_unsuccess_next(&raw, &u) == 0)
		;
}

static void fuzz_smpp_one(const uint8_t *buf, size_t len)
{
	struct smpp_pdu p, q, r;
	int n1, n2;

	if (smpp_pdu_decode(buf, len, &p) < 0) {
		(void)smpp_pdu_reply_error(&p, p.err, &r);
		(void)smpp_err_status(p.err);
		return;
	}
	(void)smpp_command_name(p.command_id);
	fuzz_smpp_walk(&p);
	n1 = smpp_pdu_encode(&p, out1, sizeof(out1));
	if (n1 < 0)
		return; /* e.g. more than the codec keeps: refused, not crashed */
	if (smpp_pdu_decode(out1, (size_t)n1, &q) < 0)
		abort();
	n2 = smpp_pdu_encode(&q, out2, sizeof(out2));
	if (n2 != n1 || memcmp(out1, out2, (size_t)n1) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t len;

	while (size >= 4 && smpp_frame_len(data, size, &len) == 0 && len <= size) {
		fuzz_smpp_one(data, len);
		data += len;
		size -= len;
	}
	return 0;
}
