"""Fixtures and a small client for the provisioning API tests
(test_api_resources.py, test_api_authz.py, test_api_conventions.py).

Each test module registers this file as a pytest plugin
(`pytest_plugins = ["apiclient"]`), so the PostgreSQL server below is started
once per session, however many modules use it.

`api` is a module-scoped fixture parametrized over both stores: one real
`warp run` on a fresh SQLite file, and one on a fresh PostgreSQL database
(CREATE DATABASE on the session's server).  Tests keep out of each other's
way by creating their own customers and asserting on those only; that keeps
the suite to a few warp starts instead of one per test.  When the module is
done, warp is stopped with SIGTERM and must exit 0 (under ASan a leak report
makes the exit code non-zero).

Rows are read straight from the store (sqlite3 for SQLite, psql for
PostgreSQL) so tests can check what was really written.
"""
import itertools
import json
import os
import sqlite3
import subprocess
import uuid

import pytest

import conftest
import pgserver

ADMIN_TOKEN = "warp_test-admin-token-0123456789"

# Only the api role: the SIP, media and SMSC listeners have fixed default
# ports that parallel warps (and other suites) would fight over.  No webhook
# dispatcher: the tests' webhook URLs are reserved names that lead nowhere.
# Revocations must bite at once, and the tests send many requests a second.
API_INI = """
[run]
roles = api

[webhooks]
enabled = false

[auth]
key_cache_ttl = 0ms

[ratelimit]
admin_rate = 100000
admin_burst = 100000
customer_rate = 100000
customer_burst = 100000
anon_rate = 100000
anon_burst = 100000
"""

# The webhook dispatcher on, polling fast and allowed to reach a receiver
# on 127.0.0.1, for the suites that test what it delivers.
WEBHOOKS_ENV = {"WARP_WEBHOOKS_ENABLED": "true", "WARP_WEBHOOKS_POLL": "20ms",
                "WARP_WEBHOOKS_ALLOW_PRIVATE": "true"}

PSQL = os.path.join(pgserver.BIN, "psql")
_db_counter = itertools.count(1)


class Client:
    """Requests to /api/v1 with one bearer credential (None: no header)."""

    def __init__(self, base, token):
        self.base = base
        self.token = token

    def request(self, method, path, body=None, headers=None):
        h = {}
        if self.token is not None:
            h["Authorization"] = "Bearer " + self.token
        h.update(headers or {})
        return conftest.http(method, self.base + path, body=body, headers=h)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body, **kw):
        return self.request("POST", path, body=body, **kw)

    def patch(self, path, body, **kw):
        return self.request("PATCH", path, body=body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def create(self, path, body):
        """POST that must answer 201; returns the created object."""
        r = self.post(path, body)
        assert r.status == 201, (path, body, r.status, r.body)
        return r.json()["data"]

    def list_all(self, path, limit=100):
        """Every item of a list, following next_cursor (bounded)."""
        items, after = [], None
        sep = "&" if "?" in path else "?"
        for _ in range(100):
            q = "%s%slimit=%d" % (path, sep, limit) + ("&after=" + after if after else "")
            r = self.get(q)
            assert r.status == 200, (q, r.status, r.body)
            page = r.json()
            items += page["data"]
            after = page["next_cursor"]
            if after is None:
                return items
        raise AssertionError("more than 100 pages at %s" % path)


def error(resp):
    """The first error object of an error response."""
    body = resp.json()
    assert set(body) == {"errors"}, body
    return body["errors"][0]


def assert_error(resp, status, code, pointer=None):
    """status, the error's code, and (when given) its source pointer."""
    assert resp.status == status, (resp.status, resp.body)
    e = error(resp)
    assert e["code"] == code, e
    assert e["title"] and e["detail"], e
    if pointer is None:
        assert "source" not in e or e["source"] is None, e
    else:
        assert e["source"] == {"pointer": pointer}, e
    return e


class SqliteRows:
    def __init__(self, path):
        self.path = path
        self.kind = "sqlite"

    def rows(self, sql, *params):
        c = sqlite3.connect("file:%s?mode=ro" % self.path, uri=True, timeout=5)
        try:
            c.row_factory = sqlite3.Row
            return [dict(r) for r in c.execute(sql, params)]
        finally:
            c.close()

    def execute(self, sql):
        """Runs one writing statement and commits it."""
        c = sqlite3.connect(self.path, timeout=10)
        try:
            c.execute(sql)
            c.commit()
        finally:
            c.close()


def _pg_literal(v):
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, int):
        return str(v)
    return "'" + str(v).replace("'", "''") + "'"


