"""`warp admin-token create|revoke` (src/cmd/bootstrap.c) against the store a
running warp uses: a new admin token is printed once and works at once; a
revoked one is refused (401) while other admin tokens keep working; a
customer's key cannot be revoked through it.

Each test runs against SQLite and PostgreSQL (the `api` fixture).
"""
import re

import pytest

pytest.register_assert_rewrite("apiclient")
from apiclient import assert_error  # noqa: E402
from conftest import run_warp  # noqa: E402

pytest_plugins = ["apiclient"]

CREATED = re.compile(r"^admin token (key_[a-z0-9]+) \(shown once; keep it now\): (warp_[a-z0-9]+)$")


def admin_token(api, *args):
    return run_warp(["admin-token", args[0], "-c", str(api.warp.config)] + list(args[1:]))


def test_create_prints_a_working_admin_token_once(api):
    r = admin_token(api, "create", "--name", "ops laptop")
    assert r.returncode == 0, r.stderr
    (line,) = r.stdout.splitlines()
    key_id, token = CREATED.match(line).groups()
    # Only its hash is stored, under the name given, as an admin key.
    (row,) = api.rows("SELECT role, name, revoked_at, secret_hash FROM api_keys WHERE id = ?",
                      key_id)
    assert (row["role"], row["name"], row["revoked_at"]) == ("admin", "ops laptop", None)
    assert token not in row["secret_hash"]
    client = api.client(token)
    assert client.get("/api/v1/customers").status == 200
    assert client.create("/api/v1/customers", {"name": "made by ops"})["name"] == "made by ops"


def test_revoke_refuses_that_token_only(api):
    kept = CREATED.match(admin_token(api, "create").stdout.strip()).group(2)
    key_id, token = CREATED.match(admin_token(api, "create").stdout.strip()).groups()
    r = admin_token(api, "revoke", key_id)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("admin token %s revoked" % key_id)
    assert_error(api.client(token).get("/api/v1/customers"), 401, "invalid_credential")
    assert api.client(kept).get("/api/v1/customers").status == 200
    assert api.rows("SELECT revoked_at FROM api_keys WHERE id = ?", key_id)[0]["revoked_at"]
    # Twice: nothing left to revoke.
    r = admin_token(api, "revoke", key_id)
    assert r.returncode == 1 and "no admin token %s" % key_id in r.stderr


def test_revoke_leaves_customer_keys_and_unknown_ids_alone(api):
    cid = api.customer()
    key_id, client = api.key(cid)
    for kid in (key_id, "key_doesnotexist"):
        r = admin_token(api, "revoke", kid)
        assert r.returncode == 1 and "no admin token %s" % kid in r.stderr, r.stderr
    assert client.get("/api/v1/trunks").status == 200


@pytest.mark.parametrize("args", [[], ["list"], ["revoke"], ["create", "extra"],
                                  ["revoke", "key_a", "key_b"]])
def test_bad_usage_exits_2(args):
    r = run_warp(["admin-token"] + args)
    assert r.returncode == 2 and "usage: warp" in r.stderr
