"""The provisioning resources as a carrier's engineers use them: every field
of customers, trunks, carriers and gateways, routes, numbers, webhooks and
api-keys is written, read back over the API and checked in the store, and
every bad value is refused with its code and JSON pointer.

Each test runs against SQLite and PostgreSQL (the `api` fixture).
"""
import hashlib

import pytest

pytest.register_assert_rewrite("apiclient")
from apiclient import assert_error  # noqa: E402

pytest_plugins = ["apiclient"]

TRUNK_FULL = {
    "name": "PBX Frankfurt",
    "enabled": True,
    "acl": [{"cidr": "192.0.2.0/24", "port": 5060}, {"cidr": "2001:db8::/32"},
            {"cidr": "198.51.100.7/32"}],
    "username": "pbx-fra",
    "realm": "sip.example.net",
    "password": "s3cret-pass-word",
    "tech_prefix": "4711#",
    "codecs": ["G729", "PCMA", "PCMU", "telephone-event"],
    "cps_limit": 25,
    "channel_limit": 300,
    "destinations": [{"uri": "sip:pbx1.example.net:5060", "priority": 0, "weight": 70},
                     {"uri": "sips:pbx2.example.net", "priority": 1, "weight": 30}],
    "max_call_duration": 7200,
    "blocked_prefixes": ["1900", "44870"],
}


def ha1(user, realm, password):
    return hashlib.md5(("%s:%s:%s" % (user, realm, password)).encode()).hexdigest()


def ha1_sha256(user, realm, password):
    return hashlib.sha256(("%s:%s:%s" % (user, realm, password)).encode()).hexdigest()


def trunk(api, cid, **fields):
    body = {"name": "trunk", "customer_id": cid}
    body.update(fields)
    return api.admin.create("/api/v1/trunks", body)


def carrier(api, **fields):
    body = {"name": "carrier"}
    body.update(fields)
    return api.admin.create("/api/v1/carriers", body)


def without_times(obj):
    return {k: v for k, v in obj.items() if k not in ("created_at", "updated_at")}


# ----------------------------------------------------------------- customers


def test_customer_create_applies_defaults(api):
    r = api.admin.post("/api/v1/customers", {"name": "Acme Telecom"})
    assert r.status == 201
    c = r.json()["data"]
    assert c["id"].startswith("cus_")
    # postpaid unless asked: a prepaid customer is refused everything until it
    # has a sell deck (decision 0052)
    assert without_times(c) == {"id": c["id"], "name": "Acme Telecom", "status": "active",
                                "billing_type": "postpaid", "currency": "USD", "credit_limit": 0,
                                "cps_limit": 0, "channel_limit": 0, "sell_deck_id": None,
                                "low_balance_threshold": None, "min_margin_bps": None,
                                "labels": []}
    assert c["created_at"] == c["updated_at"] > 0
    assert api.rows("SELECT name, status, billing_type, currency, credit_limit FROM customers "
                    "WHERE id = ?", c["id"]) == [
        {"name": "Acme Telecom", "status": "active", "billing_type": "postpaid",
         "currency": "USD", "credit_limit": 0}]


def test_customer_every_field_round_trips_and_patches(api):
    body = {"name": "Globex", "status": "suspended", "billing_type": "postpaid",
            "currency": "EUR", "credit_limit": 5000000000, "cps_limit": 30, "channel_limit": 120,
            "low_balance_threshold": -2500000, "min_margin_bps": 750,
            "labels": ["wholesale", "eu"]}
    c = api.admin.create("/api/v1/customers", body)
    assert api.admin.get("/api/v1/customers/" + c["id"]).json()["data"] == c
    r = api.admin.patch("/api/v1/customers/" + c["id"],
                        {"status": "active", "credit_limit": 1, "channel_limit": 0})
    assert r.status == 200
    p = r.json()["data"]
    assert without_times(p) == dict(body, id=c["id"], status="active", credit_limit=1,
                                     channel_limit=0, sell_deck_id=None)
    assert p["updated_at"] >= c["updated_at"]
    assert api.rows("SELECT status, credit_limit, cps_limit, channel_limit FROM customers "
                    "WHERE id = ?", c["id"]) == [
        {"status": "active", "credit_limit": 1, "cps_limit": 30, "channel_limit": 0}]


@pytest.mark.parametrize("body,code,pointer", [
    ({}, "required", "/name"),
    ({"name": ""}, "invalid_length", "/name"),
    ({"name": 7}, "invalid_type", "/name"),
    ({"name": "x", "status": "closed"}, "invalid_value", "/status"),
    ({"name": "x", "billing_type": "credit"}, "invalid_value", "/billing_type"),
    ({"name": "x", "currency": "usd"}, "invalid_value", "/currency"),
    ({"name": "x", "currency": "EURO"}, "invalid_length", "/currency"),
    ({"name": "x", "credit_limit": -1}, "out_of_range", "/credit_limit"),
    ({"name": "x", "credit_limit": "100"}, "invalid_type", "/credit_limit"),
    ({"name": "x", "cps_limit": -1}, "out_of_range", "/cps_limit"),
    ({"name": "x", "channel_limit": 1000001}, "out_of_range", "/channel_limit"),
    ({"name": "x", "low_balance_threshold": "5.00"}, "invalid_type", "/low_balance_threshold"),
    ({"name": "x", "colour": "red"}, "unknown_field", "/colour"),
    ({"name": "x", "id": "cus_mine"}, "unknown_field", "/id"),
])
def test_customer_invalid_field_is_refused_with_pointer(api, body, code, pointer):
    before = api.count("customers")
    assert_error(api.admin.post("/api/v1/customers", body), 422, code, pointer)
    assert api.count("customers") == before


def test_customer_with_live_trunk_cannot_be_deleted(api):
    cid = api.customer()
    t = trunk(api, cid)
    assert_error(api.admin.delete("/api/v1/customers/" + cid), 409, "has_dependents")
    assert api.count("customers", "id = ?", cid) == 1
    assert api.admin.delete("/api/v1/trunks/" + t["id"]).status == 204
    r = api.admin.delete("/api/v1/customers/" + cid)
    assert r.status == 204 and r.body == b""
    assert_error(api.admin.get("/api/v1/customers/" + cid), 404, "not_found")
    assert api.count("customers", "id = ?", cid) == 0


