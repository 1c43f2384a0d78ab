"""SMPP connectors as an operator provisions them: how the smsc binds to a
carrier's SMSC.  The defaults, every bad value refused with its code and
pointer, the password kept as given (WARP presents it upstream) and never
shown, admins only, a connector going with its carrier.  Against SQLite and
PostgreSQL (the `api` fixture)."""
import pytest

pytest.register_assert_rewrite("apiclient")
from apiclient import assert_error  # noqa: E402

pytest_plugins = ["apiclient"]

PATH = "/api/v1/smpp-connectors"

DEFAULTS = {"enabled": True, "port": 2775, "tls": False, "tls_ca_file": None,
            "tls_server_name": None, "system_type": "", "bind_mode": "transceiver", "binds": 1,
            "window": 10, "throughput": 0, "enquire_link_ms": 30000,
            "response_timeout_ms": 10000, "reconnect_min_ms": 1000, "reconnect_max_ms": 60000,
            "submit_id_base": "text", "receipt_id_base": "text", "default_ton": 1,
            "default_npi": 1, "concat": "udh", "failover_errors": []}


def carrier(api):
    return api.admin.create("/api/v1/carriers", {"name": "sms upstream"})["id"]


def body(car, **fields):
    b = {"carrier_id": car, "name": "primary", "host": "smsc.carrier.example",
         "system_id": "warp", "password": "pw12"}
    b.update(fields)
    return b


def stored_password(api, cid):
    return api.rows("SELECT password FROM smpp_connectors WHERE id = ?", cid)[0]["password"]


def test_create_applies_defaults_and_never_shows_the_password(api):
    car = carrier(api)
    c = api.admin.create(PATH, body(car, password="s3cr3t!"))
    assert c["id"].startswith("smc_")
    assert {k: v for k, v in c.items() if k not in ("id", "created_at", "updated_at")} == dict(
        DEFAULTS, carrier_id=car, name="primary", host="smsc.carrier.example", system_id="warp")
    assert "password" not in api.admin.get(PATH + "/" + c["id"]).json()["data"]
    listed = [o for o in api.admin.list_all(PATH) if o["id"] == c["id"]]
    assert listed == [c]
    # Kept as given: WARP must present it in its own bind.
    assert stored_password(api, c["id"]) == "s3cr3t!"
    evs = [e for e in api.admin.list_all("/api/v1/events") if e["resource_id"] == c["id"]]
    assert [e["type"] for e in evs] == ["smpp_connector.created"]
    assert "password" not in evs[0]["data"] and evs[0]["customer_id"] is None


def test_every_field_is_stored_and_changed(api):
    car = carrier(api)
    given = dict(enabled=False, host="2001:db8::25", port=3550, tls=True,
                 tls_ca_file="/etc/warp/upstream-ca.pem", tls_server_name="smsc.carrier.example",
                 system_type="VMA", bind_mode="transmitter", binds=16, window=1000,
                 throughput=100000, enquire_link_ms=300000, response_timeout_ms=120000,
                 reconnect_min_ms=100, reconnect_max_ms=3600000, submit_id_base="hex",
                 receipt_id_base="dec", default_ton=6, default_npi=18, concat="sar",
                 system_id="x" * 15, password="12345678")
    c = api.admin.create(PATH, body(car, **given))
    shown = {k: v for k, v in given.items() if k != "password"}
    assert {k: c[k] for k in shown} == shown
    assert api.rows("SELECT window_size, tls, enabled FROM smpp_connectors WHERE id = ?",
                    c["id"]) == [{"window_size": 1000, "tls": 1, "enabled": 0}]
    r = api.admin.patch(PATH + "/" + c["id"], {"tls_ca_file": None, "tls_server_name": None,
                                               "window": 5, "throughput": 0, "name": "backup",
                                               "default_ton": 0, "default_npi": 0})
    assert r.status == 200, r.body
    d = r.json()["data"]
    assert (d["tls_ca_file"], d["tls_server_name"], d["window"], d["throughput"], d["name"],
            d["default_ton"], d["default_npi"]) == (None, None, 5, 0, "backup", 0, 0)
    assert d["updated_at"] >= c["updated_at"]


def test_patch_changes_the_password_without_showing_it(api):
    c = api.admin.create(PATH, body(carrier(api)))
    r = api.admin.patch(PATH + "/" + c["id"], {"password": "newpw"})
    assert r.status == 200, r.body
    assert "password" not in r.json()["data"]
    assert stored_password(api, c["id"]) == "newpw"
    evs = [e for e in api.admin.list_all("/api/v1/events") if e["resource_id"] == c["id"]]
    assert [e["type"] for e in evs] == ["smpp_connector.created", "smpp_connector.updated"]
    assert all("password" not in e["data"] for e in evs)


