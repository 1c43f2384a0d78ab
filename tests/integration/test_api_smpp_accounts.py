"""SMPP accounts as an operator provisions them: the password stored only as
a PBKDF2 hash that Python's own hashlib verifies, never shown; system_id
unique across customers; every bad value refused with its code and pointer;
a customer sees and writes only its own accounts.  Against SQLite and
PostgreSQL (the `api` fixture)."""
import hashlib

import pytest

pytest.register_assert_rewrite("apiclient")
from apiclient import assert_error  # noqa: E402

pytest_plugins = ["apiclient"]

PATH = "/api/v1/smpp-accounts"
_n = [0]


def system_id():
    _n[0] += 1
    return "esme%d" % _n[0]


def account(api, cid, **fields):
    body = {"customer_id": cid, "system_id": system_id(), "password": "pw12",
            "allowed_cidrs": ["127.0.0.0/8"]}
    body.update(fields)
    return api.admin.create(PATH, body)


def pbkdf2_matches(stored, password):
    kind, iterations, salt, digest = stored.split("$")
    assert kind == "pbkdf2-sha256"
    got = hashlib.pbkdf2_hmac("sha256", password.encode(), bytes.fromhex(salt), int(iterations))
    return got.hex() == digest


def test_create_applies_defaults_and_never_shows_the_password(api):
    cid = api.customer()
    a = account(api, cid, password="s3cr3t!")
    assert a["id"].startswith("sma_")
    assert {k: v for k, v in a.items() if k not in ("id", "created_at", "updated_at")} == {
        "customer_id": cid, "system_id": a["system_id"], "enabled": True,
        "allowed_cidrs": ["127.0.0.0/8"], "max_binds": 4, "throughput": 100, "burst": 0,
        "window": 10}
    assert "password" not in api.admin.get(PATH + "/" + a["id"]).json()["data"]
    stored = api.rows("SELECT password_hash FROM smpp_accounts WHERE id = ?", a["id"])[0]
    assert stored["password_hash"].startswith("pbkdf2-sha256$100000$")
    assert pbkdf2_matches(stored["password_hash"], "s3cr3t!")
    assert not pbkdf2_matches(stored["password_hash"], "s3cr3t?")


def test_patch_changes_the_password_hash_and_the_limits(api):
    a = account(api, api.customer())
    before = api.rows("SELECT password_hash FROM smpp_accounts WHERE id = ?", a["id"])[0]
    r = api.admin.patch(PATH + "/" + a["id"], {"password": "newpw", "throughput": 250,
                                               "burst": 500, "window": 50, "max_binds": 2})
    assert r.status == 200, r.body
    d = r.json()["data"]
    assert (d["throughput"], d["burst"], d["window"], d["max_binds"]) == (250, 500, 50, 2)
    after = api.rows("SELECT password_hash FROM smpp_accounts WHERE id = ?", a["id"])[0]
    assert after != before and pbkdf2_matches(after["password_hash"], "newpw")


def test_system_id_is_unique_across_customers(api):
    a = account(api, api.customer())
    r = api.admin.post(PATH, {"customer_id": api.customer(), "system_id": a["system_id"],
                              "password": "x", "allowed_cidrs": ["0.0.0.0/0"]})
    assert r.status == 409, r.body


@pytest.mark.parametrize("fields,status,code,pointer", [
    ({"password": "123456789"}, 422, None, "/password"),
    ({"password": ""}, 422, None, "/password"),
    ({"password": "a b"}, 422, "invalid_password", "/password"),
    ({"system_id": "x" * 16}, 422, None, "/system_id"),
    ({"system_id": "a b"}, 422, "invalid_system_id", "/system_id"),
    ({"allowed_cidrs": []}, 422, "required", "/allowed_cidrs"),
    ({"allowed_cidrs": ["10.0.0.0/33"]}, 422, "invalid_cidr", "/allowed_cidrs/0"),
    ({"allowed_cidrs": "10.0.0.0/8"}, 422, None, "/allowed_cidrs"),
    ({"window": 0}, 422, None, "/window"),
    ({"throughput": 0}, 422, None, "/throughput"),
    ({"max_binds": 101}, 422, None, "/max_binds"),
])
def test_bad_values_are_refused_with_a_pointer(api, fields, status, code, pointer):
    body = {"customer_id": api.customer(), "system_id": system_id(), "password": "pw",
            "allowed_cidrs": ["127.0.0.1/32"]}
    body.update(fields)
    r = api.admin.post(PATH, body)
    assert r.status == status, r.body
    err = r.json()["errors"][0]
    assert err["source"]["pointer"] == pointer
    if code:
        assert_error(r, status, code, pointer)


@pytest.mark.parametrize("missing", ["system_id", "password", "allowed_cidrs"])
def test_required_fields(api, missing):
    body = {"customer_id": api.customer(), "system_id": system_id(), "password": "pw",
            "allowed_cidrs": ["127.0.0.1/32"]}
    del body[missing]
    r = api.admin.post(PATH, body)
    assert r.status == 422 and r.json()["errors"][0]["source"]["pointer"] == "/" + missing


def test_a_customer_sees_only_its_own_accounts(api):
    cid, me = api.tenant()
    other = account(api, api.customer())
    mine = me.create(PATH, {"system_id": system_id(), "password": "pw",
                            "allowed_cidrs": ["127.0.0.1/32"]})
    assert mine["customer_id"] == cid
    ids = [a["id"] for a in me.get(PATH).json()["data"]]
    assert ids == [mine["id"]]
    assert me.get(PATH + "/" + other["id"]).status == 404
    assert me.patch(PATH + "/" + other["id"], {"window": 5}).status == 404
    assert me.delete(PATH + "/" + other["id"]).status == 404
    assert api.admin.get(PATH + "/" + other["id"]).status == 200


def test_a_customer_with_an_account_cannot_be_deleted(api):
    cid = api.customer()
    a = account(api, cid)
    assert_error(api.admin.delete("/api/v1/customers/" + cid), 409, "has_dependents")
    assert api.admin.delete(PATH + "/" + a["id"]).status == 204
    assert api.admin.delete("/api/v1/customers/" + cid).status == 204
