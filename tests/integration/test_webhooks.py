"""Webhook delivery from the events outbox (src/api/webhook_dispatch.c): a real
`warp run` and a real HTTP receiver on loopback (http.server in a thread)
that records every request and answers as a test scripts it.

What a receiver sees is asserted: the events of its customer, in seq order,
signed with HMAC-SHA256 over "<timestamp>.<body>" (verified here with
Python's hmac), retried with growing gaps, and none lost across a SIGKILL.
"""
import hashlib
import hmac
import http.server
import itertools
import json
import signal
import threading
import time

import pytest

import conftest

ADMIN_TOKEN = "warp_test-admin-token-webhooks-0123"
SECRET = "whsec_test_0123456789abcdef"

# Fast rounds and short backoffs so retries happen within a test's patience;
# generous rate limits for the many requests a test sends.
FAST_INI = """
[webhooks]
poll = 20ms
timeout = 2s
backoff_base = 200ms
backoff_max = 5s
max_attempts = 5

[ratelimit]
admin_rate = 100000
admin_burst = 100000
"""


class Receiver:
    """An HTTP server on 127.0.0.1 recording requests.  answers: statuses for
    the first requests, then 200; delay: seconds to wait before answering."""

    def __init__(self, answers=None, delay=0.0):
        self.requests = []
        self.answers = list(answers or [])
        self.delay = delay
        self.lock = threading.Lock()
        recv = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with recv.lock:
                    recv.requests.append({"t": time.monotonic(), "path": self.path,
                                          "headers": {k.lower(): v for k, v in self.headers.items()},
                                          "body": body})
                    status = recv.answers.pop(0) if recv.answers else 200
                if recv.delay:
                    time.sleep(recv.delay)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d/hook" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def events(self):
        with self.lock:
            return [json.loads(r["body"]) for r in self.requests]

    def wait_for(self, pred, timeout=10.0):
        """Waits until pred(list of requests) is true; returns the requests."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                reqs = list(self.requests)
            if pred(reqs):
                return reqs
            time.sleep(0.02)
        with self.lock:
            raise AssertionError("receiver: condition not met in %.0fs; got %r" % (
                timeout, [json.loads(r["body"])["type"] for r in self.requests]))

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made = []

    def make(**kw):
        r = Receiver(**kw)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()


_db_counter = itertools.count(1)


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request):
    """Each test runs on SQLite (a fresh file) and on PostgreSQL (a fresh
    database on the session's server)."""
    if request.param == "sqlite":
        return None
    pg = request.getfixturevalue("postgres")
    return pg.create_db("webhooks_%d" % next(_db_counter))


def start_warp(warp_factory, store_url, **env):
    # The receivers listen on 127.0.0.1: private addresses allowed unless a
    # test says otherwise.
    e = {"WARP_ADMIN_TOKEN": ADMIN_TOKEN, "WARP_WEBHOOKS_ALLOW_PRIVATE": "1"}
    e.update(env)
    # Only the api role: the others' fixed default ports could clash with
    # tests running in parallel, and they play no part here.
    return warp_factory(store_url=store_url, extra_ini=FAST_INI, env=e,
                        args=["--roles", "api"]).start()


def api(w, method, path, body=None, token=ADMIN_TOKEN):
    return conftest.http(method, w.base + path, body=body,
                         headers={"Authorization": "Bearer " + token})


def create(w, path, body):
    r = api(w, "POST", path, body)
    assert r.status == 201, (path, r.status, r.body)
    return r.json()["data"]


def customer(w, name="Acme"):
    return create(w, "/api/v1/customers", {"name": name, "billing_type": "postpaid",
                                           "currency": "USD"})["id"]


def webhook(w, cust, url, types=("*",)):
    return create(w, "/api/v1/webhooks", {"customer_id": cust, "url": url, "secret": SECRET,
                                          "event_types": list(types)})["id"]


_trunk_addrs = itertools.count(10)


def trunk(w, cust, name="t1"):
    # A source address of its own: no two trunks may claim the same one.
    return create(w, "/api/v1/trunks", {"customer_id": cust, "name": name, "acl": [
        {"cidr": "192.0.2.%d/32" % (next(_trunk_addrs) % 250 + 1)}]})["id"]


def valid_signature(req):
    """Verifies Warp-Signature as a receiver would: t=<ts>,v1=<hex>."""
    parts = dict(p.split("=", 1) for p in req["headers"]["warp-signature"].split(","))
    mac = hmac.new(SECRET.encode(), parts["t"].encode() + b"." + req["body"], hashlib.sha256)
    return (parts["t"] == req["headers"]["warp-timestamp"]
            and hmac.compare_digest(mac.hexdigest(), parts["v1"]))


def stop_clean(w):
    rc, took = w.stop()
    assert rc == 0, w.stderr()[-3000:]
    return took


def test_trunk_events_arrive_in_order_signed_with_headers_and_body(warp_factory, receiver, store_url):
    rx = receiver()
    w = start_warp(warp_factory, store_url)
    cust = customer(w)
    webhook(w, cust, rx.url)
    tid = trunk(w, cust)
    assert api(w, "PATCH", "/api/v1/trunks/" + tid, {"cps_limit": 7}).status == 200
    assert api(w, "DELETE", "/api/v1/trunks/" + tid).status == 204

    reqs = rx.wait_for(lambda r: len(r) >= 3)
    time.sleep(0.3)  # nothing else may follow (not the webhook's own creation)
    assert len(rx.requests) == 3
    bodies = [json.loads(r["body"]) for r in reqs]
    assert [b["type"] for b in bodies] == ["trunk.created", "trunk.updated", "trunk.deleted"]
    assert [b["seq"] for b in bodies] == sorted(b["seq"] for b in bodies)
    for req, body in zip(reqs, bodies):
        assert req["path"] == "/hook"
        h = req["headers"]
        assert h["content-type"] == "application/json"
        assert h["warp-event-id"] == body["id"]
        assert h["warp-event-type"] == body["type"]
        assert abs(int(h["warp-timestamp"]) - time.time()) < 60
        assert valid_signature(req)
        assert body["customer_id"] == cust and body["resource_id"] == tid
        # The body is the event as the API shows it.
        shown = api(w, "GET", "/api/v1/events/" + body["id"])
        assert shown.status == 200 and shown.json()["data"] == body
    assert bodies[1]["data"]["cps_limit"] == 7
    # A tampered body fails the receiver's check.
    forged = dict(reqs[0], body=reqs[0]["body"].replace(b"trunk", b"trank"))
    assert not valid_signature(forged)

    metrics = w.get("/metrics").body.decode()
    assert 'warp_webhook_deliveries_total{result="delivered"} 3' in metrics
    assert "warp_webhook_pending 0" in metrics
    stop_clean(w)


def test_failed_attempts_are_retried_with_growing_gaps(warp_factory, receiver, store_url):
    rx = receiver(answers=[500, 500])
    w = start_warp(warp_factory, store_url)
    cust = customer(w)
    webhook(w, cust, rx.url, types=["trunk.created"])
    trunk(w, cust)

    reqs = rx.wait_for(lambda r: len(r) >= 3)
    ids = [r["headers"]["warp-event-id"] for r in reqs]
    assert len(set(ids)) == 1  # the same event, three times
    assert all(valid_signature(r) for r in reqs)
    gap1 = reqs[1]["t"] - reqs[0]["t"]
    gap2 = reqs[2]["t"] - reqs[1]["t"]
    # backoff_base 200 ms, doubling, less up to 25% jitter: ~150-200 ms then ~300-400 ms.
    assert 0.14 <= gap1 < 0.6, gap1
    assert gap2 > gap1 and gap2 >= 0.29, (gap1, gap2)
    time.sleep(0.5)
    assert len(rx.requests) == 3  # delivered on the third: no more attempts
    metrics = w.get("/metrics").body.decode()
    assert 'warp_webhook_deliveries_total{result="retried"} 2' in metrics
    assert 'warp_webhook_deliveries_total{result="delivered"} 1' in metrics
    stop_clean(w)


def test_gives_up_after_max_attempts_then_delivers_the_next(warp_factory, receiver, store_url):
    rx = receiver(answers=[500] * 3)
    # FAST_INI's max_attempts (5) and backoff, overridden by the environment.
    w = start_warp(warp_factory, store_url, WARP_WEBHOOKS_MAX_ATTEMPTS="3",
                   WARP_WEBHOOKS_BACKOFF_BASE="50ms")
    cust = customer(w)
    webhook(w, cust, rx.url)
    tid = trunk(w, cust)
    assert api(w, "PATCH", "/api/v1/trunks/" + tid, {"cps_limit": 3}).status == 200
    reqs = rx.wait_for(lambda r: len(r) >= 4)
    types = [json.loads(r["body"])["type"] for r in reqs]
    assert types == ["trunk.created"] * 3 + ["trunk.updated"]
    assert 'warp_webhook_deliveries_total{result="failed"} 1' in w.get("/metrics").body.decode()
    stop_clean(w)


def test_other_customers_and_admin_events_are_not_delivered(warp_factory, receiver, store_url):
    rx = receiver()
    w = start_warp(warp_factory, store_url)
    mine = customer(w, "Mine")
    other = customer(w, "Other")
    webhook(w, mine, rx.url)
    trunk(w, other, "theirs")
    create(w, "/api/v1/carriers", {"name": "upstream"})  # admin-only: no customer
    tid = trunk(w, mine, "ours")

    rx.wait_for(lambda r: any(json.loads(x["body"])["resource_id"] == tid for x in r))
    time.sleep(0.3)
    events = rx.events()
    assert [e["type"] for e in events] == ["trunk.created"]
    assert all(e["customer_id"] == mine for e in events)
    # The events exist: the API lists them, the receiver never saw them.
    listed = api(w, "GET", "/api/v1/events?limit=500").json()["data"]
    assert any(e["customer_id"] == other and e["type"] == "trunk.created" for e in listed)
    assert any(e["type"] == "carrier.created" for e in listed)
    stop_clean(w)


def test_later_events_wait_behind_a_failing_first(warp_factory, receiver, store_url):
    rx = receiver(answers=[500, 503])
    w = start_warp(warp_factory, store_url)
    cust = customer(w)
    webhook(w, cust, rx.url)
    tid = trunk(w, cust)
    for n in (1, 2, 3):
        assert api(w, "PATCH", "/api/v1/trunks/" + tid, {"cps_limit": n}).status == 200

    reqs = rx.wait_for(lambda r: len(r) >= 6)
    bodies = [json.loads(r["body"]) for r in reqs]
    assert [b["type"] for b in bodies] == ["trunk.created"] * 3 + ["trunk.updated"] * 3
    assert [b["data"]["cps_limit"] for b in bodies[3:]] == [1, 2, 3]
    stop_clean(w)


def test_sigkill_midway_then_restart_delivers_the_rest(warp_factory, receiver, store_url):
    # Each answer takes 0.4 s, so a SIGKILL lands while one is in flight.
    rx = receiver(delay=0.4)
    w = start_warp(warp_factory, store_url, WARP_WEBHOOKS_TIMEOUT="1s")
    cust = customer(w)
    webhook(w, cust, rx.url)
    tid = trunk(w, cust)
    for n in range(1, 6):
        assert api(w, "PATCH", "/api/v1/trunks/" + tid, {"cps_limit": n}).status == 200
    expected = [e["id"] for e in api(w, "GET", "/api/v1/events?customer_id=%s&limit=100" % cust)
                .json()["data"] if e["resource_id"] == tid]
    assert len(expected) == 6

    rx.wait_for(lambda r: len(r) >= 3)
    w.proc.send_signal(signal.SIGKILL)
    w.proc.wait()
    w.start()
    # The one in flight is claimed for timeout + 2 s, then sent again.
    rx.wait_for(lambda r: expected[-1] in [x["headers"]["warp-event-id"] for x in r], timeout=20)
    got = [r["headers"]["warp-event-id"] for r in rx.requests]
    dedup = [g for i, g in enumerate(got) if i == 0 or got[i - 1] != g]
    assert dedup == expected  # nothing lost, order kept
    assert len(got) - len(dedup) <= 1  # at most the in-flight one twice
    stop_clean(w)


def test_sigterm_stops_promptly_with_a_delivery_in_flight(warp_factory, receiver, store_url):
    rx = receiver(delay=8)
    w = start_warp(warp_factory, store_url, WARP_WEBHOOKS_TIMEOUT="10s")
    cust = customer(w)
    webhook(w, cust, rx.url)
    trunk(w, cust)
    rx.wait_for(lambda r: len(r) >= 1)
    took = stop_clean(w)
    assert took < 2.5, took


# ------------------------------------------------- private addresses (SSRF)

def deliveries(w, wid, query="", token=ADMIN_TOKEN):
    r = api(w, "GET", "/api/v1/webhooks/%s/deliveries%s" % (wid, query), token=token)
    assert r.status == 200, (r.status, r.body)
    return r.json()


def hooked_warp(warp_factory, store_url, url, types=("*",), **env):
    """A warp with one customer and its webhook at url: (warp, customer, webhook)."""
    w = start_warp(warp_factory, store_url, **env)
    cust = customer(w)
    return w, cust, webhook(w, cust, url, types)


def wait_deliveries(w, wid, pred, timeout=10.0):
    """Polls the webhook's deliveries until pred(list) holds; returns them."""
    deadline = time.monotonic() + timeout
    while True:
        items = deliveries(w, wid, "?limit=500")["data"]
        if pred(items) or time.monotonic() > deadline:
            assert pred(items), items
            return items
        time.sleep(0.05)


def test_private_literal_url_is_refused_on_create_and_patch(warp_factory, receiver, store_url):
    rx = receiver()
    w = start_warp(warp_factory, store_url, WARP_WEBHOOKS_ALLOW_PRIVATE="false")
    cust = customer(w)
    for url in (rx.url, "http://[::1]:9/hook", "http://169.254.169.254/latest/meta-data",
                "http://[::ffff:10.0.0.1]/", "http://2130706433/"):
        r = api(w, "POST", "/api/v1/webhooks", {"customer_id": cust, "url": url,
                                                "secret": SECRET})
        assert r.status == 422, (url, r.status, r.body)
        err = r.json()["errors"][0]
        assert err["code"] == "private_address" and err["source"] == {"pointer": "/url"}, err
    wid = webhook(w, cust, "https://hooks.example.com/warp")
    r = api(w, "PATCH", "/api/v1/webhooks/" + wid, {"url": rx.url})
    assert r.status == 422 and r.json()["errors"][0]["source"] == {"pointer": "/url"}
    stop_clean(w)


def test_url_curl_and_browsers_read_differently_is_refused_on_create(warp_factory, store_url):
    w = start_warp(warp_factory, store_url, WARP_WEBHOOKS_ALLOW_PRIVATE="true")
    cust = customer(w)
    for url in ("http://\u246b\u2466.0.0.1/a", "http://user\\@hooks.example.com/a"):
        r = api(w, "POST", "/api/v1/webhooks", {"customer_id": cust, "url": url,
                                                "secret": SECRET})
        assert r.status == 422, (url, r.status, r.body)
        err = r.json()["errors"][0]
        assert err["code"] == "invalid_url" and err["source"] == {"pointer": "/url"}, err
        assert r.headers.get("X-Request-Id")
    stop_clean(w)


def localhost_webhook(warp_factory, receiver, store_url, allow_private):
    """A warp with allow_private as given and a webhook at http://localhost:
    a host name passes the create check; it resolves to 127.0.0.1 (and ::1)."""
    rx = receiver()
    w, cust, wid = hooked_warp(warp_factory, store_url, rx.url.replace("127.0.0.1", "localhost"),
                               WARP_WEBHOOKS_ALLOW_PRIVATE=allow_private)
    return rx, w, wid, trunk(w, cust)


def test_allow_private_accepts_a_loopback_url_and_delivers(warp_factory, receiver, store_url):
    rx, w, wid, _ = localhost_webhook(warp_factory, receiver, store_url, "true")
    rx.wait_for(lambda r: len(r) == 1)
    [d] = wait_deliveries(w, wid, lambda ds: ds and ds[0]["status"] == "delivered")
    assert d["last_status"] == 200 and d["last_error"] is None
    stop_clean(w)


def test_name_resolving_to_loopback_is_refused_at_delivery(warp_factory, receiver, store_url):
    rx, w, wid, tid = localhost_webhook(warp_factory, receiver, store_url, "0")
    assert api(w, "PATCH", "/api/v1/trunks/" + tid, {"cps_limit": 2}).status == 200
    ds = wait_deliveries(w, wid, lambda ds: len(ds) == 2 and
                         all(d["status"] == "failed" for d in ds))
    for d in ds:
        # Given up at once: every retry would be refused too.
        assert d["attempts"] == 1 and d["last_status"] is None, d
        assert d["last_error"].startswith("refused: the host resolved to "), d
        assert "non-public" in d["last_error"] and "allow_private" in d["last_error"], d
        assert d["next_attempt_at"] is None and d["delivered_at"] is None, d
    time.sleep(0.3)
    assert rx.requests == []
    assert 'warp_webhook_deliveries_total{result="failed"} 2' in w.get("/metrics").body.decode()
    stop_clean(w)


def test_environment_proxy_is_not_used_for_deliveries(warp_factory, receiver, store_url):
    """http_proxy in warp's environment is ignored: through a proxy the
    delivery-time address check would judge the proxy, not the receiver."""
    rx, proxy = receiver(), receiver()
    via = proxy.url.rsplit("/", 1)[0]
    w, cust, wid = hooked_warp(warp_factory, store_url, rx.url, http_proxy=via, HTTP_PROXY=via,
                               ALL_PROXY=via, no_proxy="", NO_PROXY="")
    trunk(w, cust)
    rx.wait_for(lambda r: len(r) == 1)
    assert proxy.requests == []
    stop_clean(w)


# ------------------------------------------------------- delivery history

def test_deliveries_list_shows_each_outcome_in_seq_order(warp_factory, receiver, store_url):
    rx = receiver(answers=[500, 500, 204])
    w, cust, wid = hooked_warp(warp_factory, store_url, rx.url, WARP_WEBHOOKS_MAX_ATTEMPTS="2",
                               WARP_WEBHOOKS_BACKOFF_BASE="50ms")
    tid = trunk(w, cust)
    assert api(w, "PATCH", "/api/v1/trunks/" + tid, {"cps_limit": 3}).status == 200
    ds = wait_deliveries(w, wid, lambda ds: len(ds) == 2 and ds[1]["status"] == "delivered")
    evs = [e for e in api(w, "GET", "/api/v1/events?limit=500").json()["data"]
           if e["resource_id"] == tid]
    assert [(d["event_id"], d["event_type"], d["seq"]) for d in ds] == [
        (e["id"], e["type"], e["seq"]) for e in evs]
    failed, delivered = ds
    assert failed == {"event_id": evs[0]["id"], "event_type": "trunk.created",
                      "stream": "config", "seq": evs[0]["seq"], "status": "failed", "attempts": 2,
                      "last_status": 500, "last_error": "HTTP 500", "next_attempt_at": None,
                      "delivered_at": None}
    assert delivered["attempts"] == 1 and delivered["last_status"] == 204
    assert delivered["last_error"] is None and delivered["next_attempt_at"] is None
    assert abs(delivered["delivered_at"] / 1000 - time.time()) < 60
    assert [d["status"] for d in deliveries(w, wid, "?status=failed")["data"]] == ["failed"]
    assert deliveries(w, wid, "?status=pending")["data"] == []
    stop_clean(w)


def test_deliveries_pending_shows_next_attempt(warp_factory, receiver, store_url):
    rx = receiver(answers=[500] * 10)
    w, cust, wid = hooked_warp(warp_factory, store_url, rx.url, WARP_WEBHOOKS_BACKOFF_BASE="1h",
                               WARP_WEBHOOKS_BACKOFF_MAX="1h")
    trunk(w, cust)
    [d] = wait_deliveries(w, wid, lambda ds: ds and ds[0]["attempts"] == 1)
    assert d["status"] == "pending" and d["last_status"] == 500
    # An hour less up to a quarter of jitter.
    assert 2700 <= d["next_attempt_at"] / 1000 - time.time() <= 3600, d
    stop_clean(w)


def test_deliveries_pages_with_a_cursor(warp_factory, receiver, store_url):
    rx = receiver()
    w, cust, wid = hooked_warp(warp_factory, store_url, rx.url)
    tid = trunk(w, cust)
    for n in range(4):
        assert api(w, "PATCH", "/api/v1/trunks/" + tid, {"cps_limit": n + 1}).status == 200
    wait_deliveries(w, wid, lambda ds: len(ds) == 5)
    seen, after = [], None
    for _ in range(10):
        page = deliveries(w, wid, "?limit=2" + ("&after=" + after if after else ""))
        assert len(page["data"]) <= 2
        seen += page["data"]
        after = page["next_cursor"]
        if after is None:
            break
    assert len(seen) == 5 and [d["seq"] for d in seen] == sorted(d["seq"] for d in seen)
    assert len({d["event_id"] for d in seen}) == 5
    for bad in ("?limit=0", "?after=abc", "?status=gone"):
        r = api(w, "GET", "/api/v1/webhooks/%s/deliveries%s" % (wid, bad))
        assert r.status == 400, (bad, r.status, r.body)
    stop_clean(w)


def test_deliveries_of_another_customers_webhook_answer_404(warp_factory, receiver, store_url):
    rx = receiver()
    w = start_warp(warp_factory, store_url)
    mine, other = customer(w, "Mine"), customer(w, "Other")
    wid = webhook(w, mine, rx.url, types=["trunk.*"])
    trunk(w, mine)
    wait_deliveries(w, wid, lambda ds: len(ds) == 1)
    keys = {}
    for cid in (mine, other):
        keys[cid] = create(w, "/api/v1/api-keys", {"customer_id": cid, "role": "customer",
                                                    "name": "k"})["secret"]
    assert len(deliveries(w, wid, token=keys[mine])["data"]) == 1
    r = api(w, "GET", "/api/v1/webhooks/%s/deliveries" % wid, token=keys[other])
    assert r.status == 404 and r.json()["errors"][0]["code"] == "not_found"
    r = api(w, "GET", "/api/v1/webhooks/whk_missing/deliveries")
    assert r.status == 404
    stop_clean(w)
