/*
 * text.c — message text between UTF-8 (what HTTP and the store hold) and the
 * alphabets of SMPP 3.4's data_coding (§5.2.19): the GSM 03.38 default
 * alphabet with its extension table, Latin-1 and UCS-2 (sent as UTF-16BE, so
 * a character outside the BMP is a surrogate pair).
 *
 * GSM text is written one septet per octet ("unpacked"), as SMPP carries
 * data_coding 0 and as the segmenter counts it; smpp_gsm7_pack and
 * smpp_gsm7_unpack convert to and from the 7-bit packed form of GSM 03.38
 * §6.1.2.1.1 for peers and tests that need it.  A character an alphabet
 * cannot carry is an error, never a '?': smpp_text_choose picks an alphabet
 * that carries every character, UCS-2 when nothing cheaper does.
 */
#include <stddef.h>
#include <stdint.h>

#include "smpp/wire.h"

#define GSM7_ESC 0x1B

/* GSM 03.38 §6.2.1: the default alphabet, septet -> Unicode.  0x1B is the
 * escape to the extension table; read alone it shows as a space. */
static const uint16_t gsm7_basic[128] = {
    0x0040, 0x00A3, 0x0024, 0x00A5, 0x00E8, 0x00E9, 0x00F9, 0x00EC, /* 0x00 */
    0x00F2, 0x00C7, 0x000A, 0x00D8, 0x00F8, 0x000D, 0x00C5, 0x00E5, /* 0x08 */
    0x0394, 0x005F, 0x03A6, 0x0393, 0x039B, 0x03A9, 0x03A0, 0x03A8, /* 0x10 */
    0x03A3, 0x0398, 0x039E, 0x0020, 0x00C6, 0x00E6, 0x00DF, 0x00C9, /* 0x18 */
    0x0020, 0x0021, 0x0022, 0x0023, 0x00A4, 0x0025, 0x0026, 0x0027, /* 0x20 */
    0x0028, 0x0029, 0x002A, 0x002B, 0x002C, 0x002D, 0x002E, 0x002F, /* 0x28 */
    0x0030, 0x0031, 0x0032, 0x0033, 0x0034, 0x0035, 0x0036, 0x0037, /* 0x30 */
    0x0038, 0x0039, 0x003A, 0x003B, 0x003C, 0x003D, 0x003E, 0x003F, /* 0x38 */
    0x00A1, 0x0041, 0x0042, 0x0043, 0x0044, 0x0045, 0x0046, 0x0047, /* 0x40 */
    0x0048, 0x0049, 0x004A, 0x004B, 0x004C, 0x004D, 0x004E, 0x004F, /* 0x48 */
    0x0050, 0x0051, 0x0052, 0x0053, 0x0054, 0x0055, 0x0056, 0x0057, /* 0x50 */
    0x0058, 0x0059, 0x005A, 0x00C4, 0x00D6, 0x00D1, 0x00DC, 0x00A7, /* 0x58 */
    0x00BF, 0x0061, 0x0062, 0x0063, 0x0064, 0x0065, 0x0066, 0x0067, /* 0x60 */
    0x0068, 0x0069, 0x006A, 0x006B, 0x006C, 0x006D, 0x006E, 0x006F, /* 0x68 */
    0x0070, 0x0071, 0x0072, 0x0073, 0x0074, 0x0075, 0x0076, 0x0077, /* 0x70 */
    0x0078, 0x0079, 0x007A, 0x00E4, 0x00F6, 0x00F1, 0x00FC, 0x00E0, /* 0x78 */
};

/* GSM 03.38 §6.2.1.1: the extension table, each sent as 0x1B and its code. */
static const struct {
	uint8_t code;
	uint16_t cp;
} gsm7_ext[] = {
    {0x0A, 0x000C}, {0x14, '^'}, {0x28, '{'}, {0x29, '}'}, {0x2F, '\\'},
    {0x3C, '['},    {0x3D, '~'}, {0x3E, ']'}, {0x40, '|'}, {0x65, 0x20AC},
};

#define GSM7_EXT_COUNT (sizeof(gsm7_ext) / sizeof(gsm7_ext[0]))

/* ------------------------------------------------------------------ UTF-8 */

/* The next code point of s, consumed; -1 for bytes that are not UTF-8
 * (overlong forms, surrogates and values past U+10FFFF included). */
