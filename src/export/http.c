/*
 * http.c — the export thread's HTTPS exchanges: one curl easy handle, kept
 * between requests so the connection to BigQuery is reused.  A body is sent
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
	pthread_once(&http_curl_once, http_curl_init);
	h->easy = curl_easy_init();
	h->ca_file = ca_file;
	h->timeout_ms = timeout_ms;
	h->stop = stop;
	return h->easy ? 0 : -ENOMEM;
}

void export_http_fini(struct export_http *h)
{
	if (h->easy)
		curl_easy_cleanup(h->easy);
	h->easy = NULL;
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

static int http_setup(struct export_http *h, const struct export_http_req *q,
		      struct export_http_resp *r, struct http_send *s, struct curl_slist *hdrs)
{
	CURL *e = h->easy;
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

int export_http_do(struct export_http *h, const struct export_http_req *q,
		   struct export_http_resp *r)
{
	struct http_send s = {.q = q};
	struct curl_slist *hdrs = http_headers(q);
	int rc = -ENOMEM;

	r->status = 0;
	r->err[0] = '\0';
	buf_reset(&r->body);
	if (!hdrs || (rc = http_setup(h, q, r, &s, hdrs)) < 0)
		goto out;
	CURLcode cc = curl_easy_perform(h->easy);
	if (cc != CURLE_OK) {
		if (!r->err[0])
			snprintf(r->err, sizeof(r->err), "%s", curl_easy_strerror(cc));
		rc = -EIO;
		goto out;
	}
	curl_easy_getinfo(h->easy, CURLINFO_RESPONSE_CODE, &r->status);
	rc = 0;
out:
	curl_slist_free_all(hdrs);
	return rc;
}