@pytest.mark.parametrize("fields,code,pointer", [
    ({"carrier_id": "car_nope"}, "unknown_carrier", "/carrier_id"),
    ({"carrier_id": 7}, "invalid_type", "/carrier_id"),
    ({"name": ""}, "invalid_length", "/name"),
    ({"name": "x" * 201}, "invalid_length", "/name"),
    ({"enabled": "yes"}, "invalid_type", "/enabled"),
    ({"host": "bad host"}, "invalid_host", "/host"),
    ({"host": "-smsc.example"}, "invalid_host", "/host"),
    ({"host": "192.0.2.1:2775"}, "invalid_host", "/host"),
    ({"host": "[2001:db8::1]"}, "invalid_host", "/host"),
    ({"host": "smsc.example:2775"}, "invalid_host", "/host"),
    ({"host": ""}, "invalid_length", "/host"),
    ({"port": 0}, "out_of_range", "/port"),
    ({"port": 65536}, "out_of_range", "/port"),
    ({"port": "2775"}, "invalid_type", "/port"),
    ({"tls": 1}, "invalid_type", "/tls"),
    ({"tls_ca_file": "ca.pem"}, "invalid_value", "/tls_ca_file"),
    ({"tls_ca_file": ""}, "invalid_length", "/tls_ca_file"),
    ({"tls_server_name": "192.0.2.1"}, "invalid_host", "/tls_server_name"),
    ({"tls_server_name": "bad name"}, "invalid_host", "/tls_server_name"),
    ({"system_id": "x" * 16}, "invalid_length", "/system_id"),
    ({"system_id": ""}, "invalid_length", "/system_id"),
    ({"system_id": "a b"}, "invalid_system_id", "/system_id"),
    ({"system_id": "caf\u00e9"}, "invalid_system_id", "/system_id"),
    ({"password": "123456789"}, "invalid_length", "/password"),
    ({"password": ""}, "invalid_length", "/password"),
    ({"password": None}, "invalid_type", "/password"),
    ({"system_type": "x" * 13}, "invalid_length", "/system_type"),
    ({"bind_mode": "receiver"}, "invalid_value", "/bind_mode"),
    ({"binds": 0}, "out_of_range", "/binds"),
    ({"binds": 17}, "out_of_range", "/binds"),
    ({"window": 0}, "out_of_range", "/window"),
    ({"window": 1001}, "out_of_range", "/window"),
    ({"window_size": 5}, "unknown_field", "/window_size"),
    ({"throughput": -1}, "out_of_range", "/throughput"),
    ({"throughput": 100001}, "out_of_range", "/throughput"),
    ({"enquire_link_ms": 999}, "out_of_range", "/enquire_link_ms"),
    ({"enquire_link_ms": 300001}, "out_of_range", "/enquire_link_ms"),
    ({"response_timeout_ms": 999}, "out_of_range", "/response_timeout_ms"),
    ({"response_timeout_ms": 120001}, "out_of_range", "/response_timeout_ms"),
    ({"reconnect_min_ms": 99}, "out_of_range", "/reconnect_min_ms"),
    ({"reconnect_max_ms": 3600001}, "out_of_range", "/reconnect_max_ms"),
    ({"reconnect_min_ms": 5000, "reconnect_max_ms": 4000}, "out_of_range", "/reconnect_min_ms"),
    ({"reconnect_min_ms": 61000}, "out_of_range", "/reconnect_min_ms"),
    ({"reconnect_max_ms": 500}, "out_of_range", "/reconnect_max_ms"),
    ({"submit_id_base": "HEX"}, "invalid_value", "/submit_id_base"),
    ({"receipt_id_base": "uuid"}, "invalid_value", "/receipt_id_base"),
    ({"default_ton": 7}, "out_of_range", "/default_ton"),
    ({"default_ton": -1}, "out_of_range", "/default_ton"),
    ({"default_npi": 19}, "out_of_range", "/default_npi"),
    ({"concat": "none"}, "invalid_value", "/concat"),
    ({"id": "smc_x"}, "unknown_field", "/id"),
    ({"customer_id": "cus_x"}, "unknown_field", "/customer_id"),
])
def test_bad_values_are_refused_with_a_pointer(api, fields, code, pointer):
    car = carrier(api)
    before = api.count("smpp_connectors")
    assert_error(api.admin.post(PATH, body(car, **fields)), 422, code, pointer)
    assert api.count("smpp_connectors") == before


@pytest.mark.parametrize("missing", ["carrier_id", "name", "host", "system_id", "password"])
def test_required_fields(api, missing):
    b = body(carrier(api))
    del b[missing]
    assert_error(api.admin.post(PATH, b), 422, "required", "/" + missing)


