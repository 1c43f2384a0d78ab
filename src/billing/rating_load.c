/*
 * rating_load.c — the rating snapshot from the store: the activated deck
 * versions still of use and the parties' assignments, reusing the versions
 * the previous build already indexed.
 *
 * A version's rows never change once imported (deck_import.c writes them
 * with the version, in one transaction), so a version id seen before is the
 * same deck: only new versions read rows.  Which versions are "of use" is
 * decided here, once per build, from the activation order of each deck.
 */
#include "rating_private.h"

#include <stdlib.h>
#include <string.h>

#define LOG_COMPONENT "billing"

struct billing_rating_source {
	struct billing_rating *last; /* the last snapshot built, for its decks */
};

struct billing_rating_source *billing_rating_source_new(void)
{
	return calloc(1, sizeof(struct billing_rating_source));
}

void billing_rating_source_free(struct billing_rating_source *s)
{
	if (!s)
		return;
	billing_rating_unref(s->last);
	free(s);
}

void billing_rating_release(void *rating)
{
	billing_rating_unref(rating);
}

static void copy_id(char *dst, size_t n, const char *src)
{
	size_t len = strlen(src);

	if (len >= n)
		len = n - 1; /* ids are generated far shorter; never overrun */
	memcpy(dst, src, len);
	dst[len] = '\0';
}

/* The rows of one version, read into a billing_rate array whose strings
 * point into *res (the caller frees both after building the indexes). */
static int version_rows(struct store_conn *c, const char *version_id, struct store_res **res,
			struct billing_rate **rows, size_t *n)
{
	const struct store_param p[] = {store_p_text(version_id)};
	int rc = store_exec(c,
			    "SELECT prefix, service, destination, zone, rate, connection_fee, "
			    "initial_s, increment_s, min_duration_s, effective_from, effective_to "
			    "FROM rate_deck_rows WHERE version_id = $1 ORDER BY seq",
			    p, 1, res);
	size_t k;

	*rows = NULL;
	*n = 0;
	if (rc)
		return rc;
	k = store_res_rows(*res);
	if (!(*rows = calloc(k ? k : 1, sizeof(**rows))))
		return -1;
	for (size_t i = 0; i < k; i++) {
		struct billing_rate *r = &(*rows)[i];
		copy_id(r->prefix, sizeof(r->prefix), store_res_text(*res, i, 0));
		r->service =
		    strcmp(store_res_text(*res, i, 1), "sms") ? BILLING_VOICE : BILLING_SMS;
		r->destination = store_res_text(*res, i, 2);
		r->zone = store_res_text(*res, i, 3);
		r->rate = store_res_int(*res, i, 4);
		r->connection_fee = store_res_int(*res, i, 5);
		r->initial_s = (int32_t)store_res_int(*res, i, 6);
		r->increment_s = (int32_t)store_res_int(*res, i, 7);
		r->min_duration_s = (int32_t)store_res_int(*res, i, 8);
		r->effective_from = store_res_int(*res, i, 9);
		r->effective_to = store_res_int(*res, i, 10);
	}
	*n = k;
	return 0;
}

/* The version of meta, from the last snapshot when it has it, else built
 * from its rows.  NULL on a store error; a version whose rows the index
 * refuses (an import would not have stored them) is logged and skipped. */
static int version_deck(struct billing_rating_source *s, struct store_conn *c,
			const struct billing_deck_meta *meta, struct billing_deck **out)
{
	struct store_res *res = NULL;
	struct billing_rate *rows = NULL;
	size_t n = 0, bad = 0;
	int rc;

	*out = NULL;
	if (s->last) {
		struct billing_deck *d =
		    billing_rating_deck(s->last, str_from_cstr(meta->deck_id), meta->number);
		if (d && !strcmp(d->meta.version_id, meta->version_id) &&
		    d->meta.activate_at == meta->activate_at) {
			*out = billing_deck_ref(d);
			return 0;
		}
	}
	rc = version_rows(c, meta->version_id, &res, &rows, &n);
	if (!rc) {
		rc = billing_deck_new(meta, rows, n, out, &bad);
		if (rc) {
			log_warn(LOG_COMPONENT, "deck %s version %lld not indexed: %s (row %zu)",
				 meta->deck_id, (long long)meta->number,
				 billing_prefix_strerror(rc), bad);
			rc = 0;
		}
	}
	free(rows);
	store_res_free(res);
	return rc;
}

/* Whether version i of res (ordered by deck, activation) is of use at now:
 * its successor in the same deck is not activated before the history
 * horizon (it may still price a late or re-rated record). */
static bool version_of_use(const struct store_res *res, size_t i, int64_t now)
{
	size_t n = store_res_rows(res);

	if (i + 1 >= n || strcmp(store_res_text(res, i, 1), store_res_text(res, i + 1, 1)))
		return true; /* the deck's last: in force now or scheduled */
	return store_res_int(res, i + 1, 3) > now - BILLING_RATING_HISTORY_MS;
}

static int load_decks(struct billing_rating_source *s, struct store_conn *c,
		      struct billing_deck ***decks, size_t *ndecks)
{
	struct store_res *res = NULL;
	int64_t now = time_wall_ms();
	int rc = store_exec(c,
			    "SELECT v.id, v.deck_id, v.number, v.activate_at, d.currency, "
			    "d.direction FROM rate_deck_versions v JOIN rate_decks d ON d.id = "
			    "v.deck_id WHERE v.activate_at IS NOT NULL "
			    "ORDER BY v.deck_id, v.activate_at, v.number",
			    NULL, 0, &res);
	size_t n = 0;

