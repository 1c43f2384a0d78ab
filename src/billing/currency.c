/*
 * currency.c — how many decimals a currency is shown with, and amounts
 * shown exactly with at least that many.
 *
 * Balances are micro-units, finer than any currency's minor unit, so an
 * amount shown rounded to cents could differ from the sum of the entries
 * shown beside it.  billing_money_format_exact never rounds: it pads to the
 * currency's decimals and prints more only when the value has them.
 */
#include "billing.h"

#include <string.h>

/* ISO 4217 codes whose minor unit is not 2 (the standard's table, the
 * currencies a carrier bills in). */
static const struct {
	char code[4];
	int decimals;
} currency_minor[] = {
    {"BHD", 3}, {"BIF", 0}, {"CLP", 0}, {"DJF", 0}, {"GNF", 0}, {"IQD", 3}, {"ISK", 0}, {"JOD", 3},
    {"JPY", 0}, {"KMF", 0}, {"KRW", 0}, {"KWD", 3}, {"LYD", 3}, {"OMR", 3}, {"PYG", 0}, {"RWF", 0},
    {"TND", 3}, {"UGX", 0}, {"VND", 0}, {"VUV", 0}, {"XAF", 0}, {"XOF", 0}, {"XPF", 0},
};

int billing_currency_decimals(const char *code)
{
	for (size_t i = 0; code && i < sizeof(currency_minor) / sizeof(currency_minor[0]); i++)
		if (strcmp(currency_minor[i].code, code) == 0)
			return currency_minor[i].decimals;
	return 2;
}

int billing_money_format_exact(int64_t micro, int min_decimals, char *buf, size_t n)
{
	int64_t step = BILLING_MICRO;
	int d = 0;

	if (min_decimals < 0 || min_decimals > 6)
		return -1;
	/* The fewest places that hold the value exactly, then at least min. */
	while (d < 6 && micro % step != 0) {
		step /= 10;
		d++;
	}
	return billing_money_format(micro, d > min_decimals ? d : min_decimals, buf, n);
}
