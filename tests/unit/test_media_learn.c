/*
 * test_media_learn.c — the learning state machine of a stream
 * (media_learn_packet, src/media/learn.c), driven packet by packet with
 * the clock passed in: which source is relayed, which is dropped, when the
 * window locks, and what each mode changes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "media/media_private.h"

#define WINDOW 3000

static struct net_addr addr(const char *s)
{
	struct net_addr a;

	assert_int_equal(net_addr_parse(str_from_cstr(s), 0, &a), 0);
	return a;
}

/* The party's SDP names 192.0.2.10:4000. */
static struct net_addr sdp_addr;

static struct media_learn_in in_mode(enum media_learn_mode mode)
{
	sdp_addr = addr("192.0.2.10:4000");
	return (struct media_learn_in){
	    .sdp = &sdp_addr, .sdp_known = true, .mode = mode, .window_ms = WINDOW};
}

static enum media_learn_verdict pkt(struct media_learn *l, const struct media_learn_in *in,
				    const char *src, int64_t now)
{
	struct net_addr a = addr(src);

	return media_learn_packet(l, in, &a, now);
}

static void assert_holds(const struct media_learn *l, const char *src)
{
	struct net_addr a = addr(src);

	assert_true(net_addr_equal(&l->src, &a));
}

static void test_ranks_exact_then_address_then_any(void **state)
{
	struct net_addr sdp = addr("192.0.2.10:4000");
	struct net_addr exact = addr("192.0.2.10:4000"), port = addr("192.0.2.10:5000"),
			other = addr("198.51.100.7:4000");

	(void)state;
	assert_int_equal(media_learn_rank(&sdp, true, &exact), MEDIA_RANK_EXACT);
	assert_int_equal(media_learn_rank(&sdp, true, &port), MEDIA_RANK_ADDR);
	assert_int_equal(media_learn_rank(&sdp, true, &other), MEDIA_RANK_ANY);
	/* no SDP address yet (a callee before its answer): nothing ranks */
	assert_int_equal(media_learn_rank(&sdp, false, &exact), MEDIA_RANK_ANY);
}

static void test_exact_source_locks_at_once_and_strangers_are_dropped(void **state)
{
	struct media_learn l = {0};
	struct media_learn_in in = in_mode(MEDIA_LEARN_HEURISTIC);

	(void)state;
	assert_int_equal(pkt(&l, &in, "192.0.2.10:4000", 100), MEDIA_LEARN_MOVED);
	assert_true(l.locked);
	assert_int_equal(pkt(&l, &in, "192.0.2.10:4000", 120), MEDIA_LEARN_ACCEPT);
	assert_int_equal(pkt(&l, &in, "198.51.100.7:4000", 140), MEDIA_LEARN_DROP);
	assert_int_equal(pkt(&l, &in, "192.0.2.10:4002", 160), MEDIA_LEARN_DROP);
	assert_holds(&l, "192.0.2.10:4000");
}

/* The RTP bleed of issue 8: a sprayer first, the party later. */
static void test_party_named_by_sdp_takes_over_from_an_earlier_sprayer(void **state)
{
	struct media_learn l = {0};
	struct media_learn_in in = in_mode(MEDIA_LEARN_HEURISTIC);

	(void)state;
	assert_int_equal(pkt(&l, &in, "203.0.113.66:9999", 0), MEDIA_LEARN_MOVED);
	assert_int_equal(pkt(&l, &in, "203.0.113.66:9999", 20), MEDIA_LEARN_ACCEPT);
	/* long after the window closed on the sprayer */
	assert_int_equal(pkt(&l, &in, "192.0.2.10:4000", 60000), MEDIA_LEARN_MOVED);
	assert_true(l.locked);
	assert_int_equal(pkt(&l, &in, "203.0.113.66:9999", 60020), MEDIA_LEARN_DROP);
	assert_holds(&l, "192.0.2.10:4000");
}

