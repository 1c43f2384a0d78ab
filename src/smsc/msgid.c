/*
 * msgid.c — the ids of the messages ESMEs submit: "msg_" and 26 base32
 * characters like every other id (id_valid holds, the length is the same),
 * but the first 10 characters are the accept time in epoch milliseconds,
 * written so that they sort as the time does, and only the last 16 are
 * random (80 bits from getrandom).
 *
 * Why (decision 0030): the messages table is keyed by id and indexed by
 * group_id, which for a one-part message is the id too.  Random ids put
 * every new row on a random leaf page of both B-trees, so each row of a
 * group commit dirtied two pages of its own — 8 KiB of WAL and later of
 * checkpoint per message, most of what the insert wrote.  Ids that grow
 * with time land on the same last pages, shared by the whole group.  80
 * random bits keep ids unguessable; what the time prefix tells (when the
 * message was accepted) its owner can already read through query_sm.
 *
 * The random bits come from a pool refilled SMSC_ID_POOL bytes at a time,
 * one getrandom call for about 400 ids instead of one per id.  The pool
 * belongs to the session thread (struct smsc), so it needs no lock.  HTTP
 * sends (api/messages_send.c), on several threads, take the same ids from
 * smsc_message_id_new, one getrandom call each (decision 0043).
 */
#include <errno.h>
#include <string.h>

#include "smsc/smsc_private.h"

#define MSGID_TIME_CHARS 10   /* 50 bits of milliseconds: far past year 30,000 */
#define MSGID_RANDOM_BYTES 10 /* 80 bits ... */
#define MSGID_RANDOM_CHARS 16 /* ... as 16 characters */
#define MSGID_PREFIX "msg_"

/* id.c's alphabet (RFC 4648 §6, lower case) in ASCII order, so that
 * strcmp on the time characters orders ids as their times. */
static const char msgid_sorted[] = "234567abcdefghijklmnopqrstuvwxyz";

static int msgid_random(struct smsc_idpool *pool, uint8_t *out)
{
	if (pool->left < MSGID_RANDOM_BYTES) {
		int rc = random_bytes(pool->buf, sizeof(pool->buf));
		if (rc < 0)
			return rc;
		pool->left = sizeof(pool->buf);
	}
	pool->left -= MSGID_RANDOM_BYTES;
	memcpy(out, pool->buf + pool->left, MSGID_RANDOM_BYTES);
	memset(pool->buf + pool->left, 0, MSGID_RANDOM_BYTES); /* used once */
	return 0;
}

/* The id of now_ms and raw's random bytes into out. */
static void msgid_write(int64_t now_ms, const uint8_t *raw, char *out)
{
	size_t len = sizeof(MSGID_PREFIX) - 1;
	char *p = out + len;
	unsigned acc = 0, bits = 0;

	memcpy(out, MSGID_PREFIX, len);
	for (int i = MSGID_TIME_CHARS - 1; i >= 0; i--)
		*p++ = msgid_sorted[((uint64_t)now_ms >> (5 * i)) & 31];
	for (size_t i = 0; i < MSGID_RANDOM_BYTES; i++) {
		acc = (acc << 8) | raw[i];
		bits += 8;
		while (bits >= 5) {
			bits -= 5;
			*p++ = msgid_sorted[(acc >> bits) & 31];
		}
	}
	*p = '\0';
}

static int msgid_room(int64_t now_ms, size_t n)
{
	return n < sizeof(MSGID_PREFIX) - 1 + MSGID_TIME_CHARS + MSGID_RANDOM_CHARS + 1 ||
		       now_ms < 0
		   ? -ENOSPC
		   : 0;
}

/* hot path: no allocation, no locks, no I/O (but a refill every ~400) */
int smsc_msgid_new(struct smsc_idpool *pool, int64_t now_ms, char *out, size_t n)
{
	uint8_t raw[MSGID_RANDOM_BYTES];

	if (msgid_room(now_ms, n) < 0)
		return -ENOSPC;
	if (msgid_random(pool, raw) < 0)
		return -EIO;
	msgid_write(now_ms, raw, out);
	return 0;
}

/* Any thread: one getrandom call per id, no pool to share. */
int smsc_message_id_new(int64_t now_ms, char *out, size_t n)
{
	uint8_t raw[MSGID_RANDOM_BYTES];

	if (msgid_room(now_ms, n) < 0)
		return -ENOSPC;
	if (random_bytes(raw, sizeof(raw)) < 0)
		return -EIO;
	msgid_write(now_ms, raw, out);
	return 0;
}
