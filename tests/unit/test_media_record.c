/*
 * test_media_record.c — recordings off the packet path: the worker's ring
 * (src/media/record_ring.c) and a recording's drop count and metadata
 * (src/media/record_writer.c, without its thread: media_rec_finish then
 * drains and completes on the caller's thread), and the writer thread,
 * which sleeps while nothing is recorded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "media/media_private.h"

#define SPSC_TOTAL 200000u

static void ring_push(struct media_recq *q, int64_t seq)
{
	struct media_rec_slot *s = media_recq_reserve(q);

	assert_non_null(s);
	s->wall_us = seq;
	media_recq_commit(q);
}

static int64_t ring_pop(struct media_recq *q)
{
	struct media_rec_slot *s = media_recq_peek(q);
	int64_t v;

	assert_non_null(s);
	v = s->wall_us;
	media_recq_pop(q);
	return v;
}

static void test_ring_capacity_rounds_up_to_a_power_of_two(void **state)
{
	struct media_recq q;

	assert_int_equal(media_recq_init(&q, 5), 0);
	assert_int_equal(q.cap, 8);
	media_recq_fini(&q);
	assert_int_equal(media_recq_init(&q, 0), -EINVAL);
}

static void test_ring_full_refuses_and_counts_each_drop(void **state)
{
	struct media_recq q;

	assert_int_equal(media_recq_init(&q, 4), 0);
	for (int i = 0; i < 4; i++)
		ring_push(&q, i);
	assert_null(media_recq_reserve(&q));
	assert_null(media_recq_reserve(&q));
	assert_int_equal(atomic_load(&q.dropped), 2);
	/* One slot freed: one record fits again, and the drop count stays. */
	assert_int_equal(ring_pop(&q), 0);
	ring_push(&q, 4);
	assert_null(media_recq_reserve(&q));
	assert_int_equal(atomic_load(&q.dropped), 3);
	media_recq_fini(&q);
}

static void test_ring_keeps_order_across_wrap_around(void **state)
{
	struct media_recq q;
	int64_t next_in = 0, next_out = 0;

	assert_int_equal(media_recq_init(&q, 8), 0);
	for (int round = 0; round < 50; round++) {
		for (int k = 0; k < 5; k++)
			ring_push(&q, next_in++);
		for (int k = 0; k < 3 + (round & 1) * 4 && media_recq_peek(&q); k++)
			assert_int_equal(ring_pop(&q), next_out++);
	}
	while (media_recq_peek(&q))
		assert_int_equal(ring_pop(&q), next_out++);
	assert_int_equal(next_out, next_in);
	assert_int_equal(atomic_load(&q.dropped), 0);
	media_recq_fini(&q);
}

static void test_ring_never_allocates_after_init(void **state)
{
	struct media_recq q;

	assert_int_equal(media_recq_init(&q, 16), 0);
	struct mallinfo2 before = mallinfo2();
	for (int i = 0; i < 10000; i++) {
		struct media_rec_slot *s = media_recq_reserve(&q);
		/* Every slot handed out is one of those init allocated. */
		assert_true(s >= q.slot && s < q.slot + q.cap);
		media_recq_commit(&q);
		if (i % 3 != 2)
			media_recq_pop(&q);
		while (i % 40 == 39 && media_recq_peek(&q))
			media_recq_pop(&q);
	}
	struct mallinfo2 after = mallinfo2();
	assert_int_equal(after.uordblks, before.uordblks);
	media_recq_fini(&q);
}

static void *spsc_producer(void *arg)
{
	struct media_recq *q = arg;

	for (uint32_t i = 0; i < SPSC_TOTAL; i++) {
		struct media_rec_slot *s = media_recq_reserve(q);
		if (!s)
			continue;
		s->wall_us = i;
		memset(s->pkt, (int)(i & 0xff), 64);
		media_recq_commit(q);
	}
	return NULL;
}

