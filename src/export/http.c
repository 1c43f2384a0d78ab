/*
 * http.c — the export thread's HTTPS exchanges: curl easy handles kept
 * between requests so the connections to BigQuery are reused, one at a
 * time (export_http_do) or several at once through a multi handle
 * (export_http_do_many: a lane's insertAll requests in flight together).  A body is sent
 * from memory parts and at most one open file between them, so a load
 * file of any size is streamed as it is read.  A stop request abandons the
 * exchange in flight (its rows are sent again on the next start).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "export/export_private.h"

static pthread_once_t http_curl_once = PTHREAD_ONCE_INIT;

static void http_curl_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

int export_http_init(struct export_http *h, const char *ca_file, int64_t timeout_ms,
		     atomic_bool *stop)
{
	bool ok;

	pthread_once(&http_curl_once, http_curl_init);
	h->ca_file = ca_file;
	h->timeout_ms = timeout_ms;
	h->stop = stop;
	h->multi = curl_multi_init();
	ok = h->multi != NULL;
	for (size_t i = 0; i < EXPORT_INFLIGHT_MAX; i++)
		ok &= (h->easy[i] = curl_easy_init()) != NULL;
	return ok ? 0 : -ENOMEM;
}

void export_http_fini(struct export_http *h)
{
	for (size_t i = 0; i < EXPORT_INFLIGHT_MAX; i++) {
		if (h->easy[i])
			curl_easy_cleanup(h->easy[i]);
		h->easy[i] = NULL;
	}
	if (h->multi)
		curl_multi_cleanup(h->multi);
	h->multi = NULL;
}

void export_http_resp_fini(struct export_http_resp *r)
{
	buf_fini(&r->body);
}

/* Where the body being sent has got to. */
struct http_send {
	const struct export_http_req *q;
	int part; /* 0 head, 1 file, 2 tail */
	size_t off;
};

static size_t http_mem_read(const struct export_body_part *m, struct http_send *s, char *to,
			    size_t n)
{
	size_t k = m->len - s->off < n ? m->len - s->off : n;

	memcpy(to, m->p + s->off, k);
	s->off += k;
	return k;
}

static size_t http_read(char *to, size_t size, size_t nmemb, void *arg)
{
	struct http_send *s = arg;
	size_t n = size * nmemb;

	while (s->part < 3) {
		size_t k = 0;
		if (s->part == 0)
			k = http_mem_read(&s->q->head, s, to, n);
		else if (s->part == 2)
			k = http_mem_read(&s->q->tail, s, to, n);
		else if (s->q->file)
			k = fread(to, 1, n, s->q->file);
		if (k > 0)
			return k;
		if (s->part == 1 && s->q->file && ferror(s->q->file))
			return CURL_READFUNC_ABORT;
		s->part++;
		s->off = 0;
	}
	return 0;
}

static size_t http_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct buf *b = arg;
	size_t n = size * nmemb;

	if (b->len + n > EXPORT_HTTP_BODY_MAX || buf_append(b, data, n) < 0)
		return 0; /* curl fails the transfer: CURLE_WRITE_ERROR */
	return n;
}

static int http_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	const struct export_http *h = arg;

	return atomic_load(h->stop) ? 1 : 0;
}

static struct curl_slist *http_headers(const struct export_http_req *q)
{
	char line[4096];
	struct curl_slist *l = curl_slist_append(NULL, "Expect:"), *t;

	if (l && q->content_type) {
		snprintf(line, sizeof(line), "Content-Type: %s", q->content_type);
		l = (t = curl_slist_append(l, line)) ? t : (curl_slist_free_all(l), NULL);
	}
	if (l && q->bearer && q->bearer[0]) {
		snprintf(line, sizeof(line), "Authorization: Bearer %s", q->bearer);
		l = (t = curl_slist_append(l, line)) ? t : (curl_slist_free_all(l), NULL);
	}
	return l;
}

static int http_setup(struct export_http *h, CURL *e, const struct export_http_req *q,
		      struct export_http_resp *r, struct http_send *s, struct curl_slist *hdrs)
{
	bool post = strcmp(q->method, "POST") == 0;
	curl_off_t len = (curl_off_t)(q->head.len + q->tail.len) + (q->file ? q->file_len : 0);
	int bad = 0;

