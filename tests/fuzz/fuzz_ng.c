/*
 * fuzz_ng.c — libFuzzer target for the media role's ng command layer.
 *
 * Each input is one whole ng datagram ("<cookie> <bencoded dictionary>") fed
 * to media_ng_process, the function the ng socket calls, so every command
 * (ping, offer, answer, delete, query, list, statistics), the SDP rewriting
 * behind offer/answer and the cookie cache see hostile bytes.  The relay is
 * created but never started: no ng socket is read, no worker thread runs.
 * Offers do bind RTP sockets on 127.0.0.1 (a 200-port range, so exhaustion
 * and its error path are reached too); calls persist across inputs so that
 * answers, queries and deletes find something.
 *
 * Checked: a datagram with a cookie always gets a reply that starts with
 * that cookie and a space and ends with a complete bencoded dictionary.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "media/media_private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct media *fuzz_ng_media(void)
{
	static struct media *m;
	struct media_opts o = {.timeout_ms = 60000,
			       .port_quiet_ms = 0,
			       .cookie_ttl_ms = 30000,
			       .workers = 1,
			       .spool_dir = "/tmp/warp-fuzz-ng-spool"};
	char err[256];

	if (m)
		return m;
	log_setup(LOG_ERROR, LOG_FORMAT_TEXT,
		  stderr); /* one line per request would drown the run */
	if (net_addr_parse(STR_LIT("127.0.0.1:0"), 0, &o.ng_listen) < 0 ||
	    media_ifaces_parse(&o, "default/127.0.0.1", 41000, 41199, err, sizeof(err)) < 0)
		abort();
	m = media_new(&o, err, sizeof(err));
	if (!m)
		abort();
	return m;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int64_t now = 1000;
	struct media *m = fuzz_ng_media();
	struct str dgram = {(const char *)data, size}, cookie, body, reply;
	/* Not BENCODE_NODES_DEFAULT: calls persist across inputs, so a list or
	 * statistics reply may name hundreds of them; what is checked is that
	 * the reply is complete bencode, and a datagram holds at most one node
	 * per two bytes ("0:", "le"). */
	static struct bencode_node nodes[65536 / 2];
	struct bencode_doc doc;
	const struct bencode_node *root;

	now += 10;
	if (media_ng_process(m, dgram, now, &reply) < 0)
		return 0;
	if (ng_msg_split(dgram, &cookie, &body) < 0 || reply.len < cookie.len + 1 ||
	    memcmp(reply.p, cookie.p, cookie.len) != 0 || reply.p[cookie.len] != ' ')
		abort();
	bencode_doc_init(&doc, nodes, sizeof(nodes) / sizeof(nodes[0]));
	body = (struct str){reply.p + cookie.len + 1, reply.len - cookie.len - 1};
	if (bencode_decode(&doc, body, &root) < 0 || root->type != BENCODE_DICT)
		abort();
	return 0;
}