def test_customer_with_number_or_webhook_cannot_be_deleted(api):
    cid = api.customer()
    n = api.admin.create("/api/v1/numbers", {"customer_id": cid, "e164": "+4930901820"})
    assert_error(api.admin.delete("/api/v1/customers/" + cid), 409, "has_dependents")
    assert api.admin.delete("/api/v1/numbers/" + n["id"]).status == 204
    w = api.admin.create("/api/v1/webhooks", {"customer_id": cid, "url": "https://hooks.example.com/w",
                                              "secret": "0123456789abcdef"})
    assert_error(api.admin.delete("/api/v1/customers/" + cid), 409, "has_dependents")
    assert api.admin.delete("/api/v1/webhooks/" + w["id"]).status == 204
    assert api.admin.delete("/api/v1/customers/" + cid).status == 204


def test_customer_delete_revokes_nothing_silently_keys_block_it(api):
    """A customer whose API keys still work cannot vanish under them."""
    cid = api.customer()
    kid, client = api.key(cid)
    assert_error(api.admin.delete("/api/v1/customers/" + cid), 409, "has_dependents")
    assert client.get("/api/v1/customers/" + cid).status == 200
    assert api.admin.delete("/api/v1/api-keys/" + kid).status == 204
    assert api.admin.delete("/api/v1/customers/" + cid).status == 204


def test_missing_customer_answers_404(api):
    for method in ("GET", "PATCH", "DELETE"):
        r = api.admin.request(method, "/api/v1/customers/cus_doesnotexist",
                              body={"name": "x"} if method == "PATCH" else None)
        assert_error(r, 404, "not_found")


# -------------------------------------------------------------------- trunks


def test_trunk_every_field_round_trips(api):
    cid = api.customer()
    t = trunk(api, cid, **TRUNK_FULL)
    assert t["id"].startswith("trk_")
    expect = dict(TRUNK_FULL, id=t["id"], customer_id=cid, media_mode="relay",
                  topology_hiding=True, sell_deck_id=None)
    del expect["password"]
    assert without_times(t) == expect
    assert "password" not in t
    got = api.admin.get("/api/v1/trunks/" + t["id"])
    assert got.status == 200 and got.json() == {"data": t}


def test_trunk_password_is_stored_only_as_ha1(api):
    cid = api.customer()
    # TRUNK_FULL's sources are another trunk's already (no two may claim one)
    t = trunk(api, cid, **dict(TRUNK_FULL, acl=[{"cidr": "198.51.100.8/32"}]))
    rows = api.rows("SELECT auth_username, auth_realm, auth_ha1, auth_ha1_sha256 FROM trunks "
                    "WHERE id = ?", t["id"])
    assert rows == [{"auth_username": "pbx-fra", "auth_realm": "sip.example.net",
                     "auth_ha1": ha1("pbx-fra", "sip.example.net", "s3cret-pass-word"),
                     "auth_ha1_sha256": ha1_sha256("pbx-fra", "sip.example.net",
                                                   "s3cret-pass-word")}]
    # The clear password is nowhere: not in the row, not in the event.
    assert api.count("trunks", "auth_ha1 = ?", "s3cret-pass-word") == 0
    assert api.count("events", "data LIKE ?", "%s3cret-pass-word%") == 0


def test_trunk_password_patch_rehashes_and_rename_needs_password(api):
    cid = api.customer()
    t = trunk(api, cid, username="alice", password="first-password")
    assert t["realm"] == "warp"
    assert api.rows("SELECT auth_ha1 FROM trunks WHERE id = ?", t["id"])[0]["auth_ha1"] == \
        ha1("alice", "warp", "first-password")
    r = api.admin.patch("/api/v1/trunks/" + t["id"], {"password": "second-password"})
    assert r.status == 200 and "password" not in r.json()["data"]
    assert api.rows("SELECT auth_ha1, auth_ha1_sha256 FROM trunks WHERE id = ?", t["id"]) == [
        {"auth_ha1": ha1("alice", "warp", "second-password"),
         "auth_ha1_sha256": ha1_sha256("alice", "warp", "second-password")}]
    assert_error(api.admin.patch("/api/v1/trunks/" + t["id"], {"username": "bob"}), 422,
                 "required", "/password")
    assert_error(api.admin.patch("/api/v1/trunks/" + t["id"], {"realm": "other"}), 422,
                 "required", "/password")
    assert api.rows("SELECT auth_username FROM trunks WHERE id = ?", t["id"]) == [
        {"auth_username": "alice"}]


def test_trunk_credentials_added_later_get_default_realm_in_row(api):
    cid = api.customer()
    t = trunk(api, cid)
    assert t["username"] is None and t["realm"] is None
    r = api.admin.patch("/api/v1/trunks/" + t["id"], {"username": "late", "password": "late-password"})
    assert r.status == 200 and r.json()["data"]["realm"] == "warp"
    assert api.rows("SELECT auth_realm, auth_ha1 FROM trunks WHERE id = ?", t["id"]) == [
        {"auth_realm": "warp", "auth_ha1": ha1("late", "warp", "late-password")}]


def test_trunk_credentials_removed_with_null_username(api):
    cid = api.customer()
    t = trunk(api, cid, username="gone", realm="r.example", password="gone-password")
    r = api.admin.patch("/api/v1/trunks/" + t["id"], {"username": None})
    assert r.status == 200
    assert (r.json()["data"]["username"], r.json()["data"]["realm"]) == (None, None)
    assert api.rows("SELECT auth_username, auth_realm, auth_ha1, auth_ha1_sha256 FROM trunks "
                    "WHERE id = ?", t["id"]) == [{"auth_username": None, "auth_realm": None,
                                                  "auth_ha1": None, "auth_ha1_sha256": None}]