static void test_same_address_beats_any_inside_the_window_only(void **state)
{
	struct media_learn l = {0};
	struct media_learn_in in = in_mode(MEDIA_LEARN_HEURISTIC);

	(void)state;
	assert_int_equal(pkt(&l, &in, "203.0.113.66:9999", 1000), MEDIA_LEARN_MOVED);
	assert_int_equal(pkt(&l, &in, "192.0.2.10:5000", 1000 + WINDOW - 1), MEDIA_LEARN_MOVED);
	assert_holds(&l, "192.0.2.10:5000");
	assert_int_equal(pkt(&l, &in, "203.0.113.66:9999", 1000 + WINDOW), MEDIA_LEARN_DROP);

	struct media_learn late = {0};
	assert_int_equal(pkt(&late, &in, "203.0.113.66:9999", 1000), MEDIA_LEARN_MOVED);
	assert_int_equal(pkt(&late, &in, "192.0.2.10:5000", 1000 + WINDOW), MEDIA_LEARN_DROP);
	assert_true(late.locked);
	assert_holds(&late, "203.0.113.66:9999");
}

/* A NATed party: its SDP names a private address, its packets come from
 * the NAT.  The first source is kept; an equal-ranked second is refused
 * inside the window as well as after it. */
static void test_nat_party_is_learnt_and_an_equal_stranger_refused(void **state)
{
	struct media_learn l = {0};
	struct media_learn_in in = in_mode(MEDIA_LEARN_HEURISTIC);

	(void)state;
	sdp_addr = addr("10.0.0.5:4000");
	assert_int_equal(pkt(&l, &in, "198.51.100.7:31000", 0), MEDIA_LEARN_MOVED);
	assert_false(l.locked);
	assert_int_equal(pkt(&l, &in, "203.0.113.66:9999", 10), MEDIA_LEARN_DROP);
	assert_int_equal(pkt(&l, &in, "198.51.100.7:31000", 20), MEDIA_LEARN_ACCEPT);
	assert_int_equal(pkt(&l, &in, "198.51.100.7:31000", WINDOW), MEDIA_LEARN_ACCEPT);
	assert_true(l.locked);
	assert_int_equal(pkt(&l, &in, "198.51.100.7:31002", WINDOW + 20), MEDIA_LEARN_DROP);
}

static void test_immediate_locks_the_first_source(void **state)
{
	struct media_learn l = {0};
	struct media_learn_in in = in_mode(MEDIA_LEARN_IMMEDIATE);

	(void)state;
	assert_int_equal(pkt(&l, &in, "203.0.113.66:9999", 0), MEDIA_LEARN_MOVED);
	assert_true(l.locked);
	assert_int_equal(pkt(&l, &in, "192.0.2.10:5000", 1), MEDIA_LEARN_DROP);
	/* the SDP's own address and port still wins */
	assert_int_equal(pkt(&l, &in, "192.0.2.10:4000", 2), MEDIA_LEARN_MOVED);
}

static void test_zero_window_is_immediate(void **state)
{
	struct media_learn l = {0};
	struct media_learn_in in = in_mode(MEDIA_LEARN_HEURISTIC);

	(void)state;
	in.window_ms = 0;
	assert_int_equal(pkt(&l, &in, "203.0.113.66:9999", 50), MEDIA_LEARN_MOVED);
	assert_true(l.locked);
	assert_int_equal(pkt(&l, &in, "192.0.2.10:5000", 50), MEDIA_LEARN_DROP);
}

static void test_off_accepts_only_the_sdp_address_and_port(void **state)
{
	struct media_learn l = {0};
	struct media_learn_in in = in_mode(MEDIA_LEARN_OFF);

	(void)state;
	assert_int_equal(pkt(&l, &in, "192.0.2.10:5000", 0), MEDIA_LEARN_DROP);
	assert_int_equal(pkt(&l, &in, "203.0.113.66:9999", 0), MEDIA_LEARN_DROP);
	assert_int_equal(pkt(&l, &in, "192.0.2.10:4000", 0), MEDIA_LEARN_MOVED);
	assert_int_equal(pkt(&l, &in, "192.0.2.10:4000", 1), MEDIA_LEARN_ACCEPT);
	in.sdp_known = false; /* on hold: nobody */
	struct media_learn held = {0};
	assert_int_equal(pkt(&held, &in, "192.0.2.10:4000", 0), MEDIA_LEARN_DROP);
}