	*decks = NULL;
	if (rc)
		goto out;
	rc = -1;
	if (!(*decks = calloc(store_res_rows(res) + 1, sizeof(**decks))))
		goto out;
	rc = 0;
	for (size_t i = 0; i < store_res_rows(res) && !rc; i++) {
		struct billing_deck_meta m = {0};
		if (!version_of_use(res, i, now))
			continue;
		copy_id(m.version_id, sizeof(m.version_id), store_res_text(res, i, 0));
		copy_id(m.deck_id, sizeof(m.deck_id), store_res_text(res, i, 1));
		m.number = store_res_int(res, i, 2);
		m.activate_at = store_res_int(res, i, 3);
		copy_id(m.currency, sizeof(m.currency), store_res_text(res, i, 4));
		m.buy = !strcmp(store_res_text(res, i, 5), "buy");
		rc = version_deck(s, c, &m, &(*decks)[n]);
		if (!rc && (*decks)[n])
			n++;
	}
out:
	*ndecks = n;
	store_res_free(res);
	return rc;
}

/* Fills record i (of a party array) from row i of a result. */
typedef void (*party_fill_fn)(void *rec, const struct store_res *res, size_t i);

/* The rows of sql, each made a record of `size` bytes by fill, into a new
 * array *out of *n records. */
static int load_parties(struct store_conn *c, const char *sql, size_t size, party_fill_fn fill,
			void **out, size_t *n)
{
	struct store_res *res = NULL;
	int rc = store_exec(c, sql, NULL, 0, &res);

	*out = NULL;
	*n = 0;
	if (!rc && !(*out = calloc(store_res_rows(res) + 1, size)))
		rc = -1;
	for (size_t i = 0; !rc && i < store_res_rows(res); i++)
		fill((char *)*out + i * size, res, i);
	if (!rc)
		*n = store_res_rows(res);
	store_res_free(res);
	return rc;
}

static void customer_fill(void *rec, const struct store_res *res, size_t i)
{
	struct billing_customer *cu = rec;

	copy_id(cu->id, sizeof(cu->id), store_res_text(res, i, 0));
	copy_id(cu->currency, sizeof(cu->currency), store_res_text(res, i, 1));
	copy_id(cu->sell_deck_id, sizeof(cu->sell_deck_id), store_res_text(res, i, 2));
	cu->prepaid = !strcmp(store_res_text(res, i, 3), "prepaid");
	cu->credit_limit = store_res_int(res, i, 4);
}

static void trunk_fill(void *rec, const struct store_res *res, size_t i)
{
	struct billing_trunk *t = rec;

	copy_id(t->id, sizeof(t->id), store_res_text(res, i, 0));
	copy_id(t->customer_id, sizeof(t->customer_id), store_res_text(res, i, 1));
	copy_id(t->sell_deck_id, sizeof(t->sell_deck_id), store_res_text(res, i, 2));
}

static void carrier_fill(void *rec, const struct store_res *res, size_t i)
{
	struct billing_carrier *ca = rec;

	copy_id(ca->id, sizeof(ca->id), store_res_text(res, i, 0));
	copy_id(ca->buy_deck_id, sizeof(ca->buy_deck_id), store_res_text(res, i, 1));
}

void *billing_rating_build(struct store_conn *c, void *source)
{
	struct billing_rating_source *s = source;
	struct billing_parties p = {0};
	struct billing_customer *cu = NULL;
	struct billing_trunk *tr = NULL;
	struct billing_carrier *ca = NULL;
	struct billing_deck **decks = NULL;
	struct billing_rating *r = NULL;
	size_t ndecks = 0;
	int rc;

	rc = load_decks(s, c, &decks, &ndecks);
	if (!rc)
		rc = load_parties(c,
				  "SELECT id, currency, COALESCE(sell_deck_id, ''), billing_type, "
				  "credit_limit FROM customers",
				  sizeof(*cu), customer_fill, (void **)&cu, &p.ncustomers);
	/* only trunks with a deck of their own: the rest price as their customer */
	if (!rc)
		rc = load_parties(c,
				  "SELECT id, customer_id, sell_deck_id FROM trunks "
				  "WHERE sell_deck_id IS NOT NULL",
				  sizeof(*tr), trunk_fill, (void **)&tr, &p.ntrunks);
	if (!rc)
		rc = load_parties(c, "SELECT id, COALESCE(buy_deck_id, '') FROM carriers",
				  sizeof(*ca), carrier_fill, (void **)&ca, &p.ncarriers);
	p.customers = cu;
	p.trunks = tr;
	p.carriers = ca;
	if (rc)
		log_warn(LOG_COMPONENT, "rating snapshot not built: %s", store_conn_errmsg(c));
	else if (billing_rating_new(decks, ndecks, &p, &r))
		log_warn(LOG_COMPONENT, "rating snapshot not built (out of memory)");
	if (r) {
		billing_rating_unref(s->last);
		s->last = billing_rating_ref(r);
	}
	for (size_t i = 0; i < ndecks; i++)
		billing_deck_unref(decks[i]);
	free(decks);
	free(cu);
	free(tr);
	free(ca);
	return r;
}
