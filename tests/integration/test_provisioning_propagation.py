"""Provisioning changes reach the SIP role's snapshot within a second,
without a restart: the snapshot version /metrics reports follows the store's
config version after each API write."""
import re
import time

TOKEN = "propagation-admin-token-0001"
AUTH = {"Authorization": "Bearer " + TOKEN}


def snapshot_version(w, name="sip_policy"):
    text = w.get("/metrics").body.decode()
    m = re.search(r'^warp_snapshot_version\{name="%s"\} (\d+)$' % name, text, re.M)
    return int(m.group(1)) if m else None


def config_version(w):
    import sqlite3
    db = sqlite3.connect(str(w.tmp / "warp.db"))
    try:
        return db.execute("SELECT version FROM config_version").fetchone()[0]
    finally:
        db.close()


def test_api_writes_reach_sip_snapshot_within_a_second(warp_factory):
    from conftest import http
    w = warp_factory(env={"WARP_ADMIN_TOKEN": TOKEN}, args=["--roles", "api,sip"]).start()
    before = snapshot_version(w)
    assert before is not None, "the sip role publishes no snapshot version"
    r = http("POST", w.base + "/api/v1/customers", {"name": "Propagation"}, headers=AUTH)
    assert r.status == 201
    cid = r.json()["data"]["id"]
    r = http("POST", w.base + "/api/v1/trunks",
             {"customer_id": cid, "name": "t", "acl": [{"cidr": "192.0.2.0/24"}]}, headers=AUTH)
    assert r.status == 201
    target = config_version(w)
    assert target > before
    t0 = time.monotonic()
    while snapshot_version(w) != target and time.monotonic() - t0 < 1.0:
        time.sleep(0.02)
    took = time.monotonic() - t0
    assert snapshot_version(w) == target, "snapshot still at %s, store at %d" % (
        snapshot_version(w), target)
    assert took < 1.0
    assert w.stop()[0] == 0