class PgRows:
    """The same queries through psql; '?' placeholders become literals."""

    def __init__(self, port, db):
        self.port = port
        self.db = db
        self.kind = "postgres"

    def psql(self, sql, db=None):
        r = subprocess.run([PSQL, "-X", "-q", "-At", "-h", "127.0.0.1", "-p", str(self.port), "-U",
                            pgserver.USER, "-d", db or self.db, "-v", "ON_ERROR_STOP=1", "-c", sql],
                           capture_output=True, text=True, timeout=20)
        assert r.returncode == 0, r.stderr
        return r.stdout

    def execute(self, sql):
        """Runs one writing statement (psql commits it)."""
        self.psql(sql)

    def rows(self, sql, *params):
        parts = sql.split("?")
        assert len(parts) == len(params) + 1, sql
        text = parts[0] + "".join(_pg_literal(p) + s for p, s in zip(params, parts[1:]))
        out = self.psql("SELECT row_to_json(t) FROM (%s) t" % text)
        return [json.loads(line) for line in out.splitlines() if line.strip()]


class Env:
    """One running warp, its admin client and a view of its store."""

    def __init__(self, warp, store):
        self.warp = warp
        self.store = store
        self.admin = Client(warp.base, ADMIN_TOKEN)

    def client(self, token):
        return Client(self.warp.base, token)

    def rows(self, sql, *params):
        return self.store.rows(sql, *params)

    def count(self, table, where="1 = 1", *params):
        return self.rows("SELECT count(*) AS n FROM %s WHERE %s" % (table, where), *params)[0]["n"]

    def customer(self, **fields):
        body = {"name": "cust-" + uuid.uuid4().hex[:8]}
        body.update(fields)
        return self.admin.create("/api/v1/customers", body)["id"]

    def key(self, customer_id, scopes="read,write"):
        """A customer API key: its id and a client using its secret."""
        k = self.admin.create("/api/v1/api-keys", {"customer_id": customer_id, "scopes": scopes,
                                                   "name": "test key"})
        return k["id"], self.client(k["secret"])

    def tenant(self, **fields):
        """A new customer and a read-write client acting as it."""
        cid = self.customer(**fields)
        return cid, self.key(cid)[1]


@pytest.fixture(scope="session")
def pg_port():
    with pgserver.running() as url:
        yield int(url.rsplit(":", 1)[1].split("/")[0])


def _start(tmp, store_kind, request, roles="api", ini=API_INI):
    env = {"WARP_ADMIN_TOKEN": ADMIN_TOKEN, "WARP_RUN_ROLES": roles}
    if store_kind == "sqlite":
        path = tmp / "warp.db"
        w = conftest.Warp(tmp, store_url="sqlite:%s" % path, extra_ini=ini, env=env)
        return w, SqliteRows(str(path))
    port = request.getfixturevalue("pg_port")
    db = "api_%d_%d" % (os.getpid(), next(_db_counter))
    PgRows(port, "postgres").psql('CREATE DATABASE "%s"' % db)
    url = "postgres://%s@127.0.0.1:%d/%s" % (pgserver.USER, port, db)
    w = conftest.Warp(tmp, store_url=url, extra_ini=ini, env=env)
    return w, PgRows(port, db)


def running_env(request, tmp_path_factory, roles="api", ini=API_INI, env=None):
    """A running warp with these roles on a fresh store of request.param's
    kind, as a generator a fixture yields from; must exit 0 on SIGTERM.
    ini: the configuration added to conftest's (API_INI by default);
    env: more WARP_* overrides (WEBHOOKS_ENV turns the dispatcher on)."""
    tmp = tmp_path_factory.mktemp("api-" + request.param)
    w, store = _start(tmp, request.param, request, roles, ini)
    w.env.update(env or {})
    w.start()
    env = Env(w, store)
    try:
        yield env
    finally:
        rc, _ = w.stop()
        assert rc == 0, "warp exited %s after SIGTERM: %s" % (rc, w.stderr()[-4000:])


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def api(request, tmp_path_factory):
    """A running warp (the api role) on a fresh store of each kind."""
    yield from running_env(request, tmp_path_factory)
