/*
 * table.c — what leaves for BigQuery: the exported tables, their columns
 * (BigQuery field, the SQL that reads it, its type, mode and description)
 * and the queries built from them.  This table is the one place to edit
 * when a column is added: the rated prices of the billing role are listed
 * already, NULLABLE and read as NULL until the store has them (decision
 * 0039); pointing their `sql` (and the table's `from`, for a side table)
 * at the new columns is the whole change, and the schema JSON, the rows and
 * docs/export.md (tests/integration/test_export.py checks it) follow.
 *
 * A row is ready to leave when its table's `where` holds: every CDR as
 * written (it is final when written), a message part once its state is
 * final.  The cursor walks (ts, id) in order; rows younger than [export]
 * settle are left for the next pass so that a commit still in flight with
 * an older ts is not stepped over.
 */
#include <errno.h>

#include "export/export_private.h"

#define NULL_INT "CAST(NULL AS BIGINT)"
#define NULL_TEXT "CAST(NULL AS TEXT)"

/* The billing role's rating of a call or message part (issue 11; filled
 * by the rating of the billing role when it stores them). */
#define PRICE_COLUMNS                                                                              \
	{"currency", NULL_TEXT, EXPORT_K_STRING, false, "ISO 4217 code of the prices below"},      \
	    {"sell_price", NULL_INT, EXPORT_K_NUMERIC, false,                                      \
	     "what the customer is charged, in currency units (exact, from micro-units)"},         \
	    {"buy_cost", NULL_INT, EXPORT_K_NUMERIC, false,                                        \
	     "what the carrier charges, in currency units"},                                       \
	    {"margin", NULL_INT, EXPORT_K_NUMERIC, false, "sell_price - buy_cost"},                \
	    {"zone", NULL_TEXT, EXPORT_K_STRING, false, "rating zone of the destination"},         \
	    {"sell_deck_version", NULL_TEXT, EXPORT_K_STRING, false,                               \
	     "rate deck version the sell price came from"},                                        \
	{                                                                                          \
		"buy_deck_version", NULL_TEXT, EXPORT_K_STRING, false,                             \
		    "rate deck version the buy cost came from"                                     \
	}

static const struct export_column cdr_columns[] = {
    {"id", "id", EXPORT_K_STRING, true, "the CDR's id (cdr_...), also the insertId"},
    {"call_id", "call_id", EXPORT_K_STRING, true, "SIP Call-ID of the customer's leg"},
    {"direction", "direction", EXPORT_K_STRING, true, "termination or origination"},
    {"customer_id", "customer_id", EXPORT_K_STRING, false, "customer (cus_...)"},
    {"trunk_id", "trunk_id", EXPORT_K_STRING, false, "customer's trunk (trk_...)"},
    {"carrier_id", "carrier_id", EXPORT_K_STRING, false, "carrier that carried the call"},
    {"gateway_id", "gateway_id", EXPORT_K_STRING, false, "gateway that answered"},
    {"caller", "caller", EXPORT_K_STRING, false, "calling number as received"},
    {"dialed", "dialed", EXPORT_K_STRING, false, "called number as dialed"},
    {"normalized", "normalized", EXPORT_K_STRING, false, "called number in E.164 digits"},
    {"source", "source", EXPORT_K_STRING, false, "address the INVITE came from"},
    {"start_time", "start_ms", EXPORT_K_TIMESTAMP, true, "INVITE received"},
    {"answer_time", "answer_ms", EXPORT_K_TIMESTAMP, false, "200 OK, NULL if unanswered"},
    {"end_time", "end_ms", EXPORT_K_TIMESTAMP, true, "call ended"},
    {"duration_ms", "duration_ms", EXPORT_K_INT64, true, "answer to end, milliseconds"},
    {"billable_ms", "billable_ms", EXPORT_K_INT64, true, "billed duration, milliseconds"},
    {"final_code", "final_code", EXPORT_K_INT64, true, "final SIP response code"},
    {"final_reason", "final_reason", EXPORT_K_STRING, false, "its reason phrase"},
    {"hangup", "hangup", EXPORT_K_STRING, false, "none, caller, callee or proxy"},
    {"attempts", "attempts", EXPORT_K_STRING, true, "JSON list of gateway attempts"},
    {"pdd_ms", "pdd_ms", EXPORT_K_INT64, false, "post-dial delay, milliseconds"},
    {"rtp_packets_a", "rtp_packets_a", EXPORT_K_INT64, false, "RTP packets caller to callee"},
    {"rtp_packets_b", "rtp_packets_b", EXPORT_K_INT64, false, "RTP packets callee to caller"},
    {"rtp_lost_a", "rtp_lost_a", EXPORT_K_INT64, false, "packets lost caller to callee"},
    {"rtp_lost_b", "rtp_lost_b", EXPORT_K_INT64, false, "packets lost callee to caller"},
    {"rtp_jitter_us_a", "rtp_jitter_us_a", EXPORT_K_INT64, false, "jitter, microseconds"},
    {"rtp_jitter_us_b", "rtp_jitter_us_b", EXPORT_K_INT64, false, "jitter, microseconds"},
    {"recorded_time", "created_at", EXPORT_K_TIMESTAMP, true, "CDR written to the store"},
    PRICE_COLUMNS,
};

