"""Cluster-wide call limits ([limits] backend = redis, decision 0046): two
warp processes with the sip role (one with the api too) on one store (one
SQLite file, or PostgreSQL: the production topology) and one real
redis-server; SIPp callers reach either process, one SIPp
callee holds the calls.  A trunk's channel limit of 10 refuses the 11th call
whichever process it reaches; a process killed with -9 has its channels come
back within the lease; with Redis stopped each process admits its share
(10 / 2 nodes), the metrics and /readyz say so."""
import re
import signal
import time

import pytest

from conftest import http
from redisfix import redis_server  # noqa: F401
from sipfix import (SipWarp, TOKEN, ini, render, scenario, shared_scenario, sip_port, store_of,
                    wait_sip_listening)

NUMBER = "15551234567"
LIMIT = 10
LEASE_MS = 1000


@pytest.fixture(params=["sqlite", "postgres"])
def store(request, tmp_path):
    """(store URL or None for SQLite, a row reader for it)."""
    return store_of(request, tmp_path, "cluster_limits")


def limits_ini(redis):
    return ("\n[limits]\nbackend = redis\nredis_url = %s\ntimeout = 200ms\n"
            "sync_interval = 10ms\nlease = %dms\nnodes = 2\n" % (redis.url, LEASE_MS))


def start_node(warp_factory, tmp_path, store, redis, roles):
    url, rows = store
    port = sip_port()
    w = warp_factory(store_url=url, extra_ini=ini(port, limits_ini(redis)),
                     env={"WARP_ADMIN_TOKEN": TOKEN}, args=["--roles", roles])
    w.sip_port = port
    w.start()
    wait_sip_listening(port)
    return SipWarp(w, tmp_path, rows=rows)


def cluster(warp_factory, tmp_path, store, redis, **trunk):
    """Node a (api, sip) and node b (sip), started one after the other (they
    share the test's folder and its warp.ini), a trunk with LIMIT channels
    and a carrier whose gateway is one SIPp callee answering every call."""
    a = start_node(warp_factory, tmp_path, store, redis, "api,sip")
    b = start_node(warp_factory, tmp_path, store, redis, "sip")
    ports = [sip_port() for _ in range(8)]
    gport = sip_port()
    cus = a.customer()
    a.trunk(cus, ports, **(trunk or {"channel_limit": LIMIT}))
    car, _ = a.carrier("carrier-a", [gport])
    a.route("1", [car])
    a.synced()
    b.synced()
    callee = a.sipp("callee", scenario("uas_answer.xml"), gport, calls=40, timeout_s=60).start()
    return a, b, ports, callee


def metric(node, name):
    m = re.search(r"^%s(?:\{\})? (-?\d+)$" % name, node.w.get("/metrics").body.decode(), re.M)
    return int(m.group(1)) if m else None


def hold_calls(node, port, n, hold_ms=20000):
    """n answered calls from port through node, held hold_ms; returned once
    all n have their 200."""
    call = node.caller("hold-%d" % port, shared_scenario("uac_rr.xml"), port, NUMBER,
                       calls=n, hold_ms=hold_ms, timeout_s=60).start()
    deadline = time.monotonic() + 15
    while call.codes().count(200) < n and time.monotonic() < deadline:
        time.sleep(0.05)
    assert call.codes().count(200) == n, call.describe()
    return call


def refused(node, tmp_path, port, why="channel limit"):
    call = node.caller("refused-%d" % port, render(tmp_path, "uac_expect.xml", code=503, mf=70),
                       port, NUMBER).start()
    assert call.wait() == 0, call.describe()
    assert why in call.messages()[-1], call.messages()[-1]


def settle():
    """Two sync rounds of every node (10 ms each) with room for a loaded
    machine: a call admitted on one node is in every node's view."""
    time.sleep(0.3)


def test_channel_limit_holds_across_two_sip_processes(warp_factory, tmp_path, store,
                                                      redis_server):
    a, b, ports, callee = cluster(warp_factory, tmp_path, store, redis_server)
    assert metric(a, "warp_sip_limits_backend_up") == 1
    hold_calls(a, ports[0], 6)
    settle()
    # Redis forgets the script (a restart, a failover): EVALSHA's NOSCRIPT
    # loads it again within the round, no node falls back.
    assert redis_server.command("SCRIPT", "FLUSH") == b"+OK"
    # b holds 4, below its share of 5: what refuses the 11th is the cluster.
    hold_calls(b, ports[1], 4)
    settle()
    refused(b, tmp_path, ports[2])
    refused(a, tmp_path, ports[3])
    assert http("GET", a.w.base + "/readyz").json() == {"status": "ready"}
    for node in (a, b):
        assert metric(node, "warp_sip_limits_fallback_total") == 0
    callee.stop()
    b_rc, _ = b.stop()
    assert b_rc == 0, b.w.stderr()[-3000:]
    a_rc, _ = a.stop()
    assert a_rc == 0, a.w.stderr()[-3000:]


