"""HTTP send (POST /api/v1/messages) through a real warp running the api and
smsc roles, to an upstream carrier's SMSC (npm smpp, tests/peers/smsc_sim.js):
what the upstream received — data_coding, text, UDH, bytes — for GSM,
extension characters, UCS-2 with an emoji, three parts and binary; the 202
and GET /api/v1/messages/{id} with parts and history after the receipts;
Idempotency-Key; customer isolation; refusals.  Against SQLite and
PostgreSQL."""
import base64
import concurrent.futures
import json
import socket
import subprocess
import time
import uuid
from urllib.parse import urlsplit

import pytest

import pgserver
import smppfix
from smppfix import carrier_with_connector, route

pytest.register_assert_rewrite("apiclient")
from apiclient import API_INI, PSQL, assert_error, running_env  # noqa: E402

pytest_plugins = ["apiclient"]

PREFIX = "4477009"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def api(request, tmp_path_factory):
    yield from running_env(request, tmp_path_factory, roles="api,smsc")


@pytest.fixture(scope="module")
def up(api):
    """The upstream SMSC, bound by a connector of a carrier that a global
    message route sends PREFIX to."""
    u = smppfix.UpstreamSmsc()
    try:
        route(api, PREFIX, [carrier_with_connector(api, u.port)])
        u.wait("bind", timeout=15)
        time.sleep(0.5)  # the smsc's route snapshot rebuilt
        yield u
    finally:
        u.stop()


_numbers = iter(range(100000, 999999))


def number():
    """A destination of its own for each message, so the upstream's events
    are told apart."""
    return "+%s%06d" % (PREFIX, next(_numbers))


def send(client, to, **fields):
    body = {"from": "WARP", "to": to}
    body.update(fields)
    return client.post("/api/v1/messages", body)


def sent(client, to, **fields):
    r = send(client, to, **fields)
    assert r.status == 202, (r.status, r.body)
    return r.json()["data"]


def wait_status(client, mid, status, timeout=15):
    deadline = time.monotonic() + timeout
    while True:
        r = client.get("/api/v1/messages/" + mid)
        assert r.status == 200, r.body
        msg = r.json()["data"]
        if msg["status"] == status:
            return msg
        if time.monotonic() > deadline:
            raise AssertionError("message %s is %s, not %s: %s" % (mid, msg["status"], status, msg))
        time.sleep(0.1)


def test_gsm_text_goes_upstream_and_its_receipt_delivers(api, up):
    cid, client = api.tenant()
    to = number()
    msg = sent(client, to, text="Hello from WARP", client_ref="ref-1")
    assert msg["status"] == "queued" and msg["encoding"] == "gsm7" and msg["segments"] == 1
    assert msg["id"].startswith("msg_") and msg["customer_id"] == cid
    assert msg["from"] == "WARP" and msg["to"] == to and msg["client_ref"] == "ref-1"
    got = up.wait("submit_sm", destination_addr=to[1:])
    assert got["text"] == "Hello from WARP" and got["data_coding"] == 0
    assert got["source_addr"] == "WARP" and got["source_addr_ton"] == 5
    assert got["dest_addr_ton"] == 1 and got["dest_addr_npi"] == 1
    assert not got["esm_class"] & 0x40
    done = wait_status(client, msg["id"], "delivered")
    [part] = done["parts"]
    assert part["seq"] == 1 and part["state"] == "delivered" and part["upstream_id"]
    assert "carrier_id" not in part  # the operator's business, as in CDRs
    assert [h["status"] for h in done["history"]] == ["queued", "submitted", "delivered"]
    times = [h["at"] for h in done["history"]]
    assert times == sorted(times) and times[0] == msg["created_at"]
    assert api.admin.get("/api/v1/messages/" + msg["id"]).json()["data"]["parts"][0]["carrier_id"]


