"""docs/openapi.yaml against the running server.

The document must say what the code does: the server serves exactly the
YAML (as JSON, unauthenticated); every documented path and method is
answered and every answered one is documented; each resource's schema has
exactly the keys the API returns (write-only ones never come back); every
status the server was seen to produce for an operation is among its
documented responses; every response body seen validates against its
documented schema.

No OpenAPI validator is packaged for Debian 12 (python3-openapi-spec-validator
is not in bookworm), so the document is checked here with python3-jsonschema:
each Schema Object against the JSON Schema 2020-12 meta-schema (the dialect
of OpenAPI 3.1), plus the structural rules a validator would apply (unique
operationIds, declared path parameters, resolvable $refs, responses).
"""
import copy
import glob
import itertools
import json
import os
import re
import sqlite3
import subprocess

import jsonschema
import pytest
import yaml

from conftest import ROOT, Warp, http

TOKEN = "openapi-test-admin-token-0123456789"
SPEC_FILE = os.path.join(ROOT, "docs", "openapi.yaml")
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
ABSENT_ID = "zzz_aaaaaaaaaaaaaaaaaaaaaaaaaa"

INI = """
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

_numbers = itertools.count(1)


# ------------------------------------------------------------------ helpers

def call(server, method, path, body=None, token=TOKEN, headers=None):
    h = dict(headers or {})
    if token is not None:
        h["Authorization"] = "Bearer " + token
    return http(method, server.base + path, body=body, headers=h)


def create(server, path, body, token=TOKEN):
    r = call(server, "POST", path, body, token)
    assert r.status == 201, (path, r.status, r.body)
    return r.json()["data"]


def make_world(server):
    """One of each resource (and a customer's keys), created by the admin.
    Returns {collection path: (created object, body sent)} plus the keys."""
    n = next(_numbers)
    w = {}

    def add(path, body):
        w[path] = (create(server, path, body), body)
        return w[path][0]

    cus = add("/api/v1/customers", {"name": "openapi %d" % n})
    trk = add("/api/v1/trunks", {"customer_id": cus["id"], "name": "pbx", "username": "u%d" % n,
                                 "password": "correct-horse",
                                 "acl": [{"cidr": "10.%d.%d.0/24" % (n // 256 % 256, n % 256)}]})
    add("/api/v1/numbers", {"customer_id": cus["id"], "e164": "+1415555%04d" % n,
                            "trunk_id": trk["id"]})
    dev = {"customer_id": cus["id"], "username": "d%d" % n, "password": "device-horse"}
    w["/api/v1/trunks/{trunk_id}/devices"] = (
        create(server, "/api/v1/trunks/%s/devices" % trk["id"], dev), dev)
    brd = add("/api/v1/brands", {"customer_id": cus["id"], "legal_name": "OpenAPI Inc",
                                 "ein": "12-3456789", "vertical": "TECHNOLOGY"})
    cmp = add("/api/v1/campaigns", {"customer_id": cus["id"], "brand_id": brd["id"],
                                    "use_case": "MIXED", "help_text": "help",
                                    "opt_out_text": "stopped"})
    bound = create(server, "/api/v1/numbers", {"customer_id": cus["id"],
                                               "e164": "+1415556%04d" % n})
    body = {"customer_id": cus["id"], "number_id": bound["id"]}
    w["/api/v1/campaigns/{campaign_id}/numbers"] = (
        create(server, "/api/v1/campaigns/%s/numbers" % cmp["id"], body), body)
    add("/api/v1/opt-outs", {"customer_id": cus["id"], "number": "+1415555%04d" % n,
                             "recipient": "+14155551234"})
    add("/api/v1/content-rules", {"name": "openapi-%d" % n, "match": "keyword",
                                  "patterns": ["openapi forbidden %d" % n]})
    add("/api/v1/carrier-prefixes", {"prefix": "1999%03d" % n, "carrier": "att"})
    add("/api/v1/smpp-accounts", {"customer_id": cus["id"], "system_id": "oa%d" % n,
                                   "password": "pw", "allowed_cidrs": ["127.0.0.1/32"]})
    car = add("/api/v1/carriers", {"name": "carrier %d" % n})
    add("/api/v1/smpp-connectors", {"carrier_id": car["id"], "name": "smsc", "host": "192.0.2.11",
                                    "system_id": "warp", "password": "pw"})
    gw = {"host": "192.0.2.10"}
    w["/api/v1/carriers/{carrier_id}/gateways"] = (
        create(server, "/api/v1/carriers/%s/gateways" % car["id"], gw), gw)
    add("/api/v1/routes", {"prefix": "1%d" % n, "carriers": [{"carrier_id": car["id"]}]})
    add("/api/v1/message-routes", {"prefix": "1%d" % n, "carriers": [{"carrier_id": car["id"]}]})
    msg = {"customer_id": cus["id"], "from": "WARP", "to": "+1%d5550100" % n, "text": "openapi"}
    r = call(server, "POST", "/api/v1/messages", msg)
    assert r.status == 202, r.body
    w["/api/v1/messages"] = (r.json()["data"], msg)
    add("/api/v1/webhooks", {"customer_id": cus["id"], "url": "https://hooks.example.com/openapi",
                             "secret": "0123456789abcdef"})
    add("/api/v1/api-keys", {"customer_id": cus["id"], "role": "customer", "name": "k%d" % n})
    ro = create(server, "/api/v1/api-keys", {"customer_id": cus["id"], "role": "customer",
                                             "scopes": "read"})
    page = call(server, "GET", "/api/v1/events?limit=1").json()
    w["/api/v1/events"] = (page["data"][0], None)
    deck = add("/api/v1/rate-decks", {"name": "deck %d" % n, "direction": "sell",
                                       "currency": "USD"})
    r = call(server, "POST", "/api/v1/rate-decks/%s/versions" % deck["id"],
             body=b"prefix,rate\n44,0.01\n", headers={"Content-Type": "text/csv"})
    assert r.status == 201, r.body
    cdr = insert_cdr(server, n, cus["id"], trk["id"], car["id"])
    w["/api/v1/cdrs"] = (call(server, "GET", "/api/v1/cdrs/" + cdr).json()["data"], None)
    w["/api/v1/invoices"] = (invoice(server, cus["id"], cdr), None)
    return {"objects": w, "customer_token": w["/api/v1/api-keys"][0]["secret"],
            "read_only_token": ro["secret"]}


def invoice(server, customer, cdr):
    """The November 2026 invoice of one call charge (the billing role's entry)."""
    db = sqlite3.connect(server.store_url[len("sqlite:"):], timeout=10)
    with db:
        db.execute(
            "INSERT INTO ledger_entries (id, customer_id, seq, kind, amount, currency,"
            " balance_after, reference_type, reference_id, created_by, created_at) VALUES"
            " (?, ?, 1, 'call_charge', -12500, 'USD', -12500, 'cdr', ?, 'billing',"
            " 1793577600000)", ("led_" + cdr[4:], customer, cdr))
    db.close()
    r = call(server, "POST", "/api/v1/invoice-runs", {"period": "2026-11", "customer_id": customer})
    assert r.status == 201, r.body
    return r.json()["data"]["results"][0]["document"]


def insert_cdr(server, n, customer, trunk, carrier):
    """A call record as the SIP role writes it (the API has no create)."""
    cdr_id = "cdr_" + ("%026d" % n).translate(str.maketrans("0123456789", "abcdefghij"))
    db = sqlite3.connect(server.store_url[len("sqlite:"):], timeout=10)
    with db:
        db.execute(
            "INSERT INTO cdrs (id, call_id, direction, customer_id, trunk_id, carrier_id,"
            " gateway_id, caller, dialed, normalized, source, start_ms, answer_ms, end_ms,"
            " duration_ms, billable_ms, final_code, final_reason, hangup, attempts, pdd_ms,"
            " created_at) VALUES (?, ?, 'termination', ?, ?, ?, 'gw_x', '+14155550100',"
            " '14155550199', '14155550199', '192.0.2.1:5060', 1000, 2000, 5000, 3000, 6000,"
            " 200, 'OK', 'caller', '[{\"gateway_id\":\"gw_x\",\"code\":200,"
            "\"start_ms\":1000}]', 150, 5000)",
            (cdr_id, "call-%d@openapi" % n, customer, trunk, carrier))
    db.close()
    return cdr_id


def concrete(path, objects, absent=False):
    """The path with its parameters filled from objects (or a missing id)."""
    carrier = objects["/api/v1/carriers"][0]["id"]
    campaign = objects["/api/v1/campaigns"][0]["id"]
    out = path.replace("{carrier_id}", carrier).replace("{number}", "1")
    out = out.replace("{campaign_id}", campaign)
    out = out.replace("{trunk_id}", objects["/api/v1/trunks"][0]["id"])
    if "/{id}" in path:  # an item, or a collection under one (a webhook's deliveries)
        obj = objects[path[:path.index("/{id}")]][0]
        out = out.replace("{id}", ABSENT_ID if absent else obj["id"])
    return out


def resolve(node, doc):
    """node with every local $ref replaced by its target (siblings kept
    beside it in an allOf), so that jsonschema needs no resolver."""
    if isinstance(node, list):
        return [resolve(v, doc) for v in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = doc
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        rest = {k: resolve(v, doc) for k, v in node.items() if k != "$ref"}
        target = resolve(target, doc)
        return dict(rest, allOf=[target] + rest.get("allOf", [])) if rest else target
    return {k: resolve(v, doc) for k, v in node.items()}


def properties_of(schema):
    """Properties of a resolved object schema, through allOf."""
    props = dict(schema.get("properties", {}))
    for sub in schema.get("allOf", []):
        props.update(properties_of(sub))
    return props


def operations(spec):
    for path, item in spec["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def response_of(spec, path, method, status):
    resp = spec["paths"][path][method]["responses"].get(str(status))
    return resolve(resp, spec) if resp is not None else None


def check_response(spec, path, method, r):
    """r's status is documented for the operation, its required headers are
    there, and its JSON body validates against the documented schema."""
    resp = response_of(spec, path, method, r.status)
    assert resp is not None, "%s %s answered %d, not documented: %s" % (
        method.upper(), path, r.status, r.body[:300])
    for name, h in resp.get("headers", {}).items():
        if h.get("required"):
            assert r.headers.get(name), "%s %s %d lacks %s" % (method.upper(), path, r.status, name)
    content = resp.get("content")
    if not content:
        return
    if "application/json" in content and r.body:
        jsonschema.Draft202012Validator(content["application/json"]["schema"]).validate(r.json())


# ----------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def spec():
    with open(SPEC_FILE, encoding="utf-8") as f:
        return yaml.safe_load(f)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    # Only the api role: other roles' listeners would clash between test processes.
    w = Warp(tmp_path_factory.mktemp("openapi"), extra_ini=INI, env={"WARP_ADMIN_TOKEN": TOKEN},
             args=["--roles", "api"])
    w.start()
    yield w
    rc, _ = w.stop()
    assert rc == 0, w.stderr()[-3000:]


@pytest.fixture(scope="module")
def world(server):
    return make_world(server)


# ------------------------------------------------------- the served document

def test_served_document_is_the_yaml_as_json_without_credentials(server, spec):
    r = http("GET", server.base + "/api/v1/openapi.json")
    assert r.status == 200, r.body
    assert r.headers["Content-Type"] == "application/json"
    assert r.headers.get("X-Request-Id")
    served = json.loads(r.body)
    assert re.fullmatch(r"3\.1\.\d+", served["openapi"])
    assert served == spec


def test_served_document_ignores_a_refused_credential(server, spec):
    r = http("GET", server.base + "/api/v1/openapi.json",
             headers={"Authorization": "Bearer wk_notakey"})
    assert r.status == 200
    assert json.loads(r.body) == spec


# ------------------------------------------------- the document on its own

def test_every_schema_is_valid_json_schema_2020_12(spec):
    found = []

    def walk(node, where):
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "schema" or (where.endswith("/components/schemas")):
                    found.append((where + "/" + k, v))
                walk(v, where + "/" + k)
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, "%s/%d" % (where, i))

    walk(spec, "")
    assert len(found) > 50
    for where, schema in found:
        try:
            jsonschema.Draft202012Validator.check_schema(resolve(schema, spec))
        except jsonschema.SchemaError as e:
            pytest.fail("%s: %s" % (where, e.message))


def test_document_structure_is_sound(spec):
    assert re.fullmatch(r"3\.1\.\d+", spec["openapi"])
    assert spec["info"]["title"] and spec["info"]["version"]
    schemes = spec["components"]["securitySchemes"]
    assert schemes["bearer"] == dict(schemes["bearer"], type="http", scheme="bearer")
    ids = [op["operationId"] for _, _, op in operations(spec)]
    assert len(ids) == len(set(ids)), "operationIds repeat"
    text = json.dumps(spec)
    for ref in set(re.findall(r'"\$ref": "([^"]+)"', text)):
        assert ref.startswith("#/"), ref
        resolve({"$ref": ref}, spec)  # raises KeyError when dangling
    for path, item in spec["paths"].items():
        declared = {resolve(p, spec)["name"] for p in item.get("parameters", [])
                    if resolve(p, spec)["in"] == "path"}
        for method in METHODS:
            if method not in item:
                continue
            op = item[method]
            names = declared | {resolve(p, spec)["name"] for p in op.get("parameters", [])
                                if resolve(p, spec)["in"] == "path"}
            assert names == set(re.findall(r"\{(\w+)\}", path)), (path, method, names)
            assert op["responses"], (path, method)
            assert all(re.fullmatch(r"[1-5][0-9][0-9]", s) for s in op["responses"]), (path, method)
            for sec in op.get("security", spec["security"]):
                assert set(sec) <= set(schemes)


# ------------------------------------------------- paths and methods match

def routes_in_source():
    """Route patterns the C code registers with literal strings, and the
    collection and item paths of every resource table."""
    found = set()
    for f in glob.glob(os.path.join(ROOT, "src", "**", "*.c"), recursive=True):
        text = open(f, encoding="utf-8", errors="replace").read()
        for m in re.finditer(r'http_router_add\(\s*[^,]+,[^,]+,\s*"([^"]+)"', text):
            found.add(m.group(1))
        for m in re.finditer(r'\.path\s*=\s*"([^"]+)"', text):
            found.add(m.group(1))
            found.add(m.group(1) + "/{id}")
    return found


def test_every_route_in_the_code_is_documented(spec):
    # Mounted upstreams ([route.NAME]) are configured by the operator, not
    # registered with literal patterns, so they cannot appear here.
    def shape(p):
        return re.sub(r"\{\w+\}", "{}", p)

    documented = {shape(p) for p in spec["paths"]}
    code = routes_in_source()
    assert "/api/v1/trunks/{id}" in code and "/healthz" in code
    missing = sorted(p for p in code if shape(p) not in documented)
    assert not missing, "served but not in docs/openapi.yaml: %s" % missing


def test_allowed_methods_of_every_path_are_the_documented_ones(server, spec, world):
    for path, item in spec["paths"].items():
        documented = {m.upper() for m in METHODS if m in item}
        assert "PUT" not in documented  # PUT is the probe
        r = call(server, "PUT", concrete(path, world["objects"]), body={})
        assert r.status == 405, (path, r.status, r.body)
        allowed = {m.strip() for m in r.headers["Allow"].split(",")}
        # RFC 9110 §9.3.2: HEAD is answered wherever GET is.
        assert allowed - {"HEAD"} == documented, path
        assert ("HEAD" in allowed) == ("GET" in documented), path


def ordered_operations(spec):
    """Every operation, deletes last and children before parents (a parent
    still in use answers 409, which is an answer too)."""
    order = ["campaigns/{campaign_id}/numbers", "trunks/{trunk_id}/devices", "campaigns", "brands", "numbers", "trunks", "smpp-accounts", "webhooks", "api-keys", "routes", "message-routes",
             "gateways", "smpp-connectors", "carriers", "customers"]
    return sorted(operations(spec), key=lambda o: (
        o[1] == "delete", next((i for i, n in enumerate(order) if "/%s/" % n in o[0]), 99)))


def test_every_documented_operation_is_answered(server, spec):
    objects = make_world(server)["objects"]
    for path, method, _ in ordered_operations(spec):
        body = {} if method in ("post", "patch") else None
        r = call(server, method.upper(), concrete(path, objects), body=body)
        assert r.status not in (404, 405), "%s %s: %d %s" % (method.upper(), path, r.status, r.body)
        check_response(spec, path, method, r)


# ------------------------------------------------------ resources and keys

RESOURCES = {
    "/api/v1/customers": "Customer",
    "/api/v1/trunks": "Trunk",
    "/api/v1/numbers": "Number",
    "/api/v1/carriers": "Carrier",
    "/api/v1/carriers/{carrier_id}/gateways": "Gateway",
    "/api/v1/routes": "Route",
    "/api/v1/message-routes": "MessageRoute",
    "/api/v1/smpp-connectors": "SmppConnector",
    "/api/v1/webhooks": "Webhook",
    "/api/v1/api-keys": "ApiKey",
    "/api/v1/smpp-accounts": "SmppAccount",
    "/api/v1/events": "Event",
    "/api/v1/cdrs": "Cdr",
    "/api/v1/messages": "Message",
    "/api/v1/rate-decks": "RateDeck",
    "/api/v1/invoices": "Invoice",
    "/api/v1/brands": "Brand",
    "/api/v1/campaigns": "Campaign",
    "/api/v1/campaigns/{campaign_id}/numbers": "CampaignNumber",
    "/api/v1/trunks/{trunk_id}/devices": "TrunkDevice",
    "/api/v1/opt-outs": "OptOut",
    "/api/v1/content-rules": "ContentRule",
    "/api/v1/carrier-prefixes": "CarrierPrefix",
}


def test_every_collection_has_a_resource_schema(spec):
    collections = {p for p in spec["paths"] if p.startswith("/api/v1/") and p + "/{id}" in spec["paths"]}
    assert collections == set(RESOURCES)


@pytest.mark.parametrize("collection", sorted(RESOURCES))
def test_schema_properties_are_the_returned_keys(server, spec, world, collection):
    schema = resolve(spec["components"]["schemas"][RESOURCES[collection]], spec)
    props = properties_of(schema)
    write_only = {k for k, v in props.items() if v.get("writeOnly")}
    shown = set(props) - write_only
    # x-detail-only properties (a message's parts and history) come in GET of the item only.
    summary = shown - {k for k, v in props.items() if v.get("x-detail-only")}
    created, sent = world["objects"][collection]
    item = concrete(collection + "/{id}", world["objects"])
    got = call(server, "GET", item).json()["data"]
    listed = [o for o in call(server, "GET", concrete(collection, world["objects"]) + "?limit=500")
              .json()["data"] if o["id"] == created["id"]]
    assert len(listed) == 1
    for keys, want in ((set(got), shown), (set(listed[0]), summary)):
        assert keys == want, "%s: only in spec %s, only in API %s" % (
            collection, sorted(want - keys), sorted(keys - want))
    created_keys = set(created) - ({"secret"} if collection == "/api/v1/api-keys" else set())
    assert created_keys == summary
    # Write-only fields exist (they were accepted in the create) and never come back.
    assert write_only <= set(sent or {}), write_only
    assert not write_only & set(created)


def test_admin_only_cdr_fields_are_absent_for_customers(server, spec, world):
    props = properties_of(resolve(spec["components"]["schemas"]["Cdr"], spec))
    admin_only = {k for k, v in props.items() if v.get("x-admin-only")}
    assert admin_only == {"carrier_id", "gateway_id", "attempts"}
    cdr = world["objects"]["/api/v1/cdrs"][0]
    r = call(server, "GET", "/api/v1/cdrs/" + cdr["id"], token=world["customer_token"])
    assert r.status == 200, r.body
    assert set(r.json()["data"]) == set(props) - admin_only
    check_response(spec, "/api/v1/cdrs/{id}", "get", r)


def test_write_only_fields_are_the_secrets(spec):
    flagged = set()
    for name in set(RESOURCES.values()):
        props = properties_of(resolve(spec["components"]["schemas"][name], spec))
        flagged |= {"%s.%s" % (name, k) for k, v in props.items() if v.get("writeOnly")}
    assert flagged == {"Trunk.password", "TrunkDevice.password", "SmppAccount.password",
                       "SmppConnector.password",
                       "Webhook.secret"}


def test_api_key_secret_is_documented_in_the_create_response_only(server, spec, world):
    key = world["objects"]["/api/v1/api-keys"][0]
    assert key["secret"].startswith("wk_")
    created = response_of(spec, "/api/v1/api-keys", "post", 201)
    jsonschema.Draft202012Validator(created["content"]["application/json"]["schema"]).validate(
        {"data": key})
    shown = response_of(spec, "/api/v1/api-keys/{id}", "get", 200)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(shown["content"]["application/json"]["schema"]).validate(
            {"data": key})


@pytest.mark.parametrize("collection", sorted(RESOURCES))
def test_list_and_get_responses_validate_against_the_spec(server, spec, world, collection):
    r = call(server, "GET", concrete(collection, world["objects"]) + "?limit=2")
    check_response(spec, collection, "get", r)
    r = call(server, "GET", concrete(collection + "/{id}", world["objects"]))
    check_response(spec, collection + "/{id}", "get", r)
    assert r.headers.get("RateLimit-Limit") and r.headers.get("RateLimit-Remaining")


# ------------------------------------------------------------------ errors

def probes(path, method, world):
    """(description, token, path, body, headers) requests likely to draw an
    error from this operation."""
    objs = world["objects"]
    real = concrete(path, objs)
    body = {"not_a_field": 1} if method in ("post", "patch") else None
    yield "no credential", None, real, body, None
    yield "garbage credential", "wk_garbage", real, body, None
    yield "customer", world["customer_token"], real, body, None
    yield "read-only key", world["read_only_token"], real, body, None
    if "{id}" in path:
        yield "missing id", TOKEN, concrete(path, objs, absent=True), body, None
    if "{carrier_id}" in path:
        yield "missing carrier", TOKEN, real.replace(objs["/api/v1/carriers"][0]["id"], ABSENT_ID), body, None
    if method in ("post", "patch"):
        yield "unknown member", TOKEN, real, body, None
        yield "not JSON", TOKEN, real, b"{", {"Content-Type": "application/json"}
        yield "text body", TOKEN, real, b"x", {"Content-Type": "text/plain"}
    if method == "post":
        yield "bad idempotency key", TOKEN, real, {}, {"Idempotency-Key": "two words"}
    if method == "get" and "{id}" not in path:
        yield "limit 0", TOKEN, real + "?limit=0", None, None


def test_every_status_the_server_answers_is_documented(server, spec):
    world = make_world(server)  # its own: the probes delete what they may
    seen = set()
    for path, method, op in ordered_operations(spec):
        if not path.startswith("/api/v1/") or path == "/api/v1/openapi.json":
            continue
        for what, token, url, body, headers in probes(path, method, world):
            r = call(server, method.upper(), url, body=body, token=token, headers=headers)
            assert r.status != 500, (what, method, url, r.body)
            try:
                check_response(spec, path, method, r)
            except AssertionError as e:
                raise AssertionError("%s (%s)" % (e, what))
            seen.add((path, method, r.status))
    # What the brief requires of every operation, seen and documented.
    for path, method, op in operations(spec):
        if not path.startswith("/api/v1/") or path == "/api/v1/openapi.json":
            continue
        assert (path, method, 401) in seen and "401" in op["responses"], (path, method)
        if "{id}" in path:
            assert (path, method, 404) in seen and "404" in op["responses"], (path, method)
        if method in ("post", "patch"):
            assert (path, method, 422) in seen and "422" in op["responses"], (path, method)
            assert "415" in op["responses"] and "400" in op["responses"], (path, method)


def test_unauthorized_carries_the_documented_challenge(server, spec):
    r = call(server, "GET", "/api/v1/trunks", token=None)
    assert r.status == 401
    assert r.headers["WWW-Authenticate"] == "Bearer"
    assert "WWW-Authenticate" in response_of(spec, "/api/v1/trunks", "get", 401)["headers"]


def test_rate_limited_answer_is_documented(server, spec, world):
    cus = world["objects"]["/api/v1/customers"][0]
    key = create(server, "/api/v1/api-keys", {"customer_id": cus["id"], "role": "customer",
                                              "rate_per_sec": 1, "burst": 1})
    statuses = []
    for _ in range(5):  # bounded: a burst of 1 is spent by the first
        r = call(server, "GET", "/api/v1/trunks", token=key["secret"])
        statuses.append(r.status)
        if r.status == 429:
            break
    assert statuses[-1] == 429, statuses
    assert int(r.headers["Retry-After"]) >= 1
    check_response(spec, "/api/v1/trunks", "get", r)
    documented = response_of(spec, "/api/v1/trunks", "get", 429)["headers"]
    for h in ("Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"):
        assert h in documented and r.headers.get(h), h


def test_idempotent_replay_is_documented(server, spec, world):
    body = {"name": "replayed carrier"}
    first = call(server, "POST", "/api/v1/carriers", body, headers={"Idempotency-Key": "openapi-1"})
    again = call(server, "POST", "/api/v1/carriers", body, headers={"Idempotency-Key": "openapi-1"})
    assert first.status == again.status == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    created = response_of(spec, "/api/v1/carriers", "post", 201)
    assert "Idempotent-Replayed" in created["headers"]
    names = [resolve(p, spec)["name"] for p in spec["paths"]["/api/v1/carriers"]["post"]["parameters"]]
    assert "Idempotency-Key" in names
    for path, method, op in operations(spec):
        if method == "post":
            assert "Idempotency-Key" in [resolve(p, spec)["name"] for p in op.get("parameters", [])], path


# The only problems the linter may be told to ignore (.redocly.lint-ignore.yaml):
# the built-in routes, which have no client error to answer.
LINT_IGNORED = {"../../docs/openapi.yaml": {"operation-4xx-response": [
    "#/paths/~1api~1v1~1openapi.json/get/responses", "#/paths/~1healthz/get/responses",
    "#/paths/~1readyz/get/responses", "#/paths/~1metrics/get/responses"]}}


def test_document_passes_the_redocly_linter():
    """A real OpenAPI linter (Redocly CLI, pinned in tools/openapi-lint and
    installed by scripts/install-deps --test) finds no error and no warning
    under tools/openapi-lint/redocly.yaml, and ignores only what LINT_IGNORED
    lists.  A missing linter fails."""
    tool = os.path.join(ROOT, "tools", "openapi-lint")
    with open(os.path.join(tool, ".redocly.lint-ignore.yaml")) as f:
        assert yaml.safe_load(f) == LINT_IGNORED
    redocly = os.path.join(tool, "node_modules", ".bin", "redocly")
    assert os.path.exists(redocly), "run scripts/install-deps --test: %s is missing" % redocly
    r = subprocess.run([redocly, "lint", "--format=json", "--config",
                        os.path.join(tool, "redocly.yaml"), SPEC_FILE],
                       capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, REDOCLY_TELEMETRY="off",
                                REDOCLY_SUPPRESS_UPDATE_NOTICE="true"))
    assert r.stdout.lstrip().startswith("{"), "redocly did not run: %s" % r.stderr[-600:]
    report = json.loads(r.stdout)
    problems = ["%s %s: %s" % (p["severity"], p["ruleId"], p["message"])
                for p in report.get("problems", [])]
    assert report["totals"] == {"errors": 0, "warnings": 0, "ignored": 4}, problems
    assert r.returncode == 0, r.stderr


def test_no_flow_mapping_slip_adds_a_null_key(spec):
    """A comma inside an unquoted description of a {...} mapping ends the
    value early and adds a key with no value; no schema has such a key
    (null is a value only where JSON Schema takes one: default, const)."""
    def nulls(o, path):
        if isinstance(o, dict):
            for k, v in o.items():
                if v is None and k not in ("default", "const"):
                    yield "/".join(map(str, path + [k]))
                yield from nulls(v, path + [k])
        elif isinstance(o, list):
            for i, v in enumerate(o):
                yield from nulls(v, path + [i])
    assert list(nulls(spec, [])) == []
