/*
 * fuzz_sip_reg_branch.c — arbitrary bytes as the branch of a response to
 * one of the registrar's keep-alive OPTIONS (src/sip/reg_table.c,
 * sip_reg_ping_branch_parse): a trunk id that fits its buffer and a token,
 * or a refusal, never a read past the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sip/registrar.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char trunk[ID_MAX];
	uint64_t token;

	if (sip_reg_ping_branch_parse((struct str){(const char *)data, size}, trunk, sizeof(trunk),
				      &token) == 0 &&
	    strlen(trunk) >= sizeof(trunk))
		abort();
	return 0;
}
