/*
 * suspend.c — a request answered later, from another thread's news.
 *
 * A handler whose answer waits on work done elsewhere (the batching
 * writer's group commit, a JWKS fetch) must not block its worker thread:
 * every other connection of that thread would wait with it.  It suspends
 * the request instead and returns; the thread that finishes the work calls
 * http_req_resume, which posts the request's own loop_task to the loop of
 * the request's thread (loop_pool_post: storage in the request, so the
 * hand-off cannot fail), and the handler's continuation answers there.
 * Everything of the request (evhttp's request, its body, the handler's
 * state) stays on that thread, as http_private.h requires.
 *
 * evhttp stops reading a connection while its request is with us, so a
 * client that goes away meanwhile is noticed only when the answer is
 * written: evhttp then frees its request and the connection, and the
 * access log shows the answer all the same (it was decided).
 */
#include "http/http_private.h"

#include <stdlib.h>

/* Runs on the request's thread. */
static void suspend_resume_run(void *arg)
{
	struct http_req *req = arg;

	req->suspended = false;
	metric_add(req->srv->suspended, -1);
	log_context_set(req->id);
	req->resume_fn(req, req->resume_arg);
	log_context_set(NULL);
}

void http_req_suspend(struct http_req *req)
{
	if (req->suspended)
		return;
	req->suspended = true;
	metric_add(req->srv->suspended, 1);
}

void http_req_resume(struct http_req *req, http_handler_fn fn, void *arg)
{
	if (!req->suspended) {
		log_error("http", "%s: resumed without being suspended", req->id);
		abort(); /* a second resume would answer a freed request */
	}
	req->resume_fn = fn;
	req->resume_arg = arg;
	req->resume.fn = suspend_resume_run;
	req->resume.arg = req;
	loop_pool_post(req->srv->pool, req->thread, &req->resume);
}
