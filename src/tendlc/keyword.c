/*
 * keyword.c — what an MO body means to 10DLC (CTIA Messaging Principles
 * and Best Practices §5: the opt-out, opt-in and help keywords carriers
 * require an A2P sender to honour), and which addresses are US long
 * codes.  Pure functions of their input: the keyword matcher reads text a
 * handset sent, so it is bounded and fuzzed (fuzz_tendlc_keyword).
 */
#include <string.h>

#include "tendlc/tendlc.h"

struct kw_entry {
	const char *text;
	enum tendlc_keyword kw;
};

/* Upper case, inner runs of spaces and punctuation read as one space. */
static const struct kw_entry kw_table[] = {
    {"STOP", TENDLC_KW_STOP},	{"STOPALL", TENDLC_KW_STOP}, {"UNSUBSCRIBE", TENDLC_KW_STOP},
    {"CANCEL", TENDLC_KW_STOP}, {"END", TENDLC_KW_STOP},     {"QUIT", TENDLC_KW_STOP},
    {"REVOKE", TENDLC_KW_STOP}, {"OPT OUT", TENDLC_KW_STOP}, {"OPTOUT", TENDLC_KW_STOP},
    {"START", TENDLC_KW_START}, {"UNSTOP", TENDLC_KW_START}, {"YES", TENDLC_KW_START},
    {"HELP", TENDLC_KW_HELP},	{"INFO", TENDLC_KW_HELP},
};

static bool kw_alnum(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       c >= 0x80; /* a byte of a non-ASCII character is part of a word */
}

/* hot path: no allocation, no locks, no I/O */
enum tendlc_keyword tendlc_keyword_match(struct str t)
{
	char norm[TENDLC_KEYWORD_TEXT_MAX + 1];
	size_t b = 0, e = t.len, n = 0;

	if (!t.p || t.len > TENDLC_KEYWORD_TEXT_MAX)
		return TENDLC_KW_NONE;
	while (b < e && !kw_alnum((unsigned char)t.p[b]))
		b++;
	while (e > b && !kw_alnum((unsigned char)t.p[e - 1]))
		e--;
	for (size_t i = b; i < e; i++) {
		unsigned char c = (unsigned char)t.p[i];
		if (!kw_alnum(c)) {
			if (norm[n - 1] != ' ') /* n > 0: the text starts with a word */
				norm[n++] = ' ';
			continue;
		}
		norm[n++] = (char)(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
	}
	norm[n] = '\0';
	for (size_t i = 0; n && i < sizeof(kw_table) / sizeof(kw_table[0]); i++)
		if (strcmp(norm, kw_table[i].text) == 0)
			return kw_table[i].kw;
	return TENDLC_KW_NONE;
}

const char *tendlc_keyword_name(enum tendlc_keyword k)
{
	switch (k) {
	case TENDLC_KW_STOP:
		return "STOP";
	case TENDLC_KW_START:
		return "START";
	case TENDLC_KW_HELP:
		return "HELP";
	default:
		return "";
	}
}

/* The digits of a stored address: a leading '+' dropped; 0 when anything
 * else is not a digit or there are more than cap. */
static size_t addr_digits(struct str a, const char **p)
{
	if (a.p && a.len && a.p[0] == '+') {
		a.p++;
		a.len--;
	}
	for (size_t i = 0; i < a.len; i++)
		if (a.p[i] < '0' || a.p[i] > '9')
			return 0;
	*p = a.p;
	return a.len;
}

bool tendlc_is_us_destination(struct str addr)
{
	const char *d = NULL;
	return addr_digits(addr, &d) == 11 && d[0] == '1';
}

/* NANP: 1, then an area code and exchange that start with 2-9 (ATIS-0300115
 * §4); the toll-free area codes are 8XX with a repeated digit. */
bool tendlc_is_us_long_code(struct str addr)
{
	const char *d = NULL;

	if (addr_digits(addr, &d) != 11 || d[0] != '1' || d[1] < '2' || d[4] < '2')
		return false;
	if (d[1] == '8' && d[2] == d[3] && (d[2] == '0' || (d[2] >= '3' && d[2] <= '8')))
		return false;
	return true;
}
