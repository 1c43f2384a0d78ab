/*
 * flags.c — ng's spelling rules.
 *
 * rtpengine accepts "trust address", "trust-address" and "TRUST-ADDRESS"
 * alike, and Kamailio sends whichever its script writer typed; keys such as
 * "record call" and "received-from" have the same two spellings.  These
 * helpers compare with spaces, hyphens and underscores equal and case
 * ignored.
 */
#include "media/media_private.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>

static char media_flag_fold(char c)
{
	return c == ' ' || c == '_' ? '-' : (char)tolower((unsigned char)c);
}

bool media_flag_eq(struct str a, const char *b)
{
	size_t n = strlen(b);

	if (a.len != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (media_flag_fold(a.p[i]) != media_flag_fold(b[i]))
			return false;
	return true;
}

bool media_list_has(const struct bencode_node *v, const char *s)
{
	if (!v)
		return false;
	if (v->type == BENCODE_STR)
		return media_flag_eq(v->str, s);
	if (v->type != BENCODE_LIST)
		return false;
	for (const struct bencode_node *it = v->child; it; it = it->next)
		if (it->type == BENCODE_STR && media_flag_eq(it->str, s))
			return true;
	return false;
}

bool media_flags_has(const struct bencode_node *list, const char *flag)
{
	return media_list_has(list, flag);
}

bool media_flags_prefixed(const struct bencode_node *list, const char *prefix, struct str *rest)
{
	size_t n = strlen(prefix);

	if (!list || list->type != BENCODE_LIST)
		return false;
	for (const struct bencode_node *it = list->child; it; it = it->next) {
		if (it->type != BENCODE_STR || it->str.len <= n ||
		    !media_flag_eq((struct str){it->str.p, n}, prefix))
			continue;
		*rest = (struct str){it->str.p + n, it->str.len - n};
		return true;
	}
	return false;
}

const struct bencode_node *media_dict_get(const struct bencode_node *d, const char *key)
{
	if (!d || d->type != BENCODE_DICT)
		return NULL;
	for (const struct bencode_node *k = d->child; k; k = k->next->next)
		if (media_flag_eq(k->str, key))
			return k->next;
	return NULL;
}

int media_dict_str(const struct bencode_node *d, const char *key, struct str *out)
{
	const struct bencode_node *v = media_dict_get(d, key);

	if (!v)
		return -ENOENT;
	if (v->type != BENCODE_STR)
		return -EINVAL;
	*out = v->str;
	return 0;
}