def test_trunk_sha256_ha1_is_not_a_body_member(api):
    """The SHA-256 HA1 is the server's to compute (decision 0048): a client
    cannot set it, and it is never shown."""
    cid = api.customer()
    r = api.admin.post("/api/v1/trunks", {"customer_id": cid, "name": "x", "username": "u1",
                                          "password": "pass-word-1", "password_sha256": "0" * 64})
    assert_error(r, 422, "read_only", "/password_sha256")
    t = trunk(api, cid, username="u1", password="pass-word-1")
    assert "password_sha256" not in t
    r = api.admin.patch("/api/v1/trunks/" + t["id"], {"password_sha256": "0" * 64})
    assert_error(r, 422, "read_only", "/password_sha256")


def test_trunk_password_without_username_or_too_short_is_refused(api):
    cid = api.customer()
    assert_error(api.admin.post("/api/v1/trunks", {"customer_id": cid, "name": "t",
                                                   "password": "long-enough"}),
                 422, "required", "/username")
    assert_error(api.admin.post("/api/v1/trunks", {"customer_id": cid, "name": "t",
                                                   "username": "u", "password": "short"}),
                 422, "invalid_length", "/password")
    assert api.count("trunks", "customer_id = ?", cid) == 0


def test_trunk_defaults(api):
    cid = api.customer()
    t = trunk(api, cid, name="bare")
    assert without_times(t) == {
        "id": t["id"], "customer_id": cid, "name": "bare", "enabled": True, "acl": [],
        "username": None, "realm": None, "tech_prefix": "", "codecs": ["PCMU", "PCMA"],
        "cps_limit": 0, "channel_limit": 0, "destinations": [], "max_call_duration": 0,
        "blocked_prefixes": [], "media_mode": "relay", "topology_hiding": True,
        "sell_deck_id": None}


def test_trunk_codec_order_is_kept(api):
    cid = api.customer()
    t = trunk(api, cid, codecs=["opus", "G722", "PCMA"])
    assert t["codecs"] == ["opus", "G722", "PCMA"]
    r = api.admin.patch("/api/v1/trunks/" + t["id"], {"codecs": ["PCMA", "opus"]})
    assert r.json()["data"]["codecs"] == ["PCMA", "opus"]
    assert api.rows("SELECT codecs FROM trunks WHERE id = ?", t["id"]) == [
        {"codecs": '["PCMA","opus"]'}]


@pytest.mark.parametrize("fields,code,pointer", [
    ({"acl": [{"cidr": "192.0.2.0/33"}]}, "invalid_cidr", "/acl/0/cidr"),
    ({"acl": [{"cidr": "10.0.0.0/8"}, {"cidr": "300.1.1.1/32"}]}, "invalid_cidr", "/acl/1/cidr"),
    ({"acl": [{"cidr": "2001:db8::/129"}]}, "invalid_cidr", "/acl/0/cidr"),
    ({"acl": [{"cidr": "example.com"}]}, "invalid_cidr", "/acl/0/cidr"),
    ({"acl": [{"port": 5060}]}, "invalid_cidr", "/acl/0/cidr"),
    ({"acl": [{"cidr": "10.0.0.0/8", "port": 0}]}, "out_of_range", "/acl/0/port"),
    ({"acl": [{"cidr": "10.0.0.0/8", "port": 65536}]}, "out_of_range", "/acl/0/port"),
    ({"acl": [{"cidr": "10.0.0.0/8", "proto": "udp"}]}, "unknown_field", "/acl/0"),
    ({"acl": ["10.0.0.0/8"]}, "invalid_type", "/acl/0"),
    ({"acl": {"cidr": "10.0.0.0/8"}}, "invalid_type", "/acl"),
    ({"codecs": ["PCMU", "AMR"]}, "unknown_codec", "/codecs/1"),
    ({"codecs": ["pcmu"]}, "unknown_codec", "/codecs/0"),
    ({"codecs": ["PCMU", "PCMA", "PCMU"]}, "duplicate", "/codecs/2"),
    ({"codecs": []}, "required", "/codecs"),
    ({"cps_limit": -1}, "out_of_range", "/cps_limit"),
    ({"channel_limit": -5}, "out_of_range", "/channel_limit"),
    ({"max_call_duration": -1}, "out_of_range", "/max_call_duration"),
    ({"max_call_duration": 86401}, "out_of_range", "/max_call_duration"),
    ({"cps_limit": 1.5}, "invalid_type", "/cps_limit"),
    ({"enabled": "yes"}, "invalid_type", "/enabled"),
    ({"tech_prefix": "12a"}, "invalid_prefix", "/tech_prefix"),
    ({"destinations": [{"uri": "http://pbx.example.net"}]}, "invalid_uri", "/destinations/0/uri"),
    ({"destinations": [{"uri": "sip:a.example.net"}, {"weight": 1}]}, "invalid_uri",
     "/destinations/1/uri"),
    ({"destinations": [{"uri": "sip:"}]}, "invalid_uri", "/destinations/0/uri"),
    ({"destinations": [{"uri": "sip:alice@"}]}, "invalid_uri", "/destinations/0/uri"),
    ({"destinations": [{"uri": "sips:bad_host!:5060"}]}, "invalid_uri", "/destinations/0/uri"),
    ({"destinations": [{"uri": "sip:[2001:db8::1"}]}, "invalid_uri", "/destinations/0/uri"),
    ({"destinations": [{"uri": "sip:a.example.net", "priority": -1}]}, "out_of_range",
     "/destinations/0/priority"),
    ({"destinations": [{"uri": "sip:a.example.net", "weight": 0}]}, "out_of_range",
     "/destinations/0/weight"),
    ({"blocked_prefixes": ["1900", "+44"]}, "invalid_prefix", "/blocked_prefixes/1"),
    ({"blocked_prefixes": [""]}, "invalid_prefix", "/blocked_prefixes/0"),
    ({"media_mode": "proxy"}, "invalid_value", "/media_mode"),
    ({"name": None}, "invalid_type", "/name"),
])
def test_trunk_invalid_field_is_refused_with_pointer(api, fields, code, pointer):
    cid = api.customer()
    body = {"name": "t", "customer_id": cid}
    body.update(fields)
    assert_error(api.admin.post("/api/v1/trunks", body), 422, code, pointer)
    assert api.count("trunks", "customer_id = ?", cid) == 0
    # The same value in a PATCH is refused the same way and changes nothing.
    t = trunk(api, cid)
    patch = {k: v for k, v in fields.items()}
    assert_error(api.admin.patch("/api/v1/trunks/" + t["id"], patch), 422, code, pointer)
    assert api.admin.get("/api/v1/trunks/" + t["id"]).json()["data"] == t


