/*
 * snapshot.c — builds the compliance snapshot ("tendlc_smsc",
 * "tendlc_api") from the store on the snapshot loader's thread: the
 * campaigns, the numbers bound to them
 * (sorted for a binary search by digits), the opt-outs (sorted by sender
 * or brand, then recipient) and the enabled content rules with their
 * patterns lowered once here, never per message, and the portability
 * prefixes (throughput.c, decision 0050).  Each send path (the
 * smsc's SMPP server, the api's POST /api/v1/messages) registers its own
 * copy with the process's loader; both are rebuilt when the config
 * version changes, which every write of these tables bumps.
 */
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tendlc/tendlc_private.h"

#define CAMPAIGNS_SQL                                                                              \
	"SELECT c.id, c.brand_id, c.customer_id, c.status, c.opt_in_text, c.opt_out_text, "        \
	"c.help_text, c.throughput, b.vetting_score FROM campaigns c LEFT JOIN brands b ON b.id "  \
	"= "                                                                                       \
	"c.brand_id"
#define NUMBERS_SQL                                                                                \
	"SELECT n.e164, cn.campaign_id FROM campaign_numbers cn JOIN numbers n ON n.id = "         \
	"cn.number_id"
#define OPTOUTS_SQL "SELECT number, recipient, brand_id, customer_id FROM opt_outs"
#define RULES_SQL                                                                                  \
	"SELECT name, match, patterns, action FROM content_rules WHERE enabled <> 0 ORDER BY name"

int tendlc_digits(struct str a, char out[TENDLC_DIGITS_MAX + 1])
{
	if (a.p && a.len && a.p[0] == '+') {
		a.p++;
		a.len--;
	}
	if (!a.p || a.len == 0 || a.len > TENDLC_DIGITS_MAX)
		return -1;
	for (size_t i = 0; i < a.len; i++)
		if (a.p[i] < '0' || a.p[i] > '9')
			return -1;
	memcpy(out, a.p, a.len);
	out[a.len] = '\0';
	return 0;
}

int tendlc_number_cmp(const void *a, const void *b)
{
	return strcmp(((const struct tendlc_number *)a)->digits,
		      ((const struct tendlc_number *)b)->digits);
}

void tendlc_optout_scope(char out[TENDLC_SCOPE_MAX], const char *customer, const char *kind,
			 const char *key)
{
	snprintf(out, TENDLC_SCOPE_MAX, "%.*s|%s%.*s", ID_MAX - 1, customer, kind, ID_MAX - 1, key);
}

int tendlc_optout_cmp(const void *a, const void *b)
{
	const struct tendlc_optout *x = a, *y = b;
	int c = strcmp(x->scope, y->scope);
	return c ? c : strcmp(x->recipient, y->recipient);
}

static void snap_free(void *data)
{
	struct tendlc_snap *s = data;

	if (!s)
		return;
	for (size_t i = 0; i < s->ncampaigns; i++) {
		free(s->campaigns[i].opt_in_text);
		free(s->campaigns[i].opt_out_text);
		free(s->campaigns[i].help_text);
	}
	for (size_t i = 0; i < s->nrules; i++) {
		for (size_t k = 0; k < s->rules[i].npatterns; k++)
			free(s->rules[i].patterns[k]);
		free(s->rules[i].patterns);
		free(s->rules[i].name);
	}
	free(s->campaigns);
	free(s->numbers);
	free(s->optouts);
	free(s->rules);
	free(s->prefixes);
	free(s);
}

static void copy_id(char *dst, size_t n, const char *s)
{
	if (str_copy(dst, n, str_from_cstr(s)) < 0)
		dst[0] = '\0';
}