static int32_t utf8_next(struct str *s)
{
	/* RFC 3629 §3: the lead octet's high bits give the length. */
	static const struct {
		uint8_t mask, lead;
		int32_t min;
	} forms[] = {
	    {0x80, 0x00, 0}, {0xE0, 0xC0, 0x80}, {0xF0, 0xE0, 0x800}, {0xF8, 0xF0, 0x10000}};
	const uint8_t *p = (const uint8_t *)s->p;
	size_t n = 0;
	int32_t cp;

	while (n < 4 && (p[0] & forms[n].mask) != forms[n].lead)
		n++;
	if (n == 4 || n + 1 > s->len)
		return -1;
	cp = p[0] & (uint8_t)~forms[n].mask;
	for (size_t i = 1; i <= n; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return -1;
		cp = cp << 6 | (p[i] & 0x3F);
	}
	if (cp < forms[n].min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return -1;
	s->p += n + 1;
	s->len -= n + 1;
	return cp;
}

/* Appends cp as UTF-8 (the writer keeps SMPP_E_NO_SPACE when it does not fit). */
static void utf8_put(struct smpp_wr *w, uint32_t cp)
{
	static const uint8_t lead[] = {0x00, 0x00, 0xC0, 0xE0, 0xF0};
	size_t n = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
	uint8_t *at = smpp_wr_room(w, n);

	if (at == NULL)
		return;
	for (size_t i = n - 1; i > 0; i--) {
		at[i] = (uint8_t)(0x80 | (cp & 0x3F));
		cp >>= 6;
	}
	at[0] = (uint8_t)(lead[n] | cp);
}

/* ------------------------------------------------------------------- GSM */

/* cp as one septet (returned), or as 0x1B and an extension code (returned
 * with 0x100 added); -1 when GSM 03.38 has no such character. */
static int gsm7_of(int32_t cp)
{
	/* Most of ASCII is itself in the default alphabet. */
	if ((cp >= 0x20 && cp <= 0x5A && cp != 0x24 && cp != 0x40) || (cp >= 0x61 && cp <= 0x7A))
		return (int)cp;
	for (size_t i = 0; i < GSM7_EXT_COUNT; i++)
		if (gsm7_ext[i].cp == cp)
			return 0x100 | gsm7_ext[i].code;
	for (int i = 0; i < 128; i++)
		if (gsm7_basic[i] == cp && i != GSM7_ESC)
			return i;
	return -1;
}

static int32_t gsm7_ext_cp(uint8_t code)
{
	for (size_t i = 0; i < GSM7_EXT_COUNT; i++)
		if (gsm7_ext[i].code == code)
			return gsm7_ext[i].cp;
	/* §6.2.1.1: an escape the receiver does not know shows the default
	 * alphabet's character. */
	return gsm7_basic[code & 0x7F];
}

static void gsm7_encode(struct str in, struct smpp_wr *w)
{
	while (in.len > 0 && w->err == 0) {
		int32_t cp = utf8_next(&in);
		int s = cp < 0 ? -1 : gsm7_of(cp);

		if (s < 0) {
			smpp_wr_fail(w, SMPP_E_TEXT);
			return;
		}
		if (s > 0xFF)
			smpp_wr_u8(w, GSM7_ESC);
		smpp_wr_u8(w, (uint8_t)s);
	}
}

static void gsm7_decode(struct str in, struct smpp_wr *w)
{
	const uint8_t *p = (const uint8_t *)in.p;

	for (size_t i = 0; i < in.len && w->err == 0; i++) {
		if (p[i] > 0x7F) {
			smpp_wr_fail(w, SMPP_E_TEXT);
			return;
		}
		if (p[i] == GSM7_ESC && i + 1 < in.len)
			utf8_put(w, (uint32_t)gsm7_ext_cp(p[++i]));
		else
			utf8_put(w, gsm7_basic[p[i]]);
	}
}

size_t smpp_gsm7_pack(const uint8_t *septets, size_t n, uint8_t *out)
{
	size_t len = 0;
	unsigned acc = 0, bits = 0;

	/* GSM 03.38 §6.1.2.1.1: septets fill octets from the least significant bit. */
	for (size_t i = 0; i < n; i++) {
		acc |= (unsigned)(septets[i] & 0x7F) << bits;
		bits += 7;
		while (bits >= 8) {
			out[len++] = (uint8_t)acc;
			acc >>= 8;
			bits -= 8;
		}
	}
	if (bits > 0)
		out[len++] = (uint8_t)acc;
	return len;
}

size_t smpp_gsm7_unpack(const uint8_t *packed, size_t len, size_t nseptets, uint8_t *out)
{
	size_t n = 0;
	unsigned acc = 0, bits = 0;

	for (size_t i = 0; i < len && n < nseptets; i++) {
		acc |= (unsigned)packed[i] << bits;
		bits += 8;
		while (bits >= 7 && n < nseptets) {
			out[n++] = (uint8_t)(acc & 0x7F);
			acc >>= 7;
			bits -= 7;
		}
	}
	return n;
}

/* -------------------------------------------------------- Latin-1, UCS-2 */

static void latin1_encode(struct str in, struct smpp_wr *w)
{
	while (in.len > 0 && w->err == 0) {
		int32_t cp = utf8_next(&in);

		if (cp < 0 || cp > 0xFF) {
			smpp_wr_fail(w, SMPP_E_TEXT);
			return;
		}
		smpp_wr_u8(w, (uint8_t)cp);
	}
}

/* IA5 (data_coding 1) is ASCII: the low half of Latin-1. */
static void latin1_decode(struct str in, uint32_t max, struct smpp_wr *w)
{
	for (size_t i = 0; i < in.len && w->err == 0; i++) {
		if ((uint8_t)in.p[i] > max) {
			smpp_wr_fail(w, SMPP_E_TEXT);
			return;
		}
		utf8_put(w, (uint8_t)in.p[i]);
	}
}

static void ucs2_encode(struct str in, struct smpp_wr *w)
{
	while (in.len > 0 && w->err == 0) {
		int32_t cp = utf8_next(&in);

		if (cp < 0) {
			smpp_wr_fail(w, SMPP_E_TEXT);
			return;
		}
		if (cp >= 0x10000) {
			cp -= 0x10000;
			smpp_wr_u16(w, (uint16_t)(0xD800 | cp >> 10));
			cp = 0xDC00 | (cp & 0x3FF);
		}
		smpp_wr_u16(w, (uint16_t)cp);
	}
}

static void ucs2_decode(struct str in, struct smpp_wr *w)
{
	const uint8_t *p = (const uint8_t *)in.p;

	if (in.len % 2 != 0)
		smpp_wr_fail(w, SMPP_E_TEXT);
	for (size_t i = 0; i + 1 < in.len && w->err == 0; i += 2) {
		uint32_t u = smpp_be16(p + i), lo;

		if (u >= 0xD800 && u <= 0xDBFF && i + 3 < in.len &&
		    (lo = smpp_be16(p + i + 2)) >= 0xDC00 && lo <= 0xDFFF) {
			u = 0x10000 + ((u - 0xD800) << 10 | (lo - 0xDC00));
			i += 2;
		} else if (u >= 0xD800 && u <= 0xDFFF) {
			smpp_wr_fail(w, SMPP_E_TEXT); /* a surrogate without its pair */
			return;
		}
		utf8_put(w, u);
	}
}

/* ------------------------------------------------------------ dispatch */

int smpp_text_encode(struct str utf8, uint8_t data_coding, uint8_t *out, size_t cap, size_t *len)
{
	struct smpp_wr w = {out, cap, 0, 0};

	switch (data_coding) {
	case SMPP_DC_DEFAULT:
		gsm7_encode(utf8, &w);
		break;
	case SMPP_DC_LATIN1:
		latin1_encode(utf8, &w);
		break;
	case SMPP_DC_UCS2:
		ucs2_encode(utf8, &w);
		break;
	default:
		return SMPP_E_INVAL; /* binary and the rest are not text */
	}
	*len = w.len;
	return w.err;
}

int smpp_text_decode(uint8_t data_coding, struct str in, char *out, size_t cap, size_t *len)
{
	struct smpp_wr w = {(uint8_t *)out, cap, 0, 0};

	switch (data_coding) {
	case SMPP_DC_DEFAULT:
		gsm7_decode(in, &w);
		break;
	case SMPP_DC_IA5:
		latin1_decode(in, 0x7F, &w);
		break;
	case SMPP_DC_LATIN1:
		latin1_decode(in, 0xFF, &w);
		break;
	case SMPP_DC_UCS2:
		ucs2_decode(in, &w);
		break;
	default:
		return SMPP_E_INVAL;
	}
	*len = w.len;
	return w.err;
}

int smpp_text_choose(struct str utf8, bool latin1_ok, uint8_t *data_coding)
{
	bool gsm = true, latin1 = latin1_ok;

	while (utf8.len > 0) {
		int32_t cp = utf8_next(&utf8);

		if (cp < 0)
			return SMPP_E_TEXT;
		gsm = gsm && gsm7_of(cp) >= 0;
		latin1 = latin1 && cp <= 0xFF;
	}
	*data_coding = gsm ? SMPP_DC_DEFAULT : latin1 ? SMPP_DC_LATIN1 : SMPP_DC_UCS2;
	return 0;
}