def test_trunk_destination_uri_forms_accepted(api):
    cid = api.customer()
    dests = [{"uri": "sip:+4930123@[2001:db8::1]:5060;transport=tcp"},
             {"uri": "sip:pbx.example.net"}, {"uri": "sips:alice@198.51.100.4:5061"}]
    assert trunk(api, cid, destinations=dests)["destinations"] == dests


def test_trunk_for_unknown_customer_is_refused(api):
    assert_error(api.admin.post("/api/v1/trunks", {"name": "t", "customer_id": "cus_nobody"}),
                 422, "not_found", "/customer_id")
    assert_error(api.admin.post("/api/v1/trunks", {"name": "t"}), 422, "required", "/customer_id")


def test_trunk_customer_cannot_be_moved(api):
    a, b = api.customer(), api.customer()
    t = trunk(api, a)
    assert_error(api.admin.patch("/api/v1/trunks/" + t["id"], {"customer_id": b}), 422,
                 "immutable", "/customer_id")
    assert api.rows("SELECT customer_id FROM trunks WHERE id = ?", t["id"]) == [{"customer_id": a}]


def test_trunk_patch_changes_only_given_fields(api):
    cid = api.customer()
    # TRUNK_FULL's sources with another tech_prefix: not the same claim
    t = trunk(api, cid, **dict(TRUNK_FULL, tech_prefix="4712#"))
    r = api.admin.patch("/api/v1/trunks/" + t["id"], {"enabled": False, "cps_limit": 5,
                                                      "acl": [{"cidr": "203.0.113.0/24"}]})
    assert r.status == 200
    assert without_times(r.json()["data"]) == dict(without_times(t), enabled=False, cps_limit=5,
                                                   acl=[{"cidr": "203.0.113.0/24"}])
    row = api.rows("SELECT enabled, cps_limit, acl, auth_ha1 FROM trunks WHERE id = ?", t["id"])
    assert row == [{"enabled": 0, "cps_limit": 5, "acl": '[{"cidr":"203.0.113.0/24"}]',
                    "auth_ha1": ha1("pbx-fra", "sip.example.net", "s3cret-pass-word")}]


def test_trunk_delete_then_gone(api):
    cid = api.customer()
    t = trunk(api, cid)
    r = api.admin.delete("/api/v1/trunks/" + t["id"])
    assert r.status == 204 and r.body == b""
    assert_error(api.admin.get("/api/v1/trunks/" + t["id"]), 404, "not_found")
    assert_error(api.admin.delete("/api/v1/trunks/" + t["id"]), 404, "not_found")
    assert api.count("trunks", "id = ?", t["id"]) == 0


def test_trunk_with_numbers_cannot_be_deleted(api):
    cid = api.customer()
    t = trunk(api, cid)
    api.admin.create("/api/v1/numbers", {"customer_id": cid, "e164": "+14155550123",
                                         "trunk_id": t["id"]})
    assert_error(api.admin.delete("/api/v1/trunks/" + t["id"]), 409, "has_dependents")
    assert api.count("trunks", "id = ?", t["id"]) == 1


# ---------------------------------------------------------- carriers, gateways


def test_carrier_defaults_and_fields(api):
    c = carrier(api, name="Tier1 Voice")
    assert c["id"].startswith("car_")
    assert without_times(c) == {"id": c["id"], "name": "Tier1 Voice", "enabled": True,
                                "tech_prefix": "", "cps_limit": 0, "channel_limit": 0,
                                "stop_codes": [404, 486, 600, 603], "buy_deck_id": None}
    r = api.admin.patch("/api/v1/carriers/" + c["id"], {"tech_prefix": "0049#", "cps_limit": 100,
                                                        "channel_limit": 2000, "enabled": False,
                                                        "stop_codes": [486, 603]})
    assert r.status == 200
    assert without_times(r.json()["data"]) == {"id": c["id"], "name": "Tier1 Voice",
                                               "enabled": False, "tech_prefix": "0049#",
                                               "cps_limit": 100, "channel_limit": 2000,
                                               "stop_codes": [486, 603], "buy_deck_id": None}
    assert api.rows("SELECT stop_codes, enabled FROM carriers WHERE id = ?", c["id"]) == [
        {"stop_codes": "[486,603]", "enabled": 0}]


@pytest.mark.parametrize("fields,code,pointer", [
    ({"stop_codes": [486, 700]}, "out_of_range", "/stop_codes/1"),
    ({"stop_codes": [200]}, "out_of_range", "/stop_codes/0"),
    ({"stop_codes": ["486"]}, "out_of_range", "/stop_codes/0"),
    ({"cps_limit": -1}, "out_of_range", "/cps_limit"),
    ({"channel_limit": -1}, "out_of_range", "/channel_limit"),
    ({"tech_prefix": "x1"}, "invalid_prefix", "/tech_prefix"),
    ({"name": ""}, "invalid_length", "/name"),
])
def test_carrier_invalid_field_is_refused_with_pointer(api, fields, code, pointer):
    before = api.count("carriers")
    body = {"name": "c"}
    body.update(fields)
    assert_error(api.admin.post("/api/v1/carriers", body), 422, code, pointer)
    assert api.count("carriers") == before


