/*
 * stop.c — the stop signal of threads that work in passes and sleep in
 * between (core.h, struct stop_signal): a flag read without the lock, and a
 * condition variable so that raising it ends a sleep at once instead of at
 * the end of the poll interval (a shutdown waits for no poll).
 */
#include <time.h>

#include "core/core.h"

void stop_signal_init(struct stop_signal *s)
{
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->wake, NULL);
	atomic_init(&s->stop, false);
}

void stop_signal_fini(struct stop_signal *s)
{
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->wake);
}

void stop_signal_raise(struct stop_signal *s)
{
	pthread_mutex_lock(&s->lock);
	atomic_store(&s->stop, true);
	pthread_cond_broadcast(&s->wake);
	pthread_mutex_unlock(&s->lock);
}

bool stop_signal_raised(struct stop_signal *s)
{
	return atomic_load(&s->stop);
}

bool stop_signal_sleep(struct stop_signal *s, int64_t ms)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += (time_t)(ms / 1000);
	until.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&s->lock);
	/* the flag is set under the lock, so a raise between the check and the
	 * wait is not missed */
	while (!atomic_load(&s->stop) && pthread_cond_timedwait(&s->wake, &s->lock, &until) == 0)
		;
	pthread_mutex_unlock(&s->lock);
	return !atomic_load(&s->stop);
}