def test_extension_characters_count_two_septets(api, up):
    _, client = api.tenant()
    to = number()
    # 80 euro signs are 160 septets: one SMS; 81 need two parts.
    one = sent(client, to, text="\u20ac" * 80)
    assert one["encoding"] == "gsm7" and one["segments"] == 1
    got = up.wait("submit_sm", destination_addr=to[1:])
    assert got["data_coding"] == 0 and got["text"] == "\u20ac" * 80
    two = sent(client, number(), text="\u20ac" * 81)
    assert two["encoding"] == "gsm7" and two["segments"] == 2
    mixed = sent(client, number(), text="Price {5} \u20ac")
    assert mixed["encoding"] == "gsm7" and mixed["segments"] == 1


def test_ucs2_text_with_an_emoji(api, up):
    _, client = api.tenant()
    to = number()
    text = "Gr\u00fc\u00dfe \u043c\u0438\u0440 \U0001F600"
    msg = sent(client, to, text=text)
    assert msg["encoding"] == "ucs2" and msg["segments"] == 1
    got = up.wait("submit_sm", destination_addr=to[1:])
    assert got["data_coding"] == 8 and got["text"] == text
    # 70 UCS-2 units fit one SMS; 35 emoji are 70 units, 36 are 72 (two parts,
    # never a surrogate pair cut in half).
    assert sent(client, number(), text="\U0001F600" * 35)["segments"] == 1
    to2 = number()
    assert sent(client, to2, text="\U0001F600" * 36)["segments"] == 2
    parts = up.wait("submit_sm", count=2, destination_addr=to2[1:])
    assert "".join(p["text"] for p in sorted(parts, key=lambda p: p["udh_hex"][0])) == \
        "\U0001F600" * 36


def test_three_parts_go_out_with_one_udh_reference(api, up):
    _, client = api.tenant()
    to = number()
    text = "".join(chr(ord("a") + i % 26) for i in range(400))
    msg = sent(client, to, text=text)
    assert msg["segments"] == 3 and msg["encoding"] == "gsm7"
    parts = up.wait("submit_sm", count=3, destination_addr=to[1:])
    udhs = [p["udh_hex"][0] for p in parts]
    assert all(p["esm_class"] & 0x40 and p["data_coding"] == 0 for p in parts)
    # IE 0x00, length 3: reference, total, sequence number.
    assert {u[:4] for u in udhs} == {"0003"} and len({u[4:6] for u in udhs}) == 1
    assert sorted(u[6:] for u in udhs) == ["0301", "0302", "0303"]
    joined = "".join(p["text"] for p in sorted(parts, key=lambda p: p["udh_hex"][0][8:]))
    assert joined == text
    assert [len(p["text"]) for p in sorted(parts, key=lambda p: p["udh_hex"][0][8:])] == [153, 153, 94]
    done = wait_status(client, msg["id"], "delivered")
    assert [p["seq"] for p in done["parts"]] == [1, 2, 3]
    assert done["parts"][0]["id"] == msg["id"]
    assert all(p["state"] == "delivered" for p in done["parts"])


def test_binary_goes_out_byte_for_byte(api, up):
    _, client = api.tenant()
    to = number()
    data = bytes(range(0, 200, 3))
    msg = sent(client, to, binary=base64.b64encode(data).decode(), data_coding=4)
    assert msg["encoding"] == "binary" and msg["segments"] == 1
    got = up.wait("submit_sm", destination_addr=to[1:])
    assert got["data_coding"] == 4 and got["message_hex"] == data.hex()
    # Without data_coding, binary is 8-bit data (4); 300 octets are three parts of 134.
    to2 = number()
    big = bytes(i % 251 for i in range(300))
    assert sent(client, to2, binary=base64.b64encode(big).decode())["segments"] == 3
    parts = up.wait("submit_sm", count=3, destination_addr=to2[1:])
    assert all(p["data_coding"] == 4 for p in parts)


