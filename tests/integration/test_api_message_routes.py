"""Message routes as an operator provisions them: where the smsc sends a
message, by destination prefix (global, or one customer's) to carriers by
priority and weight.  The same fields and checks as voice routes, in their
own table: a voice route and a message route of the same prefix do not
collide.  Admins only.  Against SQLite and PostgreSQL (the `api` fixture)."""
import pytest

pytest.register_assert_rewrite("apiclient")
from apiclient import assert_error  # noqa: E402

pytest_plugins = ["apiclient"]

PATH = "/api/v1/message-routes"


def carrier(api):
    return api.admin.create("/api/v1/carriers", {"name": "sms upstream"})["id"]


def without_times(o):
    return {k: v for k, v in o.items() if k not in ("created_at", "updated_at")}


def test_global_and_per_customer_routes_are_stored_as_given(api):
    c1, c2 = carrier(api), carrier(api)
    carriers = [{"carrier_id": c1, "priority": 0, "weight": 60},
                {"carrier_id": c2, "priority": 1, "weight": 40}]
    r = api.admin.create(PATH, {"prefix": "4930", "carriers": carriers})
    assert r["id"].startswith("mrt_")
    assert without_times(r) == {"id": r["id"], "prefix": "4930", "customer_id": None,
                                "carriers": carriers, "mode": "priority", "min_margin_bps": None,
                                "priority": 0, "filters": {}}
    assert api.admin.get(PATH + "/" + r["id"]).json()["data"] == r
    cid = api.customer()
    own = api.admin.create(PATH, {"prefix": "4930", "customer_id": cid,
                                  "carriers": [{"carrier_id": c2}]})
    assert own["customer_id"] == cid
    assert api.rows("SELECT prefix, customer_id, carriers FROM message_routes WHERE id = ?",
                    own["id"]) == [{"prefix": "4930", "customer_id": cid,
                                    "carriers": '[{"carrier_id":"%s"}]' % c2}]
    default = api.admin.create(PATH, {"prefix": "", "carriers": carriers[:1]})
    assert default["prefix"] == ""
    p = api.admin.patch(PATH + "/" + r["id"], {"carriers": carriers[::-1]})
    assert p.status == 200 and p.json()["data"]["carriers"] == carriers[::-1]
    # Voice routes are another table.
    assert api.count("routes", "id = ?", r["id"]) == 0
    ids = {o["id"] for o in api.admin.list_all(PATH)}
    assert {r["id"], own["id"], default["id"]} <= ids
    assert api.admin.delete(PATH + "/" + default["id"]).status == 204
    assert api.count("message_routes", "id = ?", default["id"]) == 0


def test_changes_are_events(api):
    c = carrier(api)
    r = api.admin.create(PATH, {"prefix": "4411", "carriers": [{"carrier_id": c}]})
    api.admin.patch(PATH + "/" + r["id"], {"prefix": "4412"})
    api.admin.delete(PATH + "/" + r["id"])
    evs = [(e["type"], e["data"]["prefix"]) for e in api.admin.list_all("/api/v1/events")
           if e["resource_id"] == r["id"]]
    assert evs == [("message_route.created", "4411"), ("message_route.updated", "4412"),
                   ("message_route.deleted", "4412")]


@pytest.mark.parametrize("body,code,pointer", [
    ({"prefix": "49", "carriers": [{"carrier_id": "car_unknown"}]}, "unknown_carrier",
     "/carriers/0/carrier_id"),
    ({"prefix": "49", "carriers": []}, "required", "/carriers"),
    ({"prefix": "49"}, "required", "/carriers"),
    ({"carriers": "KNOWN_LIST"}, "required", "/prefix"),
    ({"prefix": "+49", "carriers": "KNOWN_LIST"}, "invalid_prefix", "/prefix"),
    ({"prefix": "4912345678901234", "carriers": "KNOWN_LIST"}, "invalid_length", "/prefix"),
    ({"prefix": 49, "carriers": "KNOWN_LIST"}, "invalid_type", "/prefix"),
    ({"prefix": "49", "customer_id": "cus_nobody", "carriers": "KNOWN_LIST"}, "not_found",
     "/customer_id"),
    ({"prefix": "49", "carriers": "KNOWN_OBJECT"}, "invalid_type", "/carriers"),
    ({"prefix": "49", "carriers": [{"priority": 1}]}, "required", "/carriers/0/carrier_id"),
    ({"prefix": "49", "carriers": "KNOWN_W0"}, "out_of_range", "/carriers/0/weight"),
    ({"prefix": "49", "carriers": "KNOWN_P1001"}, "out_of_range", "/carriers/0/priority"),
    ({"prefix": "49", "carriers": "KNOWN_EXTRA"}, "unknown_field", "/carriers/0"),
    ({"prefix": "49", "carriers": "KNOWN_21"}, "too_many", "/carriers"),
    ({"prefix": "49", "carriers": "KNOWN_LIST", "id": "mrt_x"}, "unknown_field", "/id"),
    ({"prefix": "49", "carriers": "KNOWN_LIST", "colour": "red"}, "unknown_field", "/colour"),
])
def test_bad_values_are_refused_with_a_pointer(api, body, code, pointer):
    c = carrier(api)
    known = {"KNOWN_LIST": [{"carrier_id": c}], "KNOWN_OBJECT": {"carrier_id": c},
             "KNOWN_W0": [{"carrier_id": c, "weight": 0}],
             "KNOWN_P1001": [{"carrier_id": c, "priority": 1001}],
             "KNOWN_EXTRA": [{"carrier_id": c, "cost": 1}],
             "KNOWN_21": [{"carrier_id": c}] * 21}
    body = dict(body)
    if isinstance(body.get("carriers"), str):
        body["carriers"] = known[body["carriers"]]
    before = api.count("message_routes")
    assert_error(api.admin.post(PATH, body), 422, code, pointer)
    assert api.count("message_routes") == before


