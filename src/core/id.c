/*
 * id.c — random bytes, prefixed resource ids and hex.
 *
 * An id is "<prefix>_" and 26 characters of lowercase RFC 4648 §6 base32
 * (without padding) of 16 bytes from getrandom(2): 128 bits, so ids can be
 * minted on any replica without coordination.
 */
#include "core/core.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

#define ID_RANDOM_BYTES 16
#define ID_PREFIX_MAX (ID_MAX - ID_RANDOM_CHARS - 2)

static const char id_alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";

int random_bytes(void *buf, size_t n)
{
	unsigned char *p = buf;

	while (n > 0) {
		ssize_t got = getrandom(p, n, 0);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += got;
		n -= (size_t)got;
	}
	return 0;
}

/* 128 bits -> 26 five-bit groups; the last group holds 3 bits, zero-padded. */
static void id_base32(const unsigned char *in, char *out)
{
	unsigned acc = 0, bits = 0;
	size_t o = 0;

	for (size_t i = 0; i < ID_RANDOM_BYTES; i++) {
		acc = (acc << 8) | in[i];
		bits += 8;
		while (bits >= 5) {
			bits -= 5;
			out[o++] = id_alphabet[(acc >> bits) & 31];
		}
	}
	if (bits > 0)
		out[o++] = id_alphabet[(acc << (5 - bits)) & 31];
}

static bool id_prefix_ok(struct str p)
{
	if (p.len == 0 || p.len > ID_PREFIX_MAX)
		return false;
	for (size_t i = 0; i < p.len; i++)
		if (!((p.p[i] >= 'a' && p.p[i] <= 'z') || (p.p[i] >= '0' && p.p[i] <= '9')))
			return false;
	return true;
}

int id_new(const char *prefix, char *out, size_t n)
{
	unsigned char raw[ID_RANDOM_BYTES];
	struct str p = str_from_cstr(prefix);
	int rc;

	if (!id_prefix_ok(p))
		return -EINVAL;
	if (n < p.len + 1 + ID_RANDOM_CHARS + 1)
		return -ENOSPC;
	rc = random_bytes(raw, sizeof(raw));
	if (rc < 0)
		return rc;
	memcpy(out, p.p, p.len);
	out[p.len] = '_';
	id_base32(raw, out + p.len + 1);
	out[p.len + 1 + ID_RANDOM_CHARS] = '\0';
	return 0;
}

static bool id_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '2' && c <= '7');
}

bool id_valid(struct str s, const char *prefix)
{
	ptrdiff_t us;
	struct str p, body;

	if (s.len < ID_RANDOM_CHARS + 2 || s.len > ID_MAX - 1)
		return false;
	us = (ptrdiff_t)(s.len - ID_RANDOM_CHARS - 1);
	if (s.p[us] != '_')
		return false;
	p = (struct str){s.p, (size_t)us};
	body = (struct str){s.p + us + 1, ID_RANDOM_CHARS};
	if (prefix ? !str_eq_cstr(p, prefix) : !id_prefix_ok(p))
		return false;
	for (size_t i = 0; i < body.len; i++)
		if (!id_char_ok(body.p[i]))
			return false;
	return true;
}

void hex_encode(const void *data, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	const unsigned char *p = data;

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}