def test_idempotency_key_replays_the_202(api, up):
    cid, client = api.tenant()
    key = {"Idempotency-Key": "send-" + uuid.uuid4().hex}
    body = {"from": "+447700900001", "to": number(), "text": "once"}
    first = client.post("/api/v1/messages", body, headers=key)
    assert first.status == 202, first.body
    again = client.post("/api/v1/messages", body, headers=key)
    assert again.status == 202 and again.headers.get("Idempotent-Replayed") == "true"
    assert again.json() == first.json()
    mid = first.json()["data"]["id"]
    assert api.count("messages", "customer_id = ?", cid) == 1
    assert len(up.wait("submit_sm", destination_addr=body["to"][1:], count=1)) > 0
    other = client.post("/api/v1/messages", dict(body, text="twice"), headers=key)
    assert_error(other, 409, "idempotency_key_reused")
    assert client.get("/api/v1/messages/" + mid).status == 200


def test_an_expired_idempotency_key_sends_anew(api, up):
    """A record older than a day no longer answers: the send commits a new
    message, replacing the record in the same entry."""
    cid, client = api.tenant()
    name = "old-" + uuid.uuid4().hex
    body = {"from": "+447700900001", "to": number(), "text": "yesterday"}
    first = client.post("/api/v1/messages", body, headers={"Idempotency-Key": name})
    assert first.status == 202, first.body
    api.store.execute("UPDATE idempotency_keys SET created_at = created_at - 90000000 "
                      "WHERE idem_key = '%s'" % name)
    again = client.post("/api/v1/messages", body, headers={"Idempotency-Key": name})
    assert again.status == 202 and again.headers.get("Idempotent-Replayed") is None
    assert again.json()["data"]["id"] != first.json()["data"]["id"]
    assert api.count("messages", "customer_id = ?", cid) == 2
    replay = client.post("/api/v1/messages", body, headers={"Idempotency-Key": name})
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.json() == again.json()


def test_customers_see_only_their_own_messages(api, up):
    a, alice = api.tenant()
    b, bob = api.tenant()
    mine = sent(alice, number(), text="for alice")
    assert_error(bob.get("/api/v1/messages/" + mine["id"]), 404, "not_found")
    assert mine["id"] not in [m["id"] for m in bob.list_all("/api/v1/messages")]
    assert mine["id"] in [m["id"] for m in alice.list_all("/api/v1/messages")]
    # A customer's customer_id filter cannot widen the view; a body naming another customer is refused.
    assert mine["id"] not in [m["id"] for m in bob.list_all("/api/v1/messages?customer_id=" + a)]
    assert_error(send(bob, number(), text="x", customer_id=a), 422, "not_found", "/customer_id")
    admin_view = api.admin.list_all("/api/v1/messages?customer_id=" + a)
    assert [m["id"] for m in admin_view] == [mine["id"]]
    assert api.admin.list_all("/api/v1/messages?customer_id=" + b) == []


def test_list_filters_and_cursor(api, up):
    _, client = api.tenant()
    to = number()
    ids = [sent(client, to, text="n%d" % i)["id"] for i in range(3)]
    other = sent(client, number(), text="elsewhere")["id"]
    # Newest first; messages of one millisecond by id, descending.
    created = {m: client.get("/api/v1/messages/" + m).json()["data"]["created_at"] for m in ids}
    newest = sorted(ids, key=lambda m: (created[m], m), reverse=True)
    page = client.get("/api/v1/messages?limit=2&to=" + to.replace("+", "%2B")).json()
    assert [m["id"] for m in page["data"]] == newest[:2] and page["next_cursor"]
    rest = client.get("/api/v1/messages?limit=2&to=%s&after=%s" % (to[1:], page["next_cursor"])).json()
    assert [m["id"] for m in rest["data"]] == newest[2:] and rest["next_cursor"] is None
    for mid in ids + [other]:
        wait_status(client, mid, "delivered")
    everything = [m["id"] for m in client.list_all("/api/v1/messages?status=delivered")]
    assert set(ids + [other]) <= set(everything)
    assert client.list_all("/api/v1/messages?status=queued") == []
    first = min(created.values())
    since = [m["id"] for m in client.list_all("/api/v1/messages?to=%s&since=%d" % (to[1:], first + 1))]
    assert not {m for m in ids if created[m] == first} & set(since)
    until = [m["id"] for m in client.list_all("/api/v1/messages?to=%s&until=%d" % (to[1:], first + 1))]
    assert set(until) == {m for m in ids if created[m] == first}
    assert client.list_all("/api/v1/messages?from=WARP&until=2000-01-01T00:00:00Z") == []
    assert_error(client.get("/api/v1/messages?status=lost"), 400, "invalid_parameter")
    assert_error(client.get("/api/v1/messages?since=yesterday"), 400, "invalid_parameter")