def test_gateway_defaults_fields_and_listing_under_its_carrier(api):
    c, other = carrier(api), carrier(api)
    base = "/api/v1/carriers/%s/gateways" % c["id"]
    g1 = api.admin.create(base, {"host": "gw1.carrier.example"})
    assert g1["id"].startswith("gw_")
    assert without_times(g1) == {"id": g1["id"], "carrier_id": c["id"], "host": "gw1.carrier.example",
                                 "port": 5060, "transport": "udp", "weight": 1, "priority": 0,
                                 "probe": True}
    g2 = api.admin.create(base, {"host": "2001:db8::10", "port": 5061, "transport": "tls",
                                 "weight": 40, "priority": 2, "probe": False})
    assert without_times(g2) == {"id": g2["id"], "carrier_id": c["id"], "host": "2001:db8::10",
                                 "port": 5061, "transport": "tls", "weight": 40, "priority": 2,
                                 "probe": False}
    api.admin.create("/api/v1/carriers/%s/gateways" % other["id"], {"host": "198.51.100.1"})
    ids = sorted(g["id"] for g in api.admin.list_all(base))
    assert ids == sorted([g1["id"], g2["id"]])
    assert api.admin.get(base + "/" + g2["id"]).json()["data"] == g2
    # The same gateway under another carrier's path does not exist.
    assert_error(api.admin.get("/api/v1/carriers/%s/gateways/%s" % (other["id"], g1["id"])),
                 404, "not_found")
    assert_error(api.admin.delete("/api/v1/carriers/%s/gateways/%s" % (other["id"], g1["id"])),
                 404, "not_found")
    r = api.admin.patch(base + "/" + g1["id"], {"weight": 5, "probe": False})
    assert r.status == 200 and r.json()["data"]["weight"] == 5
    assert api.rows("SELECT carrier_id, weight, probe FROM gateways WHERE id = ?", g1["id"]) == [
        {"carrier_id": c["id"], "weight": 5, "probe": 0}]
    assert api.admin.delete(base + "/" + g1["id"]).status == 204
    assert api.count("gateways", "id = ?", g1["id"]) == 0


@pytest.mark.parametrize("fields,code,pointer", [
    ({"host": "bad host"}, "invalid_host", "/host"),
    ({"host": "-gw.example"}, "invalid_host", "/host"),
    # a port inside the host, or URI brackets: the port has its own field
    ({"host": "127.0.0.3:5060"}, "invalid_host", "/host"),
    ({"host": "gw.example:5060"}, "invalid_host", "/host"),
    ({"host": "[2001:db8::10]"}, "invalid_host", "/host"),
    ({"host": "[2001:db8::10]:5060"}, "invalid_host", "/host"),
    ({"host": "192.0.2.1:5060"}, "invalid_host", "/host"),
    ({"host": " 192.0.2.1"}, "invalid_host", "/host"),
    ({"host": "gw.example", "port": 0}, "out_of_range", "/port"),
    ({"host": "gw.example", "port": 70000}, "out_of_range", "/port"),
    ({"host": "gw.example", "transport": "sctp"}, "invalid_value", "/transport"),
    ({"host": "gw.example", "weight": 0}, "out_of_range", "/weight"),
    ({"host": "gw.example", "priority": -1}, "out_of_range", "/priority"),
    ({"port": 5060}, "required", "/host"),
])
def test_gateway_invalid_field_is_refused_with_pointer(api, fields, code, pointer):
    c = carrier(api)
    assert_error(api.admin.post("/api/v1/carriers/%s/gateways" % c["id"], fields), 422, code, pointer)
    assert api.count("gateways", "carrier_id = ?", c["id"]) == 0


def test_gateway_of_unknown_carrier_answers_404(api):
    assert_error(api.admin.post("/api/v1/carriers/car_nope/gateways", {"host": "gw.example"}),
                 404, "not_found")
    assert_error(api.admin.get("/api/v1/carriers/car_nope/gateways"), 404, "not_found")


def test_carrier_delete_takes_its_gateways(api):
    c = carrier(api)
    g = api.admin.create("/api/v1/carriers/%s/gateways" % c["id"], {"host": "gw.example"})
    assert api.admin.delete("/api/v1/carriers/" + c["id"]).status == 204
    assert api.count("carriers", "id = ?", c["id"]) == 0
    assert api.count("gateways", "id = ?", g["id"]) == 0


def test_carrier_delete_writes_gateway_deleted_for_each_gateway(api):
    c = carrier(api)
    gws = [api.admin.create("/api/v1/carriers/%s/gateways" % c["id"], {"host": h})
           for h in ("gw1.example", "gw2.example")]
    assert api.admin.delete("/api/v1/carriers/" + c["id"]).status == 204
    ids = {c["id"]} | {g["id"] for g in gws}
    evs = [e for e in api.admin.list_all("/api/v1/events")
           if e["resource_id"] in ids and e["type"].endswith(".deleted")]
    assert sorted((e["type"], e["resource_id"]) for e in evs[:2]) == sorted(
        ("gateway.deleted", g["id"]) for g in gws)
    assert [(e["type"], e["resource_id"]) for e in evs[2:]] == [("carrier.deleted", c["id"])]
    assert all(e["customer_id"] is None for e in evs)
    # The gateway as it was before it went, like any delete event.
    assert {e["resource_id"]: e["data"] for e in evs[:2]} == {g["id"]: g for g in gws}
    # One transaction: nothing else committed between them.
    seqs = [e["seq"] for e in evs]
    assert seqs == list(range(seqs[0], seqs[0] + 3))


def test_carrier_delete_refused_writes_no_gateway_events(api):
    c = carrier(api)
    api.admin.create("/api/v1/carriers/%s/gateways" % c["id"], {"host": "gw.example"})
    rt = api.admin.create("/api/v1/routes", {"prefix": "4971", "carriers": [{"carrier_id": c["id"]}]})
    before = api.count("events")
    assert api.admin.delete("/api/v1/carriers/" + c["id"]).status == 409
    assert api.count("events") == before
    assert api.admin.delete("/api/v1/routes/" + rt["id"]).status == 204


# -------------------------------------------------------------------- routes


