/*
 * verify.c — bind passwords checked on a thread of their own.  A PBKDF2
 * check costs tens of milliseconds of CPU by design; on the session thread
 * it would hold up every other session's submits for that long per bind.
 * Jobs are checked in arrival order and handed back to the session thread
 * with loop_pool_call.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "smsc/smsc_private.h"

struct smsc_verify {
	struct loop_pool *back;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct smsc_verify_job *head, *tail;
	bool stopping;
	pthread_t thread;
};

static void verify_done(void *arg)
{
	struct smsc_verify_job *j = arg;
	j->done(j);
}

/* The job goes back to the session thread, never finished here: its done
 * callback touches the session, which only that thread may.  loop_pool_call
 * fails only when it cannot allocate; wait for memory a while, and if there
 * is none for seconds stop the process — every message it acknowledged is
 * already in the store. */
static void verify_hand_back(struct smsc_verify *v, struct smsc_verify_job *j)
{
	for (int tries = 0; loop_pool_call(v->back, 0, verify_done, j) < 0; tries++) {
		if (tries == 500) {
			log_error("smsc", "out of memory handing a bind check back; stopping");
			abort();
		}
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
}

static void *verify_main(void *arg)
{
	struct smsc_verify *v = arg;

	pthread_mutex_lock(&v->lock);
	for (;;) {
		while (!v->head && !v->stopping)
			pthread_cond_wait(&v->wake, &v->lock);
		if (!v->head)
			break;
		struct smsc_verify_job *j = v->head;
		v->head = j->next;
		if (!v->head)
			v->tail = NULL;
		pthread_mutex_unlock(&v->lock);
		j->result = passhash_verify(str_from_cstr(j->password), j->hash);
		explicit_bzero(j->password, sizeof(j->password));
		verify_hand_back(v, j);
		pthread_mutex_lock(&v->lock);
	}
	pthread_mutex_unlock(&v->lock);
	return NULL;
}

struct smsc_verify *smsc_verify_new(struct loop_pool *back)
{
	struct smsc_verify *v = calloc(1, sizeof(*v));

	if (!v)
		return NULL;
	v->back = back;
	pthread_mutex_init(&v->lock, NULL);
	pthread_cond_init(&v->wake, NULL);
	if (pthread_create(&v->thread, NULL, verify_main, v) != 0) {
		pthread_mutex_destroy(&v->lock);
		pthread_cond_destroy(&v->wake);
		free(v);
		return NULL;
	}
	return v;
}

int smsc_verify_submit(struct smsc_verify *v, struct smsc_verify_job *j)
{
	j->next = NULL;
	pthread_mutex_lock(&v->lock);
	if (v->tail)
		v->tail->next = j;
	else
		v->head = j;
	v->tail = j;
	pthread_cond_signal(&v->wake);
	pthread_mutex_unlock(&v->lock);
	return 0;
}

/* Finishes the queued checks, then stops. */
void smsc_verify_free(struct smsc_verify *v)
{
	if (!v)
		return;
	pthread_mutex_lock(&v->lock);
	v->stopping = true;
	pthread_cond_signal(&v->wake);
	pthread_mutex_unlock(&v->lock);
	pthread_join(v->thread, NULL);
	pthread_mutex_destroy(&v->lock);
	pthread_cond_destroy(&v->wake);
	free(v);
}
