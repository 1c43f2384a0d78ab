/*
 * load.c — the load-job client: a load file sent to jobs.insert as a
 * multipart upload (uploadType=multipart: a multipart/related body, RFC
 * 2387, of the job's JSON and the file's bytes), then jobs.get every
 * [export] job_poll until status.state is DONE, and errorResult read: no
 * errorResult is success.  The job id is chosen by us and recorded before
 * the upload, so an upload repeated after a restart is answered 409 (the
 * job exists) and the job is only asked about, never run twice.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "export/export_private.h"

/* errorResult reasons that say BigQuery failed, not the file: the load is
 * tried again under a new job id. */
static bool load_reason_retryable(const char *reason)
{
	static const char *const transient[] = {"backendError", "internalError",
						"rateLimitExceeded", "timeout", "quotaExceeded"};

	for (size_t i = 0; i < sizeof(transient) / sizeof(transient[0]); i++)
		if (strcmp(reason, transient[i]) == 0)
			return true;
	return false;
}

int export_job_parse(const char *body, size_t len, char *state, size_t statelen, char *reason,
		     size_t reasonlen, char *message, size_t messagelen)
{
	json_t *o = json_loadb(body, len, 0, NULL);
	json_t *status = json_object_get(o, "status");
	json_t *er = json_object_get(status, "errorResult");
	const char *st = json_string_value(json_object_get(status, "state"));
	int rc = st ? 0 : -EPROTO;

	snprintf(state, statelen, "%s", st ? st : "");
	snprintf(reason, reasonlen, "%s",
		 er ? (json_string_value(json_object_get(er, "reason")) ?: "error") : "");
	snprintf(message, messagelen, "%s",
		 er ? (json_string_value(json_object_get(er, "message")) ?: "") : "");
	json_decref(o);
	return rc;
}

static int load_job_json(struct export *x, struct export_lane *l, const char *job, struct buf *out)
{
	int rc =
	    buf_printf(out,
		       "{\"jobReference\":{\"projectId\":\"%s\",\"jobId\":\"%s\"},"
		       "\"configuration\":{\"load\":{\"sourceFormat\":\"NEWLINE_DELIMITED_JSON\","
		       "\"destinationTable\":{\"projectId\":\"%s\",\"datasetId\":\"%s\","
		       "\"tableId\":\"%s\"},\"createDisposition\":\"CREATE_IF_NEEDED\","
		       "\"writeDisposition\":\"WRITE_APPEND\",\"schema\":{\"fields\":",
		       x->o.project, job, x->o.project, x->o.dataset, l->table->name);

	rc = rc < 0 ? rc : export_schema_json(l->table, out);
	return rc < 0 ? rc : buf_append_cstr(out, "}}}}");
}

/* jobs.insert; 0 when BigQuery has the job (new, or 409: from before). */
static int load_insert(struct export *x, struct export_lane *l, const char *path, const char *job,
		       const char *bearer)
{
	char url[2048], boundary[40], rnd[16], ctype[96];
	struct export_http_resp r = {0};
	struct stat st;
	FILE *f = fopen(path, "r");
	int rc = f && fstat(fileno(f), &st) == 0 && random_bytes(rnd, sizeof(rnd)) == 0 ? 0 : -EIO;

	buf_init(&r.body);
	buf_reset(&x->scratch);
	hex_encode(rnd, 12, boundary);
	snprintf(ctype, sizeof(ctype), "multipart/related; boundary=%s", boundary);
	snprintf(url, sizeof(url), "%s/bigquery/v2/projects/%s/jobs?uploadType=multipart",
		 x->o.upload_url, x->o.project);
	rc = rc ? rc
		: (buf_printf(&x->scratch,
			      "--%s\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n",
			      boundary) < 0
		       ? -ENOMEM
		       : 0);
	rc = rc ? rc : load_job_json(x, l, job, &x->scratch);
	rc = rc ? rc
		: (buf_printf(&x->scratch,
			      "\r\n--%s\r\nContent-Type: application/octet-stream\r\n\r\n",
			      boundary) < 0
		       ? -ENOMEM
		       : 0);
	size_t tail = x->scratch.len;
	rc = rc ? rc : (buf_printf(&x->scratch, "\r\n--%s--\r\n", boundary) < 0 ? -ENOMEM : 0);
	struct export_http_req q = {.method = "POST",
				    .url = url,
				    .content_type = ctype,
				    .bearer = bearer,
				    .head = {x->scratch.p, tail},
				    .tail = {x->scratch.p + tail, x->scratch.len - tail},
				    .file = f,
				    .file_len = rc ? 0 : (int64_t)st.st_size};
	rc = rc ? rc : export_http_do(&x->http, &q, &r);
	if (rc < 0 || (r.status != 200 && r.status != 409)) {
		export_http_failed(x, l, "jobs.insert", &r);
		rc = -EAGAIN;
	}
	if (f)
		fclose(f);
	export_http_resp_fini(&r);
	return rc;
}

/* jobs.get; 0 with the job's state and errorResult, -ENOENT for a 404. */
static int load_get(struct export *x, struct export_lane *l, const char *job, const char *bearer,
		    char *state, char *reason, char *why, size_t whylen)
{
	char url[2048];
	struct export_http_resp r = {0};

	buf_init(&r.body);
	snprintf(url, sizeof(url), "%s/bigquery/v2/projects/%s/jobs/%s", x->o.api_url, x->o.project,
		 job);
	struct export_http_req q = {.method = "GET", .url = url, .bearer = bearer};
	int rc = export_http_do(&x->http, &q, &r);
	if (rc == 0 && r.status == 404)
		rc = -ENOENT;
	else if (rc < 0 || r.status != 200) {
		export_http_failed(x, l, "jobs.get", &r);
		rc = -EAGAIN;
	} else if (export_job_parse(r.body.p, r.body.len, state, 16, reason, 64, why, whylen) < 0) {
		export_lane_failed(x, l, EXPORT_FAIL_JOB, "jobs.get: an answer we cannot read");
		rc = -EAGAIN;
	}
	export_http_resp_fini(&r);
	return rc;
}

int export_load_run(struct export *x, struct export_lane *l, const char *path, const char *job_id,
		    char *why, size_t whylen)
{
	char state[16] = "", reason[64] = "";
	const char *bearer = export_bearer(x, l);
	int rc = bearer ? load_insert(x, l, path, job_id, bearer) : -EAGAIN;

	while (rc == 0) {
		if ((rc = load_get(x, l, job_id, bearer, state, reason, why, whylen)) < 0)
			break;
		log_debug("export", "%s: job %s %s", l->cur.stream, job_id, state);
		if (strcmp(state, "DONE") == 0)
			break;
		if (!export_sleep(x, x->o.job_poll_ms))
			return -EINTR;
	}
	if (rc == -ENOENT) { /* inserted, then unknown: insert it again next time */
		export_lane_failed(x, l, EXPORT_FAIL_JOB, "jobs.get: job %s not found", job_id);
		return -EAGAIN;
	}
	if (rc < 0 || !reason[0])
		return rc;
	char msg[EXPORT_ERR_MAX];
	snprintf(msg, sizeof(msg), "%s", why);
	snprintf(why, whylen, "%s: %s", reason, msg);
	return load_reason_retryable(reason) ? -ECANCELED : -EPROTO;
}
