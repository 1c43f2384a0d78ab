/*
 * dialogue.c — forked answers, and a delete that names one dialogue.
 *
 * A forking proxy sends one offer to several callees, and more than one
 * may answer it (183 early media from two phones, or two 200s, RFC 3261
 * §13.2.2.4), each with its own To tag.  rtpengine keeps each answerer as
 * a dialogue of the call: a delete naming from-tag and to-tag (or the
 * via-branch of that answer) ends that dialogue only, and the call goes
 * when its last dialogue goes; a delete with the call-id alone, or the
 * from-tag alone, ends the whole call.
 *
 * WARP's call has one port set per party, so the offerer is relayed to one
 * answerer at a time: the newest (mono[1]), as a second answer replaces the
 * first's endpoints (offer.c).  Each answerer's endpoints are kept here, so
 * that deleting the active dialogue hands the media back to the answerer
 * before it rather than to an address that just hung up.  Runs on the
 * control thread; endpoints are read and written on the call's worker.
 */
#include "media/media_private.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MEDIA_BRANCH_MAX 16 /* answerers remembered per call; more replace the oldest */

static struct media_branch *dialogue_find(struct media_call *c, struct str tag)
{
	for (size_t i = 0; i < c->nbranch; i++)
		if (str_eq_cstr(tag, c->branch[i].tag))
			return &c->branch[i];
	return NULL;
}

static struct media_branch *dialogue_find_via(struct media_call *c, struct str via)
{
	for (size_t i = 0; i < c->nbranch && via.len; i++)
		if (str_eq_cstr(via, c->branch[i].via))
			return &c->branch[i];
	return NULL;
}

struct dialogue_job {
	struct media_call *c;
	struct media_branch *b;
};

/* On the worker: what the answerer's SDP said (the answer just applied). */
static void dialogue_capture(void *arg)
{
	struct dialogue_job *j = arg;

	for (size_t s = 0; s < j->c->nsect; s++) {
		const struct media_stream *sts[2] = {&j->c->sect[s].side[1].rtp,
						     &j->c->sect[s].side[1].rtcp};
		for (int k = 0; k < 2; k++) {
			j->b->ep[s][k] = sts[k]->sdp_ep;
			j->b->known[s][k] = sts[k]->sdp_known;
		}
	}
}

/* On the worker: the answerer's endpoints back in place, learning from
 * scratch, so its next packet is learnt again (it may sit behind a NAT). */
static void dialogue_restore(void *arg)
{
	struct dialogue_job *j = arg;

	for (size_t s = 0; s < j->c->nsect; s++) {
		struct media_stream *sts[2] = {&j->c->sect[s].side[1].rtp,
					       &j->c->sect[s].side[1].rtcp};
		for (int k = 0; k < 2; k++) {
			sts[k]->sdp_ep = sts[k]->ep = j->b->ep[s][k];
			sts[k]->ep_known = sts[k]->sdp_known = j->b->known[s][k];
			sts[k]->latched = false;
			media_learn_reset(&sts[k]->learn);
		}
	}
}

static struct media_branch *dialogue_slot(struct media_call *c, struct str tag)
{
	struct media_branch *b = dialogue_find(c, tag), *grown;

	if (b)
		return b;
	if (c->nbranch == MEDIA_BRANCH_MAX) {
		memmove(c->branch, c->branch + 1, (c->nbranch - 1) * sizeof(*c->branch));
		c->nbranch--;
	} else {
		grown = realloc(c->branch, (c->nbranch + 1) * sizeof(*c->branch));
		if (!grown)
			return NULL;
		c->branch = grown;
	}
	b = &c->branch[c->nbranch++];
	memset(b, 0, sizeof(*b));
	return b;
}

int media_dialogue_answered(struct media_call *c, struct str to_tag, struct str via)
{
	struct media_branch *b;
	struct dialogue_job j;

	/* An answer from the first offerer answers the callee's re-offer: no fork. */
	if (str_eq_cstr(to_tag, c->mono[0].tag) || to_tag.len >= MEDIA_TAG_MAX ||
	    via.len >= MEDIA_TAG_MAX)
		return 0;
	b = dialogue_slot(c, to_tag);
	if (!b)
		return -ENOMEM;
	str_copy(b->tag, sizeof(b->tag), to_tag);
	if (via.len)
		str_copy(b->via, sizeof(b->via), via);
	/* The newest answer is the active one: keep the list in that order. */
	struct media_branch keep = *b;
	size_t at = (size_t)(b - c->branch);
	memmove(b, b + 1, (c->nbranch - at - 1) * sizeof(*b));
	c->branch[c->nbranch - 1] = keep;
	j = (struct dialogue_job){c, &c->branch[c->nbranch - 1]};
	return media_worker_sync(c->m, c->worker, dialogue_capture, &j);
}

void media_dialogue_end(struct media_call *c, struct media_branch *b)
{
	size_t at = (size_t)(b - c->branch);
	struct dialogue_job j;

	log_info("media", "call %s: dialogue with %s deleted", c->callid, b->tag);
	memmove(b, b + 1, (c->nbranch - at - 1) * sizeof(*b));
	c->nbranch--;
	/* The newest remaining answerer gets the media. */
	j = (struct dialogue_job){c, &c->branch[c->nbranch - 1]};
	memcpy(c->mono[1].tag, j.b->tag, sizeof(c->mono[1].tag));
	media_worker_sync(c->m, c->worker, dialogue_restore, &j);
}

static bool dialogue_is_party(const struct media_call *c, struct str tag)
{
	for (int i = 0; i < 2; i++)
		if (c->mono[i].known && str_eq_cstr(tag, c->mono[i].tag))
			return true;
	return false;
}

int media_dialogue_match(struct media_call *c, struct str from, struct str to, struct str via,
			 struct media_branch **out)
{
	struct media_branch *b = NULL;
	struct str other = from;

	if (from.len && !dialogue_is_party(c, from) && !dialogue_find(c, from))
		return -ENOENT;
	if (to.len) {
		/* A BYE from the callee carries the tags the other way round. */
		bool reversed = from.len && str_eq_cstr(to, c->mono[0].tag);
		struct str answerer = reversed ? from : to;
		other = reversed ? to : from;
		b = dialogue_find(c, answerer);
		if (!b && !dialogue_is_party(c, answerer))
			return -ENOENT;
	} else if (via.len) {
		if (!(b = dialogue_find_via(c, via)))
			return -ENOENT;
	}
	if (!b || c->nbranch < 2)
		return MEDIA_DEL_CALL;
	/* from-tag and to-tag must be the two ends of that dialogue. */
	if (other.len && !str_eq_cstr(other, c->mono[0].tag))
		return -ENOENT;
	*out = b;
	return MEDIA_DEL_DIALOGUE;
}
