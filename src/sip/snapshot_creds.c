/*
 * snapshot_creds.c — the digest credentials of the policy snapshot
 * (digest.c reads them): each trunk's own (its auth_* columns, handed over
 * by snapshot.c's trunk loader) and those of its enabled devices
 * (trunk_devices, migration 0026; decision 0048), every entry naming its
 * trunk.  Sorted by (username, realm) for psnap_cred_find, with the realms
 * a challenge names and whether each has a SHA-256 HA1.
 */
#include <errno.h>
#include <string.h>

#include "sip/policy_private.h"

static bool cred_hex(const char *h, size_t n)
{
	return strlen(h) == n && strspn(h, "0123456789abcdef") == n;
}

/* An MD5 HA1 that is not 32 hex digits can never verify, so the entry is
 * left out; a SHA-256 one that is not 64 is taken as unknown. */
int psnap_cred_push(struct psnap *s, size_t *cap, const char *user, const char *realm,
		    const char *ha1, const char *sha256, size_t trunk)
{
	struct psnap_cred *cr;

	if (!user[0] || !realm[0] || !cred_hex(ha1, 32) || strlen(user) >= sizeof(cr->user) ||
	    strlen(realm) >= sizeof(cr->realm))
		return 0;
	cr = psnap_vec_push(&s->creds, &s->ncreds, cap, sizeof(*cr));
	if (!cr)
		return -ENOMEM;
	psnap_copy_cstr(cr->user, sizeof(cr->user), user);
	psnap_copy_cstr(cr->realm, sizeof(cr->realm), realm);
	psnap_copy_cstr(cr->ha1, sizeof(cr->ha1), ha1);
	psnap_copy_cstr(cr->ha1_sha256, sizeof(cr->ha1_sha256), cred_hex(sha256, 64) ? sha256 : "");
	cr->trunk = trunk;
	return 0;
}

/* A disabled device has no entry: its username is unknown. */
int psnap_creds_load_devices(struct psnap *s, size_t *cap, struct store_conn *c)
{
	struct store_res *r = NULL;
	int rc = store_exec(c,
			    "SELECT trunk_id, username, realm, auth_ha1, auth_ha1_sha256 "
			    "FROM trunk_devices WHERE enabled <> 0",
			    NULL, 0, &r);

	for (size_t i = 0; rc == 0 && i < store_res_rows(r); i++) {
		const struct psnap_trunk *t =
		    psnap_find(store_res_text(r, i, 0), s->trunks, s->ntrunks, sizeof(*s->trunks),
			       psnap_cmp_id);

		if (t)
			rc = psnap_cred_push(s, cap, store_res_text(r, i, 1),
					     store_res_text(r, i, 2), store_res_text(r, i, 3),
					     store_res_text(r, i, 4), (size_t)(t - s->trunks));
	}
	store_res_free(r);
	return rc;
}

/* Sorts the credentials and keeps the first PSNAP_REALMS_MAX distinct
 * realms (sorted) for challenges. */
void psnap_creds_index(struct psnap *s)
{
	psnap_sort(s->creds, s->ncreds, sizeof(*s->creds), psnap_cmp_cred);
	for (size_t i = 0; i < s->ncreds; i++) {
		size_t k = 0;

		while (k < s->nrealms && strcmp(s->realms[k], s->creds[i].realm) < 0)
			k++;
		if (k < s->nrealms && strcmp(s->realms[k], s->creds[i].realm) == 0)
			continue;
		if (k == PSNAP_REALMS_MAX)
			continue;
		size_t n = s->nrealms < PSNAP_REALMS_MAX ? s->nrealms : PSNAP_REALMS_MAX - 1;

		memmove(s->realms[k + 1], s->realms[k], (n - k) * sizeof(s->realms[0]));
		psnap_copy_cstr(s->realms[k], sizeof(s->realms[k]), s->creds[i].realm);
		s->nrealms = n + 1;
	}
	/* RFC 8760 §2.4: a realm is challenged with SHA-256 only when some of
	 * its credentials can answer it. */
	for (size_t i = 0; i < s->ncreds; i++)
		for (size_t k = 0; k < s->nrealms && s->creds[i].ha1_sha256[0]; k++)
			if (strcmp(s->realms[k], s->creds[i].realm) == 0)
				s->realm_sha256[k] = true;
}
