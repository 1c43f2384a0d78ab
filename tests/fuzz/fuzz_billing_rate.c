/*
 * fuzz_billing_rate.c — libFuzzer target for the rating arithmetic over
 * deck values as a CSV could carry them (any int64 rate and fee, any
 * increments, any duration or balance).  Nothing may overflow (UBSan), and
 * when a cost is returned it must be monotone in the duration and agree
 * with the prepaid inverse: what billing_rate_max_duration_s returns is
 * affordable and one second more is not.  Otherwise abort.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "billing/billing.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct input {
	int64_t rate, fee, duration, available;
	int32_t initial, increment, min;
};

static void check_inverse(const struct billing_rate *r, int64_t available)
{
	int64_t d, c;

	if (billing_rate_max_duration_s(r, available, &d))
		abort(); /* a row billing_rate_check accepts always has an answer */
	if (d < 0 || d > BILLING_RATE_DURATION_MAX_S)
		abort();
	if (d == 0) {
		if (billing_rate_voice_cost(r, 1, &c) == 0 && c <= available)
			abort();
		return;
	}
	if (billing_rate_voice_cost(r, d, &c) || c > available)
		abort();
	if (d < BILLING_RATE_DURATION_MAX_S && billing_rate_voice_cost(r, d + 1, &c) == 0 &&
	    c <= available)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in;
	struct billing_rate r = {.service = BILLING_VOICE};
	int64_t c1, c2;

	if (size < sizeof(in))
		return 0;
	memcpy(&in, data, sizeof(in));
	r.rate = in.rate;
	r.connection_fee = in.fee;
	r.initial_s = in.initial;
	r.increment_s = in.increment;
	r.min_duration_s = in.min;
	if (billing_rate_check(&r)) {
		if (billing_rate_voice_cost(&r, in.duration, &c1) != BILLING_RATE_INVALID)
			abort();
		return 0;
	}
	if (billing_rate_voice_cost(&r, in.duration, &c1) == 0) {
		if (c1 < 0 || c1 > BILLING_RATE_COST_MAX)
			abort();
		if (in.duration < BILLING_RATE_DURATION_MAX_S &&
		    billing_rate_voice_cost(&r, in.duration + 1, &c2) == 0 && c2 < c1)
			abort();
	}
	check_inverse(&r, in.available);
	r.service = BILLING_SMS;
	if (billing_rate_sms_cost(&r, in.duration, &c1) == 0 &&
	    (c1 < 0 || c1 > BILLING_RATE_COST_MAX))
		abort();
	return 0;
}
