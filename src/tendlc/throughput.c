/*
 * throughput.c — the US carriers' throughput limits on 10DLC traffic
 * (decision 0050): which carrier a destination is on (the portability /
 * prefix table, longest prefix), what a campaign may send it a window
 * (AT&T's messages a minute by message class, or the campaign's own
 * sms_tpm for any carrier) and what its brand may send T-Mobile a day (by
 * vetting score, or the campaign's daily_cap), and the windows that count
 * them.  A window lets `limit` through; what comes over it is promised to
 * the next window with room, so each held message is written once with
 * the time it is to be tried again and waits in the queue costing nothing.
 */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tendlc/tendlc_private.h"

#define PREFIXES_SQL "SELECT prefix, carrier FROM carrier_prefixes"
#define DAY_MS 86400000LL
#define HOUR_MS 3600000LL

static const char *const carrier_names[TENDLC_CARRIERS] = {"other", "att", "tmobile", "verizon"};

const char *tendlc_carrier_name(enum tendlc_carrier c)
{
	return c < TENDLC_CARRIERS ? carrier_names[c] : "other";
}

int tendlc_carrier_parse(struct str s)
{
	for (int i = 0; i < TENDLC_CARRIERS; i++)
		if (str_caseeq_cstr(s, carrier_names[i]))
			return i;
	return -1;
}

/* ----------------------------------------------------- prefix table */

int tendlc_prefix_cmp(const void *a, const void *b)
{
	return strcmp(((const struct tendlc_prefix *)a)->digits,
		      ((const struct tendlc_prefix *)b)->digits);
}

int tendlc_load_prefixes(struct store_conn *c, struct tendlc_snap *s)
{
	struct store_res *r = NULL;
	int rc = store_exec(c, PREFIXES_SQL, NULL, 0, &r);
	size_t n = rc == 0 ? store_res_rows(r) : 0;

	if (rc == 0 && !(s->prefixes = calloc(n + 1, sizeof(*s->prefixes))))
		rc = -ENOMEM;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct tendlc_prefix *k = &s->prefixes[s->nprefixes];
		int carrier = tendlc_carrier_parse(str_from_cstr(store_res_text(r, i, 1)));
		if (carrier >= 0 &&
		    tendlc_digits(str_from_cstr(store_res_text(r, i, 0)), k->digits) == 0) {
			k->carrier = (enum tendlc_carrier)carrier;
			s->nprefixes++;
		}
	}
	store_res_free(r);
	if (s->nprefixes > 1)
		qsort(s->prefixes, s->nprefixes, sizeof(*s->prefixes), tendlc_prefix_cmp);
	return rc;
}

/* hot path: no allocation, no locks, no I/O
 * At most 15 lookups, longest first: the table holds whole numbers (ported
 * ones) beside NPA-NXX blocks, and the longest says where it is now. */
enum tendlc_carrier tendlc_carrier_of(const struct tendlc_snap *s, struct str to)
{
	struct tendlc_prefix key = {.carrier = TENDLC_CARRIER_OTHER};

	if (!s || !s->nprefixes || tendlc_digits(to, key.digits) < 0)
		return TENDLC_CARRIER_OTHER;
	for (size_t len = strlen(key.digits); len > 0; len--) {
		key.digits[len] = '\0';
		const struct tendlc_prefix *p =
		    bsearch(&key, s->prefixes, s->nprefixes, sizeof(key), tendlc_prefix_cmp);
		if (p)
			return p->carrier;
	}
	return TENDLC_CARRIER_OTHER;
}

/* ------------------------------------------------ campaigns' limits */

static int64_t json_count(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);
	return json_is_integer(v) && json_integer_value(v) >= 0 ? (int64_t)json_integer_value(v)
								: -1;
}

/* The campaign's throughput JSON as the registry and carriers gave it:
 * {"att": {"class": "T", "sms_tpm": 75}, "tmobile": {"daily_cap": 2000},
 * "verizon": {"sms_tpm": 6000}}; what is malformed is as if not given. */
