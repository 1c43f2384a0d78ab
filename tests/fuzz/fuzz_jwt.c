/*
 * fuzz_jwt.c — arbitrary bytes as a bearer credential through the whole
 * checker: header split, base64url, JSON, alg/kid policy, cjose verify,
 * claims.  The JWKS is fixed (one RSA 2048 and one EC P-256 public key,
 * written to a temporary file once) and HS256 is enabled so that every
 * branch is reachable.  API-key-looking input meets no store and is refused.
 * The seed corpus (fuzz_jwt/) holds tokens signed by these keys.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/auth.h"

/* Issued around 1700000000 (2023-11-14); checked at a fixed instant. */
#define FUZZ_NOW_MS 1700001000000LL

static const char fuzz_jwks[] =
    "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"rsa1\",\"alg\":\"RS256\",\"use\":\"sig\",\"n\":"
    "\"mV38n0wEZEwswc"
    "NiH5p4aPPEgQ2iq0VvOR0Xpil-tT1RHoOMJd4MvYevZQ36MCzSF0cLIIH1bFZUyu49nfR1cFfzweoRTB"
    "2t3JwrVs4Vm4nPh8KekCrtcl733xi4GlHeIXUtbze7953fRKU9Nfovl5e4ntXePkVHYmAS7laI1ah5ps"
    "ULbcHDHxRstWFOIAgaqm2tZ46L-Imi5nkbMKR7j_qtfnbpw324rBb1sFAfQg-aVfp2urmnXpeMNlqrxn"
    "MPLGLhNRfcSejNyziKvSmv7sqIzx8NGoXIHYki8f3pk1Xs7Hde2U4tfVPbgZBrrYNaatl7lmrsW6zZ7T"
    "4wnCN63w\",\"e\":\"AQAB\"},{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"ec1\",\"x\":"
    "\"mnLWoUo4GKps8Sj"
    "Nd9IBwk8vO8tLRADy_EdZPrYC-hw\",\"y\":\"jJG4E6ubQGTf51gLZ2QHSkTAAAwERk2xLv0vZgxyRI0\"}"
    "]}";

static struct auth *fuzz_auth;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char path[] = "/tmp/warp-fuzz-jwks-XXXXXX", err[256];
	struct auth_opts o;
	int fd = mkstemp(path);

	if (fd < 0 || write(fd, fuzz_jwks, sizeof(fuzz_jwks) - 1) != (ssize_t)sizeof(fuzz_jwks) - 1)
		abort();
	close(fd);
	log_setup(LOG_ERROR, LOG_FORMAT_TEXT, stderr);
	auth_opts_init(&o);
	o.jwks_file = path;
	o.issuer = "https://issuer.example";
	o.audience = "warp";
	o.hs256_secret = "fuzz-secret-fuzz-secret-fuzz-secret!";
	fuzz_auth = auth_new(&o, err, sizeof(err));
	unlink(path);
	if (!fuzz_auth)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct auth_identity id;
	const char *reason = NULL;
	char *header;

	if (size > 16384)
		return 0;
	header = malloc(size + 8);
	if (!header)
		return 0;
	memcpy(header, "Bearer ", 7);
	memcpy(header + 7, data, size);
	header[size + 7] = '\0';
	if (auth_check_bearer(fuzz_auth, header, FUZZ_NOW_MS, &id, &reason) == 0 &&
	    id.role != AUTH_ROLE_ADMIN && id.role != AUTH_ROLE_CUSTOMER)
		abort(); /* an accepted credential always has a role */
	free(header);
	return 0;
}
