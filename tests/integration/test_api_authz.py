"""Who may do what: admin credentials act on everything; a customer's key
sees and changes only its own customer's resources (another customer's
answer 404, exactly like missing ones, and never appear in lists); admin-only
resources answer 403; read-only keys cannot write; revoked, missing and
garbage credentials answer 401 with WWW-Authenticate.

Each test runs against SQLite and PostgreSQL (the `api` fixture).
"""
import pytest

pytest.register_assert_rewrite("apiclient")
from apiclient import assert_error  # noqa: E402

pytest_plugins = ["apiclient"]

ITEM_PATHS = ["/api/v1/trunks", "/api/v1/numbers", "/api/v1/webhooks", "/api/v1/api-keys"]


def two_tenants(api):
    """Two customers, each with a trunk, a number, a webhook and its key."""
    out = []
    for i in range(2):
        cid, client = api.tenant()
        t = client.create("/api/v1/trunks", {"name": "t%d" % i})
        n = client.create("/api/v1/numbers", {"e164": "+4989%07d" % (api.count("numbers") + 1000000),
                                              "trunk_id": t["id"]})
        w = client.create("/api/v1/webhooks", {"url": "https://hooks.example.com/%d" % i,
                                                "secret": "0123456789abcdef"})
        k = client.get("/api/v1/api-keys").json()["data"][0]
        out.append({"cid": cid, "client": client, "/api/v1/trunks": t["id"],
                    "/api/v1/numbers": n["id"], "/api/v1/webhooks": w["id"],
                    "/api/v1/api-keys": k["id"]})
    return out


def test_admin_sees_every_customers_resources(api):
    a, b = two_tenants(api)
    for path in ITEM_PATHS:
        ids = {x["id"] for x in api.admin.list_all(path)}
        assert {a[path], b[path]} <= ids, path
        for t in (a, b):
            r = api.admin.get("%s/%s" % (path, t[path]))
            assert r.status == 200 and r.json()["data"]["customer_id"] == t["cid"]
    custs = {c["id"] for c in api.admin.list_all("/api/v1/customers")}
    assert {a["cid"], b["cid"]} <= custs


def test_admin_list_filters_by_customer(api):
    a, b = two_tenants(api)
    items = api.admin.list_all("/api/v1/trunks?customer_id=" + a["cid"])
    assert [t["id"] for t in items] == [a["/api/v1/trunks"]]


def test_customer_lists_only_its_own(api):
    a, b = two_tenants(api)
    for path in ITEM_PATHS:
        items = a["client"].list_all(path)
        assert [x["id"] for x in items] == [a[path]], path
        assert all(x["customer_id"] == a["cid"] for x in items)
    # Asking for the other customer's rows by filter changes nothing.
    items = a["client"].list_all("/api/v1/trunks?customer_id=" + b["cid"])
    assert [x["id"] for x in items] == [a["/api/v1/trunks"]]
    assert [c["id"] for c in a["client"].list_all("/api/v1/customers")] == [a["cid"]]


@pytest.mark.parametrize("path", ITEM_PATHS)
def test_other_customers_resource_answers_404_like_a_missing_one(api, path):
    a, b = two_tenants(api)
    other = "%s/%s" % (path, b[path])
    missing = "%s/%s" % (path, path.split("/")[-1][:3] + "_doesnotexist")
    for url in (other, missing):
        r = a["client"].get(url)
        e = assert_error(r, 404, "not_found")
        assert b[path] not in r.body.decode() or url == other
        assert b["cid"] not in r.body.decode()
    before = api.rows("SELECT * FROM %s WHERE id = ?" % path.split("/")[-1].replace("-", "_"), b[path])
    assert_error(a["client"].patch(other, {"name": "stolen"}), 404, "not_found")
    assert_error(a["client"].delete(other), 404, "not_found")
    after = api.rows("SELECT * FROM %s WHERE id = ?" % path.split("/")[-1].replace("-", "_"), b[path])
    assert after == before and len(after) == 1
    assert e["detail"]


