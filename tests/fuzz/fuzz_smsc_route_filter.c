/*
 * fuzz_smsc_route_filter.c — libFuzzer target for a message route's
 * filters as the API receives them (src/smsc/route_filter.c): any JSON
 * either fails with a pointer under /filters or compiles into filters a
 * message can be matched against.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smsc/route_filter.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *j = json_loadb((const char *)data, size, 0, NULL);
	struct smsc_route_filter f;
	char ptr[96], why[200];
	struct smsc_route_msg m = {.customer_id = "cus_a",
				   .source = "15550001111",
				   .dest = "+12125550100",
				   .text = STR_LIT("hello"),
				   .now_ms = 1796653800000LL};

	if (!j)
		return 0;
	if (smsc_route_filter_init(&f, j, NULL, ptr, sizeof(ptr), why, sizeof(why)) == 0) {
		(void)smsc_route_filter_match(&f, &m);
		smsc_route_filter_fini(&f);
	} else if (strncmp(ptr, "/filters", 8) != 0) {
		abort();
	}
	json_decref(j);
	return 0;
}
