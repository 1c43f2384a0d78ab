/*
 * netsuite_send.c — one document to NetSuite: a signed PUT by external id
 * (an upsert: a retry after a lost answer updates the record it made
 * instead of making a second), the internal id read from the Location of
 * the 204, and the outcome recorded on the document.  A dry run writes the
 * body to <dry_run_dir>/<externalId>.json instead and records nothing.
 *
 * Synchronous (libcurl's easy interface): it runs in `warp invoice run`,
 * never on an HTTP worker or a role's loop.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "invoice/invoice_private.h"

#define SEND_BODY_MAX (64 * 1024) /* of an answer kept for its error text */

struct send_answer {
	struct buf body;
	char location[512];
};

static size_t answer_body(char *p, size_t size, size_t n, void *arg)
{
	struct send_answer *a = arg;
	if (a->body.len < SEND_BODY_MAX)
		buf_append(&a->body, p, size * n);
	return size * n;
}

static size_t answer_header(char *p, size_t size, size_t n, void *arg)
{
	struct send_answer *a = arg;
	struct str h = {p, size * n};
	if (h.len > 9 && strncasecmp(p, "Location:", 9) == 0) {
		struct str v = {p + 9, h.len - 9};
		while (v.len && (v.p[v.len - 1] == '\r' || v.p[v.len - 1] == '\n'))
			v.len--;
		str_copy(a->location, sizeof(a->location), str_trim(v));
	}
	return h.len;
}

static int send_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	atomic_bool *stop = arg;

	(void)dt, (void)dn, (void)ut, (void)un;
	return stop && atomic_load(stop) ? 1 : 0;
}

static int send_setup(CURL *e, const struct netsuite_opts *o, const char *url,
		      const struct buf *body, struct curl_slist *h, struct send_answer *a,
		      char *errbuf)
{
	CURLcode bad = curl_easy_setopt(e, CURLOPT_URL, url);
	bad |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https,http");
	bad |= curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "PUT");
	bad |= curl_easy_setopt(e, CURLOPT_POSTFIELDS, body->p);
	bad |= curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body->len);
	bad |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	bad |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	bad |= curl_easy_setopt(e, CURLOPT_PROXY, "");
	bad |= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	bad |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)o->timeout_ms);
	bad |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, answer_body);
	bad |= curl_easy_setopt(e, CURLOPT_WRITEDATA, a);
	bad |= curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, answer_header);
	bad |= curl_easy_setopt(e, CURLOPT_HEADERDATA, a);
	bad |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
	bad |= curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
	bad |= curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, send_progress);
	bad |= curl_easy_setopt(e, CURLOPT_XFERINFODATA, o->stop);
	if (o->ca_file && o->ca_file[0])
		bad |= curl_easy_setopt(e, CURLOPT_CAINFO, o->ca_file);
	return bad == CURLE_OK ? 0 : -EINVAL;
}

static int send_put(const struct netsuite_opts *o, const char *url, const char *auth,
		    const struct buf *body, struct invoice_netsuite *ns)
{
	struct send_answer a = {.location = ""};
	struct curl_slist *h = NULL, *h2;
	char authz[2048], errbuf[CURL_ERROR_SIZE] = "";
	long status = 0;
	CURL *e = curl_easy_init();
	int rc = -EIO;

	buf_init(&a.body);
	snprintf(authz, sizeof(authz), "Authorization: %s", auth);
	h = curl_slist_append(NULL, "Content-Type: application/json");
	h2 = h ? curl_slist_append(h, authz) : NULL;
	if (!e || !h2 || send_setup(e, o, url, body, h2, &a, errbuf) < 0) {
		snprintf(ns->error, sizeof(ns->error), "cannot set up the request");
		goto out;
	}
	h = h2;
	CURLcode cc = curl_easy_perform(e);
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	if (cc != CURLE_OK)
		snprintf(ns->error, sizeof(ns->error), "%s",
			 errbuf[0] ? errbuf : curl_easy_strerror(cc));
	else
		rc = netsuite_answer_read(status, a.location, a.body.p, a.body.len, ns->record_id,
					  sizeof(ns->record_id), ns->error, sizeof(ns->error));
out:
	curl_slist_free_all(h);
	curl_easy_cleanup(e);
	buf_fini(&a.body);
	return rc;
}