def messages_counted(api, result):
    text = api.warp.get("/metrics").body.decode()
    line = 'warp_api_messages_total{result="%s"} ' % result
    return sum(int(l.split()[-1]) for l in text.splitlines() if l.startswith(line))


def test_no_route_is_422_naming_the_destination(api, up):
    _, client = api.tenant()
    refused, queued = messages_counted(api, "refused"), messages_counted(api, "queued")
    r = send(client, "+99912345678", text="nowhere")
    e = assert_error(r, 422, "no_route", "/to")
    assert "+99912345678" in e["detail"]
    sent(client, number(), text="somewhere")
    assert messages_counted(api, "refused") == refused + 1
    assert messages_counted(api, "queued") == queued + 1


def metric(api, line_start):
    """The value of the first /metrics line starting with line_start."""
    for line in api.warp.get("/metrics").body.decode().splitlines():
        if line.startswith(line_start):
            return int(line.split()[-1])
    return None


def wait_for(what, check, timeout=5):
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("not within %ss: %s" % (timeout, what))
        time.sleep(0.05)


def gate_caught_up(api):
    """Waits until the send checks' snapshots (customers, and the smsc's
    message routes) are built from the store's current config version
    (every change through the API bumps it)."""
    want = api.rows("SELECT version FROM config_version WHERE id = 1")[0]["version"]
    for name in ("api_send", "message_routes"):
        line = 'warp_snapshot_version{name="%s"} ' % name
        wait_for("%s snapshot at version %s" % (name, want),
                 lambda: (metric(api, line) or 0) >= want)


def test_message_ids_sort_by_accept_time(api, up):
    """HTTP sends get ids like SMPP submits (decision 0030): the first ten
    characters after msg_ are the accept time, so ids sort as the sends
    were accepted and new rows land on the last pages of the table's
    B-trees; the parts of a long message too."""
    _, client = api.tenant()
    ids = []
    for _ in range(12):
        ids.append(sent(client, number(), text="in order")["id"])
        time.sleep(0.003)  # a millisecond of its own each
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    long = sent(client, number(), text="x" * 400)
    parts = api.rows("SELECT id FROM messages WHERE group_id = ? ORDER BY part_seq", long["id"])
    assert parts[0]["id"] == long["id"] and len(parts) == 3
    assert all(p["id"][:14] == long["id"][:14] for p in parts)  # msg_ and the time


def test_sends_no_route_serves_cost_one_store_lookup(api, up):
    """What the snapshots do not know is asked of the store once per config
    version, not per send: fifty sends to a destination no route serves
    are refused after one lookup, counted in
    warp_api_send_store_lookups_total."""
    _, client = api.tenant()
    gate_caught_up(api)
    before = metric(api, "warp_api_send_store_lookups_total ")
    for _ in range(50):
        assert_error(send(client, "+99912345678", text="nowhere"), 422, "no_route", "/to")
    assert metric(api, "warp_api_send_store_lookups_total ") - before == 1


def test_suspended_customer_may_not_send(api, up):
    cid, client = api.tenant()
    api.admin.patch("/api/v1/customers/" + cid, {"status": "suspended"})
    gate_caught_up(api)
    assert_error(send(client, number(), text="hi"), 403, "customer_suspended")
    assert api.count("messages", "customer_id = ?", cid) == 0


