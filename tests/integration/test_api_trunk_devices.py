"""/api/v1/trunks/{trunk_id}/devices (decision 0048): per-device digest
credentials under a trunk, the password kept only as its MD5 and SHA-256
HA1s; a customer manages the devices of its own trunks only; a trunk with
devices is not deleted.  Each test runs against SQLite and PostgreSQL (the
`api` fixture)."""
import hashlib

import pytest

pytest.register_assert_rewrite("apiclient")
from apiclient import assert_error  # noqa: E402

pytest_plugins = ["apiclient"]


def ha1(alg, user, realm, password):
    return hashlib.new(alg, ("%s:%s:%s" % (user, realm, password)).encode()).hexdigest()


def devices(trunk):
    return "/api/v1/trunks/%s/devices" % trunk


def test_customer_adds_a_device_to_its_trunk(api):
    cid, client = api.tenant()
    t = client.create("/api/v1/trunks", {"name": "t"})
    d = client.create(devices(t["id"]), {"username": "desk-101", "password": "desk-pass-1"})
    assert d["id"].startswith("dev_") and d["trunk_id"] == t["id"] and d["customer_id"] == cid
    assert (d["username"], d["realm"], d["enabled"]) == ("desk-101", "warp", True)
    assert "password" not in d and "password_sha256" not in d
    assert api.rows("SELECT auth_ha1, auth_ha1_sha256 FROM trunk_devices WHERE id = ?",
                    d["id"]) == [{"auth_ha1": ha1("md5", "desk-101", "warp", "desk-pass-1"),
                                  "auth_ha1_sha256": ha1("sha256", "desk-101", "warp",
                                                         "desk-pass-1")}]
    assert api.count("events", "type = ? AND resource_id = ?", "trunk_device.created",
                     d["id"]) == 1
    assert api.count("events", "data LIKE ?", "%desk-pass-1%") == 0
    got = client.get(devices(t["id"]) + "/" + d["id"])
    assert got.status == 200 and got.json() == {"data": d}
    assert [x["id"] for x in client.list_all(devices(t["id"]))] == [d["id"]]


def test_device_patch_rehashes_disables_and_rename_needs_password(api):
    cid, client = api.tenant()
    t = client.create("/api/v1/trunks", {"name": "t"})
    d = client.create(devices(t["id"]), {"username": "d1", "realm": "r.example",
                                         "password": "first-pass"})
    path = devices(t["id"]) + "/" + d["id"]
    r = client.patch(path, {"password": "second-pass"})
    assert r.status == 200
    assert api.rows("SELECT auth_ha1_sha256 FROM trunk_devices WHERE id = ?", d["id"]) == [
        {"auth_ha1_sha256": ha1("sha256", "d1", "r.example", "second-pass")}]
    assert_error(client.patch(path, {"username": "d2"}), 422, "required", "/password")
    r = client.patch(path, {"enabled": False})
    assert r.status == 200 and r.json()["data"]["enabled"] is False
    assert api.count("events", "type = ? AND resource_id = ?", "trunk_device.updated",
                     d["id"]) == 2


def test_device_needs_username_and_a_password_of_eight(api):
    cid, client = api.tenant()
    t = client.create("/api/v1/trunks", {"name": "t"})
    assert_error(client.post(devices(t["id"]), {"password": "long-enough"}), 422, "required",
                 "/username")
    assert_error(client.post(devices(t["id"]), {"username": "u"}), 422, "required",
                 "/password")
    assert_error(client.post(devices(t["id"]), {"username": "u", "password": "short"}), 422,
                 "invalid_length", "/password")
    assert_error(client.post(devices(t["id"]), {"username": "u", "password": "long-enough",
                                                "password_sha256": "0" * 64}),
                 422, "read_only", "/password_sha256")


def test_another_customers_trunk_devices_are_not_found(api):
    a, ca = api.tenant()
    b, cb = api.tenant()
    t = ca.create("/api/v1/trunks", {"name": "a's"})
    d = ca.create(devices(t["id"]), {"username": "a-desk", "password": "a-desk-pass"})
    assert cb.get(devices(t["id"])).status == 404
    assert cb.get(devices(t["id"]) + "/" + d["id"]).status == 404
    assert cb.post(devices(t["id"]), {"username": "x", "password": "x-password"}).status == 404
    assert cb.delete(devices(t["id"]) + "/" + d["id"]).status == 404
    assert api.count("trunk_devices", "trunk_id = ?", t["id"]) == 1


def test_operator_names_the_trunks_customer(api):
    a, ca = api.tenant()
    b = api.customer()
    t = ca.create("/api/v1/trunks", {"name": "a's"})
    assert_error(api.admin.post(devices(t["id"]), {"customer_id": b, "username": "u",
                                                   "password": "u-password"}),
                 422, "not_found", "/customer_id")
    d = api.admin.create(devices(t["id"]), {"customer_id": a, "username": "u",
                                            "password": "u-password"})
    assert d["customer_id"] == a


def test_trunk_with_devices_is_not_deleted(api):
    cid, client = api.tenant()
    t = client.create("/api/v1/trunks", {"name": "t"})
    d = client.create(devices(t["id"]), {"username": "d", "password": "d-password"})
    assert_error(client.delete("/api/v1/trunks/" + t["id"]), 409, "has_dependents", None)
    assert client.delete(devices(t["id"]) + "/" + d["id"]).status == 204
    assert client.delete("/api/v1/trunks/" + t["id"]).status == 204
