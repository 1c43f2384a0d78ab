/*
 * msg.c — the ng datagram envelope: "<cookie> <bencoded dictionary>".
 *
 * rtpengine's ng protocol (docs/ng_control_protocol.md) puts a cookie before
 * each dictionary, separated by one space; the reply repeats the cookie so
 * the client can match it and spot retransmissions.  The cookie is opaque to
 * us; it is a view into the datagram.
 */
#include "ng/ng.h"

#include <string.h>

int ng_msg_split(struct str datagram, struct str *cookie, struct str *body)
{
	const char *sp;

	if (!datagram.p || datagram.len == 0)
		return BENCODE_ERR_EMPTY;
	sp = memchr(datagram.p, ' ', datagram.len);
	if (!sp || sp == datagram.p)
		return BENCODE_ERR_COOKIE;
	*cookie = (struct str){datagram.p, (size_t)(sp - datagram.p)};
	*body = (struct str){sp + 1, datagram.len - cookie->len - 1};
	if (body->len == 0)
		return BENCODE_ERR_EMPTY;
	return 0;
}

/* The ng docs: with result "error", "error-reason" must be given and no
 * other keys should be present. */
int ng_reply_error(struct buf *b, struct str cookie, const char *reason)
{
	int rc;

	if ((rc = buf_append_str(b, cookie)) < 0 || (rc = buf_append_char(b, ' ')) < 0 ||
	    (rc = bencode_put_dict_begin(b)) < 0 ||
	    (rc = bencode_put_kv_str(b, "result", STR_LIT("error"))) < 0 ||
	    (rc = bencode_put_kv_str(b, "error-reason", str_from_cstr(reason))) < 0)
		return rc;
	return bencode_put_end(b);
}