static int load_campaigns(struct store_conn *c, struct tendlc_snap *s)
{
	struct store_res *r = NULL;
	int rc = store_exec(c, CAMPAIGNS_SQL, NULL, 0, &r);
	size_t n = rc == 0 ? store_res_rows(r) : 0;

	if (rc == 0 && !(s->campaigns = calloc(n + 1, sizeof(*s->campaigns))))
		rc = -ENOMEM;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct tendlc_campaign *k = &s->campaigns[s->ncampaigns++];
		copy_id(k->id, sizeof(k->id), store_res_text(r, i, 0));
		copy_id(k->brand_id, sizeof(k->brand_id), store_res_text(r, i, 1));
		copy_id(k->customer_id, sizeof(k->customer_id), store_res_text(r, i, 2));
		k->active = strcmp(store_res_text(r, i, 3), "active") == 0;
		k->opt_in_text = strdup(store_res_text(r, i, 4));
		k->opt_out_text = strdup(store_res_text(r, i, 5));
		k->help_text = strdup(store_res_text(r, i, 6));
		tendlc_campaign_throughput(k, store_res_text(r, i, 7), store_res_int(r, i, 8));
		if (!k->opt_in_text || !k->opt_out_text || !k->help_text)
			rc = -ENOMEM;
	}
	store_res_free(r);
	return rc;
}

static size_t campaign_index(const struct tendlc_snap *s, const char *id)
{
	for (size_t i = 0; i < s->ncampaigns; i++) /* the loader's thread: once per number */
		if (strcmp(s->campaigns[i].id, id) == 0)
			return i;
	return s->ncampaigns;
}

static int load_numbers(struct store_conn *c, struct tendlc_snap *s)
{
	struct store_res *r = NULL;
	int rc = store_exec(c, NUMBERS_SQL, NULL, 0, &r);
	size_t n = rc == 0 ? store_res_rows(r) : 0;

	if (rc == 0 && !(s->numbers = calloc(n + 1, sizeof(*s->numbers))))
		rc = -ENOMEM;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct tendlc_number *k = &s->numbers[s->nnumbers];
		k->campaign = campaign_index(s, store_res_text(r, i, 1));
		if (tendlc_digits(str_from_cstr(store_res_text(r, i, 0)), k->digits) == 0 &&
		    k->campaign < s->ncampaigns)
			s->nnumbers++;
	}
	store_res_free(r);
	if (s->nnumbers > 1)
		qsort(s->numbers, s->nnumbers, sizeof(*s->numbers), tendlc_number_cmp);
	return rc;
}

/* The brand an opt-out stops, brand-wide: the one it was recorded under,
 * else its number's campaign's. */
static const char *optout_brand(const struct tendlc_snap *s, const char *brand,
				const struct tendlc_number *key)
{
	const struct tendlc_number *n;

	if (brand[0])
		return brand;
	n = s->nnumbers ? bsearch(key, s->numbers, s->nnumbers, sizeof(*n), tendlc_number_cmp)
			: NULL;
	return n ? s->campaigns[n->campaign].brand_id : "";
}

static int load_optouts(struct store_conn *c, struct tendlc_snap *s)
{
	struct store_res *r = NULL;
	int rc = store_exec(c, OPTOUTS_SQL, NULL, 0, &r);
	size_t n = rc == 0 ? store_res_rows(r) : 0;

	if (rc == 0 && !(s->optouts = calloc(2 * n + 1, sizeof(*s->optouts))))
		rc = -ENOMEM;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct tendlc_number num;
		struct tendlc_optout *k = &s->optouts[s->noptouts];
		if (tendlc_digits(str_from_cstr(store_res_text(r, i, 0)), num.digits) < 0 ||
		    tendlc_digits(str_from_cstr(store_res_text(r, i, 1)), k->recipient) < 0)
			continue;
		const char *customer = store_res_text(r, i, 3);
		tendlc_optout_scope(k->scope, customer, "", num.digits);
		s->noptouts++;
		const char *brand = optout_brand(s, store_res_text(r, i, 2), &num);
		if (!s->opts.opt_out_brand_wide || !brand[0])
			continue;
		struct tendlc_optout *b = &s->optouts[s->noptouts++];
		tendlc_optout_scope(b->scope, customer, "b:", brand);
		memcpy(b->recipient, k->recipient, sizeof(b->recipient));
	}
	store_res_free(r);
	if (s->noptouts > 1)
		qsort(s->optouts, s->noptouts, sizeof(*s->optouts), tendlc_optout_cmp);
	return rc;
}

/* A pattern as the matchers compare it: lowercase ASCII, words separated
 * by one space, no space at either end. */
