/*
 * bootstrap.h — admin API tokens: a new installation's, and the
 * `warp admin-token` command's.
 */
#ifndef WARP_CMD_BOOTSTRAP_H
#define WARP_CMD_BOOTSTRAP_H

#include <stdio.h>

#include "store/store.h"

/* Makes sure the store holds an admin credential.  When env_token (the value
 * of WARP_ADMIN_TOKEN) is set, its hash is stored unless already present.
 * Otherwise, on a store with no admin key, a new token is generated, its
 * SHA-256 stored, and the token itself printed once to out.  Returns 0, or a
 * negative code with a reason in err. */
int bootstrap_admin_token(struct store *s, const char *env_token, FILE *out, char *err,
			  size_t errlen);

/* `warp admin-token create`: a new admin token (named name, "admin-token"
 * when NULL), its id and the token printed once to out. */
int bootstrap_admin_token_create(struct store *s, const char *name, FILE *out, char *err,
				 size_t errlen);
/* `warp admin-token revoke`: marks the admin key id revoked; -ENOENT when
 * no unrevoked admin key has that id (a customer's key included). */
int bootstrap_admin_token_revoke(struct store *s, const char *id, char *err, size_t errlen);

#endif