static const struct export_column message_columns[] = {
    {"id", "id", EXPORT_K_STRING, true, "the part's id (msg_...), also the insertId"},
    {"group_id", "group_id", EXPORT_K_STRING, true, "the message the customer sent"},
    {"part_seq", "part_seq", EXPORT_K_INT64, true, "1-based part number"},
    {"part_total", "part_total", EXPORT_K_INT64, true, "parts of the message"},
    {"customer_id", "customer_id", EXPORT_K_STRING, true, "customer (cus_...)"},
    {"origin", "origin", EXPORT_K_STRING, true, "smpp or http"},
    {"smpp_account_id", "smpp_account_id", EXPORT_K_STRING, false, "SMPP account, if smpp"},
    {"client_ref", "client_ref", EXPORT_K_STRING, false, "the customer's reference"},
    {"source", "source", EXPORT_K_STRING, true, "source address"},
    {"destination", "destination", EXPORT_K_STRING, true, "destination number"},
    {"data_coding", "data_coding", EXPORT_K_INT64, true, "SMPP data_coding of the part"},
    {"state", "state", EXPORT_K_STRING, true,
     "final state: delivered, undeliverable, expired or rejected"},
    {"error", "error", EXPORT_K_STRING, false, "why it was not delivered"},
    {"attempts", "attempts", EXPORT_K_INT64, true, "submits upstream"},
    {"carrier_id", "carrier_id", EXPORT_K_STRING, false, "carrier it went to"},
    {"upstream_id", "upstream_id", EXPORT_K_STRING, false, "the carrier's message id"},
    {"accepted_time", "created_at", EXPORT_K_TIMESTAMP, true, "accepted from the customer"},
    {"submitted_time", "submitted_at", EXPORT_K_TIMESTAMP, false, "accepted upstream"},
    {"final_time", "updated_at", EXPORT_K_TIMESTAMP, true, "reached its final state"},
    PRICE_COLUMNS,
};

#define FINAL_STATES "state IN ('delivered', 'undeliverable', 'expired', 'rejected')"

static const struct export_table tables[] = {
    {"cdrs", "cdrs", "1 = 1", "created_at", "id", cdr_columns,
     sizeof(cdr_columns) / sizeof(cdr_columns[0])},
    {"messages", "messages", FINAL_STATES, "updated_at", "id", message_columns,
     sizeof(message_columns) / sizeof(message_columns[0])},
};

const struct export_table *export_table_find(struct str name)
{
	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++)
		if (str_eq_cstr(name, tables[i].name))
			return &tables[i];
	return NULL;
}

const struct export_table *export_table_at(size_t i)
{
	return i < sizeof(tables) / sizeof(tables[0]) ? &tables[i] : NULL;
}

static const char *const kind_types[] = {
    [EXPORT_K_STRING] = "STRING",
    [EXPORT_K_INT64] = "INTEGER",
    [EXPORT_K_TIMESTAMP] = "TIMESTAMP",
    [EXPORT_K_NUMERIC] = "NUMERIC",
};

int export_schema_json(const struct export_table *t, struct buf *out)
{
	int rc = buf_append_char(out, '[');

	for (size_t i = 0; rc == 0 && i < t->ncols; i++) {
		const struct export_column *c = &t->cols[i];
		rc = buf_printf(out,
				"%s{\"name\":\"%s\",\"type\":\"%s\",\"mode\":\"%s\","
				"\"description\":\"",
				i ? "," : "", c->name, kind_types[c->kind],
				c->required ? "REQUIRED" : "NULLABLE");
		rc = rc < 0 ? rc : buf_append_json_escaped(out, str_from_cstr(c->doc));
		rc = rc < 0 ? rc : buf_append_cstr(out, "\"}");
	}
	rc = rc < 0 ? rc : buf_append_char(out, ']');
	return rc < 0 ? -ENOMEM : 0;
}

int export_select_sql(const struct export_table *t, struct buf *sql)
{
	buf_reset(sql);
	int rc = buf_printf(sql, "SELECT %s, %s", t->ts_sql, t->id_sql);

	for (size_t i = 0; rc >= 0 && i < t->ncols; i++)
		rc = buf_printf(sql, ", %s", t->cols[i].sql);
	/* row values: both stores walk the (ts, id) index from the cursor on */
	rc = rc < 0 ? rc
		    : buf_printf(sql,
				 " FROM %s WHERE %s AND (%s, %s) > ($1, $2) AND %s < $3"
				 " ORDER BY %s, %s LIMIT $4",
				 t->from, t->where, t->ts_sql, t->id_sql, t->ts_sql, t->ts_sql,
				 t->id_sql);
	return rc < 0 ? -ENOMEM : 0;
}

int export_behind_sql(const struct export_table *t, struct buf *sql)
{
	buf_reset(sql);
	return buf_printf(sql, "SELECT COUNT(*) FROM %s WHERE %s AND (%s, %s) > ($1, $2)", t->from,
			  t->where, t->ts_sql, t->id_sql) < 0
		   ? -ENOMEM
		   : 0;
}

int export_next_sql(const struct export_table *t, struct buf *sql)
{
	buf_reset(sql);
	return buf_printf(sql, "SELECT MIN(%s) FROM %s WHERE %s AND %s >= $1", t->ts_sql, t->from,
			  t->where, t->ts_sql) < 0
		   ? -ENOMEM
		   : 0;
}