static char *pattern_norm(const char *p)
{
	char *out = malloc(strlen(p) + 1);
	size_t n = 0;

	if (!out)
		return NULL;
	for (; *p; p++) {
		unsigned char ch = (unsigned char)*p;
		if (ch == ' ' || ch == '\t') {
			if (n && out[n - 1] != ' ')
				out[n++] = ' ';
			continue;
		}
		out[n++] = (char)(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch);
	}
	while (n && out[n - 1] == ' ')
		n--;
	out[n] = '\0';
	return out;
}

static int rule_patterns(struct tendlc_rule_c *k, const char *text)
{
	json_t *list = json_loads(text, 0, NULL), *v;
	size_t i;
	int rc = 0;

	if (json_is_array(list) && json_array_size(list) &&
	    !(k->patterns = calloc(json_array_size(list), sizeof(*k->patterns))))
		rc = -ENOMEM;
	json_array_foreach(list, i, v)
	{
		if (rc < 0 || !json_is_string(v) || !json_string_length(v))
			continue;
		if (!(k->patterns[k->npatterns] = pattern_norm(json_string_value(v))))
			rc = -ENOMEM;
		else if (k->patterns[k->npatterns][0])
			k->npatterns++;
		else
			free(k->patterns[k->npatterns]);
	}
	json_decref(list);
	return rc;
}

static int load_rules(struct store_conn *c, struct tendlc_snap *s, struct metric_family *refused,
		      struct metric_family *tagged)
{
	struct store_res *r = NULL;
	int rc = store_exec(c, RULES_SQL, NULL, 0, &r);
	size_t n = rc == 0 ? store_res_rows(r) : 0;

	if (rc == 0 && !(s->rules = calloc(n + 1, sizeof(*s->rules))))
		rc = -ENOMEM;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct tendlc_rule_c *k = &s->rules[s->nrules++];
		k->domain = strcmp(store_res_text(r, i, 1), "domain") == 0;
		k->tag = strcmp(store_res_text(r, i, 3), "tag") == 0;
		k->hold = strcmp(store_res_text(r, i, 3), "hold") == 0;
		k->name = strdup(store_res_text(r, i, 0));
		rc = k->name ? rule_patterns(k, store_res_text(r, i, 2)) : -ENOMEM;
		k->m = k->name ? metric_get(k->tag || k->hold ? tagged : refused, k->name) : NULL;
	}
	store_res_free(r);
	return rc;
}

static void *snap_build(struct store_conn *c, void *arg)
{
	struct tendlc_snap *s = calloc(1, sizeof(*s));
	struct metrics *m = metrics_default();
	struct metric_family *refused = metrics_counter(
	    m, "warp_tendlc_refusals_total",
	    "MT refused before it was queued by a 10DLC rule (decision 0041), by rule.", "rule");
	struct metric_family *tagged =
	    metrics_counter(m, "warp_tendlc_tags_total",
			    "MT that matched a tagging content rule, by rule.", "rule");

	if (!s)
		return NULL;
	s->opts.opt_out_brand_wide = ((uintptr_t)arg & 1u) != 0;
	s->m_unregistered = metric_get(refused, "unregistered_long_code");
	s->m_opted_out = metric_get(refused, "opted_out");
	if (load_campaigns(c, s) < 0 || load_numbers(c, s) < 0 || load_optouts(c, s) < 0 ||
	    load_rules(c, s, refused, tagged) < 0 || tendlc_load_prefixes(c, s) < 0) {
		snap_free(s);
		return NULL;
	}
	return s;
}

/* The options travel in the build's arg as bits (TENDLC_OPT_*), not as a
 * pointer: the loader may still rebuild while the registering role is
 * being freed at shutdown, and keeps no free hook for arg. */
#define TENDLC_OPT_BRAND_WIDE 1u

struct snapshot *tendlc_snapshot_register(struct snapshot_loader *l, const char *role,
					  const struct tendlc_opts *o)
{
	uintptr_t bits = o->opt_out_brand_wide ? TENDLC_OPT_BRAND_WIDE : 0;
	char name[32];

	/* One name a copy: the loader's metrics are labelled by it. */
	snprintf(name, sizeof(name), "tendlc_%s", role);
	return snapshot_register(l, name, snap_build, snap_free, (void *)bits);
}