def test_a_process_no_call_reached_refuses_the_11th_too(warp_factory, tmp_path, store,
                                                        redis_server):
    """All ten on one process: the other, which no call asked (no
    reservation), may admit one call on credit only while there is room."""
    a, b, ports, callee = cluster(warp_factory, tmp_path, store, redis_server)
    hold_calls(a, ports[0], LIMIT)
    settle()
    refused(b, tmp_path, ports[1])
    refused(a, tmp_path, ports[2])
    callee.stop()
    for node in (b, a):
        rc, _ = node.stop()
        assert rc == 0, node.w.stderr()[-3000:]


def test_cps_bucket_is_shared(warp_factory, tmp_path, store, redis_server):
    """One call a second for the trunk, whichever process: a call through
    a, then one through b within that second is refused; later it passes."""
    a, b, ports, callee = cluster(warp_factory, tmp_path, store, redis_server, cps_limit=1)
    hold_calls(a, ports[0], 1, hold_ms=3000)
    refused(b, tmp_path, ports[1], why="CPS limit")
    time.sleep(1.2)
    hold_calls(b, ports[2], 1, hold_ms=3000)
    callee.stop()
    for node in (b, a):
        rc, _ = node.stop()
        assert rc == 0, node.w.stderr()[-3000:]


def test_killed_process_channels_come_back_within_the_lease(warp_factory, tmp_path, store,
                                                             redis_server):
    a, b, ports, callee = cluster(warp_factory, tmp_path, store, redis_server)
    hold_calls(a, ports[0], 5)
    hold_calls(b, ports[1], 5)
    settle()
    refused(a, tmp_path, ports[2])
    b.w.proc.send_signal(signal.SIGKILL)
    b.w.proc.wait(10)
    killed = time.monotonic()
    # Within one lease (and a sync round) b's 5 channels are free again.
    time.sleep(LEASE_MS / 1000 + 0.3)
    hold_calls(a, ports[3], 5)
    assert time.monotonic() - killed < 10
    settle()
    refused(a, tmp_path, ports[4])
    callee.stop()
    a_rc, _ = a.stop()
    assert a_rc == 0, a.w.stderr()[-3000:]


def test_without_redis_each_process_admits_its_share(warp_factory, tmp_path, store,
                                                     redis_server):
    a, b, ports, callee = cluster(warp_factory, tmp_path, store, redis_server)
    redis_server.stop()
    for node in (a, b):
        deadline = time.monotonic() + 5
        while (metric(node, "warp_sip_limits_backend_up") != 0 or
               http("GET", node.w.base + "/readyz").json().get("status") != "degraded"):
            assert time.monotonic() < deadline, http("GET", node.w.base + "/readyz").body
            time.sleep(0.05)
        r = http("GET", node.w.base + "/readyz")
        assert r.status == 200 and r.json()["status"] == "degraded"
        assert "Redis" in r.json()["reason"]
    # 10 / 2 nodes: each admits 5, the 6th is refused on the node it reaches.
    hold_calls(a, ports[0], 5)
    refused(a, tmp_path, ports[1])
    hold_calls(b, ports[2], 5)
    refused(b, tmp_path, ports[3])
    assert metric(a, "warp_sip_limits_fallback_total") > 0
    assert metric(b, "warp_sip_limits_fallback_total") > 0
    # Redis back, empty: the next rounds publish what each node holds, the
    # cluster is one again and full (5 + 5).
    redis_server.start()
    for node in (a, b):
        deadline = time.monotonic() + 5
        while http("GET", node.w.base + "/readyz").json() != {"status": "ready"}:
            assert time.monotonic() < deadline, http("GET", node.w.base + "/readyz").body
            time.sleep(0.05)
        assert metric(node, "warp_sip_limits_backend_up") == 1
    settle()
    refused(a, tmp_path, ports[4])
    refused(b, tmp_path, ports[5])
    callee.stop()
    for node in (b, a):
        rc, _ = node.stop()
        assert rc == 0, node.w.stderr()[-3000:]
