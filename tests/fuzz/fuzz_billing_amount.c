/*
 * fuzz_billing_amount.c — libFuzzer target for the amount of a balance
 * transaction (POST /api/v1/customers/{id}/balance-transactions): whatever
 * billing_money_parse accepts must come back unchanged through
 * billing_money_format_exact, at every currency's decimals, so an amount
 * shown is always the amount posted; run under UBSan, it also proves the
 * parse never overflows on the way.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "billing/billing.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[BILLING_MONEY_BUF];
	int64_t v = 0, back = 0;

	if (billing_money_parse((struct str){(const char *)data, size}, true, &v) != 0)
		return 0;
	for (int dec = 0; dec <= 3; dec++) {
		int n = billing_money_format_exact(v, dec, text, sizeof(text));
		if (n <= 0 || (size_t)n >= sizeof(text))
			abort();
		if (billing_money_parse((struct str){text, (size_t)n}, true, &back) != 0 || back != v)
			abort();
	}
	return 0;
}