static void test_loose_takes_the_first_and_relays_anyone(void **state)
{
	struct media_learn l = {0};
	struct media_learn_in in = in_mode(MEDIA_LEARN_LOOSE);

	(void)state;
	assert_int_equal(pkt(&l, &in, "203.0.113.66:9999", 0), MEDIA_LEARN_MOVED);
	assert_int_equal(pkt(&l, &in, "192.0.2.10:4000", 10), MEDIA_LEARN_ACCEPT);
	assert_int_equal(pkt(&l, &in, "198.51.100.7:1", 99999), MEDIA_LEARN_ACCEPT);
	assert_holds(&l, "203.0.113.66:9999");
}

static void test_reset_learns_again(void **state)
{
	struct media_learn l = {0};
	struct media_learn_in in = in_mode(MEDIA_LEARN_HEURISTIC);

	(void)state;
	assert_int_equal(pkt(&l, &in, "192.0.2.10:4000", 0), MEDIA_LEARN_MOVED);
	media_learn_reset(&l);
	sdp_addr = addr("192.0.2.20:6000"); /* a re-INVITE moved the party */
	assert_int_equal(pkt(&l, &in, "192.0.2.10:4000", 10), MEDIA_LEARN_MOVED);
	assert_int_equal(pkt(&l, &in, "192.0.2.20:6000", 20), MEDIA_LEARN_MOVED);
	assert_int_equal(pkt(&l, &in, "192.0.2.10:4000", 30), MEDIA_LEARN_DROP);
}

static void test_mode_names_follow_ng_spelling(void **state)
{
	enum media_learn_mode m = MEDIA_LEARN_LOOSE;

	(void)state;
	assert_int_equal(media_learn_mode_parse(STR_LIT("Heuristic"), &m), 0);
	assert_int_equal(m, MEDIA_LEARN_HEURISTIC);
	assert_int_equal(media_learn_mode_parse(STR_LIT("delayed"), &m), 0);
	assert_int_equal(m, MEDIA_LEARN_HEURISTIC);
	assert_int_equal(media_learn_mode_parse(STR_LIT("immediate"), &m), 0);
	assert_int_equal(m, MEDIA_LEARN_IMMEDIATE);
	assert_int_equal(media_learn_mode_parse(STR_LIT("OFF"), &m), 0);
	assert_int_equal(m, MEDIA_LEARN_OFF);
	/* the old behaviour is never a mode name: only the loose-source flag */
	assert_int_equal(media_learn_mode_parse(STR_LIT("loose"), &m), -1);
	assert_int_equal(media_learn_mode_parse(STR_LIT(""), &m), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ranks_exact_then_address_then_any),
	    cmocka_unit_test(test_exact_source_locks_at_once_and_strangers_are_dropped),
	    cmocka_unit_test(test_party_named_by_sdp_takes_over_from_an_earlier_sprayer),
	    cmocka_unit_test(test_same_address_beats_any_inside_the_window_only),
	    cmocka_unit_test(test_nat_party_is_learnt_and_an_equal_stranger_refused),
	    cmocka_unit_test(test_immediate_locks_the_first_source),
	    cmocka_unit_test(test_zero_window_is_immediate),
	    cmocka_unit_test(test_off_accepts_only_the_sdp_address_and_port),
	    cmocka_unit_test(test_loose_takes_the_first_and_relays_anyone),
	    cmocka_unit_test(test_reset_learns_again),
	    cmocka_unit_test(test_mode_names_follow_ng_spelling),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
