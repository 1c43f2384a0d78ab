/*
 * call_record.c — record-call: where a call's recording goes and what its
 * metadata says.
 *
 * A recorded call leaves two files in the spool folder, named after the
 * Call-ID (made safe for a file name) and a random suffix: NAME.pcap with
 * every packet the relay received for the call, in both directions, and
 * NAME.json with who talked (tags), when, and which ports carried it, so
 * that an archiver can pick both up once the JSON appears: it is written
 * after the pcap is complete, with how many packets were recorded and how
 * many were dropped (see record_writer.c).
 */
#include "media/media_private.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void media_record_name(const struct media_call *c, char *out, size_t n)
{
	uint8_t rnd[4];
	char hex[9];
	size_t k = 0;

	random_bytes(rnd, sizeof(rnd));
	hex_encode(rnd, sizeof(rnd), hex);
	for (const char *p = c->callid; *p && k < 64 && k + 1 < n; p++) {
		char ch = *p;
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			  (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_';
		out[k++] = ok ? ch : '_';
	}
	snprintf(out + k, n - k, "-%s", hex);
}

static void media_record_attach(void *arg)
{
	struct media_call **cp = arg;
	struct media_call *c = cp[0];

	c->rec = (struct media_rec *)cp[1];
}

int media_call_record_start(struct media_call *c)
{
	char name[96];
	int err = 0;
	struct media_rec *r;

	if (c->rec_base[0])
		return 0; /* already recording */
	media_record_name(c, name, sizeof(name));
	if (snprintf(c->rec_base, sizeof(c->rec_base), "%.400s/%s", c->m->spool, name) < 0)
		return -EINVAL;
	r = media_rec_open(c->m, c->rec_base, &err);
	if (!r) {
		log_error("media", "recording %s.pcap: %s", c->rec_base, strerror(-err));
		c->rec_base[0] = 0;
		return err;
	}
	void *pair[2] = {c, r};
	return media_worker_sync(c->m, c->worker, media_record_attach, pair);
}

static int media_record_meta_body(struct media_call *c, const char *reason, struct buf *b)
{
	int rc = buf_append_cstr(b, "{\"call-id\":\"");
	rc = rc ? rc : buf_append_json_escaped(b, str_from_cstr(c->callid));
	for (int i = 0; i < 2 && rc == 0; i++) {
		rc = buf_printf(b, "\",\"%s\":\"", i == 0 ? "from-tag" : "to-tag");
		rc = rc ? rc : buf_append_json_escaped(b, str_from_cstr(c->mono[i].tag));
	}
	const char *slash = strrchr(c->rec_base, '/');
	rc = rc ? rc
		: buf_printf(b, "\",\"created\":%lld,\"ended\":%lld,\"reason\":\"%s\",\"pcap\":\"",
			     (long long)c->created_s, (long long)(time_wall_ms() / 1000), reason);
	rc = rc ? rc : buf_append_json_escaped(b, str_from_cstr(slash ? slash + 1 : c->rec_base));
	rc = rc ? rc : buf_append_cstr(b, ".pcap\",\"media\":[");
	for (size_t s = 0; s < c->nsect && rc == 0; s++)
		rc = buf_printf(b, "%s{\"index\":%zu,\"type\":\"%s\",\"ports\":[%u,%u]}",
				s ? "," : "", s + 1, c->sect[s].type,
				c->sect[s].side[0].rtp.local_port,
				c->sect[s].side[1].rtp.local_port);
	return rc ? rc : buf_append_cstr(b, "]");
}

/* The pcap may still be being written: the writer thread adds the record
 * counts and writes NAME.json once it is complete (record_writer.c). */
void media_call_record_meta(struct media_call *c, const char *reason)
{
	struct buf b;

	buf_init(&b);
	if (media_record_meta_body(c, reason, &b) < 0) {
		log_error("media", "recording metadata %s.json: out of memory", c->rec_base);
		buf_reset(&b);
	}
	media_rec_finish(c->m, c->rec, &b);
	c->rec = NULL;
}
