/*
 * fuzz_smsc_time.c — libFuzzer target for the SMPP 3.4 §7.1.1 time parser
 * (schedule_delivery_time and validity_period of a customer's submit_sm).
 * Whatever parses must land within 120 years of now: 99 years, 99 months
 * and 99 days is the furthest a relative time reaches, so anything further
 * means an overflow.
 */
#include <stdint.h>
#include <stdlib.h>

#include "smsc/smsc_private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const int64_t now = 1796515200000; /* 2026-12-06 */
	const int64_t century = (int64_t)120 * 366 * 24 * 3600 * 1000;
	int64_t t = 0;

	if (smsc_time_parse((struct str){(const char *)data, size}, now, &t) == 0 &&
	    (t < now - century || t > now + century))
		abort();
	return 0;
}