def test_route_global_and_per_customer(api):
    c1, c2 = carrier(api), carrier(api)
    carriers = [{"carrier_id": c1["id"], "priority": 0, "weight": 60},
                {"carrier_id": c2["id"], "priority": 1, "weight": 40}]
    r = api.admin.create("/api/v1/routes", {"prefix": "4930", "carriers": carriers})
    assert r["id"].startswith("rte_")
    assert without_times(r) == {"id": r["id"], "prefix": "4930", "customer_id": None,
                                "carriers": carriers, "mode": "priority", "min_margin_bps": None}
    cid = api.customer()
    own = api.admin.create("/api/v1/routes", {"prefix": "4930", "customer_id": cid,
                                              "carriers": [{"carrier_id": c2["id"]}]})
    assert own["customer_id"] == cid
    assert api.rows("SELECT prefix, customer_id, carriers FROM routes WHERE id = ?", own["id"]) == [
        {"prefix": "4930", "customer_id": cid, "carriers": '[{"carrier_id":"%s"}]' % c2["id"]}]
    default = api.admin.create("/api/v1/routes", {"prefix": "", "carriers": carriers[:1]})
    assert default["prefix"] == ""
    p = api.admin.patch("/api/v1/routes/" + r["id"], {"carriers": carriers[::-1]})
    assert p.status == 200 and p.json()["data"]["carriers"] == carriers[::-1]


@pytest.mark.parametrize("body,code,pointer", [
    ({"prefix": "49", "carriers": [{"carrier_id": "car_unknown"}]}, "unknown_carrier",
     "/carriers/0/carrier_id"),
    ({"prefix": "49", "carriers": []}, "required", "/carriers"),
    ({"prefix": "49"}, "required", "/carriers"),
    ({"prefix": "+49", "carriers": None}, "invalid_prefix", "/prefix"),
    ({"prefix": "4912345678901234", "carriers": None}, "invalid_length", "/prefix"),
    ({"prefix": "49", "customer_id": "cus_nobody", "carriers": None}, "not_found", "/customer_id"),
    ({"prefix": "49", "carriers": "KNOWN"}, "invalid_type", "/carriers"),
    ({"prefix": "49", "carriers": [{"priority": 1}]}, "required", "/carriers/0/carrier_id"),
    ({"prefix": "49", "carriers": "KNOWN_W0"}, "out_of_range", "/carriers/0/weight"),
    ({"prefix": "49", "carriers": None, "mode": "cheapest"}, "invalid_value", "/mode"),
    ({"prefix": "49", "carriers": None, "min_margin_bps": 10001}, "out_of_range",
     "/min_margin_bps"),
    ({"prefix": "49", "carriers": None, "min_margin_bps": "5%"}, "invalid_type",
     "/min_margin_bps"),
])
def test_route_invalid_field_is_refused_with_pointer(api, body, code, pointer):
    c = carrier(api)
    body = dict(body)
    if body.get("carriers") is None and "carriers" in body:
        body["carriers"] = [{"carrier_id": c["id"]}]
    elif body.get("carriers") == "KNOWN":
        body["carriers"] = {"carrier_id": c["id"]}
    elif body.get("carriers") == "KNOWN_W0":
        body["carriers"] = [{"carrier_id": c["id"], "weight": 0}]
    before = api.count("routes")
    assert_error(api.admin.post("/api/v1/routes", body), 422, code, pointer)
    assert api.count("routes") == before


def test_route_duplicate_prefix_answers_409(api):
    c = carrier(api)
    via = [{"carrier_id": c["id"]}]
    a, b = api.customer(), api.customer()
    g = api.admin.create("/api/v1/routes", {"prefix": "3906", "carriers": via})
    assert_error(api.admin.post("/api/v1/routes", {"prefix": "3906", "carriers": via}), 409,
                 "duplicate", "/prefix")
    ra = api.admin.create("/api/v1/routes", {"prefix": "3906", "customer_id": a, "carriers": via})
    api.admin.create("/api/v1/routes", {"prefix": "3906", "customer_id": b, "carriers": via})
    assert_error(api.admin.post("/api/v1/routes", {"prefix": "3906", "customer_id": a,
                                                   "carriers": via}), 409, "duplicate", "/prefix")
    other = api.admin.create("/api/v1/routes", {"prefix": "39061", "customer_id": a, "carriers": via})
    assert_error(api.admin.patch("/api/v1/routes/" + other["id"], {"prefix": "3906"}), 409,
                 "duplicate", "/prefix")
    # A route may be saved unchanged, and moved to a free prefix.
    assert api.admin.patch("/api/v1/routes/" + ra["id"], {"prefix": "3906"}).status == 200
    assert api.admin.patch("/api/v1/routes/" + g["id"], {"prefix": "3907"}).status == 200
    assert api.count("routes", "prefix = ?", "3906") == 2


def test_carrier_in_a_route_cannot_be_deleted(api):
    c = carrier(api)
    r = api.admin.create("/api/v1/routes", {"prefix": "33", "carriers": [{"carrier_id": c["id"]}]})
    assert_error(api.admin.delete("/api/v1/carriers/" + c["id"]), 409, "has_dependents")
    assert api.admin.delete("/api/v1/routes/" + r["id"]).status == 204
    assert api.admin.delete("/api/v1/carriers/" + c["id"]).status == 204


# ------------------------------------------------------------------- numbers


def test_number_create_points_at_own_trunk(api):
    cid = api.customer()
    t = trunk(api, cid)
    n = api.admin.create("/api/v1/numbers", {"customer_id": cid, "e164": "+442071838750",
                                             "trunk_id": t["id"], "sms": True})
    assert n["id"].startswith("num_")
    assert without_times(n) == {"id": n["id"], "customer_id": cid, "e164": "+442071838750",
                                "trunk_id": t["id"], "voice": True, "sms": True}
    assert api.rows("SELECT e164, customer_id, trunk_id, voice, sms FROM numbers WHERE id = ?",
                    n["id"]) == [{"e164": "+442071838750", "customer_id": cid, "trunk_id": t["id"],
                                  "voice": 1, "sms": 1}]
    r = api.admin.patch("/api/v1/numbers/" + n["id"], {"voice": False, "trunk_id": None})
    assert r.status == 200
    assert without_times(r.json()["data"]) == dict(without_times(n), voice=False, trunk_id=None)


@pytest.mark.parametrize("e164", ["14155550100", "+0415555010", "+1415", "+1415555010012345",
                                  "+1415-555-0100", "+1 4155550100", ""])