def test_send_checks_follow_config_changes_not_each_request(api, up):
    """The customer and route checks of a send answer from a snapshot
    rebuilt when the config version changes, like the SMSC's: a status
    written behind the API's back (no version bump) is not read per
    request; a suspension, a reactivation and a removed route made through
    the API are refused or allowed once the snapshot has them."""
    cid, client = api.tenant()
    gate_caught_up(api)
    behind = "UPDATE customers SET status = '%s' WHERE id = '" + cid + "'"
    api.store.execute(behind % "suspended")
    sent(client, number(), text="the snapshot still says active")
    api.store.execute(behind % "active")
    api.admin.patch("/api/v1/customers/" + cid, {"status": "suspended"})
    gate_caught_up(api)
    assert_error(send(client, number(), text="hi"), 403, "customer_suspended")
    api.admin.patch("/api/v1/customers/" + cid, {"status": "active"})
    gate_caught_up(api)
    sent(client, number(), text="active again")
    carrier = api.admin.get("/api/v1/carriers").json()["data"][0]["id"]
    own = api.admin.create("/api/v1/message-routes", {
        "prefix": "4478123", "customer_id": cid, "carriers": [{"carrier_id": carrier}]})
    sent(client, "+447812300001", text="a new route serves at once")
    assert api.admin.delete("/api/v1/message-routes/" + own["id"]).status == 204
    gate_caught_up(api)
    assert_error(send(client, "+447812300002", text="gone"), 422, "no_route", "/to")


class SqliteLocked:
    """SQLite's one write lock held by another connection (BEGIN IMMEDIATE):
    the group commit of sends waits for it (within the store's 5 s busy
    timeout) while WAL readers go on."""

    def __init__(self, store):
        import sqlite3
        self.c = sqlite3.connect(store.path, timeout=5, isolation_level=None)
        self.c.execute("BEGIN IMMEDIATE")

    def release(self):
        if self.c is not None:
            self.c.execute("ROLLBACK")
            self.c.close()
            self.c = None