def test_other_customer_record_answers_404(api):
    a, b = two_tenants(api)
    assert a["client"].get("/api/v1/customers/" + a["cid"]).json()["data"]["id"] == a["cid"]
    r = a["client"].get("/api/v1/customers/" + b["cid"])
    assert_error(r, 404, "not_found")


def test_customer_cannot_manage_customers(api):
    a, b = two_tenants(api)
    before = api.count("customers")
    assert_error(a["client"].post("/api/v1/customers", {"name": "mine"}), 403, "forbidden")
    assert_error(a["client"].patch("/api/v1/customers/" + a["cid"], {"credit_limit": 10 ** 12}),
                 403, "forbidden")
    assert_error(a["client"].patch("/api/v1/customers/" + b["cid"], {"status": "suspended"}),
                 403, "forbidden")
    assert_error(a["client"].delete("/api/v1/customers/" + b["cid"]), 403, "forbidden")
    assert api.count("customers") == before
    assert api.rows("SELECT credit_limit, status FROM customers WHERE id = ?", a["cid"]) == [
        {"credit_limit": 0, "status": "active"}]


@pytest.mark.parametrize("method,suffix,body", [
    ("GET", "", None), ("POST", "", {"name": "x"}), ("GET", "/ID", None),
    ("PATCH", "/ID", {"name": "x"}), ("DELETE", "/ID", None),
])
def test_carriers_are_admin_only(api, method, suffix, body):
    _, client = api.tenant()
    c = api.admin.create("/api/v1/carriers", {"name": "upstream"})
    r = client.request(method, "/api/v1/carriers" + suffix.replace("ID", c["id"]), body=body)
    assert_error(r, 403, "forbidden")
    assert c["id"] not in r.body.decode()
    assert api.rows("SELECT name FROM carriers WHERE id = ?", c["id"]) == [{"name": "upstream"}]


@pytest.mark.parametrize("method,suffix,body", [
    ("GET", "", None), ("POST", "", {"host": "gw.example"}), ("GET", "/ID", None),
    ("PATCH", "/ID", {"port": 5080}), ("DELETE", "/ID", None),
])
def test_gateways_are_admin_only(api, method, suffix, body):
    _, client = api.tenant()
    c = api.admin.create("/api/v1/carriers", {"name": "upstream"})
    g = api.admin.create("/api/v1/carriers/%s/gateways" % c["id"], {"host": "gw1.example"})
    base = "/api/v1/carriers/%s/gateways" % c["id"]
    r = client.request(method, base + suffix.replace("ID", g["id"]), body=body)
    assert_error(r, 403, "forbidden")
    assert "gw1.example" not in r.body.decode()
    assert api.count("gateways", "carrier_id = ?", c["id"]) == 1
    assert api.rows("SELECT port FROM gateways WHERE id = ?", g["id"]) == [{"port": 5060}]


@pytest.mark.parametrize("method,suffix,body", [
    ("GET", "", None), ("POST", "", "ROUTE"), ("GET", "/ID", None),
    ("PATCH", "/ID", {"prefix": "1"}), ("DELETE", "/ID", None),
])
def test_routes_are_admin_only(api, method, suffix, body):
    cid, client = api.tenant()
    c = api.admin.create("/api/v1/carriers", {"name": "upstream"})
    rt = api.admin.create("/api/v1/routes", {"prefix": "49", "customer_id": cid,
                                             "carriers": [{"carrier_id": c["id"]}]})
    if body == "ROUTE":
        body = {"prefix": "1", "carriers": [{"carrier_id": c["id"]}]}
    r = client.request(method, "/api/v1/routes" + suffix.replace("ID", rt["id"]), body=body)
    assert_error(r, 403, "forbidden")
    assert api.rows("SELECT prefix FROM routes WHERE customer_id = ?", cid) == [{"prefix": "49"}]