def test_number_malformed_e164_is_refused(api, e164):
    cid = api.customer()
    r = api.admin.post("/api/v1/numbers", {"customer_id": cid, "e164": e164})
    assert r.status == 422
    assert_error(r, 422, r.json()["errors"][0]["code"], "/e164")
    assert r.json()["errors"][0]["code"] in ("invalid_e164", "invalid_length")
    assert api.count("numbers", "customer_id = ?", cid) == 0


def test_number_duplicate_answers_409(api):
    a, b = api.customer(), api.customer()
    api.admin.create("/api/v1/numbers", {"customer_id": a, "e164": "+33142685300"})
    assert_error(api.admin.post("/api/v1/numbers", {"customer_id": a, "e164": "+33142685300"}),
                 409, "conflict")
    assert_error(api.admin.post("/api/v1/numbers", {"customer_id": b, "e164": "+33142685300"}),
                 409, "conflict")
    assert api.count("numbers", "e164 = ?", "+33142685300") == 1


def test_number_trunk_must_be_the_same_customers(api):
    a, b = api.customer(), api.customer()
    tb = trunk(api, b)
    assert_error(api.admin.post("/api/v1/numbers", {"customer_id": a, "e164": "+12025550111",
                                                    "trunk_id": tb["id"]}),
                 422, "not_found", "/trunk_id")
    n = api.admin.create("/api/v1/numbers", {"customer_id": a, "e164": "+12025550111"})
    assert_error(api.admin.patch("/api/v1/numbers/" + n["id"], {"trunk_id": tb["id"]}), 422,
                 "not_found", "/trunk_id")
    assert_error(api.admin.patch("/api/v1/numbers/" + n["id"], {"e164": "+12025550112"}), 422,
                 "immutable", "/e164")
    assert api.rows("SELECT e164, trunk_id FROM numbers WHERE id = ?", n["id"]) == [
        {"e164": "+12025550111", "trunk_id": None}]


# ------------------------------------------------------- webhooks and api-keys


def test_webhook_secret_is_write_only(api):
    cid = api.customer()
    w = api.admin.create("/api/v1/webhooks", {"customer_id": cid, "url": "https://hooks.example.com/a",
                                              "secret": "whsec-0123456789abcdef",
                                              "event_types": ["trunk.*", "number.created"]})
    assert w["id"].startswith("whk_")
    assert without_times(w) == {"id": w["id"], "customer_id": cid, "url": "https://hooks.example.com/a",
                                "event_types": ["trunk.*", "number.created"], "enabled": True}
    assert api.rows("SELECT secret FROM webhooks WHERE id = ?", w["id"]) == [
        {"secret": "whsec-0123456789abcdef"}]
    assert "secret" not in api.admin.get("/api/v1/webhooks/" + w["id"]).json()["data"]


@pytest.mark.parametrize("fields,code,pointer", [
    ({"url": "ftp://hooks.example.com"}, "invalid_url", "/url"),
    ({"url": "https://hooks example.com"}, "invalid_url", "/url"),
    ({"secret": "short"}, "invalid_length", "/secret"),
    ({"event_types": []}, "required", "/event_types"),
    ({"event_types": ["trunk.created", "Trunk"]}, "invalid_value", "/event_types/1"),
    # [webhooks] allow_private is false by default: literal non-public hosts.
    ({"url": "http://127.0.0.1:8080/hook"}, "private_address", "/url"),
    ({"url": "http://10.20.30.40/hook"}, "private_address", "/url"),
    ({"url": "http://169.254.169.254/latest/meta-data"}, "private_address", "/url"),
    ({"url": "https://192.168.1.1/"}, "private_address", "/url"),
    ({"url": "http://172.31.255.255/"}, "private_address", "/url"),
    ({"url": "http://100.64.0.1/"}, "private_address", "/url"),
    ({"url": "http://0.0.0.0/"}, "private_address", "/url"),
    ({"url": "http://224.0.0.251/"}, "private_address", "/url"),
    ({"url": "http://[::1]:9/hook"}, "private_address", "/url"),
    ({"url": "http://[::]/"}, "private_address", "/url"),
    ({"url": "http://[fd12:3456::1]/"}, "private_address", "/url"),
    ({"url": "http://[fe80::1%25eth0]/"}, "private_address", "/url"),
    ({"url": "http://[ff02::1]/"}, "private_address", "/url"),
    ({"url": "http://[::ffff:127.0.0.1]/"}, "private_address", "/url"),
    ({"url": "http://[::ffff:a9fe:a9fe]/"}, "private_address", "/url"),
    ({"url": "http://0x7f.1/"}, "private_address", "/url"),
    ({"url": "http://2130706433/"}, "private_address", "/url"),
    ({"url": "http://0177.0.0.1/"}, "private_address", "/url"),
    ({"url": "http://127.1/"}, "private_address", "/url"),
    ({"url": "http://user:pw@127.0.0.1/"}, "private_address", "/url"),
])
def test_webhook_invalid_field_is_refused_with_pointer(api, fields, code, pointer):
    cid = api.customer()
    body = {"customer_id": cid, "url": "https://hooks.example.com/a", "secret": "0123456789abcdef"}
    body.update(fields)
    assert_error(api.admin.post("/api/v1/webhooks", body), 422, code, pointer)
    assert api.count("webhooks", "customer_id = ?", cid) == 0


@pytest.mark.parametrize("url", ["https://203.0.113.9/hook", "http://[2001:db8::1]:8443/h",
                                 "https://localhost.example.com/", "http://8.8.8.8/"])
def test_webhook_public_or_named_host_is_accepted(api, url):
    cid = api.customer()
    w = api.admin.create("/api/v1/webhooks", {"customer_id": cid, "url": url,
                                              "secret": "0123456789abcdef"})
    assert w["url"] == url


def test_webhook_patch_to_private_address_is_refused_and_keeps_the_url(api):
    cid, client = api.tenant()
    w = client.create("/api/v1/webhooks", {"url": "https://hooks.example.com/a",
                                           "secret": "0123456789abcdef"})
    before = api.count("events")
    assert_error(client.patch("/api/v1/webhooks/" + w["id"], {"url": "http://127.0.0.1/"}),
                 422, "private_address", "/url")
    assert_error(api.admin.patch("/api/v1/webhooks/" + w["id"], {"url": "http://[::1]/"}),
                 422, "private_address", "/url")
    assert client.get("/api/v1/webhooks/" + w["id"]).json()["data"]["url"] == w["url"]
    assert api.count("events") == before


