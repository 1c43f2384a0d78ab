"""GET /api/v1/cdrs and /api/v1/cdrs/{id} (src/api/cdrs.c) on a running warp.

CDR rows are inserted straight into the store (as the SIP role's writer
would), then read through the API: filters (customer_id, from/to on start_ms,
number as normalised or dialed, direction), newest-first cursor pages, and
customer scoping (another customer's CDR answers 404 and never appears).

Each test runs against SQLite and PostgreSQL (the `api` fixture).
"""
import uuid

import pytest

pytest.register_assert_rewrite("apiclient")
from apiclient import _pg_literal, assert_error  # noqa: E402

pytest_plugins = ["apiclient"]

BASE_MS = 1_700_000_000_000


def insert_cdr(api, customer_id, start_ms, normalized="4930123456", dialed=None,
               direction="termination", answered=True, attempts=None):
    """One CDR row as src/sip/cdr.c writes it; returns its id."""
    cid = "cdr_" + uuid.uuid4().hex[:26]
    row = {
        "id": cid, "call_id": uuid.uuid4().hex + "@test", "direction": direction,
        "customer_id": customer_id, "trunk_id": "trk_test", "carrier_id": "car_test",
        "gateway_id": "gw_test", "caller": "+15550001111",
        "dialed": dialed if dialed is not None else normalized, "normalized": normalized,
        "source": "192.0.2.10:5060", "start_ms": start_ms,
        "answer_ms": start_ms + 2000 if answered else None, "end_ms": start_ms + 62500,
        "duration_ms": 60500 if answered else 0, "billable_ms": 61000 if answered else 0,
        "final_code": 200 if answered else 486, "final_reason": None, "hangup": "caller",
        "attempts": attempts if attempts is not None else
        '[{"gateway_id":"gw_test","code":200,"start_ms":%d}]' % start_ms,
        "pdd_ms": 900, "created_at": start_ms,
    }
    sql = "INSERT INTO cdrs (%s) VALUES (%s)" % (
        ", ".join(row), ", ".join(_pg_literal(v) for v in row.values()))
    api.store.execute(sql)
    return cid


def ids(resp):
    assert resp.status == 200, (resp.status, resp.body)
    return [c["id"] for c in resp.json()["data"]]


def test_admin_filters_by_customer_newest_first(api):
    a, b = api.customer(), api.customer()
    old = insert_cdr(api, a, BASE_MS)
    new = insert_cdr(api, a, BASE_MS + 1000)
    insert_cdr(api, b, BASE_MS + 500)
    assert ids(api.admin.get("/api/v1/cdrs?customer_id=" + a)) == [new, old]


def test_from_to_select_a_start_range(api):
    a = api.customer()
    c0 = insert_cdr(api, a, BASE_MS)
    c1 = insert_cdr(api, a, BASE_MS + 1000)
    c2 = insert_cdr(api, a, BASE_MS + 2000)
    q = "/api/v1/cdrs?customer_id=%s&from=%d&to=%d" % (a, BASE_MS + 1000, BASE_MS + 2000)
    assert ids(api.admin.get(q)) == [c1]  # from inclusive, to exclusive
    q = "/api/v1/cdrs?customer_id=%s&from=%d" % (a, BASE_MS + 1)
    assert ids(api.admin.get(q)) == [c2, c1]
    q = "/api/v1/cdrs?customer_id=%s&to=%d" % (a, BASE_MS + 1)
    assert ids(api.admin.get(q)) == [c0]


def test_number_matches_normalised_or_dialed(api):
    a = api.customer()
    hit = insert_cdr(api, a, BASE_MS, normalized="442071234567", dialed="9911442071234567")
    insert_cdr(api, a, BASE_MS + 1, normalized="12125550100")
    for number in ("442071234567", "%2B442071234567", "+442071234567", "9911442071234567"):
        q = "/api/v1/cdrs?customer_id=%s&number=%s" % (a, number)
        assert ids(api.admin.get(q)) == [hit], number
    assert ids(api.admin.get("/api/v1/cdrs?customer_id=%s&number=999" % a)) == []


def test_direction_filter(api):
    a = api.customer()
    insert_cdr(api, a, BASE_MS)
    orig = insert_cdr(api, a, BASE_MS + 1, direction="origination")
    assert ids(api.admin.get("/api/v1/cdrs?customer_id=%s&direction=origination" % a)) == [orig]
    assert_error(api.admin.get("/api/v1/cdrs?direction=sideways"), 400, "invalid_parameter")


