/*
 * fuzz_tendlc_keyword.c — libFuzzer target for what a handset's MO text
 * and a customer's MT text go through for 10DLC: the keyword matcher
 * (tendlc_keyword_match) and the content rules' host and phrase matchers.
 * Every input must be read within its bounds (ASan) and give an answer;
 * a keyword found must still be found with spaces and punctuation added
 * around it, as the matcher promises.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tendlc/tendlc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const hosts[] = {"bit.ly", "t.co", "tinyurl.com", "a"};
static const char *const phrases[] = {"cbd oil", "thc", "payday loan", "x"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct str in = {(const char *)data, size};
	char dressed[TENDLC_KEYWORD_TEXT_MAX + 8];
	enum tendlc_keyword k = tendlc_keyword_match(in);

	(void)tendlc_text_has_domain(in, hosts, 4);
	(void)tendlc_text_has_words(in, phrases, 4);
	if (k == TENDLC_KW_NONE || size + 4 > TENDLC_KEYWORD_TEXT_MAX)
		return 0;
	memcpy(dressed, " \"", 2);
	memcpy(dressed + 2, data, size);
	memcpy(dressed + 2 + size, "!.", 2);
	if (tendlc_keyword_match((struct str){dressed, size + 4}) != k)
		abort();
	return 0;
}
