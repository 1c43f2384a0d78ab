"""A message's callback_url (POST /api/v1/messages) gets its message.status
event (decision 0032): a real warp running the api and smsc roles sends
upstream to a carrier's SMSC (npm smpp, tests/peers/smsc_sim.js) whose
receipts make the message final, and a real HTTP receiver on loopback
records what the webhook dispatcher POSTs, each signature checked with
Python's hmac against the customer's callback secret
(POST /api/v1/customers/{id}/callback-secret).  Also here: a webhook's
delivery list shows its message.status deliveries beside the provisioning
ones, and message events go after [webhooks] message_retention.  Against
SQLite and PostgreSQL."""
import hashlib
import hmac
import json
import re
import time

import pytest

import smppfix
from smppfix import carrier_with_connector, route

pytest.register_assert_rewrite("apiclient")
import apiclient  # noqa: E402
from apiclient import assert_error  # noqa: E402
from test_api_messages import PREFIX, number, up  # noqa: E402,F401  (the upstream SMSC)
from test_webhooks import receiver  # noqa: E402,F401  (HTTP receivers on loopback)

pytest_plugins = ["apiclient"]

CB_SECRET = "cbsec_test_0123456789abcdef"


def start_env(request, tmp_path_factory, **env):
    tmp = tmp_path_factory.mktemp("callbacks-" + request.param)
    w, store = apiclient._start(tmp, request.param, request, "api,smsc")
    # The api fixtures turn the dispatcher off; here it is what is tested,
    # polling fast, retrying soon and allowed to reach 127.0.0.1.
    w.env.update({"WARP_WEBHOOKS_ENABLED": "true", "WARP_WEBHOOKS_POLL": "20ms",
                  "WARP_WEBHOOKS_ALLOW_PRIVATE": "true", "WARP_WEBHOOKS_BACKOFF_BASE": "200ms"})
    w.env.update(env)
    w.start()
    return apiclient.Env(w, store)


def stop_env(env):
    rc, _ = env.warp.stop()
    assert rc == 0, "warp exited %s after SIGTERM: %s" % (rc, env.warp.stderr()[-4000:])


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def api(request, tmp_path_factory):
    env = start_env(request, tmp_path_factory)
    try:
        yield env
    finally:
        stop_env(env)


def send(client, **fields):
    body = {"from": "WARP", "to": number(), "text": "call me back"}
    body.update(fields)
    r = client.post("/api/v1/messages", body)
    assert r.status == 202, (r.status, r.body)
    return r.json()["data"]


def put_secret(client, cid, secret=CB_SECRET):
    return client.post("/api/v1/customers/%s/callback-secret" % cid, {"secret": secret})


def signed_with(req, secret):
    """Verifies Warp-Signature as a receiver would: t=<ts>,v1=<hex>."""
    parts = dict(p.split("=", 1) for p in req["headers"]["warp-signature"].split(","))
    mac = hmac.new(secret.encode(), parts["t"].encode() + b"." + req["body"], hashlib.sha256)
    return (parts["t"] == req["headers"]["warp-timestamp"]
            and hmac.compare_digest(mac.hexdigest(), parts["v1"]))


def callback_row(api, event_or_group):
    rows = api.rows("SELECT k.status, k.attempts, k.last_error, k.last_status, k.url"
                    " FROM message_callbacks k JOIN message_events m ON m.id = k.event_id"
                    " WHERE m.group_id = ?", event_or_group)
    return rows[0] if rows else None


def test_the_callback_url_gets_the_signed_final_status_once_retried_after_a_500(
        api, up, receiver):
    rx = receiver(answers=[500])
    cid, client = api.tenant()
    assert put_secret(client, cid).status == 200
    msg = send(client, callback_url=rx.url, client_ref="cb-1")
    reqs = rx.wait_for(lambda r: len(r) >= 2, timeout=15)
    time.sleep(1.0)  # nothing more comes: one final status, delivered once
    assert len(rx.requests) == 2
    first, second = reqs
    # The retry is the same event, body and all, signed with the customer's
    # callback secret (a fresh timestamp for each attempt).
    assert first["body"] == second["body"]
    assert first["headers"]["warp-event-id"] == second["headers"]["warp-event-id"]
    assert all(signed_with(r, CB_SECRET) for r in reqs)
    assert not signed_with(second, CB_SECRET + "x")
    ev = json.loads(second["body"])
    assert second["headers"]["warp-event-type"] == "message.status" == ev["type"]
    assert second["headers"]["warp-event-id"] == ev["id"]
    assert ev["customer_id"] == cid and ev["resource_id"] == msg["id"]
    assert ev["data"]["id"] == msg["id"] and ev["data"]["status"] == "delivered"
    assert ev["data"]["client_ref"] == "cb-1"
    # The same event as the API shows it.
    assert api.admin.get("/api/v1/events/" + ev["id"]).json()["data"] == ev
    row = callback_row(api, msg["id"])
    assert row["status"] == "delivered" and row["attempts"] == 2 and row["last_status"] == 200
    # GET of the message shows how its callback went.
    cb = client.get("/api/v1/messages/" + msg["id"]).json()["data"]["callback"]
    assert cb.pop("delivered_at") >= ev["data"]["done_at"]
    assert cb == {"status": "delivered", "attempts": 2, "last_status": 200, "last_error": None,
                  "next_attempt_at": None}
    metrics = api.warp.get("/metrics").body.decode()
    assert re.search(r'^warp_message_callbacks_total\{result="retried"\} [1-9]', metrics, re.M)
    assert re.search(r'^warp_message_callbacks_total\{result="delivered"\} [1-9]', metrics, re.M)