def test_cursor_pages_cover_every_row_once(api):
    a = api.customer()
    made = [insert_cdr(api, a, BASE_MS + (i // 2) * 1000) for i in range(7)]  # ties on start_ms
    seen, after = [], None
    for _ in range(10):
        q = "/api/v1/cdrs?customer_id=%s&limit=2" % a + ("&after=" + after if after else "")
        r = api.admin.get(q)
        page = r.json()
        assert r.status == 200 and len(page["data"]) <= 2
        seen += [c["id"] for c in page["data"]]
        after = page["next_cursor"]
        if after is None:
            break
    assert sorted(seen) == sorted(made) and len(seen) == 7
    starts = [c["start_ms"] for c in api.admin.list_all("/api/v1/cdrs?customer_id=" + a)]
    assert starts == sorted(starts, reverse=True)


def test_get_one_cdr_with_durations(api):
    a = api.customer()
    cid = insert_cdr(api, a, BASE_MS)
    r = api.admin.get("/api/v1/cdrs/" + cid)
    assert r.status == 200, r.body
    c = r.json()["data"]
    assert c["customer_id"] == a and c["start_ms"] == BASE_MS
    assert c["duration_ms"] == 60500 and c["billable_ms"] == 61000
    assert c["carrier_id"] == "car_test" and c["attempts"][0]["code"] == 200
    assert c["answer_ms"] == BASE_MS + 2000 and c["final_code"] == 200
    assert_error(api.admin.get("/api/v1/cdrs/cdr_" + "a" * 26), 404, "not_found")


def test_origination_attempts_name_the_trunk_tried(api):
    a = api.customer()
    new = insert_cdr(api, a, BASE_MS, direction="origination",
                     attempts='[{"trunk_id":"trk_x","code":486,"start_ms":%d}]' % BASE_MS)
    # Rows written before the rename called the trunk "gateway_id".
    old = insert_cdr(api, a, BASE_MS + 1, direction="origination",
                     attempts='[{"gateway_id":"trk_y","code":200,"start_ms":%d}]' % BASE_MS)
    term = insert_cdr(api, a, BASE_MS + 2)
    got = {c["id"]: c["attempts"] for c in api.admin.list_all("/api/v1/cdrs?customer_id=" + a)}
    assert got[new] == [{"trunk_id": "trk_x", "code": 486, "start_ms": BASE_MS}]
    assert got[old] == [{"trunk_id": "trk_y", "code": 200, "start_ms": BASE_MS}]
    assert got[term] == [{"gateway_id": "gw_test", "code": 200, "start_ms": BASE_MS + 2}]
    r = api.admin.get("/api/v1/cdrs/" + old)
    assert r.json()["data"]["attempts"] == got[old]


def test_limit_1_is_the_newest_call_whatever_the_ids(api):
    a = api.customer()
    # ids in the opposite order of the calls' start times: the newest call
    # has the smallest id
    for letter, start in (("a", BASE_MS + 2000), ("z", BASE_MS), ("m", BASE_MS + 1000)):
        api.store.execute("UPDATE cdrs SET id = 'cdr_%s' WHERE id = '%s'" % (
            letter * 26, insert_cdr(api, a, start)))
    r = api.admin.get("/api/v1/cdrs?limit=1&customer_id=" + a)
    assert ids(r) == ["cdr_" + "a" * 26]
    page2 = api.admin.get("/api/v1/cdrs?limit=1&customer_id=%s&after=%s" % (
        a, r.json()["next_cursor"]))
    assert ids(page2) == ["cdr_" + "m" * 26]


def test_customer_sees_only_its_own_cdrs(api):
    a, client_a = api.tenant()
    b = api.customer()
    mine = insert_cdr(api, a, BASE_MS)
    theirs = insert_cdr(api, b, BASE_MS)
    assert ids(client_a.get("/api/v1/cdrs")) == [mine]
    # Asking for the other customer by filter changes nothing.
    assert ids(client_a.get("/api/v1/cdrs?customer_id=" + b)) == [mine]
    assert_error(client_a.get("/api/v1/cdrs/" + theirs), 404, "not_found")
    r = client_a.get("/api/v1/cdrs/" + mine)
    assert r.status == 200
    c = r.json()["data"]
    assert "carrier_id" not in c and "gateway_id" not in c and "attempts" not in c


def test_bad_parameters_answer_400(api):
    for q in ("from=yesterday", "to=-5", "after=garbage", "after=12-", "limit=0"):
        assert_error(api.admin.get("/api/v1/cdrs?" + q), 400, "invalid_parameter")