class MessagesLocked:
    """A psql session holding LOCK TABLE messages IN EXCLUSIVE MODE: every
    INSERT (ROW EXCLUSIVE) waits for it, reads do not (PostgreSQL 15 §13.3.1),
    so the group commit of sends is held up while the rest of warp works."""

    def __init__(self, store):
        self.store = store
        self.p = subprocess.Popen(
            [PSQL, "-X", "-q", "-At", "-h", "127.0.0.1", "-p", str(store.port), "-U",
             pgserver.USER, "-d", store.db, "-v", "ON_ERROR_STOP=1"],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.p.stdin.write("BEGIN;\nLOCK TABLE messages IN EXCLUSIVE MODE;\n")
        self.p.stdin.flush()
        wait_for("the lock on messages", lambda: store.rows(
            "SELECT count(*) AS n FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
            "WHERE c.relname = 'messages' AND l.mode = 'ExclusiveLock' AND l.granted AND "
            "l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )[0]["n"] == 1)

    def release(self):
        if self.p.stdin.closed:
            return
        self.p.stdin.write("COMMIT;\n")
        self.p.stdin.close()
        assert self.p.wait(10) == 0, self.p.stderr.read()


def post_and_hang_up(api, token, to):
    """Sends a whole POST /api/v1/messages and closes the connection without
    reading the answer."""
    where = urlsplit(api.warp.base)
    body = json.dumps({"from": "WARP", "to": to, "text": "nobody waits"}).encode()
    head = ("POST /api/v1/messages HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"
            "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
            % (where.netloc, token, len(body))).encode()
    with socket.create_connection((where.hostname, where.port), timeout=5) as s:
        s.sendall(head + body)


def sends_wait_without_a_worker(env, client, cid, lock_kind):
    """While the group commit is held up, sends wait suspended rather than
    each holding an HTTP worker: more of them wait at once than warp has
    workers (2), /healthz answers meanwhile, every one is answered 202 after
    the commit, and the message of a client that hung up while it waited is
    committed all the same."""
    kept, gone = [number() for _ in range(4)], number()
    before = metric(env, "warp_http_requests_suspended ") or 0
    lock = lock_kind(env.store)
    try:
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            answers = [pool.submit(send, client, to, text="waits") for to in kept]
            post_and_hang_up(env, client.token, gone)
            wait_for("5 sends suspended", lambda: metric(
                env, "warp_http_requests_suspended ") == before + 5, timeout=3)
            assert env.warp.get("/healthz").status == 200
            assert not any(a.done() for a in answers)
            lock.release()
            results = [a.result(timeout=15) for a in answers]
    finally:
        lock.release()
    assert [r.status for r in results] == [202] * 4, [(r.status, r.body) for r in results]
    for r, to in zip(results, kept):
        assert r.json()["data"]["to"] == to
    wait_for("the hung-up client's message stored", lambda: env.count(
        "messages", "customer_id = ? AND destination = ?", cid, gone[1:]) == 1)
    wait_for("no send suspended", lambda: metric(
        env, "warp_http_requests_suspended ") == before)
    assert send(client, number(), text="still serving").status == 202


# PostgreSQL only: on SQLite the held write lock would hold up the key
# check too (see the _sqlite test below, with API keys cached).
@pytest.mark.parametrize("api", ["postgres"], indirect=True)
def test_sends_wait_for_their_commit_without_holding_a_worker(api, up):
    cid, client = api.tenant()
    sends_wait_without_a_worker(api, client, cid, MessagesLocked)


@pytest.fixture(scope="module", params=["sqlite"])
def cached(request, tmp_path_factory):
    """A warp on SQLite whose API keys stay cached for a minute, so a send
    writes nothing on its HTTP worker (no key lookup, no last_used_at) while
    a test holds the database's write lock; a global route for PREFIX to a
    connector that never binds (the messages stay queued)."""
    env_gen = running_env(request, tmp_path_factory,
                          ini=API_INI.replace("key_cache_ttl = 0ms", "key_cache_ttl = 60s"))
    env = next(env_gen)
    route(env, PREFIX, [carrier_with_connector(env, 9)])
    yield env
    next(env_gen, None)


def test_sends_wait_for_their_commit_without_holding_a_worker_sqlite(cached):
    cid, client = cached.tenant()
    gate_caught_up(cached)
    for _ in range(6):  # keys cached, each HTTP worker's connection open
        sent(client, number(), text="warm")
    sends_wait_without_a_worker(cached, client, cid, SqliteLocked)


def test_validity_sets_the_expiry(api, up):
    _, client = api.tenant()
    msg = sent(client, number(), text="soon", validity=120)
    assert msg["expires_at"] == msg["created_at"] + 120000
    msg = sent(client, number(), text="then", validity="2099-01-01T00:00:00+01:00")
    # Cut to [smsc] max_validity (72 hours by default).
    assert msg["expires_at"] == msg["created_at"] + 72 * 3600 * 1000
    default = sent(client, number(), text="default")
    assert default["expires_at"] == default["created_at"] + 48 * 3600 * 1000


@pytest.mark.parametrize("fields,code,pointer", [
    ({"from": None}, "required", "/from"),
    ({"from": "WARP SMS CENTRE"}, "invalid_sender", "/from"),
    ({"from": "12"}, "invalid_sender", "/from"),
    ({"to": "447700900123"}, "invalid_number", "/to"),
    ({"to": "+12"}, "invalid_number", "/to"),
    ({"text": None}, "required", "/text"),
    ({"text": ""}, "invalid_text", "/text"),
    ({"text": 5}, "invalid_text", "/text"),
    ({"text": "x" * 1531}, "too_long", "/text"),
    ({"binary": "AAEC"}, "conflict", "/binary"),
    ({"text": None, "binary": "not base64!"}, "invalid_base64", "/binary"),
    ({"text": None, "binary": "AAE"}, "invalid_base64", "/binary"),
    ({"text": None, "binary": "AA=A"}, "invalid_base64", "/binary"),
    ({"text": None, "binary": "AAEC", "data_coding": 256}, "out_of_range", "/data_coding"),
    ({"data_coding": 8}, "conflict", "/data_coding"),
    ({"validity": 0}, "out_of_range", "/validity"),
    ({"validity": "tomorrow"}, "invalid_validity", "/validity"),
    ({"validity": "2001-01-01T00:00:00Z"}, "out_of_range", "/validity"),
    ({"validity": "2030-02-30T00:00:00Z"}, "invalid_validity", "/validity"),
    ({"client_ref": "x" * 65}, "invalid_client_ref", "/client_ref"),
    ({"callback_url": "ftp://example.com/"}, "invalid_url", "/callback_url"),
    ({"callback_url": "http://127.0.0.1/hook"}, "private_address", "/callback_url"),
    ({"priority": 1}, "unknown_field", None),
])
def test_bad_inputs_are_422(api, up, fields, code, pointer):
    cid, client = api.tenant()
    body = {"from": "WARP", "to": number(), "text": "hello"}
    body.update(fields)
    body = {k: v for k, v in body.items() if v is not None}
    assert_error(client.post("/api/v1/messages", body), 422, code, pointer)
    assert api.count("messages", "customer_id = ?", cid) == 0


def test_admin_must_name_the_customer_and_readers_may_not_send(api, up):
    assert_error(send(api.admin, number(), text="x"), 422, "required", "/customer_id")
    cid = api.customer()
    _, reader = api.key(cid, scopes="read")
    assert_error(send(reader, number(), text="x"), 403, "forbidden")
    msg = sent(api.admin, number(), text="on behalf", customer_id=cid)
    assert msg["customer_id"] == cid


def test_an_smpp_submit_is_listed_as_a_message_of_its_customer(api, up):
    cid, client = api.tenant()
    sid = "api" + uuid.uuid4().hex[:8]
    api.admin.create("/api/v1/smpp-accounts", {"customer_id": cid, "system_id": sid,
                                                "password": "pw", "allowed_cidrs": ["127.0.0.1"]})
    time.sleep(0.5)  # the smsc's account snapshot rebuilt
    esme = smppfix.Esme(int(api.warp.env["WARP_SMSC_LISTEN"].rsplit(":", 1)[1]))
    try:
        esme.wait("connected")
        assert esme.bind(sid, "pw") == 0
        to = number()
        r = esme.submit(source_addr="WARP", destination_addr=to[1:], short_message="over smpp")
        assert r["command_status"] == 0
        mid = "msg_" + r["message_id"]
    finally:
        esme.stop()
    done = wait_status(client, mid, "delivered")
    # npm smpp sends ASCII text as data_coding 1 (IA5).
    assert done["origin"] == "smpp" and done["segments"] == 1 and done["encoding"] == "ia5"
    assert [h["status"] for h in done["history"]] == ["accepted", "submitted", "delivered"]
    assert mid in [m["id"] for m in client.list_all("/api/v1/messages?to=" + to[1:])]


def test_concurrent_sends_are_each_stored_once(api, up):
    """Sends from several connections at once share the batching writer's
    commits; each gets its own 202, and twins with one Idempotency-Key
    create one message."""
    import concurrent.futures
    cid, client = api.tenant()
    to = number()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda i: send(client, to, text="c%d" % i), range(24)))
    assert [r.status for r in answers] == [202] * 24
    ids = {r.json()["data"]["id"] for r in answers}
    assert len(ids) == 24 and api.count("messages", "customer_id = ?", cid) == 24
    key = {"Idempotency-Key": "twin-" + uuid.uuid4().hex}
    body = {"from": "WARP", "to": number(), "text": "twins"}
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        twins = list(pool.map(lambda i: client.post("/api/v1/messages", body, headers=key),
                              range(6)))
    assert {r.status for r in twins} <= {202, 409}, [(r.status, r.body) for r in twins]
    assert {r.json()["data"]["id"] for r in twins if r.status == 202} == \
        {client.post("/api/v1/messages", body, headers=key).json()["data"]["id"]}
    assert api.count("messages", "customer_id = ? AND destination = ?", cid, body["to"][1:]) == 1