/* The writer sees every record the worker queued, whole and in order; the
 * ones the worker could not queue are exactly the drops. */
static void test_ring_one_producer_one_consumer_threads(void **state)
{
	struct media_recq q;
	pthread_t th;
	uint64_t got = 0;
	int64_t last = -1;

	assert_int_equal(media_recq_init(&q, 64), 0);
	assert_int_equal(pthread_create(&th, NULL, spsc_producer, &q), 0);
	for (int idle = 0; idle < 1000000 && got + atomic_load(&q.dropped) < SPSC_TOTAL; idle++) {
		struct media_rec_slot *s = media_recq_peek(&q);
		if (!s)
			continue;
		assert_true(s->wall_us > last);
		assert_int_equal(s->pkt[63], (uint8_t)(s->wall_us & 0xff));
		last = s->wall_us;
		got++;
		idle = 0;
		media_recq_pop(&q);
	}
	pthread_join(th, NULL);
	while (media_recq_peek(&q)) {
		got++;
		media_recq_pop(&q);
	}
	assert_int_equal(got + atomic_load(&q.dropped), SPSC_TOTAL);
	media_recq_fini(&q);
}

static struct net_addr addr(const char *s)
{
	struct net_addr a;

	assert_int_equal(net_addr_parse(str_from_cstr(s), 0, &a), 0);
	return a;
}

static size_t file_size(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return (size_t)st.st_size;
}

/* A media role with one worker (no threads), its ring slots as given. */
static struct media *one_worker_media(uint32_t slots)
{
	struct media *m = calloc(1, sizeof(*m));
	struct media_worker *w = calloc(1, sizeof(*w));

	assert_non_null(m);
	assert_non_null(w);
	w->m = m;
	m->workers = w;
	m->nworkers = 1;
	if (slots)
		assert_int_equal(media_recq_init(&w->recq, slots), 0);
	return m;
}

static void one_worker_media_free(struct media *m)
{
	media_recq_fini(&m->workers[0].recq);
	free(m->workers);
	free(m);
}

/* n packets of the call queued by the worker for r. */
static void record_packets(struct media *m, struct media_rec *r, int n)
{
	struct net_addr src = addr("192.0.2.1:4000"), dst = addr("198.51.100.2:30000");
	uint8_t payload[20] = {0x80};

	for (int i = 0; i < n; i++)
		media_rec_packet(&m->workers[0], r, &src, &dst, payload, sizeof(payload),
				 1700000000000000LL + i);
}

/* Hands r over with metadata {"call-id":id, then removes base.json and
 * returns its text in out. */
static void finish_and_read_json(struct media *m, struct media_rec *r, const char *base,
				 const char *id, char *out, size_t n)
{
	char path[96];
	struct buf meta;

	buf_init(&meta);
	assert_int_equal(buf_printf(&meta, "{\"call-id\":\"%s\"", id), 0);
	media_rec_finish(m, r, &meta);
	if (!out)
		return;
	snprintf(path, sizeof(path), "%s.json", base);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	size_t got = fread(out, 1, n - 1, f);
	out[got] = 0;
	fclose(f);
	unlink(path);
}

/* A worker whose ring holds two records: the third packet of the call is
 * dropped, and the metadata written after the pcap says so. */
static void test_recording_counts_drops_in_its_metadata(void **state)
{
	struct media *m = one_worker_media(2);
	char base[64], path[80], json[256];
	int err = 0;

	snprintf(base, sizeof(base), "/tmp/test_media_record_%d", (int)getpid());
	struct media_rec *r = media_rec_open(m, base, &err);
	assert_non_null(r);
	record_packets(m, r, 3);
	finish_and_read_json(m, r, base, "x", json, sizeof(json));
	snprintf(path, sizeof(path), "%s.pcap", base);
	assert_int_equal(file_size(path), 24 + 2 * (16 + 28 + 20));
	unlink(path);
	assert_string_equal(json, "{\"call-id\":\"x\",\"packets\":2,\"dropped\":1}\n");
	one_worker_media_free(m);
}

