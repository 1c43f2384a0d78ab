"""The gateway's token buckets end to end: per credential (the key's own
rate_per_sec/burst, else its role's default), per source address for
anonymous callers, RateLimit-* headers on every /api/v1 answer, 429 with
Retry-After; and with backend = redis, one budget shared by two warp
processes."""
import re
import time

import pytest

from conftest import http
from redisfix import redis_server  # noqa: F401

# Only the api role: other roles' listeners would clash between test processes.
API_ONLY = ["--roles", "api"]
ADMIN = "gw-ratelimit-admin-token-0123456789"


def bearer(t):
    return {"Authorization": "Bearer " + t}


def limits_ini(admin_rate=1, admin_burst=5, anon_rate=1, anon_burst=3, extra=""):
    return ("[ratelimit]\nadmin_rate = %d\nadmin_burst = %d\nanon_rate = %d\nanon_burst = %d\n%s"
            % (admin_rate, admin_burst, anon_rate, anon_burst, extra))


@pytest.fixture
def gw(warp_factory):
    w = warp_factory(args=API_ONLY, extra_ini=limits_ini(), env={"WARP_ADMIN_TOKEN": ADMIN}).start()
    yield w
    rc, _ = w.stop()
    assert rc == 0, w.stderr()


def assert_headers(r):
    for h in ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"):
        assert r.headers.get(h) is not None and int(r.headers[h]) >= 0, (h, r.status)


def assert_429(r):
    assert r.status == 429, (r.status, r.body)
    assert int(r.headers["Retry-After"]) >= 1
    assert r.json()["errors"][0]["code"] == "rate_limited"
    assert_headers(r)
    assert r.headers["RateLimit-Remaining"] == "0"


def test_burst_then_429_with_retry_after(gw):
    seen = [gw.get("/api/v1/customers", headers=bearer(ADMIN)) for _ in range(6)]
    assert [r.status for r in seen[:5]] == [200] * 5
    assert [int(r.headers["RateLimit-Remaining"]) for r in seen[:5]] == [4, 3, 2, 1, 0]
    assert_429(seen[5])


def test_bucket_refills_at_the_rate(gw):
    for _ in range(5):
        gw.get("/api/v1/customers", headers=bearer(ADMIN))
    assert gw.get("/api/v1/customers", headers=bearer(ADMIN)).status == 429
    time.sleep(1.1)  # 1 token a second
    assert gw.get("/api/v1/customers", headers=bearer(ADMIN)).status == 200


def test_headers_on_every_api_response(gw):
    answers = [
        gw.get("/api/v1/customers", headers=bearer(ADMIN)),                # 200
        gw.get("/api/v1/customers/cus_nonexistent", headers=bearer(ADMIN)),  # 404
        http("POST", gw.base + "/api/v1/customers", {"bad": 1}, headers=bearer(ADMIN)),  # 422
        gw.get("/api/v1/customers"),                                      # 401
    ]
    assert [r.status for r in answers] == [200, 404, 422, 401]
    for r in answers:
        assert_headers(r)
    assert answers[0].headers["RateLimit-Limit"] == "5"
    assert answers[3].headers["RateLimit-Limit"] == "3"  # anonymous: per address


def test_api_key_uses_its_own_rate_and_burst(gw):
    r = http("POST", gw.base + "/api/v1/api-keys",
             {"role": "admin", "scopes": "read", "name": "slow", "rate_per_sec": 1, "burst": 2},
             headers=bearer(ADMIN))
    assert r.status == 201, r.body
    secret = r.json()["data"]["secret"]
    seen = [gw.get("/api/v1/customers", headers=bearer(secret)) for _ in range(3)]
    assert [r.status for r in seen] == [200, 200, 429]
    assert seen[0].headers["RateLimit-Limit"] == "2"
    assert_429(seen[2])
    # Its bucket is its own: the admin token still has budget left.
    assert gw.get("/api/v1/customers", headers=bearer(ADMIN)).status == 200


def test_anonymous_callers_limited_per_address(gw):
    seen = [gw.get("/api/v1/customers") for _ in range(4)]
    assert [r.status for r in seen] == [401, 401, 401, 429]
    assert_429(seen[3])
    # Guessing tokens is charged to the same address.
    r = gw.get("/api/v1/customers", headers=bearer("wk_guess000000000000000000000000000"))
    assert r.status == 429
    # Authenticated callers from that address are not affected.
    assert gw.get("/api/v1/customers", headers=bearer(ADMIN)).status == 200


def test_health_endpoints_are_not_limited(gw):
    for _ in range(10):
        r = gw.get("/healthz")
        assert r.status == 200
        assert r.headers.get("RateLimit-Limit") is None


def decisions(w):
    """warp_ratelimit_requests_total from /metrics: {(kind, backend, result): n}."""
    out = {}
    for m in re.finditer(r'^warp_ratelimit_requests_total\{kind="(\w+)",backend="(\w+)",'
                         r'result="(\w+)"\} (\d+)$', w.get("/metrics").body.decode(), re.M):
        out[m.group(1, 2, 3)] = int(m.group(4))
    return out


def test_metrics_count_decisions_after_a_429(gw):
    seen = [gw.get("/api/v1/customers", headers=bearer(ADMIN)).status for _ in range(6)]
    assert seen == [200] * 5 + [429]
    anon = [gw.get("/api/v1/customers").status for _ in range(4)]
    assert anon == [401, 401, 401, 429]
    d = decisions(gw)
    assert d[("credential", "memory", "allowed")] == 5
    assert d[("credential", "memory", "limited")] == 1
    assert d[("address", "memory", "allowed")] == 3
    assert d[("address", "memory", "limited")] == 1


# --------------------------------------------------------------- Redis


@pytest.fixture
def redis_url(redis_server):
    return redis_server.url


def two_replicas(warp_factory, backend_ini):
    """Two warp processes on the same SQLite file (WAL), started one after
    the other (they share the test's folder and its warp.ini name)."""
    env = {"WARP_ADMIN_TOKEN": ADMIN}
    a = warp_factory(args=API_ONLY, extra_ini=limits_ini(admin_rate=1, admin_burst=6, extra=backend_ini),
                     env=env).start()
    b = warp_factory(args=API_ONLY, extra_ini=limits_ini(admin_rate=1, admin_burst=6, extra=backend_ini),
                     env=env).start()
    assert a.store_url == b.store_url and a.port != b.port
    return a, b


def alternate(a, b, n):
    return [(a if i % 2 == 0 else b).get("/api/v1/customers", headers=bearer(ADMIN)).status
            for i in range(n)]


def test_redis_budget_is_shared_by_two_replicas(warp_factory, redis_url):
    a, b = two_replicas(warp_factory, "backend = redis\nredis_url = %s\n" % redis_url)
    statuses = alternate(a, b, 8)
    assert statuses[:6] == [200] * 6
    assert statuses[6:] == [429, 429]
    r = b.get("/api/v1/customers", headers=bearer(ADMIN))
    assert_429(r)
    da, db = decisions(a), decisions(b)
    key = ("credential", "redis", "limited")
    assert da.get(key, 0) + db.get(key, 0) == 3
    assert da[("credential", "redis", "allowed")] == 3
    for w in (a, b):
        assert w.stop()[0] == 0, w.stderr()


def test_memory_budget_is_per_replica(warp_factory):
    a, b = two_replicas(warp_factory, "backend = memory\n")
    statuses = alternate(a, b, 12)
    assert statuses == [200] * 12  # each process has its own burst of 6
    assert alternate(a, b, 2) == [429, 429]
    for w in (a, b):
        assert w.stop()[0] == 0, w.stderr()
