"""What every endpoint shares: the {"data": …} envelope, cursor pages,
Idempotency-Key on POST, X-Request-Id on every response, and the events
outbox that records every create, update and delete in order.

Each test runs against SQLite and PostgreSQL (the `api` fixture); the last
one checks that warp exits 0 on SIGTERM after serving all of this.
"""
import json
import threading
import uuid

import pytest

pytest.register_assert_rewrite("apiclient")
from apiclient import ADMIN_TOKEN, API_INI, assert_error  # noqa: E402

pytest_plugins = ["apiclient"]


# ----------------------------------------------------------------- envelopes


def test_single_objects_come_in_a_data_envelope(api):
    cid = api.customer()
    r = api.admin.post("/api/v1/trunks", {"customer_id": cid, "name": "env"})
    assert r.status == 201 and r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert list(body) == ["data"] and isinstance(body["data"], dict)
    tid = body["data"]["id"]
    for resp in (api.admin.get("/api/v1/trunks/" + tid),
                 api.admin.patch("/api/v1/trunks/" + tid, {"name": "env2"})):
        assert resp.status == 200 and list(resp.json()) == ["data"]
        assert resp.json()["data"]["id"] == tid
    r = api.admin.delete("/api/v1/trunks/" + tid)
    assert r.status == 204 and r.body == b""


def test_lists_come_with_data_and_next_cursor(api):
    cid = api.customer()
    r = api.admin.get("/api/v1/trunks?customer_id=" + cid)
    assert r.status == 200 and r.json() == {"data": [], "next_cursor": None}


def test_errors_have_code_title_detail_and_pointer(api):
    r = api.admin.post("/api/v1/customers", {"name": "x", "credit_limit": -5})
    assert r.status == 422
    assert r.json() == {"errors": [{"code": "out_of_range", "title": "Invalid field",
                                    "detail": r.json()["errors"][0]["detail"],
                                    "source": {"pointer": "/credit_limit"}}]}
    assert "credit_limit" in r.json()["errors"][0]["detail"]


def test_malformed_json_body_answers_400(api):
    r = api.admin.post("/api/v1/customers", b'{"name": ')
    assert r.status == 400
    assert r.json()["errors"][0]["code"]


# ---------------------------------------------------------------- pagination


def test_cursor_walk_returns_each_item_exactly_once(api):
    cid, client = api.tenant()
    made = [client.create("/api/v1/trunks", {"name": "p%d" % i})["id"] for i in range(7)]
    for who, path in ((client, "/api/v1/trunks"), (api.admin, "/api/v1/trunks?customer_id=" + cid)):
        seen, after, sizes = [], None, []
        sep = "&" if "?" in path else "?"
        for _ in range(10):
            r = who.get(path + sep + "limit=3" + ("&after=" + after if after else ""))
            assert r.status == 200
            page = r.json()
            sizes.append(len(page["data"]))
            seen += [t["id"] for t in page["data"]]
            after = page["next_cursor"]
            if after is None:
                break
            assert isinstance(after, str) and after
        assert sizes == [3, 3, 1]
        assert sorted(seen) == sorted(made) and len(set(seen)) == 7