/* A disk that fails the pcap's writes (its path a link to /dev/full):
 * stdio reports it only when flushing, so the metadata says so. */
static void test_write_error_is_told_in_the_metadata(void **state)
{
	char base[64], path[80], json[256];
	int err = 0;

	snprintf(base, sizeof(base), "/tmp/test_media_full_%d", (int)getpid());
	snprintf(path, sizeof(path), "%s.pcap", base);
	unlink(path);
	if (symlink("/dev/full", path) != 0)
		skip();
	struct media *m = one_worker_media(4);
	struct media_rec *r = media_rec_open(m, base, &err);
	assert_non_null(r);
	record_packets(m, r, 1);
	finish_and_read_json(m, r, base, "z", json, sizeof(json));
	unlink(path);
	assert_string_equal(json,
			    "{\"call-id\":\"z\",\"packets\":1,\"dropped\":0,\"write_error\":true}\n");
	one_worker_media_free(m);
}

/* Context switches of this process's threads other than the calling one
 * (the writer thread): each wake-up from a nap is one. */
static unsigned long other_threads_switches(void)
{
	unsigned long total = 0;
	char path[300], line[128];
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;

	assert_non_null(d);
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' || atoi(e->d_name) == (int)gettid())
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/status", e->d_name);
		FILE *f = fopen(path, "r");
		while (f && fgets(line, sizeof(line), f)) {
			unsigned long n;
			if (sscanf(line, "voluntary_ctxt_switches: %lu", &n) == 1 ||
			    sscanf(line, "nonvoluntary_ctxt_switches: %lu", &n) == 1)
				total += n;
		}
		if (f)
			fclose(f);
	}
	closedir(d);
	return total;
}

/* With no recording open the writer thread sleeps (it used to nap 100
 * times a second); a recording opened wakes it, and its packets and
 * metadata are written by the thread. */
static void test_idle_writer_sleeps_until_a_recording_opens(void **state)
{
	struct media *m = one_worker_media(0);
	char base[64], path[80];
	int err = 0;

	snprintf(base, sizeof(base), "/tmp/test_media_writer_%d", (int)getpid());
	assert_int_equal(media_rec_writer_init(m), 0);
	assert_int_equal(media_rec_writer_start(m), 0);
	usleep(50000);
	unsigned long before = other_threads_switches();
	usleep(300000);
	assert_true(other_threads_switches() - before <= 3);

	struct media_rec *r = media_rec_open(m, base, &err);
	assert_non_null(r);
	record_packets(m, r, 3);
	/* The thread writes while the recording is open: the ring empties. */
	for (int i = 0; i < 200 && media_recq_peek(&m->workers[0].recq); i++)
		usleep(5000);
	assert_null(media_recq_peek(&m->workers[0].recq));
	finish_and_read_json(m, r, base, "y", NULL, 0);
	media_rec_writer_stop(m);
	snprintf(path, sizeof(path), "%s.pcap", base);
	assert_int_equal(file_size(path), 24 + 3 * (16 + 28 + 20));
	unlink(path);
	snprintf(path, sizeof(path), "%s.json", base);
	assert_int_equal(unlink(path), 0);
	media_rec_writer_fini(m);
	free(m->workers);
	free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ring_capacity_rounds_up_to_a_power_of_two),
	    cmocka_unit_test(test_ring_full_refuses_and_counts_each_drop),
	    cmocka_unit_test(test_ring_keeps_order_across_wrap_around),
	    cmocka_unit_test(test_ring_never_allocates_after_init),
	    cmocka_unit_test(test_ring_one_producer_one_consumer_threads),
	    cmocka_unit_test(test_recording_counts_drops_in_its_metadata),
	    cmocka_unit_test(test_idle_writer_sleeps_until_a_recording_opens),
	    cmocka_unit_test(test_write_error_is_told_in_the_metadata),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