void tendlc_campaign_throughput(struct tendlc_campaign *k, const char *text, int64_t score)
{
	json_t *t = json_loads(text ? text : "{}", 0, NULL);
	const char *cls;

	k->att_class = '\0';
	k->daily_cap = -1;
	k->vetting_score = score;
	for (int i = 0; i < TENDLC_CARRIERS; i++)
		k->sms_tpm[i] = json_count(json_object_get(t, carrier_names[i]), "sms_tpm");
	cls = json_string_value(json_object_get(json_object_get(t, "att"), "class"));
	if (cls && strlen(cls) == 1 && cls[0] >= 'A' && cls[0] <= 'Z')
		k->att_class = cls[0];
	k->daily_cap = json_count(json_object_get(t, "tmobile"), "daily_cap");
	json_decref(t);
}

static int64_t tmobile_cap(const struct tendlc_limits *l, int64_t score)
{
	for (size_t i = 0; i < l->ntmobile; i++)
		if (score >= l->tmobile[i].min_score)
			return l->tmobile[i].cap;
	return 0;
}

/* hot path: no allocation, no locks, no I/O */
int tendlc_mt_limits(const struct tendlc_snap *s, const struct tendlc_limits *l, struct str from,
		     struct str to, struct tendlc_mt_limits *out)
{
	const struct tendlc_campaign *c = tendlc_campaign_of(s, from);

	if (!c || !c->active || !tendlc_is_us_destination(to))
		return 0;
	enum tendlc_carrier k = tendlc_carrier_of(s, to);
	*out = (struct tendlc_mt_limits){c->id, c->brand_id, k, 0, 0};
	if (c->sms_tpm[k] >= 0)
		out->per_window = c->sms_tpm[k];
	else if (k == TENDLC_CARRIER_ATT && c->att_class)
		out->per_window = l->att_class[c->att_class - 'A'];
	if (k == TENDLC_CARRIER_TMOBILE)
		out->per_day = c->daily_cap >= 0 ? c->daily_cap : tmobile_cap(l, c->vetting_score);
	return 1;
}

/* "K:V,K:V": each pair to f; -1 on a malformed one. */
static int pairs_parse(const char *text, int (*f)(struct str k, int64_t v, struct tendlc_limits *),
		       struct tendlc_limits *out)
{
	struct str rest = str_from_cstr(text);

	while (rest.len) {
		ptrdiff_t c = str_index(rest, ',');
		struct str item = str_trim((struct str){rest.p, c < 0 ? rest.len : (size_t)c});
		ptrdiff_t colon = str_index(item, ':');
		int64_t v;
		if (colon <= 0 ||
		    str_to_i64(
			str_trim((struct str){item.p + colon + 1, item.len - (size_t)colon - 1}),
			&v) < 0 ||
		    v < 0 || f(str_trim((struct str){item.p, (size_t)colon}), v, out) < 0)
			return -1;
		rest.p += c < 0 ? rest.len : (size_t)c + 1;
		rest.len -= c < 0 ? rest.len : (size_t)c + 1;
	}
	return 0;
}

static int att_pair(struct str k, int64_t v, struct tendlc_limits *out)
{
	char ch = k.len == 1 ? k.p[0] : '\0';
	if (ch >= 'a' && ch <= 'z')
		ch = (char)(ch - 'a' + 'A');
	if (ch < 'A' || ch > 'Z')
		return -1;
	out->att_class[ch - 'A'] = v;
	return 0;
}

static int tmobile_pair(struct str k, int64_t v, struct tendlc_limits *out)
{
	int64_t score;
	size_t i = out->ntmobile;

	if (i == TENDLC_TIERS_MAX || str_to_i64(k, &score) < 0)
		return -1;
	/* Kept highest score first: the first tier a score reaches is its. */
	while (i > 0 && out->tmobile[i - 1].min_score < score) {
		out->tmobile[i] = out->tmobile[i - 1];
		i--;
	}
	out->tmobile[i].min_score = score;
	out->tmobile[i].cap = v;
	out->ntmobile++;
	return 0;
}

