/*
 * route_pick.c — the route a leased message takes (decision 0051): its
 * customer, addresses and the dispatcher's clock, and, only when some
 * route's filters read them, its text (decoded as the content rules read
 * it) and the tags the 10DLC content rules give it, asked of the
 * compliance snapshot as a filter needs them.  Each part of a long message
 * is routed on its own text.
 */
#include "smsc/smsc_private.h"

struct pick_tags {
	const struct tendlc_snap *t;
	const struct smsc_out_msg *m;
	struct str text;
};

static bool pick_tagged(void *arg, const char *tag)
{
	const struct pick_tags *k = arg;
	return k->t && tendlc_tagged(k->t, tag, str_from_cstr(k->m->dest), k->text);
}

const struct smsc_route *smsc_out_route(struct smsc_out *o, const struct smsc_routes *snap,
					const struct smsc_out_msg *m)
{
	char text[4 * SMSC_TENDLC_TEXT_MAX + 1];
	struct snapshot *ts = o->s->tendlc;
	struct pick_tags tags = {.m = m, .text = STR_NULL};
	struct smsc_route_msg msg = {.customer_id = m->customer_id,
				     .source = m->source,
				     .dest = m->dest,
				     .text = STR_NULL,
				     .now_ms = time_wall_ms(),
				     .tagged = pick_tagged,
				     .tagged_arg = &tags};

	if (snap && snap->filters_text) {
		msg.text = tags.text = smsc_tendlc_text(m, text, sizeof(text));
		tags.t = ts ? snapshot_acquire(ts) : NULL;
	}
	const struct smsc_route *r = smsc_route_pick(snap, &msg);
	if (tags.t)
		snapshot_release(ts, tags.t);
	return r;
}