def test_customer_creates_in_its_own_name_only(api):
    a, b = two_tenants(api)
    r = a["client"].post("/api/v1/trunks", {"name": "sneaky", "customer_id": b["cid"]})
    assert_error(r, 422, "not_found", "/customer_id")
    t = a["client"].create("/api/v1/trunks", {"name": "mine"})
    assert t["customer_id"] == a["cid"]
    assert api.rows("SELECT customer_id FROM trunks WHERE id = ?", t["id"]) == [{"customer_id": a["cid"]}]
    # A number cannot point at someone else's trunk, nor be moved onto one.
    r = a["client"].post("/api/v1/numbers", {"e164": "+4940999000", "trunk_id": b["/api/v1/trunks"]})
    assert_error(r, 422, "not_found", "/trunk_id")
    r = a["client"].patch("/api/v1/numbers/" + a["/api/v1/numbers"],
                          {"trunk_id": b["/api/v1/trunks"]})
    assert_error(r, 422, "not_found", "/trunk_id")
    assert_error(a["client"].patch("/api/v1/trunks/" + t["id"], {"customer_id": b["cid"]}), 422,
                 "immutable", "/customer_id")


def test_customer_keys_cannot_escalate(api):
    a, b = two_tenants(api)
    before = api.count("api_keys")
    assert_error(a["client"].post("/api/v1/api-keys", {"role": "admin"}), 403, "forbidden", "/role")
    assert_error(a["client"].post("/api/v1/api-keys", {"customer_id": b["cid"]}), 422, "not_found",
                 "/customer_id")
    # Rate limits are the platform's to give, not the customer's to raise.
    assert_error(a["client"].post("/api/v1/api-keys", {"rate_per_sec": 1000000}), 403,
                 "forbidden", "/rate_per_sec")
    assert_error(a["client"].post("/api/v1/api-keys", {"burst": 1000000}), 403, "forbidden",
                 "/burst")
    assert_error(a["client"].patch("/api/v1/api-keys/" + a["/api/v1/api-keys"],
                                   {"rate_per_sec": 1000000}), 403, "forbidden", "/rate_per_sec")
    assert api.count("api_keys") == before
    assert api.rows("SELECT rate_per_sec FROM api_keys WHERE id = ?", a["/api/v1/api-keys"]) == [
        {"rate_per_sec": None}]
    k = a["client"].create("/api/v1/api-keys", {"name": "ci", "scopes": "read"})
    assert k["customer_id"] == a["cid"] and k["role"] == "customer" and k["scopes"] == "read"
    # The admin may set them.
    r = api.admin.patch("/api/v1/api-keys/" + k["id"], {"rate_per_sec": 50, "burst": 100})
    assert r.status == 200 and r.json()["data"]["rate_per_sec"] == 50


def test_read_only_key_reads_but_cannot_write(api):
    cid, rw = api.tenant()
    t = rw.create("/api/v1/trunks", {"name": "t"})
    _, ro = api.key(cid, scopes="read")
    assert ro.get("/api/v1/trunks/" + t["id"]).json()["data"] == t
    assert [x["id"] for x in ro.list_all("/api/v1/trunks")] == [t["id"]]
    assert_error(ro.post("/api/v1/trunks", {"name": "new"}), 403, "forbidden")
    assert_error(ro.patch("/api/v1/trunks/" + t["id"], {"name": "renamed"}), 403, "forbidden")
    assert_error(ro.delete("/api/v1/trunks/" + t["id"]), 403, "forbidden")
    assert_error(ro.post("/api/v1/api-keys", {"scopes": "read"}), 403, "forbidden")
    assert_error(ro.post("/api/v1/numbers", {"e164": "+4971199999"}), 403, "forbidden")
    assert api.rows("SELECT name FROM trunks WHERE customer_id = ?", cid) == [{"name": "t"}]