def test_no_callback_for_another_customers_message_nor_without_a_url(api, up, receiver):
    rx, theirs = receiver(), receiver()
    cid, client = api.tenant()
    other, other_client = api.tenant()
    assert put_secret(client, cid).status == 200
    assert put_secret(other_client, other, "another-customers-secret").status == 200
    mine = send(client, callback_url=rx.url)
    no_url = send(client)
    foreign = send(other_client, callback_url=theirs.url)
    rx.wait_for(lambda r: len(r) >= 1, timeout=15)
    theirs.wait_for(lambda r: len(r) >= 1, timeout=15)
    for m in (mine, no_url, foreign):  # every one of them final, and its event fanned out
        deadline = time.monotonic() + 10
        while api.count("message_events", "group_id = ? AND seq IS NOT NULL", m["id"]) < 1:
            assert time.monotonic() < deadline, m
            time.sleep(0.05)
    time.sleep(0.7)
    assert [json.loads(r["body"])["data"]["id"] for r in rx.requests] == [mine["id"]]
    assert [json.loads(r["body"])["data"]["id"] for r in theirs.requests] == [foreign["id"]]
    assert signed_with(theirs.requests[0], "another-customers-secret")
    assert not signed_with(theirs.requests[0], CB_SECRET)
    assert callback_row(api, no_url["id"]) is None
    assert client.get("/api/v1/messages/" + no_url["id"]).json()["data"]["callback"] is None


def test_without_a_callback_secret_nothing_is_sent_until_one_is_set(api, up, receiver):
    rx = receiver()
    cid, client = api.tenant()
    msg = send(client, callback_url=rx.url)
    deadline = time.monotonic() + 15
    while not (callback_row(api, msg["id"]) or {}).get("attempts"):
        assert time.monotonic() < deadline, callback_row(api, msg["id"])
        time.sleep(0.05)
    row = callback_row(api, msg["id"])
    assert row["status"] == "pending" and "no callback secret" in row["last_error"]
    assert row["last_status"] is None and rx.requests == []
    cb = client.get("/api/v1/messages/" + msg["id"]).json()["data"]["callback"]
    assert cb["status"] == "pending" and cb["next_attempt_at"] and "no callback secret" in cb[
        "last_error"]
    assert put_secret(client, cid).status == 200
    [req] = rx.wait_for(lambda r: len(r) >= 1, timeout=15)
    assert signed_with(req, CB_SECRET)
    assert json.loads(req["body"])["data"]["id"] == msg["id"]


def test_callback_secret_is_write_only_and_the_customers_own(api):
    cid, client = api.tenant()
    other, other_client = api.tenant()
    path = "/api/v1/customers/%s/callback-secret" % cid
    got = client.get(path)
    assert got.status == 200 and got.json()["data"] == {
        "customer_id": cid, "set": False, "created_at": None, "updated_at": None}
    r = put_secret(client, cid)
    assert r.status == 200, r.body
    shown = r.json()["data"]
    assert shown["set"] is True and shown["created_at"] == shown["updated_at"]
    assert CB_SECRET not in r.body.decode() and CB_SECRET not in client.get(path).body.decode()
    # Rotation keeps created_at, moves updated_at.
    time.sleep(0.01)
    again = put_secret(api.admin, cid, "the-rotated-secret-value").json()["data"]
    assert again["created_at"] == shown["created_at"] and again["updated_at"] > shown["updated_at"]
    assert api.rows("SELECT secret FROM callback_secrets WHERE customer_id = ?",
                    cid)[0]["secret"] == "the-rotated-secret-value"
    # Another customer's answers 404, as a missing one.
    for method in ("GET", "POST", "DELETE"):
        body = {"secret": CB_SECRET} if method == "POST" else None
        assert_error(other_client.request(method, path, body), 404, "not_found")
    assert_error(put_secret(api.admin, "cus_missing"), 404, "not_found")
    # Bad bodies.
    assert_error(put_secret(client, cid, "short"), 422, "invalid_value", "/secret")
    assert_error(put_secret(client, cid, 12345678901234567), 422, "invalid_value", "/secret")
    assert_error(client.post(path, {}), 422, "required", "/secret")
    assert_error(client.post(path, {"secret": CB_SECRET, "x": 1}), 422, "unknown_field")
    _, reader = api.key(cid, scopes="read")
    assert_error(put_secret(reader, cid), 403, "forbidden")
    assert reader.get(path).json()["data"]["set"] is True
    # A retried POST with its Idempotency-Key gets the first answer.
    key = {"Idempotency-Key": "rotate-1"}
    first = client.post(path, {"secret": "the-third-secret-value"}, headers=key)
    again = client.post(path, {"secret": "the-third-secret-value"}, headers=key)
    assert first.status == again.status == 200 and again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert client.request("DELETE", path).status == 204
    assert client.get(path).json()["data"]["set"] is False


