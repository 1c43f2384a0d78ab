/*
 * migrate.c — numbered schema migrations compiled into the binary.
 *
 * The files src/store/migrations/NNNN_name.sql become string literals
 * (scripts/embed-migrations); store_migrate() applies those the store has
 * not recorded, in order, each in its own transaction together with its row
 * in schema_migrations (number, name, SHA-256 of the text, time).  Because
 * the record commits with the schema change, a crash leaves either both or
 * neither.
 *
 * It refuses to touch a store whose history does not match the binary: a
 * recorded checksum that differs means a migration was edited after it
 * shipped (write a new one instead), and a recorded number above the
 * binary's highest means an older binary is pointed at a newer store.
 *
 * A migration file may hold several statements.  The rule is deliberately
 * simple, with no SQL parser: a statement ends at a line whose last
 * non-blank character is ';' (lines starting with "--" are comments and
 * never end one).  A ';' inside a line does not end a statement, so a
 * trigger or function body fits when it keeps its inner ';' off the line
 * ends.
 *
 * The shared dialect has no triggers, which SQLite and PostgreSQL spell
 * differently: a statement after a comment line "-- only: sqlite" or
 * "-- only: postgres" runs on that store alone (the checksum still covers
 * the whole text, so both stores record the same migration).
 */
#include "store/backend.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#define MIGRATE_SHA256_HEX 65

static const char migrate_table_sql[] =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    "version BIGINT PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL, "
    "applied_at BIGINT NOT NULL)";

int store_migrations_latest(void)
{
	size_t n = store_migrations_embedded_count;

	return n ? (int)store_migrations_embedded[n - 1].version : 0;
}