def test_cursor_walk_over_a_thousand_rows(api):
    """1,000 numbers created through the API, walked in pages of 97 (and in
    one page of the maximum 500 twice): every row once, none twice, in the
    order the cursor promises."""
    cid, client = api.tenant()
    made = set()
    base = uuid.uuid4().int % 8000000  # numbers are unique store-wide
    for i in range(1000):
        n = client.create("/api/v1/numbers", {"e164": "+1777%07d" % (base + i)})
        made.add(n["id"])
    for limit in (97, 500):
        seen, after, pages = [], None, 0
        while pages < 20:
            q = "/api/v1/numbers?limit=%d" % limit + ("&after=" + after if after else "")
            page = client.get(q).json()
            pages += 1
            seen += [n["id"] for n in page["data"]]
            after = page["next_cursor"]
            if after is None:
                break
        assert pages == -(-1000 // limit)
        assert len(seen) == 1000 and set(seen) == made
        assert seen == sorted(seen)


def test_exact_multiple_of_limit_ends_with_null_cursor(api):
    cid, client = api.tenant()
    for i in range(3):
        client.create("/api/v1/trunks", {"name": "m%d" % i})
    p1 = client.get("/api/v1/trunks?limit=3").json()
    assert len(p1["data"]) == 3 and p1["next_cursor"] is None


@pytest.mark.parametrize("query", ["limit=0", "limit=-1", "limit=501", "limit=abc", "limit=3.5",
                                   "limit=", "after=bad%20cursor", "after=" + "a" * 65])
def test_bad_page_parameters_answer_400(api, query):
    for path in ("/api/v1/trunks", "/api/v1/customers", "/api/v1/events"):
        r = api.admin.get(path + "?" + query)
        assert_error(r, 400, "invalid_parameter")


def test_events_page_by_cursor(api):
    cid, client = api.tenant()
    for i in range(5):
        client.create("/api/v1/trunks", {"name": "e%d" % i})
    seen, after = [], None
    for _ in range(10):
        page = client.get("/api/v1/events?limit=2" + ("&after=" + after if after else "")).json()
        seen += page["data"]
        after = page["next_cursor"]
        if after is None:
            break
    seqs = [e["seq"] for e in seen]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert [e["type"] for e in seen] == ["customer.created", "api_key.created"] + \
        ["trunk.created"] * 5
    assert_error(client.get("/api/v1/events?after=trk_notaseq"), 400, "invalid_parameter")


# --------------------------------------------------------------- idempotency


def test_idempotent_retry_returns_the_first_response_and_creates_nothing(api):
    cid = api.customer()
    key = {"Idempotency-Key": "retry-" + uuid.uuid4().hex}
    body = {"customer_id": cid, "name": "once", "cps_limit": 3}
    first = api.admin.post("/api/v1/trunks", body, headers=key)
    assert first.status == 201
    events = api.count("events", "customer_id = ?", cid)
    for _ in range(3):
        again = api.admin.post("/api/v1/trunks", body, headers=key)
        assert again.status == 201
        assert again.json() == first.json()
    assert api.count("trunks", "customer_id = ?", cid) == 1
    assert api.count("events", "customer_id = ?", cid) == events


def test_idempotency_key_with_another_body_answers_409(api):
    cid = api.customer()
    key = {"Idempotency-Key": "reuse-" + uuid.uuid4().hex}
    assert api.admin.post("/api/v1/trunks", {"customer_id": cid, "name": "a"}, headers=key).status == 201
    r = api.admin.post("/api/v1/trunks", {"customer_id": cid, "name": "b"}, headers=key)
    assert_error(r, 409, "idempotency_key_reused")
    # The same key on another collection is another request too.
    r = api.admin.post("/api/v1/numbers", {"customer_id": cid, "e164": "+3227000000"}, headers=key)
    assert_error(r, 409, "idempotency_key_reused")
    assert api.rows("SELECT name FROM trunks WHERE customer_id = ?", cid) == [{"name": "a"}]
    assert api.count("numbers", "customer_id = ?", cid) == 0


def test_idempotency_keys_belong_to_their_credential(api):
    a, ca = api.tenant()
    b, cb = api.tenant()
    key = {"Idempotency-Key": "shared-" + uuid.uuid4().hex}
    ta = ca.post("/api/v1/trunks", {"name": "same"}, headers=key)
    tb = cb.post("/api/v1/trunks", {"name": "same"}, headers=key)
    assert ta.status == tb.status == 201
    assert ta.json()["data"]["id"] != tb.json()["data"]["id"]
    assert tb.json()["data"]["customer_id"] == b
    assert api.count("trunks", "customer_id IN (?, ?)", a, b) == 2


def test_failed_request_does_not_consume_the_key(api):
    cid = api.customer()
    key = {"Idempotency-Key": "fix-" + uuid.uuid4().hex}
    assert_error(api.admin.post("/api/v1/trunks", {"customer_id": cid, "name": "t", "cps_limit": -1},
                                headers=key), 422, "out_of_range", "/cps_limit")
    r = api.admin.post("/api/v1/trunks", {"customer_id": cid, "name": "t", "cps_limit": 1}, headers=key)
    assert r.status == 201
    assert api.count("trunks", "customer_id = ?", cid) == 1


@pytest.mark.parametrize("value", ["x" * 256, "has space"])
def test_malformed_idempotency_key_answers_400(api, value):
    cid = api.customer()
    r = api.admin.post("/api/v1/trunks", {"customer_id": cid, "name": "t"},
                       headers={"Idempotency-Key": value})
    assert_error(r, 400, "invalid_header")
    assert api.count("trunks", "customer_id = ?", cid) == 0


def test_idempotent_api_key_create_never_replays_the_secret(api):
    cid = api.customer()
    key = {"Idempotency-Key": "k-" + uuid.uuid4().hex}
    first = api.admin.post("/api/v1/api-keys", {"customer_id": cid}, headers=key)
    assert first.status == 201 and first.json()["data"]["secret"]
    again = api.admin.post("/api/v1/api-keys", {"customer_id": cid}, headers=key)
    assert again.status == 201
    assert again.json()["data"]["id"] == first.json()["data"]["id"]
    assert "secret" not in again.json()["data"]
    assert api.count("api_keys", "customer_id = ?", cid) == 1


def test_concurrent_retries_create_one_row(api):
    """Twins racing past the replay check: one creates, the other answers
    the first response or 409, never a second row (10 rounds of 8)."""
    cid = api.customer()
    for round_ in range(10):
        key = {"Idempotency-Key": "race-%d-%s" % (round_, uuid.uuid4().hex)}
        body = {"customer_id": cid, "name": "raced-%d" % round_}
        results = []
        gate = threading.Barrier(8)

        def send():
            gate.wait(timeout=5)
            results.append(api.admin.post("/api/v1/trunks", body, headers=key))

        threads = [threading.Thread(target=send) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=10)
        assert len(results) == 8
        ids = {r.json()["data"]["id"] for r in results if r.status == 201}
        assert len(ids) == 1
        for r in results:
            assert r.status in (201, 409), (r.status, r.body)
            if r.status == 409:
                assert r.json()["errors"][0]["code"] == "idempotency_key_in_use"
        assert api.count("trunks", "customer_id = ?", cid) == round_ + 1
    assert api.count("events", "customer_id = ? AND type = ?", cid, "trunk.created") == 10


# -------------------------------------------------------------- X-Request-Id


def test_every_response_carries_a_request_id(api):
    cid, client = api.tenant()
    from conftest import http
    t = client.create("/api/v1/trunks", {"name": "rid"})
    responses = [
        client.get("/api/v1/trunks"),                                        # 200
        client.post("/api/v1/trunks", {"name": "rid2"}),                     # 201
        client.delete("/api/v1/trunks/" + t["id"]),                          # 204
        client.get("/api/v1/trunks?limit=0"),                                # 400
        http("GET", api.warp.base + "/api/v1/trunks"),                       # 401
        client.get("/api/v1/carriers"),                                      # 403
        client.get("/api/v1/trunks/trk_missing"),                            # 404
        client.post("/api/v1/trunks", {"name": "x", "acl": [{"cidr": "x"}]}),  # 422
    ]
    assert [r.status for r in responses] == [200, 201, 204, 400, 401, 403, 404, 422]
    ids = [r.headers["X-Request-Id"] for r in responses]
    assert all(ids) and len(set(ids)) == len(ids)


# -------------------------------------------------------------------- events


def test_trunk_lifecycle_writes_events_in_order(api):
    cid, client = api.tenant()
    t = client.create("/api/v1/trunks", {"name": "ev", "cps_limit": 1})
    client.patch("/api/v1/trunks/" + t["id"], {"cps_limit": 2})
    client.patch("/api/v1/trunks/" + t["id"], {"name": "ev2"})
    assert client.delete("/api/v1/trunks/" + t["id"]).status == 204
    for who in (client, api.admin):
        evs = [e for e in who.list_all("/api/v1/events?customer_id=" + cid)
               if e["resource_id"] == t["id"]]
        assert [e["type"] for e in evs] == ["trunk.created", "trunk.updated", "trunk.updated",
                                            "trunk.deleted"]
        assert all(e["customer_id"] == cid for e in evs)
        seqs = [e["seq"] for e in evs]
        assert seqs == sorted(seqs) and len(set(seqs)) == 4
        assert evs[0]["data"]["cps_limit"] == 1 and evs[1]["data"]["cps_limit"] == 2
        assert evs[2]["data"]["name"] == "ev2"
        assert evs[3]["data"]["id"] == t["id"] and evs[3]["data"]["name"] == "ev2"
        assert evs[0]["id"].startswith("evt_")
    rows = api.rows("SELECT type FROM events WHERE resource_id = ? ORDER BY seq", t["id"])
    assert [r["type"] for r in rows] == ["trunk.created", "trunk.updated", "trunk.updated",
                                         "trunk.deleted"]


def test_each_resource_write_emits_its_event(api):
    cid = api.customer()
    c = api.admin.create("/api/v1/carriers", {"name": "ev"})
    g = api.admin.create("/api/v1/carriers/%s/gateways" % c["id"], {"host": "gw.example"})
    rt = api.admin.create("/api/v1/routes", {"prefix": "7", "carriers": [{"carrier_id": c["id"]}]})
    n = api.admin.create("/api/v1/numbers", {"customer_id": cid, "e164": "+74957397000"})
    w = api.admin.create("/api/v1/webhooks", {"customer_id": cid, "url": "https://h.example.com/x",
                                              "secret": "0123456789abcdef"})
    kid, _ = api.key(cid)
    api.admin.patch("/api/v1/customers/" + cid, {"status": "suspended"})
    api.admin.delete("/api/v1/api-keys/" + kid)
    expect = [(cid, "customer.created", cid), (c["id"], "carrier.created", None),
              (g["id"], "gateway.created", None), (rt["id"], "route.created", None),
              (n["id"], "number.created", cid), (w["id"], "webhook.created", cid),
              (kid, "api_key.created", cid), (cid, "customer.updated", cid),
              (kid, "api_key.revoked", cid)]
    mine = {e[0] for e in expect}
    evs = [(e["resource_id"], e["type"], e["customer_id"])
           for e in api.admin.list_all("/api/v1/events") if e["resource_id"] in mine]
    assert evs == expect


def config_version(api):
    return api.rows("SELECT version FROM config_version WHERE id = 1")[0]["version"]


@pytest.mark.parametrize("body", [
    {},
    {"name": "same", "cps_limit": 5},
    {"acl": [{"cidr": "192.0.2.0/24"}], "enabled": True},
], ids=["empty", "equal-values", "equal-json-and-bool"])
def test_patch_that_changes_nothing_answers_the_row_and_writes_nothing(api, body):
    cid = api.customer()
    # A source of its own: no two trunks may claim one (with the same tech_prefix).
    acl = body.get("acl", [{"cidr": "192.0.2.%d/32" % (len(body) + 1)}])
    t = api.admin.create("/api/v1/trunks", {"customer_id": cid, "name": "same", "cps_limit": 5,
                                            "acl": acl})
    events, version = api.count("events"), config_version(api)
    r = api.admin.patch("/api/v1/trunks/" + t["id"], body)
    assert r.status == 200, r.body
    assert r.json()["data"] == t  # updated_at included: not touched
    assert api.count("events") == events
    assert config_version(api) == version


def test_patch_of_other_resources_with_equal_values_writes_nothing(api):
    cid, client = api.tenant()
    w = client.create("/api/v1/webhooks", {"url": "https://h.example.com/same",
                                           "secret": "0123456789abcdef"})
    c = api.admin.create("/api/v1/carriers", {"name": "same-car", "stop_codes": [486]})
    events, version = api.count("events"), config_version(api)
    assert client.patch("/api/v1/webhooks/" + w["id"],
                        {"url": w["url"], "event_types": ["*"]}).json()["data"] == w
    assert api.admin.patch("/api/v1/customers/" + cid, {}).status == 200
    assert api.admin.patch("/api/v1/carriers/" + c["id"],
                           {"stop_codes": [486], "name": "same-car"}).json()["data"] == c
    assert api.count("events") == events
    assert config_version(api) == version


def test_patch_with_one_changed_value_writes_one_event(api):
    cid = api.customer()
    t = api.admin.create("/api/v1/trunks", {"customer_id": cid, "name": "same", "cps_limit": 5})
    events, version = api.count("events"), config_version(api)
    r = api.admin.patch("/api/v1/trunks/" + t["id"], {"name": "same", "cps_limit": 6})
    assert r.status == 200 and r.json()["data"]["cps_limit"] == 6
    assert api.count("events") == events + 1
    assert config_version(api) == version + 1


def test_patch_of_a_write_only_field_always_counts_as_a_change(api):
    cid, client = api.tenant()
    w = client.create("/api/v1/webhooks", {"url": "https://h.example.com/s",
                                           "secret": "0123456789abcdef"})
    events = api.count("events")
    r = client.patch("/api/v1/webhooks/" + w["id"], {"secret": "0123456789abcdef"})
    assert r.status == 200
    assert api.count("events") == events + 1


def test_failed_write_emits_no_event(api):
    cid = api.customer()
    before = api.count("events")
    api.admin.post("/api/v1/trunks", {"customer_id": cid, "name": "x", "codecs": ["AMR"]})
    api.admin.delete("/api/v1/trunks/trk_missing")
    api.admin.post("/api/v1/numbers", {"customer_id": cid, "e164": "+1"})
    assert api.count("events") == before


def test_events_filter_by_type(api):
    cid, client = api.tenant()
    t = client.create("/api/v1/trunks", {"name": "f"})
    client.patch("/api/v1/trunks/" + t["id"], {"name": "g"})
    evs = client.list_all("/api/v1/events?type=trunk.updated")
    assert [e["resource_id"] for e in evs] == [t["id"]]


# ------------------------------------------------------------------ shutdown


def test_warp_exits_0_on_sigterm_after_api_traffic(warp_factory):
    """Under ASan/LSan a leak or error report makes this exit code non-zero."""
    w = warp_factory(extra_ini=API_INI, env={"WARP_ADMIN_TOKEN": ADMIN_TOKEN}).start()
    from apiclient import Env, SqliteRows
    env = Env(w, SqliteRows(str(w.tmp / "warp.db")))
    cid, client = env.tenant()
    t = client.create("/api/v1/trunks", {"name": "bye", "username": "u", "password": "password1"})
    client.patch("/api/v1/trunks/" + t["id"], {"acl": [{"cidr": "10.0.0.0/8"}]})
    client.get("/api/v1/trunks?limit=1")
    client.get("/api/v1/events")
    client.post("/api/v1/trunks", {"name": "bad", "codecs": ["x"]})
    env.admin.post("/api/v1/customers", b"{not json")
    client.delete("/api/v1/trunks/" + t["id"])
    rc, took = w.stop()
    assert rc == 0, w.stderr()[-4000:]
    assert took < 5
    assert json.dumps(w.log_lines())  # the log stayed one JSON object a line