	curl_easy_reset(e);
	bad |= curl_easy_setopt(e, CURLOPT_URL, q->url);
	bad |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	bad |= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	bad |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	bad |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)h->timeout_ms);
	bad |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
	bad |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, http_write);
	bad |= curl_easy_setopt(e, CURLOPT_WRITEDATA, &r->body);
	bad |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->err);
	bad |= curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
	bad |= curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, http_progress);
	bad |= curl_easy_setopt(e, CURLOPT_XFERINFODATA, h);
	if (h->ca_file && h->ca_file[0])
		bad |= curl_easy_setopt(e, CURLOPT_CAINFO, h->ca_file);
	if (post) {
		bad |= curl_easy_setopt(e, CURLOPT_POST, 1L);
		bad |= curl_easy_setopt(e, CURLOPT_READFUNCTION, http_read);
		bad |= curl_easy_setopt(e, CURLOPT_READDATA, s);
		bad |= curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, len);
	}
	return bad ? -EINVAL : 0;
}

static void http_resp_reset(struct export_http_resp *r)
{
	r->status = 0;
	r->err[0] = '\0';
	buf_reset(&r->body);
}

/* How an exchange that curl ended with cc went, into r. */
static int http_done(CURL *e, CURLcode cc, struct export_http_resp *r)
{
	if (cc != CURLE_OK) {
		if (!r->err[0])
			snprintf(r->err, sizeof(r->err), "%s", curl_easy_strerror(cc));
		r->status = 0;
		return -EIO;
	}
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r->status);
	return 0;
}

int export_http_do(struct export_http *h, const struct export_http_req *q,
		   struct export_http_resp *r)
{
	struct http_send s = {.q = q};
	struct curl_slist *hdrs = http_headers(q);
	int rc = -ENOMEM;

	http_resp_reset(r);
	if (hdrs && (rc = http_setup(h, h->easy[0], q, r, &s, hdrs)) == 0)
		rc = http_done(h->easy[0], curl_easy_perform(h->easy[0]), r);
	curl_slist_free_all(hdrs);
	return rc;
}

/* Runs the multi handle until none of its transfers is left; each that
 * ends is read into the response its private pointer names. */
static void http_multi_run(struct export_http *h)
{
	int running = 1, left;

	while (running) {
		if (curl_multi_perform(h->multi, &running) != CURLM_OK)
			break;
		CURLMsg *m;
		while ((m = curl_multi_info_read(h->multi, &left)))
			if (m->msg == CURLMSG_DONE) {
				struct export_http_resp *r = NULL;
				curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
				http_done(m->easy_handle, m->data.result, r);
			}
		/* a stop aborts each transfer through its progress callback */
		if (running && curl_multi_poll(h->multi, NULL, 0, 100, NULL) != CURLM_OK)
			break;
	}
}

void export_http_do_many(struct export_http *h, const struct export_http_req *q,
			 struct export_http_resp *r, size_t n)
{
	struct http_send s[EXPORT_INFLIGHT_MAX];
	struct curl_slist *hdrs[EXPORT_INFLIGHT_MAX] = {0};
	size_t added = 0;

	for (size_t i = 0; i < n && i < EXPORT_INFLIGHT_MAX; i++) {
		http_resp_reset(&r[i]);
		s[i] = (struct http_send){.q = &q[i]};
		hdrs[i] = http_headers(&q[i]);
		if (!hdrs[i] || http_setup(h, h->easy[i], &q[i], &r[i], &s[i], hdrs[i]) < 0 ||
		    curl_easy_setopt(h->easy[i], CURLOPT_PRIVATE, (char *)&r[i]) != CURLE_OK ||
		    curl_multi_add_handle(h->multi, h->easy[i]) != CURLM_OK) {
			snprintf(r[i].err, sizeof(r[i].err), "cannot set up the request");
			continue;
		}
		added |= (size_t)1 << i;
	}
	http_multi_run(h);
	for (size_t i = 0; i < n && i < EXPORT_INFLIGHT_MAX; i++) {
		if (added & ((size_t)1 << i))
			curl_multi_remove_handle(h->multi, h->easy[i]);
		curl_slist_free_all(hdrs[i]);
	}
}
