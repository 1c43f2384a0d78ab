/*
 * test_media_dialogue.c — what a delete's tags name in a forked call
 * (media_dialogue_match, src/media/dialogue.c): the whole call, one
 * answerer's dialogue, or nothing.  The call is built by hand: matching
 * touches no worker.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "media/media_private.h"

static void tag_set(char *dst, const char *tag)
{
	snprintf(dst, MEDIA_TAG_MAX, "%s", tag);
}

/* Caller "A" offered; answerers "B1" (via "v1") then "B2" (via "v2"). */
static struct media_call *forked_call(size_t answerers)
{
	struct media_call *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	c->branch = calloc(2, sizeof(*c->branch));
	assert_non_null(c->branch);
	tag_set(c->mono[0].tag, "A");
	c->mono[0].known = c->mono[1].known = true;
	tag_set(c->mono[1].tag, answerers == 2 ? "B2" : "B1");
	tag_set(c->branch[0].tag, "B1");
	tag_set(c->branch[0].via, "v1");
	tag_set(c->branch[1].tag, "B2");
	tag_set(c->branch[1].via, "v2");
	c->nbranch = answerers;
	return c;
}

static void call_free(struct media_call *c)
{
	free(c->branch);
	free(c);
}

static int match(struct media_call *c, const char *from, const char *to, const char *via,
		 struct media_branch **b)
{
	*b = NULL;
	return media_dialogue_match(c, str_from_cstr(from), str_from_cstr(to), str_from_cstr(via),
				    b);
}

static void test_from_and_to_tag_name_one_dialogue_of_a_fork(void **state)
{
	struct media_call *c = forked_call(2);
	struct media_branch *b;

	assert_int_equal(match(c, "A", "B1", "", &b), MEDIA_DEL_DIALOGUE);
	assert_ptr_equal(b, &c->branch[0]);
	assert_int_equal(match(c, "A", "B2", "", &b), MEDIA_DEL_DIALOGUE);
	assert_ptr_equal(b, &c->branch[1]);
	call_free(c);
}

static void test_callee_bye_tags_reversed_name_its_dialogue(void **state)
{
	struct media_call *c = forked_call(2);
	struct media_branch *b;

	assert_int_equal(match(c, "B1", "A", "", &b), MEDIA_DEL_DIALOGUE);
	assert_ptr_equal(b, &c->branch[0]);
	call_free(c);
}

static void test_call_id_or_from_tag_alone_names_the_call(void **state)
{
	struct media_call *c = forked_call(2);
	struct media_branch *b;

	assert_int_equal(match(c, "", "", "", &b), MEDIA_DEL_CALL);
	assert_int_equal(match(c, "A", "", "", &b), MEDIA_DEL_CALL);
	call_free(c);
}

static void test_last_dialogue_names_the_call(void **state)
{
	struct media_call *c = forked_call(1);
	struct media_branch *b;

	assert_int_equal(match(c, "A", "B1", "", &b), MEDIA_DEL_CALL);
	call_free(c);
}

static void test_via_branch_names_the_answer_it_carried(void **state)
{
	struct media_call *c = forked_call(2);
	struct media_branch *b;

	assert_int_equal(match(c, "A", "", "v2", &b), MEDIA_DEL_DIALOGUE);
	assert_ptr_equal(b, &c->branch[1]);
	assert_int_equal(match(c, "A", "", "v9", &b), -ENOENT);
	call_free(c);
}

static void test_unknown_tags_match_nothing(void **state)
{
	struct media_call *c = forked_call(2);
	struct media_branch *b;

	assert_int_equal(match(c, "A", "nobody", "", &b), -ENOENT);
	assert_int_equal(match(c, "nobody", "", "", &b), -ENOENT);
	assert_int_equal(match(c, "nobody", "B1", "", &b), -ENOENT);
	/* Two answerers are not a dialogue with each other. */
	assert_int_equal(match(c, "B2", "B1", "", &b), -ENOENT);
	call_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_from_and_to_tag_name_one_dialogue_of_a_fork),
	    cmocka_unit_test(test_callee_bye_tags_reversed_name_its_dialogue),
	    cmocka_unit_test(test_call_id_or_from_tag_alone_names_the_call),
	    cmocka_unit_test(test_last_dialogue_names_the_call),
	    cmocka_unit_test(test_via_branch_names_the_answer_it_carried),
	    cmocka_unit_test(test_unknown_tags_match_nothing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