/* The body into dir/<externalId>.json: a temporary file, synced, renamed. */
static int send_dry(const struct netsuite_opts *o, const struct invoice *inv,
		    const struct buf *body, struct invoice_netsuite *ns)
{
	const char *dir = o->dry_run_dir && o->dry_run_dir[0] ? o->dry_run_dir : ".";
	char tmp[300];
	int fd, rc = 0;

	mkdir(dir, 0755);
	snprintf(ns->file, sizeof(ns->file), "%s/%s.json", dir, inv->external_id);
	snprintf(tmp, sizeof(tmp), "%s.tmp", ns->file);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, body->p, body->len) != (ssize_t)body->len || fsync(fd) < 0)
		rc = -errno;
	if (fd >= 0 && close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, ns->file) < 0)
		rc = -errno;
	if (rc < 0)
		snprintf(ns->error, sizeof(ns->error), "%s: %s", ns->file, strerror(-rc));
	return rc;
}

static const char record_sql[] =
    "UPDATE invoices SET netsuite_state = $2, netsuite_id = $3, netsuite_error = $4,"
    " netsuite_attempts = netsuite_attempts + 1,"
    " netsuite_sent_at = COALESCE($5, netsuite_sent_at), netsuite_next_at = $6 WHERE id = $1";

int64_t netsuite_retry_delay(int64_t attempts, int64_t base_ms, int64_t max_ms, uint32_t rnd)
{
	int64_t d = base_ms > 0 ? base_ms : 1;

	for (int64_t i = 1; i < attempts && d < max_ms; i++)
		d *= 2;
	if (d > max_ms)
		d = max_ms;
	return d / 2 + (int64_t)(rnd % (uint32_t)(d / 2 + 1));
}

/* The outcome on the document: sent, or failed with when to try again. */
static int send_record(struct store_conn *c, const struct netsuite_opts *o, struct invoice *inv,
		       int64_t now_ms)
{
	struct invoice_netsuite *ns = &inv->netsuite;
	bool ok = !ns->error[0];
	uint32_t rnd = 0;

	snprintf(ns->state, sizeof(ns->state), "%s", ok ? "sent" : "failed");
	ns->attempts++;
	if (ok)
		ns->sent_at = now_ms;
	random_bytes(&rnd, sizeof(rnd));
	ns->next_at = ok ? 0
			 : now_ms + netsuite_retry_delay(ns->attempts, o->retry_base_ms,
							 o->retry_max_ms, rnd);
	struct store_param p[6] = {store_p_text(inv->id),
				   store_p_text(ns->state),
				   ns->record_id[0] ? store_p_text(ns->record_id) : store_p_null(),
				   ok ? store_p_null() : store_p_text(ns->error),
				   ok ? store_p_int(now_ms) : store_p_null(),
				   store_p_int(ns->next_at)};
	return store_exec(c, record_sql, p, 6, NULL);
}

/* A fresh nonce and the time, signed for this request. */
static int send_auth(const struct netsuite_opts *o, const char *url, struct buf *auth,
		     int64_t now_ms)
{
	unsigned char raw[16];
	char nonce[33], ts[STR_I64_MAX];
	struct netsuite_oauth oa = {o->account_id, o->consumer_key, o->consumer_secret,
				    o->token_id,   o->token_secret, ts,
				    nonce};

	if (random_bytes(raw, sizeof(raw)) < 0)
		return -EIO;
	hex_encode(raw, sizeof(raw), nonce);
	snprintf(ts, sizeof(ts), "%lld", (long long)(now_ms / 1000));
	return netsuite_oauth_header(&oa, "PUT", url, auth);
}

int netsuite_send(struct store_conn *c, const struct netsuite_opts *o, struct invoice *inv,
		  bool dry, int64_t now_ms)
{
	struct invoice_netsuite *ns = &inv->netsuite;
	struct buf url, body, auth;
	int rc;

	buf_init(&url);
	buf_init(&body);
	buf_init(&auth);
	ns->error[0] = '\0';
	rc = netsuite_request(o, inv, &url, &body, ns->error, sizeof(ns->error));
	if (rc == 0 && dry)
		rc = send_dry(o, inv, &body, ns);
	else if (rc == 0 && send_auth(o, url.p, &auth, now_ms) < 0)
		rc = -EIO, snprintf(ns->error, sizeof(ns->error), "cannot sign the request");
	else if (rc == 0)
		rc = send_put(o, url.p, auth.p, &body, ns);
	if (!dry) {
		int src = send_record(c, o, inv, now_ms);
		rc = rc ? rc : src;
	}
	if (rc < 0)
		log_warn("netsuite", "%s %s: %s", inv->number, inv->external_id, ns->error);
	buf_fini(&url);
	buf_fini(&body);
	buf_fini(&auth);
	return rc;
}
