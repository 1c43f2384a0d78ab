/*
 * accounts.c — the SMPP accounts snapshot: every account with its
 * customer's status and its allowed networks parsed, sorted by system_id so
 * that a bind finds its account by binary search.  Rebuilt by the store's
 * snapshot loader when provisioning changes; a bind reads it without locks.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "smsc/smsc_private.h"

#define ACCOUNTS_SQL                                                                               \
	"SELECT a.id, a.customer_id, a.system_id, a.password_hash, a.enabled, "                    \
	"a.allowed_cidrs, a.max_binds, a.window_size, a.throughput, a.burst, c.status "            \
	"FROM smpp_accounts a JOIN customers c ON c.id = a.customer_id"

static int account_cmp(const void *a, const void *b)
{
	return strcmp(((const struct smsc_account *)a)->system_id,
		      ((const struct smsc_account *)b)->system_id);
}

/* A list the API checked on write; an entry that no longer parses is
 * skipped (it can then match nothing), never widened. */
static int account_cidrs(struct smsc_account *a, const char *text)
{
	json_t *list = json_loads(text, 0, NULL), *v;
	size_t i;
	int rc = 0;

	if (!json_is_array(list))
		goto out;
	a->cidrs = calloc(json_array_size(list) + 1, sizeof(*a->cidrs));
	if (!a->cidrs) {
		rc = -1;
		goto out;
	}
	json_array_foreach(list, i, v)
	{
		if (json_is_string(v) &&
		    net_cidr_parse(str_from_cstr(json_string_value(v)), &a->cidrs[a->ncidrs]) == 0)
			a->ncidrs++;
	}
out:
	json_decref(list);
	return rc;
}

static int account_row(struct smsc_account *a, const struct store_res *r, size_t row)
{
	if (str_copy(a->id, sizeof(a->id), str_from_cstr(store_res_text(r, row, 0))) < 0 ||
	    str_copy(a->customer_id, sizeof(a->customer_id),
		     str_from_cstr(store_res_text(r, row, 1))) < 0 ||
	    str_copy(a->system_id, sizeof(a->system_id), str_from_cstr(store_res_text(r, row, 2))) <
		0 ||
	    str_copy(a->password_hash, sizeof(a->password_hash),
		     str_from_cstr(store_res_text(r, row, 3))) < 0)
		return -1;
	a->enabled = store_res_int(r, row, 4) != 0;
	a->max_binds = (unsigned)store_res_int(r, row, 6);
	a->window = (unsigned)store_res_int(r, row, 7);
	a->throughput = store_res_int(r, row, 8);
	a->burst = store_res_int(r, row, 9);
	a->customer_active = strcmp(store_res_text(r, row, 10), "active") == 0;
	return account_cidrs(a, store_res_text(r, row, 5));
}

void *smsc_accounts_build(struct store_conn *c, void *arg)
{
	struct store_res *r = NULL;
	struct smsc_accounts *s = calloc(1, sizeof(*s));

	(void)arg;
	if (!s || store_exec(c, ACCOUNTS_SQL, NULL, 0, &r) < 0)
		goto fail;
	s->a = calloc(store_res_rows(r) + 1, sizeof(*s->a));
	if (!s->a)
		goto fail;
	for (; s->n < store_res_rows(r); s->n++)
		if (account_row(&s->a[s->n], r, s->n) < 0)
			goto fail;
	if (s->n > 1)
		qsort(s->a, s->n, sizeof(*s->a), account_cmp);
	store_res_free(r);
	return s;
fail:
	store_res_free(r);
	smsc_accounts_free(s);
	return NULL;
}

void smsc_accounts_free(void *data)
{
	struct smsc_accounts *s = data;
	if (!s)
		return;
	for (size_t i = 0; s->a && i <= s->n; i++)
		free(s->a[i].cidrs);
	free(s->a);
	free(s);
}

const struct smsc_account *smsc_accounts_find(const struct smsc_accounts *s, struct str system_id)
{
	struct smsc_account key;

	if (!s || s->n == 0 || str_copy(key.system_id, sizeof(key.system_id), system_id) < 0)
		return NULL;
	return bsearch(&key, s->a, s->n, sizeof(*s->a), account_cmp);
}

bool smsc_account_allows(const struct smsc_account *a, const struct net_addr *peer)
{
	for (size_t i = 0; i < a->ncidrs; i++)
		if (net_cidr_match_addr(&a->cidrs[i], peer))
			return true;
	return false;
}