def test_api_key_secret_is_shown_once_and_stored_hashed(api):
    cid = api.customer()
    r = api.admin.post("/api/v1/api-keys", {"customer_id": cid, "name": "billing", "scopes": "read"})
    assert r.status == 201
    k = r.json()["data"]
    secret = k.pop("secret")
    assert k["id"].startswith("key_") and k["customer_id"] == cid
    assert k["role"] == "customer" and k["scopes"] == "read" and k["revoked_at"] is None
    assert secret.startswith(k["prefix"])
    got = api.admin.get("/api/v1/api-keys/" + k["id"]).json()["data"]
    assert "secret" not in got and got == k
    row = api.rows("SELECT secret_hash FROM api_keys WHERE id = ?", k["id"])[0]
    assert row["secret_hash"] != secret and secret not in row["secret_hash"]
    # Nothing else in the store holds the secret either.
    assert api.count("events", "data LIKE ?", "%" + secret + "%") == 0
    assert api.count("idempotency_keys", "body LIKE ?", "%" + secret + "%") == 0


def test_api_key_delete_revokes_and_keeps_the_row(api):
    cid = api.customer()
    kid, client = api.key(cid)
    assert client.get("/api/v1/trunks").status == 200
    assert api.admin.delete("/api/v1/api-keys/" + kid).status == 204
    rows = api.rows("SELECT revoked_at FROM api_keys WHERE id = ?", kid)
    assert len(rows) == 1 and rows[0]["revoked_at"] > 0
    assert api.admin.get("/api/v1/api-keys/" + kid).json()["data"]["revoked_at"] == rows[0]["revoked_at"]
    assert_error(api.admin.delete("/api/v1/api-keys/" + kid), 404, "not_found")


@pytest.mark.parametrize("body,code,pointer", [
    ({"scopes": "admin"}, "invalid_value", "/scopes"),
    ({"role": "root"}, "invalid_value", "/role"),
    ({"role": "customer"}, "required", "/customer_id"),
    ({"customer_id": "cus_nobody"}, "not_found", "/customer_id"),
    ({"role": "admin", "customer_id": "CUST"}, "invalid_value", "/customer_id"),
    ({"customer_id": "CUST", "prefix": "wk_x"}, "read_only", "/prefix"),
    ({"customer_id": "CUST", "rate_per_sec": 0}, "out_of_range", "/rate_per_sec"),
])
def test_api_key_invalid_field_is_refused_with_pointer(api, body, code, pointer):
    cid = api.customer()
    body = {k: (cid if v == "CUST" else v) for k, v in body.items()}
    before = api.count("api_keys")
    assert_error(api.admin.post("/api/v1/api-keys", body), 422, code, pointer)
    assert api.count("api_keys") == before


# ------------------------------------------------------ overlapping ACLs


def test_trunk_acl_may_overlap_by_prefix_port_or_tech_prefix(api):
    a, b = api.customer(), api.customer()
    trunk(api, a, acl=[{"cidr": "100.64.1.0/24"}])
    trunk(api, b, acl=[{"cidr": "100.64.1.10/32"}])                  # a longer prefix
    trunk(api, b, acl=[{"cidr": "100.64.1.0/24", "port": 5060}])     # a port
    trunk(api, b, acl=[{"cidr": "100.64.1.0/24"}], tech_prefix="77#")  # another tech prefix


def test_trunk_acl_claimed_by_another_trunk_is_refused_with_pointer(api):
    a, b = api.customer(), api.customer()
    first = trunk(api, a, acl=[{"cidr": "100.64.2.0/24", "port": 5062}])
    # The same network and port is refused, on the entry that claims it.
    r = api.admin.post("/api/v1/trunks", {"customer_id": b, "name": "t", "acl": [
        {"cidr": "198.51.100.200/32"}, {"cidr": "100.64.2.0/24", "port": 5062}]})
    assert_error(r, 409, "acl_conflict", "/acl/1/cidr")
    assert first["id"] in r.json()["errors"][0]["detail"]  # named to an admin
    assert api.count("trunks", "customer_id = ?", b) == 0
    # A customer is not told which other customer's trunk holds it.
    _, client = api.key(b)
    r = client.post("/api/v1/trunks", {"name": "t", "acl": [{"cidr": "100.64.2.0/24", "port": 5062}]})
    assert_error(r, 409, "acl_conflict", "/acl/0/cidr")
    assert first["id"] not in r.json()["errors"][0]["detail"]
    # PATCH: moving onto the claim, or dropping the tech prefix that told them apart.
    other = trunk(api, b, acl=[{"cidr": "100.64.3.0/24"}])
    assert_error(api.admin.patch("/api/v1/trunks/" + other["id"],
                                 {"acl": [{"cidr": "100.64.2.0/24", "port": 5062}]}),
                 409, "acl_conflict", "/acl/0/cidr")
    tp = trunk(api, b, acl=[{"cidr": "100.64.2.0/24", "port": 5062}], tech_prefix="55#")
    assert_error(api.admin.patch("/api/v1/trunks/" + tp["id"], {"tech_prefix": ""}),
                 409, "acl_conflict", "/acl/0/cidr")
    # A trunk's own entries are no conflict, and other changes pass.
    assert api.admin.patch("/api/v1/trunks/" + first["id"],
                           {"acl": [{"cidr": "100.64.2.0/24", "port": 5062}]}).status == 200
    assert api.admin.patch("/api/v1/trunks/" + tp["id"], {"name": "renamed"}).status == 200
    # Once the first trunk lets go, the source is free.
    assert api.admin.delete("/api/v1/trunks/" + first["id"]).status == 204
    assert api.admin.patch("/api/v1/trunks/" + other["id"],
                           {"acl": [{"cidr": "100.64.2.0/24", "port": 5062}]}).status == 200
