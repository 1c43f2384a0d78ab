/*
 * fuzz_bencode.c — libFuzzer target for the ng datagram and bencode decoder.
 *
 * Each input is treated as an ng datagram: split at the cookie, decode the
 * body; whatever decodes is re-encoded, and the encoding must decode again
 * to the same number of nodes and be byte-identical to the original item
 * (the decoder keeps key order and integer spelling is canonical).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ng/ng.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_bencode_round_trip(struct str body)
{
	static struct bencode_node nodes[64], nodes2[64];
	struct bencode_doc doc, doc2;
	const struct bencode_node *root, *root2;
	struct str s;
	int64_t v;
	struct buf b;

	bencode_doc_init(&doc, nodes, 64);
	if (bencode_decode(&doc, body, &root) < 0)
		return;
	(void)bencode_dict_get_str(root, "command", &s);
	(void)bencode_dict_get_int(root, "delay-buffer", &v);
	(void)bencode_list_contains_str(bencode_dict_get(root, "flags"), "trust-address");
	buf_init(&b);
	if (bencode_put_node(&b, root) < 0)
		abort();
	if (b.len != body.len || memcmp(b.p, body.p, b.len) != 0)
		abort();
	bencode_doc_init(&doc2, nodes2, 64);
	if (bencode_decode(&doc2, (struct str){b.p, b.len}, &root2) < 0 || doc2.used != doc.used)
		abort();
	buf_fini(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct str dgram = {(const char *)data, size}, cookie, body;

	if (ng_msg_split(dgram, &cookie, &body) == 0)
		fuzz_bencode_round_trip(body);
	fuzz_bencode_round_trip(dgram);
	return 0;
}
