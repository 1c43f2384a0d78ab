/*
 * scope.c — the scope words a credential carries, in the two spellings
 * WARP meets: API keys store a comma list ("read,write", as POST
 * /api/v1/api-keys takes it), OAuth 2.0 tokens a space-separated string
 * (RFC 6749 §3.3, the JWT "scope" claim of RFC 8693 §4.2).  Both name the
 * same two scopes, "read" and "write"; other words are ignored, so a token
 * that also carries "openid email" loses nothing.
 */
#include "auth/auth_private.h"

unsigned scope_word_bits(struct str word)
{
	if (str_eq_cstr(word, "read"))
		return AUTH_SCOPE_READ;
	if (str_eq_cstr(word, "write"))
		return AUTH_SCOPE_WRITE;
	return 0;
}

unsigned scope_list_parse(struct str list, char sep)
{
	unsigned scopes = 0;

	while (list.len > 0) {
		ptrdiff_t at = str_index(list, sep);
		size_t n = at < 0 ? list.len : (size_t)at;

		scopes |= scope_word_bits(str_trim((struct str){list.p, n}));
		list = at < 0 ? STR_NULL : (struct str){list.p + n + 1, list.len - n - 1};
	}
	return scopes;
}