def test_read_only_admin_key_cannot_write(api):
    r = api.admin.post("/api/v1/api-keys", {"role": "admin", "scopes": "read", "name": "auditor"})
    assert r.status == 201 and r.json()["data"]["customer_id"] is None
    auditor = api.client(r.json()["data"]["secret"])
    assert auditor.get("/api/v1/carriers").status == 200
    assert_error(auditor.post("/api/v1/carriers", {"name": "x"}), 403, "forbidden")
    assert_error(auditor.post("/api/v1/customers", {"name": "x"}), 403, "forbidden")


def test_revoked_key_answers_401(api):
    cid, _ = api.tenant()
    kid, client = api.key(cid)
    assert client.get("/api/v1/trunks").status == 200
    assert api.admin.delete("/api/v1/api-keys/" + kid).status == 204
    r = client.get("/api/v1/trunks")
    assert_error(r, 401, "invalid_credential")
    assert r.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


def test_customer_revokes_its_own_key_not_anothers(api):
    a, b = two_tenants(api)
    kid, spare = api.key(a["cid"])
    assert_error(a["client"].delete("/api/v1/api-keys/" + b["/api/v1/api-keys"]), 404, "not_found")
    assert b["client"].get("/api/v1/trunks").status == 200
    assert a["client"].delete("/api/v1/api-keys/" + kid).status == 204
    assert_error(spare.get("/api/v1/trunks"), 401, "invalid_credential")


@pytest.mark.parametrize("authorization,code,challenge", [
    (None, "unauthenticated", "Bearer"),
    ("Basic dXNlcjpwYXNz", "unauthenticated", "Bearer"),
    ("Bearer wk_notarealkey0000000000000000000", "invalid_credential", 'Bearer error="invalid_token"'),
    ("Bearer garbage", "invalid_credential", 'Bearer error="invalid_token"'),
    ("Bearer a.b.c", "invalid_credential", 'Bearer error="invalid_token"'),
])
def test_missing_or_bad_credential_answers_401_with_challenge(api, authorization, code, challenge):
    from conftest import http
    headers = {"Authorization": authorization} if authorization else {}
    for method, path in (("GET", "/api/v1/trunks"), ("POST", "/api/v1/customers"),
                         ("GET", "/api/v1/customers/cus_x"), ("DELETE", "/api/v1/trunks/trk_x")):
        r = http(method, api.warp.base + path, headers=headers,
                 body={"name": "x"} if method == "POST" else None)
        assert_error(r, 401, code)
        assert r.headers["WWW-Authenticate"] == challenge
        assert r.headers["X-Request-Id"]


def test_customer_sees_only_its_own_events(api):
    a, b = two_tenants(api)
    mine = a["client"].list_all("/api/v1/events")
    assert mine and all(e["customer_id"] == a["cid"] for e in mine)
    types = [e["type"] for e in mine]
    assert {"trunk.created", "number.created", "webhook.created"} <= set(types)
    # Filters cannot widen the view.
    assert a["client"].list_all("/api/v1/events?customer_id=" + b["cid"]) == mine
    theirs = b["client"].list_all("/api/v1/events")
    assert theirs and not {e["id"] for e in theirs} & {e["id"] for e in mine}
    assert_error(a["client"].get("/api/v1/events/" + theirs[0]["id"]), 404, "not_found")
    assert a["client"].get("/api/v1/events/" + mine[0]["id"]).json()["data"] == mine[0]
    # Platform events (carriers) are the admin's only.
    c = api.admin.create("/api/v1/carriers", {"name": "up"})
    assert not [e for e in a["client"].list_all("/api/v1/events") if e["resource_id"] == c["id"]]
    assert [e["type"] for e in api.admin.list_all("/api/v1/events?type=carrier.created")
            if e["resource_id"] == c["id"]] == ["carrier.created"]