int tendlc_limits_parse(const char *att, const char *tmobile, int64_t window_ms,
			struct tendlc_limits *out)
{
	memset(out, 0, sizeof(*out));
	out->window_ms = window_ms;
	if (window_ms <= 0 || pairs_parse(att ? att : "", att_pair, out) < 0 ||
	    pairs_parse(tmobile ? tmobile : "", tmobile_pair, out) < 0)
		return -1;
	return 0;
}

/* ------------------------------------------------------------ windows */

static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400, yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

/* The n-th Sunday (1-based) of month m of year y, as days since 1970. */
static int64_t nth_sunday(int64_t y, int64_t m, int n)
{
	int64_t first = days_from_civil(y, m, 1);
	int64_t wday = ((first % 7) + 11) % 7; /* 1970-01-01 was a Thursday: 0 is Sunday */
	return first + (7 - wday) % 7 + 7 * (n - 1);
}

/* UTC minus Pacific time at the instant ms: 8 hours, 7 while daylight time
 * runs (15 U.S.C. §260a: from the second Sunday of March, 2:00 PST = 10:00
 * UTC, to the first Sunday of November, 2:00 PDT = 09:00 UTC). */
static int64_t pacific_behind(int64_t ms)
{
	time_t t = (time_t)(ms / 1000 - 8 * 3600);
	struct tm tm;

	if (!gmtime_r(&t, &tm))
		return 8 * HOUR_MS;
	int64_t y = tm.tm_year + 1900;
	int64_t on = nth_sunday(y, 3, 2) * DAY_MS + 10 * HOUR_MS;
	int64_t off = nth_sunday(y, 11, 1) * DAY_MS + 9 * HOUR_MS;
	return ms >= on && ms < off ? 7 * HOUR_MS : 8 * HOUR_MS;
}

/* Midnights are two hours from a change of offset, so the offset an hour
 * off still gives the right one. */
void tendlc_pacific_day(int64_t ms, int64_t *start, int64_t *end)
{
	int64_t local = ms - pacific_behind(ms);
	int64_t day = (local >= 0 ? local : local - DAY_MS + 1) / DAY_MS * DAY_MS;

	*start = day + pacific_behind(day + pacific_behind(ms));
	*end = day + DAY_MS + pacific_behind(day + DAY_MS + pacific_behind(ms));
}

static void window_at(int64_t window_ms, int64_t t, int64_t *start, int64_t *end)
{
	if (window_ms == TENDLC_WINDOW_PACIFIC_DAY) {
		tendlc_pacific_day(t, start, end);
		return;
	}
	*start = t - (t % window_ms + window_ms) % window_ms;
	*end = *start + window_ms;
}

bool tendlc_window_room(const struct tendlc_window *w, int64_t window_ms, int64_t limit,
			int64_t now)
{
	int64_t start, end;

	window_at(window_ms, now, &start, &end);
	return w->start != start ? limit > 0 : w->used < limit;
}

int64_t tendlc_window_take(struct tendlc_window *w, int64_t window_ms, int64_t limit, int64_t now)
{
	int64_t start, end;

	window_at(window_ms, now, &start, &end);
	if (w->start != start) {
		w->start = start;
		w->end = end;
		w->used = 0;
	}
	if (w->used < limit) {
		w->used++;
		return 0;
	}
	/* Over: promised to the first later window with room.  Those promised
	 * come due at its start, ahead of what arrives in it, and take its
	 * slots first; whatever is late or extra is promised on again. */
	if (w->tail_start < w->end) {
		w->tail_start = w->end;
		w->tail_used = 0;
	}
	if (w->tail_used >= limit) {
		window_at(window_ms, w->tail_start, &start, &end);
		w->tail_start = end;
		w->tail_used = 0;
	}
	w->tail_used++;
	return w->tail_start;
}