static int migrate_checksum(const char *text, char out[MIGRATE_SHA256_HEX])
{
	unsigned char md[32];
	unsigned int mdlen = 0;

	if (!EVP_Digest(text, strlen(text), md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
		return -EIO;
	hex_encode(md, sizeof(md), out);
	return 0;
}

static const struct store_migration *migrate_find(int64_t version)
{
	for (size_t i = 0; i < store_migrations_embedded_count; i++)
		if (store_migrations_embedded[i].version == version)
			return &store_migrations_embedded[i];
	return NULL;
}

/* Checks one recorded row against the binary; -EPROTO with a reason. */
static int migrate_check_row(int64_t version, const char *checksum, char *err, size_t errlen)
{
	const struct store_migration *m = migrate_find(version);
	char want[MIGRATE_SHA256_HEX];

	if (!m) {
		snprintf(err, errlen,
			 "store is at migration %lld, this binary knows up to %d: upgrade warp",
			 (long long)version, store_migrations_latest());
		return -EPROTO;
	}
	if (migrate_checksum(m->sql, want) < 0)
		return -EIO;
	if (strcmp(want, checksum) != 0) {
		snprintf(err, errlen,
			 "migration %04lld_%s differs from the one applied to the store (checksum "
			 "%.12s… recorded, %.12s… compiled in): never edit an applied migration, "
			 "add a new one",
			 (long long)version, m->name, checksum, want);
		return -EPROTO;
	}
	return 0;
}

/* Verifies every recorded migration; *napplied receives how many there are. */
static int migrate_verify(struct store_conn *c, size_t *napplied, char *err, size_t errlen)
{
	struct store_res *r;
	int rc;

	rc = store_exec(c, "SELECT version, checksum FROM schema_migrations ORDER BY version", NULL,
			0, &r);
	if (rc < 0) {
		snprintf(err, errlen, "reading schema_migrations: %s", store_conn_errmsg(c));
		return rc;
	}
	*napplied = store_res_rows(r);
	for (size_t i = 0; i < store_res_rows(r) && rc == 0; i++) {
		int64_t v = store_res_int(r, i, 0);

		rc = migrate_check_row(v, store_res_text(r, i, 1), err, errlen);
		if (rc == 0 && v != (int64_t)i + 1) {
			snprintf(err, errlen, "schema_migrations lacks migration %zu", i + 1);
			rc = -EPROTO;
		}
	}
	store_res_free(r);
	return rc;
}

static bool migrate_line_is_comment(struct str line)
{
	struct str t = str_trim(line);

	return t.len == 0 || str_has_prefix(t, STR_LIT("--"));
}

/* The store a "-- only: <store>" comment line names, or -1 for any other
 * line. */
static int migrate_line_only(struct str line)
{
	struct str t = str_trim(line);

	if (str_eq(t, STR_LIT("-- only: sqlite")))
		return STORE_SQLITE;
	if (str_eq(t, STR_LIT("-- only: postgres")))
		return STORE_POSTGRES;
	return -1;
}

/* Runs one statement if the collected text holds more than comments and
 * is not marked for the other store (only < 0: for both). */
static int migrate_run_stmt(struct store_conn *c, struct buf *stmt, bool has_sql, int only)
{
	int rc = 0;

	if (has_sql && stmt->len > 0 && (only < 0 || only == (int)c->be->kind))
		rc = store_exec(c, stmt->p, NULL, 0, NULL);
	buf_reset(stmt);
	return rc;
}

/* Splits text into statements (see the rule at the top) and runs each. */
static int migrate_run_text(struct store_conn *c, const char *text)
{
	struct str rest = str_from_cstr(text);
	struct buf stmt;
	bool has_sql = false;
	int rc = 0, only = -1;

	buf_init(&stmt);
	while (rest.len > 0 && rc == 0) {
		ptrdiff_t nl = str_index(rest, '\n');
		struct str line = {rest.p, nl < 0 ? rest.len : (size_t)nl};
		struct str t = str_trim(line);

		rest.p += line.len + (nl < 0 ? 0 : 1);
		rest.len -= line.len + (nl < 0 ? 0 : 1);
		if (buf_append_str(&stmt, line) < 0 || buf_append_char(&stmt, '\n') < 0) {
			rc = -ENOMEM;
			break;
		}
		if (migrate_line_is_comment(line)) {
			if (migrate_line_only(line) >= 0)
				only = migrate_line_only(line);
			continue;
		}
		has_sql = true;
		if (t.p[t.len - 1] == ';') {
			rc = migrate_run_stmt(c, &stmt, has_sql, only);
			has_sql = false;
			only = -1;
		}
	}
	if (rc == 0)
		rc = migrate_run_stmt(c, &stmt, has_sql, only);
	buf_fini(&stmt);
	return rc;
}

/* 1 when another migrator recorded m meanwhile, 0 when not, <0 on error. */
static int migrate_recorded_now(struct store_conn *c, const struct store_migration *m, char *err,
				size_t errlen)
{
	struct store_param p = store_p_int(m->version);
	struct store_res *r;
	int rc;

	rc = store_exec(c, "SELECT checksum FROM schema_migrations WHERE version = $1", &p, 1, &r);
	if (rc < 0)
		return rc;
	if (store_res_rows(r) > 0)
		rc = migrate_check_row(m->version, store_res_text(r, 0, 0), err, errlen);
	if (store_res_rows(r) > 0 && rc == 0)
		rc = 1;
	store_res_free(r);
	return rc;
}

static int migrate_record(struct store_conn *c, const struct store_migration *m)
{
	char sum[MIGRATE_SHA256_HEX];
	struct store_param p[4];

	if (migrate_checksum(m->sql, sum) < 0)
		return -EIO;
	p[0] = store_p_int(m->version);
	p[1] = store_p_text(m->name);
	p[2] = store_p_text(sum);
	p[3] = store_p_int(time_wall_ms());
	return store_exec(c,
			  "INSERT INTO schema_migrations (version, name, checksum, applied_at) "
			  "VALUES ($1, $2, $3, $4)",
			  p, 4, NULL);
}

static int migrate_apply_one(struct store_conn *c, const struct store_migration *m, char *err,
			     size_t errlen)
{
	const char *lock = c->be->migrate_lock_sql;
	int rc;

	rc = store_tx_begin(c);
	if (rc == 0 && lock)
		rc = store_exec(c, lock, NULL, 0, NULL);
	if (rc == 0)
		rc = migrate_recorded_now(c, m, err, errlen);
	if (rc == 0) {
		rc = migrate_run_text(c, m->sql);
		if (rc == 0)
			rc = migrate_record(c, m);
	}
	if (rc == 1)
		return store_tx_commit(c); /* another migrator applied it meanwhile */
	if (rc == 0 && (rc = store_tx_commit(c)) == 0) {
		log_info("store", "applied migration %04lld_%s", (long long)m->version, m->name);
		return 0;
	}
	if (rc != -EPROTO)
		snprintf(err, errlen, "migration %04lld_%s failed: %s", (long long)m->version,
			 m->name, store_conn_errmsg(c));
	store_tx_rollback(c);
	return rc;
}

int store_migrate(struct store *s, char *err, size_t errlen)
{
	struct store_conn *c = store_conn(s);
	size_t applied = 0;
	int rc;

	if (!c) {
		snprintf(err, errlen, "store unreachable");
		return STORE_EDOWN;
	}
	rc = store_exec(c, migrate_table_sql, NULL, 0, NULL);
	if (rc < 0) {
		snprintf(err, errlen, "creating schema_migrations: %s", store_conn_errmsg(c));
		return rc;
	}
	rc = migrate_verify(c, &applied, err, errlen);
	for (size_t i = 0; i < store_migrations_embedded_count && rc == 0; i++) {
		const struct store_migration *m = &store_migrations_embedded[i];

		if (i < applied)
			continue; /* verified: the recorded set is a prefix */
		rc = migrate_apply_one(c, m, err, errlen);
	}
	return rc;
}

int store_migrations_current(struct store *s)
{
	struct store_conn *c = store_conn(s);
	char err[STORE_ERRMSG_MAX];
	size_t applied = 0;
	int rc;

	if (!c)
		return STORE_EDOWN;
	rc = migrate_verify(c, &applied, err, sizeof(err));
	if (rc == STORE_ERR)
		return -EPROTO; /* no schema_migrations table: never migrated */
	if (rc < 0)
		return rc;
	return applied == store_migrations_embedded_count ? 0 : -EPROTO;
}
