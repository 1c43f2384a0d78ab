"""Upstream services mounted behind the gateway ([route.NAME] prefix/upstream):
the real warp proxies to a local http.server, which records what reached it."""
import http.client as httpclient
import http.server as httpserver
import json
import socket
import threading
import time

import pytest

from conftest import free_port, http, run_warp

# Only the api role: other roles' listeners would clash between test processes.
API_ONLY = ["--roles", "api"]
ADMIN = "gw-upstream-admin-token-0123456789"


class Upstream:
    """A loopback HTTP server that records every request and answers what
    the test asks for (status, headers, body, delay)."""

    def __init__(self):
        self.seen = []
        self.status = 200
        self.headers = {"Content-Type": "application/json"}
        self.body = b'{"hello":"upstream"}'
        self.delay = 0.0
        outer = self

        class Handler(httpserver.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def handle_any(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                outer.seen.append({"method": self.command, "path": self.path,
                                   "headers": dict(self.headers.items()), "body": body})
                if outer.delay:
                    time.sleep(outer.delay)
                self.send_response(outer.status)
                for k, v in outer.headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(outer.body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(outer.body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = handle_any

        self.server = httpserver.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def last(self):
        assert self.seen, "nothing reached the upstream"
        return self.seen[-1]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def seen_header(req, name):
    for k, v in req["headers"].items():
        if k.lower() == name.lower():
            return v
    return None


@pytest.fixture
def upstream():
    u = Upstream()
    yield u
    u.close()


def route_ini(name, prefix, url, timeout="2s"):
    return "\n[route.%s]\nprefix = %s\nupstream = %s\ntimeout = %s\n" % (name, prefix, url, timeout)


@pytest.fixture
def gw(warp_factory, upstream):
    ini = ("[ratelimit]\nanon_burst = 1000\nanon_rate = 1000\n" +
           route_ini("crm", "/crm", "http://127.0.0.1:%d/v2" % upstream.port) +
           route_ini("down", "/down", "http://127.0.0.1:%d" % free_port()))
    w = warp_factory(args=API_ONLY, extra_ini=ini, env={"WARP_ADMIN_TOKEN": ADMIN}).start()
    yield w
    rc, _ = w.stop()
    assert rc == 0, w.stderr()


def admin(extra=None):
    h = {"Authorization": "Bearer " + ADMIN}
    h.update(extra or {})
    return h


def customer_key(w):
    r = http("POST", w.base + "/api/v1/customers", {"name": "Acme"}, headers=admin())
    assert r.status == 201, r.body
    cus = r.json()["data"]["id"]
    r = http("POST", w.base + "/api/v1/api-keys",
             {"role": "customer", "customer_id": cus, "scopes": "read,write", "name": "k"},
             headers=admin())
    assert r.status == 201, r.body
    return cus, r.json()["data"]["id"], r.json()["data"]["secret"]


def test_admin_identity_headers_reach_upstream(gw, upstream):
    r = gw.get("/crm/things?x=1", headers=admin({"X-Forwarded-For": "203.0.113.9"}))
    assert r.status == 200, r.body
    got = upstream.last()
    assert got["path"] == "/v2/things?x=1"
    assert seen_header(got, "X-Warp-Role") == "admin"
    assert seen_header(got, "X-Warp-Customer-Id") == ""
    assert seen_header(got, "X-Warp-Credential-Id").startswith("key_")
    assert seen_header(got, "X-Request-Id") == r.headers["X-Request-Id"]
    assert seen_header(got, "X-Forwarded-For") == "203.0.113.9, 127.0.0.1"
    assert seen_header(got, "Host") == "127.0.0.1:%d" % upstream.port


def test_authorization_header_never_reaches_upstream(gw, upstream):
    assert gw.get("/crm/x", headers=admin()).status == 200
    assert seen_header(upstream.last(), "Authorization") is None
    assert ADMIN not in json.dumps(upstream.last()["headers"])


def test_customer_identity_headers_reach_upstream(gw, upstream):
    cus, key_id, secret = customer_key(gw)
    r = gw.get("/crm/mine", headers={"Authorization": "Bearer " + secret})
    assert r.status == 200, r.body
    got = upstream.last()
    assert seen_header(got, "X-Warp-Role") == "customer"
    assert seen_header(got, "X-Warp-Customer-Id") == cus
    assert seen_header(got, "X-Warp-Credential-Id") == key_id


def test_forged_identity_headers_are_replaced(gw, upstream):
    cus, _, secret = customer_key(gw)
    r = gw.get("/crm/x", headers={"Authorization": "Bearer " + secret, "X-Warp-Role": "admin",
                                  "X-Warp-Customer-Id": "cus_someoneelse", "X-Warp-Extra": "1"})
    assert r.status == 200
    got = upstream.last()
    assert seen_header(got, "X-Warp-Role") == "customer"
    assert seen_header(got, "X-Warp-Customer-Id") == cus
    assert seen_header(got, "X-Warp-Extra") is None


def test_status_headers_and_body_relayed(gw, upstream):
    upstream.status = 418
    upstream.headers = {"Content-Type": "text/plain", "X-Upstream": "yes"}
    upstream.body = b"short and stout\n"
    r = gw.get("/crm/teapot", headers=admin())
    assert r.status == 418
    assert r.body == b"short and stout\n"
    assert r.headers["Content-Type"] == "text/plain"
    assert r.headers["X-Upstream"] == "yes"
    # The gateway's own headers ride along.
    assert r.headers["RateLimit-Limit"] and r.headers["X-Request-Id"]


def test_request_body_and_method_forwarded(gw, upstream):
    payload = b'{"n": "' + b"x" * 5000 + b'"}'
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        r = http(method, gw.base + "/crm/items/7", payload, headers=admin())
        assert r.status == 200, (method, r.body)
        got = upstream.last()
        assert got["method"] == method
        assert got["path"] == "/v2/items/7"
        assert got["body"] == payload
        assert seen_header(got, "Content-Type") == "application/json"


def test_prefix_itself_maps_to_upstream_base(gw, upstream):
    assert gw.get("/crm", headers=admin()).status == 200
    assert upstream.last()["path"] == "/v2/"


def test_unauthenticated_caller_never_reaches_upstream(gw, upstream):
    # "/%63rm/x" is /crm/x once decoded, as the router sees it.
    for path in ("/crm/x", "/crm", "/crm//x", "/%63rm/x"):
        c = httpclient.HTTPConnection("127.0.0.1", gw.port, timeout=5)
        c.request("GET", path)
        r = c.getresponse()
        body = r.read()
        c.close()
        assert r.status == 401, (path, r.status, body)
        assert json.loads(body)["errors"][0]["code"] == "unauthenticated"
    r = gw.get("/crm/x", headers={"Authorization": "Bearer wk_notakeyatall0000000000000000000"})
    assert r.status == 401
    assert upstream.seen == []


def test_upstream_down_answers_502(gw):
    r = gw.get("/down/anything", headers=admin())
    assert r.status == 502
    assert r.json()["errors"][0]["code"] == "upstream_unreachable"


def test_upstream_timeout_answers_504(warp_factory, upstream):
    upstream.delay = 2.0
    w = warp_factory(args=API_ONLY, extra_ini=route_ini("slow", "/slow", "http://127.0.0.1:%d" % upstream.port,
                                         "300ms"),
                     env={"WARP_ADMIN_TOKEN": ADMIN}).start()
    t0 = time.monotonic()
    r = w.get("/slow/x", headers=admin())
    assert r.status == 504
    assert r.json()["errors"][0]["code"] == "upstream_timeout"
    assert time.monotonic() - t0 < 1.9
    time.sleep(2.0)  # let the upstream finish before warp stops
    rc, _ = w.stop()
    assert rc == 0, w.stderr()


def test_concurrent_requests_are_not_serialised(gw, upstream):
    upstream.delay = 0.5
    results = []

    def one():
        results.append(gw.get("/crm/par", headers=admin()).status)

    threads = [threading.Thread(target=one) for _ in range(6)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert results == [200] * 6
    # Two worker threads: a blocking proxy would need 6 * 0.5 / 2 = 1.5 s.
    assert time.monotonic() - t0 < 1.4


def test_route_without_upstream_fails_config_check(tmp_path):
    cfg = tmp_path / "w.ini"
    cfg.write_text("[route.crm]\nprefix = /crm\n")
    r = run_warp(["config", "check", "-c", str(cfg)])
    assert r.returncode == 2
    assert "upstream" in r.stderr


def test_route_with_https_upstream_fails_startup(warp_factory):
    w = warp_factory(args=API_ONLY, extra_ini=route_ini("x", "/x", "https://127.0.0.1:9"))
    w.start(wait=False)
    assert w.proc.wait(10) == 2
    assert "http://host" in w.stderr()


def test_client_leaving_before_the_upstream_answers(gw, upstream):
    upstream.delay = 0.5
    for _ in range(3):
        s = socket.create_connection(("127.0.0.1", gw.port))
        s.sendall(b"GET /crm/gone HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                  ADMIN.encode() + b"\r\n\r\n")
        s.close()
    time.sleep(1.0)  # the upstream answers to nobody; warp drops the reply
    assert len(upstream.seen) == 3
    upstream.delay = 0
    assert gw.get("/crm/after", headers=admin()).status == 200
    # (the fixture checks that warp still stops cleanly: under ASan, no leak)


def test_outcomes_are_counted_in_metrics(gw, upstream):
    assert gw.get("/crm/x", headers=admin()).status == 200
    assert gw.get("/down/x", headers=admin()).status == 502
    text = gw.get("/metrics").body.decode()
    assert 'warp_api_upstream_requests_total{route="crm",outcome="ok"} 1' in text
    assert 'warp_api_upstream_requests_total{route="down",outcome="unreachable"} 1' in text
