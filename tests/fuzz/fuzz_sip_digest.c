/*
 * fuzz_sip_digest.c — arbitrary bytes as a Proxy-Authorization value
 * through what the proxy does with a stranger's digest credentials
 * (src/sip/digest.c): the parameter parser, the stateless nonce check, and
 * the response computed from whatever the parser returned.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sip/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char ha1[] = "939e7578ed9e3c518a452acee763bce9";
	static const char ha1_sha256[] =
	    "7987c64c30e25f1b74be53f966b49b90f2808aa92faf9a00262392d7b4794232";
	struct str v = { (const char *)data, size };
	struct sip_digest_cred c;
	char out[SIP_DIGEST_HEX];

	if (sip_digest_cred_parse(v, &c) < 0)
		return 0;
	/* Every view the parser returns lies inside the input. */
	const struct str *views[] = { &c.user,	    &c.realm,  &c.nonce, &c.uri, &c.response,
				      &c.algorithm, &c.cnonce, &c.qop,	 &c.nc };
	for (size_t i = 0; i < sizeof(views) / sizeof(views[0]); i++)
		if (views[i]->len && (views[i]->p < v.p || views[i]->p + views[i]->len > v.p + v.len))
			abort();
	sip_digest_nonce_check(c.nonce, 1700000000000LL, 300000);
	sip_digest_response(SIP_DIGEST_MD5, ha1, c.nonce, c.nc, c.cnonce, c.qop, STR_LIT("INVITE"),
			    c.uri, out);
	if (strlen(out) != 32)
		abort();
	sip_digest_response(SIP_DIGEST_SHA256, ha1_sha256, c.nonce, c.nc, c.cnonce, c.qop,
			    STR_LIT("INVITE"), c.uri, out);
	if (strlen(out) != 64)
		abort();
	return 0;
}