def test_a_patch_is_checked_against_the_stored_row(api):
    car = carrier(api)
    c = api.admin.create(PATH, body(car, reconnect_min_ms=2000, reconnect_max_ms=8000))
    url = PATH + "/" + c["id"]
    assert_error(api.admin.patch(url, {"reconnect_max_ms": 1500}), 422, "out_of_range",
                 "/reconnect_max_ms")
    assert_error(api.admin.patch(url, {"reconnect_min_ms": 9000}), 422, "out_of_range",
                 "/reconnect_min_ms")
    assert_error(api.admin.patch(url, {"host": "a:1"}), 422, "invalid_host", "/host")
    # A connector stays with its carrier: receipts are matched by carrier.
    assert_error(api.admin.patch(url, {"carrier_id": carrier(api)}), 422, "immutable",
                 "/carrier_id")
    assert api.admin.get(url).json()["data"] == c
    r = api.admin.patch(url, {"reconnect_min_ms": 8000})
    assert r.status == 200 and r.json()["data"]["reconnect_min_ms"] == 8000


def test_a_carrier_has_many_connectors_and_they_do_not_block_its_delete(api):
    car, other = carrier(api), carrier(api)
    mine = [api.admin.create(PATH, body(car, name=n)) for n in ("a", "b")]
    theirs = api.admin.create(PATH, body(other))
    assert api.admin.delete("/api/v1/carriers/" + car).status == 204
    assert api.count("smpp_connectors", "carrier_id = ?", car) == 0
    for c in mine:
        assert_error(api.admin.get(PATH + "/" + c["id"]), 404, "not_found")
    assert api.admin.get(PATH + "/" + theirs["id"]).status == 200
    # Each connector's delete is an event, in the carrier's transaction.
    ids = {car} | {c["id"] for c in mine}
    evs = [e for e in api.admin.list_all("/api/v1/events")
           if e["resource_id"] in ids and e["type"].endswith(".deleted")]
    assert sorted((e["type"], e["resource_id"]) for e in evs[:2]) == sorted(
        ("smpp_connector.deleted", c["id"]) for c in mine)
    assert [(e["type"], e["resource_id"]) for e in evs[2:]] == [("carrier.deleted", car)]
    assert {e["resource_id"]: e["data"] for e in evs[:2]} == {c["id"]: c for c in mine}
    seqs = [e["seq"] for e in evs]
    assert seqs == list(range(seqs[0], seqs[0] + 3))


def test_a_carrier_with_gateways_and_connectors_goes_with_both(api):
    car = carrier(api)
    g = api.admin.create("/api/v1/carriers/%s/gateways" % car, {"host": "gw.example"})
    c = api.admin.create(PATH, body(car))
    assert api.admin.delete("/api/v1/carriers/" + car).status == 204
    assert api.count("gateways", "id = ?", g["id"]) == 0
    assert api.count("smpp_connectors", "id = ?", c["id"]) == 0
    types = {e["resource_id"]: e["type"] for e in api.admin.list_all("/api/v1/events")
             if e["type"].endswith(".deleted")}
    assert types[g["id"]] == "gateway.deleted" and types[c["id"]] == "smpp_connector.deleted"


def test_a_refused_carrier_delete_keeps_its_connectors(api):
    car = carrier(api)
    c = api.admin.create(PATH, body(car))
    rt = api.admin.create("/api/v1/message-routes", {"prefix": "4477",
                                                     "carriers": [{"carrier_id": car}]})
    before = api.count("events")
    assert_error(api.admin.delete("/api/v1/carriers/" + car), 409, "has_dependents")
    assert api.count("events") == before
    assert api.admin.get(PATH + "/" + c["id"]).status == 200
    assert api.admin.delete("/api/v1/message-routes/" + rt["id"]).status == 204


@pytest.mark.parametrize("method,suffix,fields", [
    ("GET", "", None), ("POST", "", "CONNECTOR"), ("GET", "/ID", None),
    ("PATCH", "/ID", {"port": 2776}), ("DELETE", "/ID", None),
])
def test_connectors_are_admin_only(api, method, suffix, fields):
    _, client = api.tenant()
    car = carrier(api)
    c = api.admin.create(PATH, body(car, password="hidden1"))
    if fields == "CONNECTOR":
        fields = body(car)
    r = client.request(method, PATH + suffix.replace("ID", c["id"]), body=fields)
    assert_error(r, 403, "forbidden")
    assert c["id"] not in r.body.decode() and "hidden1" not in r.body.decode()
    assert api.rows("SELECT port FROM smpp_connectors WHERE carrier_id = ?", car) == [
        {"port": 2775}]


def test_a_missing_connector_answers_404(api):
    missing = PATH + "/smc_aaaaaaaaaaaaaaaaaaaaaaaaaa"
    assert_error(api.admin.get(missing), 404, "not_found")
    assert_error(api.admin.patch(missing, {"port": 1}), 404, "not_found")
    assert_error(api.admin.delete(missing), 404, "not_found")