def test_a_patch_is_checked_as_a_create_is(api):
    c = carrier(api)
    r = api.admin.create(PATH, {"prefix": "3301", "carriers": [{"carrier_id": c}]})
    assert_error(api.admin.patch(PATH + "/" + r["id"], {"carriers": []}), 422, "required",
                 "/carriers")
    assert_error(api.admin.patch(PATH + "/" + r["id"], {"prefix": "33x"}), 422,
                 "invalid_prefix", "/prefix")
    assert api.admin.get(PATH + "/" + r["id"]).json()["data"] == r


def test_one_route_per_prefix_and_customer_answers_409(api):
    c = carrier(api)
    via = [{"carrier_id": c}]
    a, b = api.customer(), api.customer()
    g = api.admin.create(PATH, {"prefix": "3906", "carriers": via})
    assert_error(api.admin.post(PATH, {"prefix": "3906", "carriers": via}), 409,
                 "duplicate", "/prefix")
    ra = api.admin.create(PATH, {"prefix": "3906", "customer_id": a, "carriers": via})
    api.admin.create(PATH, {"prefix": "3906", "customer_id": b, "carriers": via})
    assert_error(api.admin.post(PATH, {"prefix": "3906", "customer_id": a, "carriers": via}),
                 409, "duplicate", "/prefix")
    other = api.admin.create(PATH, {"prefix": "39061", "customer_id": a, "carriers": via})
    assert_error(api.admin.patch(PATH + "/" + other["id"], {"prefix": "3906"}), 409,
                 "duplicate", "/prefix")
    # A route may be saved unchanged, and moved to a free prefix.
    assert api.admin.patch(PATH + "/" + ra["id"], {"prefix": "3906"}).status == 200
    assert api.admin.patch(PATH + "/" + g["id"], {"prefix": "3907"}).status == 200
    assert api.count("message_routes", "prefix = ?", "3906") == 2


def test_voice_and_message_routes_of_one_prefix_do_not_collide(api):
    c = carrier(api)
    via = [{"carrier_id": c}]
    voice = api.admin.create("/api/v1/routes", {"prefix": "3907771", "carriers": via})
    sms = api.admin.create(PATH, {"prefix": "3907771", "carriers": via})
    assert voice["id"].startswith("rte_") and sms["id"].startswith("mrt_")
    assert_error(api.admin.post("/api/v1/routes", {"prefix": "3907771", "carriers": via}), 409,
                 "duplicate", "/prefix")


def test_a_carrier_in_a_message_route_cannot_be_deleted(api):
    c = carrier(api)
    r = api.admin.create(PATH, {"prefix": "3377", "carriers": [{"carrier_id": c}]})
    e = assert_error(api.admin.delete("/api/v1/carriers/" + c), 409, "has_dependents")
    assert "1 message route" in e["detail"]
    assert api.admin.delete(PATH + "/" + r["id"]).status == 204
    assert api.admin.delete("/api/v1/carriers/" + c).status == 204


def test_a_customer_with_a_message_route_cannot_be_deleted(api):
    cid = api.customer()
    r = api.admin.create(PATH, {"prefix": "3378", "customer_id": cid,
                                "carriers": [{"carrier_id": carrier(api)}]})
    assert_error(api.admin.delete("/api/v1/customers/" + cid), 409, "has_dependents")
    assert api.admin.delete(PATH + "/" + r["id"]).status == 204
    assert api.admin.delete("/api/v1/customers/" + cid).status == 204


@pytest.mark.parametrize("method,suffix,body", [
    ("GET", "", None), ("POST", "", "ROUTE"), ("GET", "/ID", None),
    ("PATCH", "/ID", {"prefix": "1"}), ("DELETE", "/ID", None),
])
def test_message_routes_are_admin_only(api, method, suffix, body):
    cid, client = api.tenant()
    c = carrier(api)
    rt = api.admin.create(PATH, {"prefix": "49", "customer_id": cid,
                                 "carriers": [{"carrier_id": c}]})
    if body == "ROUTE":
        body = {"prefix": "1", "carriers": [{"carrier_id": c}]}
    r = client.request(method, PATH + suffix.replace("ID", rt["id"]), body=body)
    assert_error(r, 403, "forbidden")
    assert rt["id"] not in r.body.decode()
    assert api.rows("SELECT prefix FROM message_routes WHERE customer_id = ?", cid) == [
        {"prefix": "49"}]


def test_a_missing_route_answers_404(api):
    missing = PATH + "/mrt_aaaaaaaaaaaaaaaaaaaaaaaaaa"
    assert_error(api.admin.get(missing), 404, "not_found")
    assert_error(api.admin.patch(missing, {"prefix": "1"}), 404, "not_found")
    assert_error(api.admin.delete(missing), 404, "not_found")
