/*
 * fuzz_smsc_tzif.c — libFuzzer target for the TZif reader the message
 * routes' time filters use (src/smsc/route_tz.c): any bytes either fail or
 * give ascending transitions whose local times can be asked for.
 */
#include <stdint.h>
#include <stdlib.h>

#include "smsc/route_filter.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smsc_tz z;

	if (smsc_tz_parse(data, size, &z) != 0)
		return 0;
	for (size_t i = 1; i < z.n; i++)
		if (z.at[i] <= z.at[i - 1])
			abort();
	(void)smsc_tz_local(&z, 0);
	(void)smsc_tz_local(&z, INT32_MAX);
	(void)smsc_tz_local(&z, INT32_MIN);
	smsc_tz_fini(&z);
	return 0;
}