# ------------------------------------------ a webhook's deliveries, both streams


def test_a_webhooks_delivery_list_shows_its_message_status_deliveries(api, up, receiver):
    rx = receiver()
    cid, client = api.tenant()
    wid = api.admin.create("/api/v1/webhooks", {"customer_id": cid, "url": rx.url,
                                                "secret": "whsec_list_0123456789",
                                                "event_types": ["*"]})["id"]
    time.sleep(0.05)  # the webhook exists before what follows (compared by time)
    assert api.admin.patch("/api/v1/customers/" + cid, {"cps_limit": 5}).status == 200
    msg = send(client)
    rx.wait_for(lambda r: {json.loads(x["body"])["type"] for x in r}
                >= {"customer.updated", "message.status"}, timeout=15)
    path = "/api/v1/webhooks/%s/deliveries" % wid
    deadline = time.monotonic() + 10
    while True:
        items = client.get(path + "?limit=500").json()["data"]
        if len(items) == 2 and all(d["status"] == "delivered" for d in items):
            break
        assert time.monotonic() < deadline, items
        time.sleep(0.05)
    config, message = items  # provisioning first, then message events, each by seq
    assert config["stream"] == "config" and config["event_type"] == "customer.updated"
    assert message["stream"] == "message" and message["event_type"] == "message.status"
    ev = [json.loads(x["body"]) for x in rx.requests if b"message.status" in x["body"]][0]
    assert message["event_id"] == ev["id"] and message["seq"] == ev["seq"]
    assert ev["data"]["id"] == msg["id"]
    # Paged one by one, across the two streams.
    page = client.get(path + "?limit=1").json()
    assert [d["event_id"] for d in page["data"]] == [config["event_id"]]
    page = client.get(path + "?limit=1&after=" + page["next_cursor"]).json()
    assert [d["event_id"] for d in page["data"]] == [message["event_id"]]
    assert page["next_cursor"] is None
    # One stream alone.
    only = client.get(path + "?stream=message").json()["data"]
    assert [d["event_id"] for d in only] == [message["event_id"]]
    assert_error(client.get(path + "?stream=calls"), 400, "invalid_parameter")


# ------------------------------------------------------------ retention


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def short_lived(request, tmp_path_factory):
    env = start_env(request, tmp_path_factory, WARP_WEBHOOKS_MESSAGE_RETENTION="2s")
    u = smppfix.UpstreamSmsc()
    try:
        route(env, PREFIX, [carrier_with_connector(env, u.port)])
        u.wait("bind", timeout=15)
        time.sleep(0.5)
        yield env
    finally:
        u.stop()
        stop_env(env)


def test_message_events_go_after_their_retention_with_their_deliveries(short_lived, receiver):
    api = short_lived
    rx, slow = receiver(), receiver(answers=[500] * 100)
    cid, client = api.tenant()
    assert put_secret(client, cid).status == 200
    api.admin.create("/api/v1/webhooks", {"customer_id": cid, "url": rx.url,
                                          "secret": "whsec_ret_0123456789",
                                          "event_types": ["message.status"]})
    time.sleep(0.05)
    done = send(client, callback_url=rx.url)
    waiting = send(client, callback_url=slow.url)  # its callback keeps failing: stays pending
    rx.wait_for(lambda r: len(r) >= 3, timeout=15)  # done's webhook and callback, waiting's webhook
    slow.wait_for(lambda r: len(r) >= 1, timeout=15)
    ev = {m["id"]: api.rows("SELECT id FROM message_events WHERE group_id = ?", m["id"])[0]["id"]
          for m in (done, waiting)}
    deadline = time.monotonic() + 15
    while api.count("message_events", "id = ?", ev[done["id"]]):
        assert time.monotonic() < deadline, "message event never pruned"
        time.sleep(0.1)
    for table in ("webhook_deliveries", "message_callbacks"):
        assert api.count(table, "event_id = ?", ev[done["id"]]) == 0
    assert_error(api.admin.get("/api/v1/events/" + ev[done["id"]]), 404, "not_found")
    # The one whose callback is still being retried stays, deliveries and all.
    assert api.count("message_events", "id = ?", ev[waiting["id"]]) == 1
    assert api.count("message_callbacks", "event_id = ? AND status = 'pending'",
                     ev[waiting["id"]]) == 1
    assert api.count("webhook_deliveries", "event_id = ?", ev[waiting["id"]]) == 1
    # The message itself is the smsc's record and stays.
    assert client.get("/api/v1/messages/" + done["id"]).json()["data"]["status"] == "delivered"
    metrics = api.warp.get("/metrics").body.decode()
    assert re.search(r"^warp_message_events_pruned_total [1-9]", metrics, re.M), metrics
