/*
 * ban_log.c — bans that start, written to the store for the API's list
 * (table sip_bans, migration 0020), off the packet path: a batching writer
 * takes each as one group (the upsert and the prune of rows an hour past
 * their end), so a flood of scanners costs the worker a queue entry per
 * new ban, bounded by the writer's queue (a full queue drops the row, not
 * the ban: the ban itself lives in limits.c's table).
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "sip/policy_private.h"

#define BAN_LOG_QUEUE 4096
#define BAN_LOG_ROWS 64
#define BAN_LOG_DELAY_MS 50
#define BAN_LOG_KEEP_MS 3600000 /* rows stay this long after their ban ends */

struct sip_ban_log {
	struct store_batch *batch;
	char node[96]; /* host:pid, as the list shows it */
};

static const char ban_upsert_sql[] =
    "INSERT INTO sip_bans (address, node, banned_until, created_at) VALUES ($1, $2, $3, $4) "
    "ON CONFLICT (address, node) DO UPDATE SET banned_until = excluded.banned_until, "
    "created_at = excluded.created_at";
static const char ban_prune_sql[] = "DELETE FROM sip_bans WHERE banned_until < $1";

struct sip_ban_log *sip_ban_log_new(struct store *s)
{
	struct sip_ban_log *l = calloc(1, sizeof(*l));
	char host[64] = "";

	if (!l)
		return NULL;
	if (gethostname(host, sizeof(host) - 1) < 0)
		snprintf(host, sizeof(host), "unknown");
	snprintf(l->node, sizeof(l->node), "%s:%ld", host, (long)getpid());
	l->batch =
	    store_batch_new(s, ban_upsert_sql, 4, BAN_LOG_QUEUE, BAN_LOG_ROWS, BAN_LOG_DELAY_MS);
	if (!l->batch) {
		free(l);
		return NULL;
	}
	return l;
}

void sip_ban_log_free(struct sip_ban_log *l)
{
	if (!l)
		return;
	store_batch_free(l->batch);
	free(l);
}

void sip_ban_log_note(struct sip_ban_log *l, const struct net_addr *src, int64_t until,
		      int64_t now_ms)
{
	char ip[NET_ADDR_STRLEN];

	if (!l || net_addr_format_ip(src, ip, sizeof(ip)) < 0)
		return;
	const struct store_param up[] = {store_p_text(ip), store_p_text(l->node),
					 store_p_int(until), store_p_int(now_ms)};
	const struct store_param prune[] = {store_p_int(now_ms - BAN_LOG_KEEP_MS)};
	const struct store_batch_stmt g[] = {{NULL, up, 4}, {ban_prune_sql, prune, 1}};

	if (store_batch_add_group(l->batch, g, 2, NULL, NULL) < 0)
		log_debug("sip", "ban of %s not listed: the writer's queue is full", ip);
}
