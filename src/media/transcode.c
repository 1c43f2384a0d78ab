/*
 * transcode.c — G.711 µ-law ⇄ A-law, the one transcoding the relay does
 * itself (both sides speak G.711 but share no law).
 *
 * ITU-T G.711 describes each law as 8 segments of 16 steps, each segment
 * twice as wide as the one below; a code is sign, 3-bit segment and 4-bit
 * step.  Conversion decodes to linear and re-encodes, frame for frame, so a
 * packet keeps its length and timing and only the payload type changes.
 */
#include "media/media.h"

#define ULAW_BIAS 0x84	 /* 33 in 14-bit units, shifted to 16-bit (G.711 Table 2) */
#define ULAW_CLIP 32635	 /* largest magnitude before the bias would overflow */
#define ALAW_TOGGLE 0x55 /* G.711 §3: even bits of A-law codes are inverted */

int16_t g711_ulaw_decode(uint8_t u)
{
	unsigned code = (uint8_t)~u;
	unsigned seg = (code >> 4) & 7, step = code & 0x0f;
	int mag = (int)(((step << 3) + ULAW_BIAS) << seg) - ULAW_BIAS;

	return (int16_t)((code & 0x80) ? -mag : mag);
}

int16_t g711_alaw_decode(uint8_t a)
{
	unsigned code = a ^ ALAW_TOGGLE;
	unsigned seg = (code >> 4) & 7, step = code & 0x0f;
	int mag = seg == 0 ? (int)(step << 4) + 8 : (int)((step << 4) + 0x108) << (seg - 1);

	/* A-law's sign bit is set for positive values. */
	return (int16_t)((code & 0x80) ? mag : -mag);
}

/* Index of the highest set bit of v (v > 0). */
static unsigned g711_top_bit(unsigned v)
{
	return 31u - (unsigned)__builtin_clz(v);
}

uint8_t g711_ulaw_encode(int16_t pcm)
{
	int v = pcm;
	unsigned sign = 0, seg, step;

	if (v < 0) {
		sign = 0x80;
		v = -v;
	}
	if (v > ULAW_CLIP)
		v = ULAW_CLIP;
	v += ULAW_BIAS; /* now 132 .. 32767: segment 0 starts at bit 7 */
	seg = g711_top_bit((unsigned)v) - 7;
	step = ((unsigned)v >> (seg + 3)) & 0x0f;
	return (uint8_t) ~(sign | (seg << 4) | step);
}

uint8_t g711_alaw_encode(int16_t pcm)
{
	int v = pcm;
	unsigned sign = 0x80, seg, step;

	/* Negative values use the magnitude minus one, so that -1 and 0 fall
	 * into the two innermost intervals symmetrically (G.711 Table 1). */
	if (v < 0) {
		sign = 0;
		v = -v - 1;
	}
	v >>= 3; /* 13-bit magnitude, 0 .. 4095 */
	if (v < 32) {
		seg = 0;
		step = (unsigned)v >> 1;
	} else {
		seg = g711_top_bit((unsigned)v) - 4;
		step = ((unsigned)v >> seg) & 0x0f;
	}
	return (uint8_t)((sign | (seg << 4) | step) ^ ALAW_TOGGLE);
}

/* hot path: no allocation, no locks, no I/O */
void g711_ulaw_to_alaw(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = g711_alaw_encode(g711_ulaw_decode(p[i]));
}

/* hot path: no allocation, no locks, no I/O */
void g711_alaw_to_ulaw(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = g711_ulaw_encode(g711_alaw_decode(p[i]));
}
