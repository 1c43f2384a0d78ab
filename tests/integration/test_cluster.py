"""WARP as a cluster (issue 14): two api, two sip and two media nodes on one
PostgreSQL and one Redis, each process in a network namespace of its own
with its own address, SIPp callers and callees in namespaces too
(clusterfix.py builds the topology; docs/cluster.md runs it for real).

What a user of the cluster sees is checked: provisioning written through
one api node routes calls on every sip node within a second; a sip node
killed mid-call has that call's CDR written by the other one; a media node
killed or cut off from the network is passed over by both sip nodes for new
calls within a second (the SDP the callee gets names the other engine);
an API credential's rate limit spent on one api node is spent on the other;
a contact registered through one sip node is among the bindings the other
answers with; a trunk's channel limit of 10 refuses the 11th call whichever
sip node it reaches, and a killed sip node's channels come back within the
lease ([limits] backend = redis).

Root is needed to make namespaces; where they cannot be made the whole
module is skipped with a message saying so (and `make test` counts the
skip as a failure unless WARP_TEST_ALLOW_SKIP=1).
"""
import hashlib
import re
import socket
import time
import uuid

import pytest

import clusterfix
from clusterfix import (ADDR, HEARTBEAT_MS, LEASE_MS, NET, PING_MS, SIP_PORT,
                        TCP_USER_TIMEOUT_MS)
from sipfix import render, scenario, shared_scenario

RECOVERED = "call state lost: billed to the last heartbeat"
BASE_NUMBER = "15551230000"
GW_PORT = 5060  # the base carrier's gateway: a SIPp callee in the gw namespace


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    why = clusterfix.cannot_make()
    if why:
        pytest.skip("cluster test not run: network namespaces cannot be made on this machine "
                    "(%s)" % why)
    c = clusterfix.Cluster(tmp_path_factory.mktemp("cluster"))
    codes = {}
    with clusterfix.one_at_a_time():
        try:
            c.start()
            c.base = provision_base(c)
            yield c
        finally:
            codes = c.close()
    bad = {n: rc for n, rc in codes.items() if rc != 0}
    assert not bad, "nodes did not exit 0 on SIGTERM: %s" % bad


@pytest.fixture
def cl(cluster):
    """The cluster with every node running and connected, SIPp stopped after."""
    cluster.ensure_running()
    yield cluster
    cluster.stop_sipps()
    cluster.net.plug_all()


def provision_base(c):
    """A customer whose PBX (the pbx namespace) sends relay-mode calls of
    prefix 1 to the carrier gateway in the gw namespace; made through
    api1, waited for on both sip nodes."""
    cus = c.create("api1", "/customers", {"name": "Base"})["id"]
    trk = c.create("api1", "/trunks", {"customer_id": cus, "name": "pbx", "media_mode": "relay",
                                       "acl": [{"cidr": ADDR["pbx"] + "/32"}]})["id"]
    car = c.create("api1", "/carriers", {"name": "base-carrier"})["id"]
    c.create("api1", "/carriers/%s/gateways" % car, {"host": ADDR["gw"], "port": GW_PORT,
                                                     "transport": "udp", "priority": 0})
    c.create("api1", "/routes", {"prefix": "1", "carriers": [{"carrier_id": car, "priority": 0}]})
    wait_synced(c, timeout=5)
    return {"customer": cus, "trunk": trk, "carrier": car}


def wait_synced(c, timeout, nodes=("sip1", "sip2")):
    """Seconds until every sip node's snapshot has the store's config
    version, {node: seconds} (AssertionError past timeout)."""
    target = c.config_version()
    t0 = time.monotonic()
    took = {}
    while len(took) < len(nodes):
        for n in nodes:
            if n not in took and c.snapshot_version(n) >= target:
                took[n] = time.monotonic() - t0
        assert time.monotonic() - t0 < timeout, "snapshots %s, store at %d" % (
            {n: c.snapshot_version(n) for n in nodes}, target)
        time.sleep(0.02)
    return took


def callee(c, calls, port=GW_PORT):
    return c.sipp("gw", "callee", shared_scenario("uas_rr.xml"), port=port, calls=calls,
                  timeout_s=60).start()


def caller(c, sip, number, calls=1, host=None, **kw):
    return c.sipp("pbx", "caller-" + sip, shared_scenario("uac_rr.xml"),
                  remote="%s:%d" % (ADDR[sip], SIP_PORT), service=number, calls=calls,
                  host=host or ADDR["pbx"], **kw)


def sdp_addresses(msgs, start):
    """The c= address of each SDP in the messages whose first line starts so."""
    return [re.search(r"^c=IN IP4 (\S+)", m, re.M).group(1) for m in msgs
            if m.startswith(start) and "\nc=IN IP4" in m]


def offers(c, media):
    m = re.search(r'^warp_media_ng_commands_total\{command="offer",result="ok"\} (\d+)',
                  c.nodes[media].metrics(), re.M)
    return int(m.group(1)) if m else 0


# ----------------------------------------------------------- provisioning


def test_provisioning_through_one_api_node_reaches_every_sip_node_within_a_second(cl):
    """A second PBX (10.77.0.41) and a route of prefix 49 written through
    api1 carry a call placed through sip2 within a second of the last
    write, and one through sip1; the trunk disabled through api2 is
    refused by sip1 within a second."""
    c = cl
    gw = callee(c, calls=2, port=5070)
    cus = c.create("api1", "/customers", {"name": "Provisioned"})["id"]
    trk = c.create("api1", "/trunks", {"customer_id": cus, "name": "pbx2", "media_mode": "bypass",
                                       "acl": [{"cidr": NET + ".41/32"}]})["id"]
    car = c.create("api1", "/carriers", {"name": "prov-carrier"})["id"]
    c.create("api1", "/carriers/%s/gateways" % car, {"host": ADDR["gw"], "port": gw.port,
                                                     "transport": "udp", "priority": 0})
    c.create("api1", "/routes", {"prefix": "49", "carriers": [{"carrier_id": car, "priority": 0}]})
    t0 = time.monotonic()
    took = wait_synced(c, timeout=1.0)
    first = caller(c, "sip2", "4930123456", host=NET + ".41")
    placed = time.monotonic() - t0
    first.start()
    assert placed < 1.0, (placed, took)
    assert first.wait() == 0, first.describe()
    second = caller(c, "sip1", "4930123457", host=NET + ".41").start()
    assert second.wait() == 0, second.describe()
    assert gw.wait() == 0, gw.describe()
    assert gw.requests().count("INVITE") == 2, gw.describe()

    c.api("api2", "PATCH", "/trunks/" + trk, {"enabled": False})
    wait_synced(c, timeout=1.0)
    refused = caller(c, "sip1", "4930123458", host=NET + ".41")
    refused.start().wait()
    codes = refused.codes()
    assert codes and codes[-1] == 403, refused.describe()


# ------------------------------------------------------------ rate limits


def test_a_credentials_rate_limit_spent_on_one_api_node_is_spent_on_the_other(cl):
    """[ratelimit] backend = redis on both api nodes: a customer key's
    burst taken on api1 leaves api2 nothing, and the bucket refills for
    both."""
    c = cl
    cus = c.create("api1", "/customers", {"name": "Limited"})["id"]
    key = c.create("api1", "/api-keys", {"customer_id": cus, "role": "customer", "name": "ci",
                                         "scopes": "read", "rate_per_sec": 1, "burst": 4})
    h = {"Authorization": "Bearer " + key["secret"]}
    seen = []
    for _ in range(10):  # the burst, and a token or two refilled meanwhile
        seen.append(c.api("api1", "GET", "/trunks", headers=h, expect=None).status)
        if seen[-1] == 429:
            break
    assert seen[-1] == 429 and 4 <= seen.count(200) <= 6, seen
    r = c.api("api2", "GET", "/trunks", headers=h, expect=None)
    assert r.status == 429, (r.status, r.body)
    assert r.headers["RateLimit-Remaining"] == "0" and int(r.headers["Retry-After"]) >= 1
    assert r.json()["errors"][0]["code"] == "rate_limited"
    assert re.search(r'^warp_ratelimit_requests_total\{kind="credential",backend="redis",'
                     r'result="limited"\} [1-9]', c.nodes["api2"].metrics(), re.M)
    time.sleep(1.2)  # one token a second, for both
    assert c.api("api2", "GET", "/trunks", headers=h, expect=None).status == 200


# ------------------------------------------------------------------ media


def calls_after_losing(c, lost, kept, lose):
    """Loses one media node (`lose` kills it or cuts its cable), waits one
    second, places two calls through each sip node: all four answered,
    every SDP naming the kept engine, which got all four offers."""
    before = offers(c, kept)
    gw = callee(c, calls=4)
    lose()
    time.sleep(1.0)
    callers = [caller(c, sip, BASE_NUMBER, calls=2, hold_ms=200).start()
               for sip in ("sip1", "sip2")]
    for p in callers:
        assert p.wait(timeout=40) == 0, p.describe() + c.nodes["sip1"].log()[-2000:]
    assert gw.wait(timeout=40) == 0, gw.describe()
    assert sdp_addresses(gw.messages(True), "INVITE ") == [ADDR[kept]] * 4, gw.messages(True)
    for p in callers:
        assert sdp_addresses(p.messages(True), "SIP/2.0 200") == [ADDR[kept]] * 2
    assert offers(c, kept) - before == 4


def wait_engines_in_use(c):
    """After a restart or a reconnect, a ping answered marks an engine up
    again; give the sip nodes a few ping rounds."""
    time.sleep(4 * PING_MS / 1000)


def test_a_killed_media_node_gets_no_new_calls_within_a_second(cl):
    c = cl
    wait_engines_in_use(c)
    calls_after_losing(c, "media1", "media2", c.nodes["media1"].kill)


def test_a_media_node_cut_off_the_network_gets_no_new_calls_within_a_second(cl):
    c = cl
    wait_engines_in_use(c)
    calls_after_losing(c, "media2", "media1", lambda: c.net.cut("media2"))
    # It was only unreachable, and still stops cleanly: its store queries
    # give up after tcp_user_timeout (the store URL's, docs/cluster.md).
    assert c.nodes["media2"].alive()
    t0 = time.monotonic()
    assert c.nodes["media2"].stop() == 0, c.nodes["media2"].log()[-2000:]
    assert time.monotonic() - t0 < TCP_USER_TIMEOUT_MS / 1000 + 3.0


# ------------------------------------------------------------ sip journal


def recovered_cdrs(c, trunk):
    data = c.api("api1", "GET", "/cdrs?limit=100").json()["data"]
    return [d for d in data if d["final_reason"] == RECOVERED and d["trunk_id"] == trunk]


def test_a_sip_node_killed_mid_call_has_the_call_billed_by_the_other(cl):
    """sip1 holds an answered call and is killed with SIGKILL; sip2 finds
    its heartbeat three intervals old and writes the CDR, billed to the
    last heartbeat, which api1 then serves."""
    c = cl
    assert recovered_cdrs(c, c.base["trunk"]) == []
    gw = callee(c, calls=1)
    call = caller(c, "sip1", BASE_NUMBER, hold_ms=30000, timeout_s=60).start()
    deadline = time.monotonic() + 10
    while 200 not in call.codes() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert 200 in call.codes(), call.describe()
    time.sleep(1.0)  # a few heartbeats into the call
    killed_ms = int(time.time() * 1000)
    t0 = time.monotonic()
    c.nodes["sip1"].kill()
    found = []
    while not found and time.monotonic() - t0 < 10:
        found = recovered_cdrs(c, c.base["trunk"])
        time.sleep(0.05)
    took = time.monotonic() - t0
    assert len(found) == 1, found
    cdr = found[0]
    assert (cdr["trunk_id"], cdr["carrier_id"], cdr["final_code"]) == (
        c.base["trunk"], c.base["carrier"], 200), cdr
    assert killed_ms - 5 * HEARTBEAT_MS <= cdr["end_ms"] <= killed_ms, (killed_ms, cdr)
    assert cdr["duration_ms"] >= 1000 - 2 * HEARTBEAT_MS, cdr
    # Three missed heartbeats, the next round of sip2's journal, a commit;
    # slack for a loaded machine.
    assert took < 4 * HEARTBEAT_MS / 1000 + 2.0, took
    assert re.search(r"^warp_sip_calls_recovered_total 1$", c.nodes["sip2"].metrics(), re.M)


# ---------------------------------------------------------- registrations

REG_USER, REG_PASSWORD, REG_DOMAIN = "pbx-roaming", "roaming-pass-1", "warp.test"


def register(c, sip, port, expires=300):
    """A REGISTER of REG_USER's AOR from the pbx namespace (contact on
    `port`) to one sip node, answering its 401 with the trunk's digest
    (RFC 2617 MD5, qop=auth); the final response's text."""
    uri = "sip:%s:%d" % (ADDR[sip], SIP_PORT)
    call_id = uuid.uuid4().hex
    with c.net.inside("pbx"):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind((ADDR["pbx"], port))
            s.settimeout(3)
            auth = ""
            for cseq in (1, 2):
                msg = ("REGISTER %s SIP/2.0\r\nVia: SIP/2.0/UDP %s:%d;branch=z9hG4bK-%s;rport\r\n"
                       "From: <sip:%s@%s>;tag=%s\r\nTo: <sip:%s@%s>\r\nCall-ID: %s\r\n"
                       "CSeq: %d REGISTER\r\nMax-Forwards: 70\r\nContact: <sip:%s@%s:%d>\r\n"
                       "Expires: %d\r\n%sContent-Length: 0\r\n\r\n" % (
                           uri, ADDR["pbx"], port, uuid.uuid4().hex, REG_USER, REG_DOMAIN,
                           call_id[:8], REG_USER, REG_DOMAIN, call_id, cseq, REG_USER,
                           ADDR["pbx"], port, expires, auth))
                s.sendto(msg.encode(), (ADDR[sip], SIP_PORT))
                while True:
                    text = s.recv(65535).decode()
                    if int(text.split(" ", 2)[1]) >= 200:
                        break
                m = re.search(r'WWW-Authenticate: Digest realm="([^"]+)", nonce="([^"]+)"', text)
                if not m:
                    return text
                auth = digest(m.group(1), m.group(2), uri)
    return text


def digest(realm, nonce, uri):
    def md5(s):
        return hashlib.md5(s.encode()).hexdigest()
    cnonce = uuid.uuid4().hex[:8]
    resp = md5("%s:%s:00000001:%s:auth:%s" % (md5("%s:%s:%s" % (REG_USER, realm, REG_PASSWORD)),
                                               nonce, cnonce, md5("REGISTER:" + uri)))
    return ('Authorization: Digest username="%s", realm="%s", nonce="%s", uri="%s", '
            'response="%s", qop=auth, nc=00000001, cnonce="%s", algorithm=MD5\r\n'
            % (REG_USER, realm, nonce, uri, resp, cnonce))


def bound(text):
    """The contacts a REGISTER's 200 lists: {contact: expires}."""
    return {m.group(1): int(m.group(2))
            for m in re.finditer(r"^Contact: <([^>]+)>;expires=(\d+)", text, re.M)}


def test_a_binding_registered_on_one_sip_node_is_known_to_the_other(cl):
    """The PBX registers one contact through sip1 and another through
    sip2: sip2's 200 lists both (RFC 3261 §10.3 step 8: all current
    bindings), api2 lists both, and a removal through sip1 of the contact
    bound on sip2 leaves only the first."""
    c = cl
    cus = c.create("api1", "/customers", {"name": "Roaming"})["id"]
    trk = c.create("api1", "/trunks", {"customer_id": cus, "name": "roaming", "acl": [],
                                       "username": REG_USER, "password": REG_PASSWORD})["id"]
    wait_synced(c, timeout=5)
    first, second = "sip:%s@%s:7001" % (REG_USER, ADDR["pbx"]), "sip:%s@%s:7002" % (
        REG_USER, ADDR["pbx"])
    text = register(c, "sip1", 7001)
    assert text.startswith("SIP/2.0 200") and bound(text) == {first: 300}, text
    text = register(c, "sip2", 7002)
    assert text.startswith("SIP/2.0 200") and set(bound(text)) == {first, second}, text
    listed = c.api("api2", "GET", "/trunks/%s/registrations" % trk).json()["data"]
    assert sorted(b["contact"] for b in listed) == [first, second], listed
    text = register(c, "sip1", 7002, expires=0)
    assert text.startswith("SIP/2.0 200") and set(bound(text)) == {first}, text


# ---------------------------------------------------------- channel limits

LIMIT = 10


def limited_trunk(c, pbx):
    """A trunk of its own for PBX address `pbx`, LIMIT channels, its calls
    to the base route (prefix 1); a callee that answers them all."""
    cus = c.create("api1", "/customers", {"name": "Limited " + pbx})["id"]
    c.create("api1", "/trunks", {"customer_id": cus, "name": "limited", "media_mode": "bypass",
                                 "channel_limit": LIMIT, "acl": [{"cidr": pbx + "/32"}]})
    wait_synced(c, timeout=5)
    return c.sipp("gw", "callee", scenario("uas_answer.xml"), port=GW_PORT, calls=40,
                  timeout_s=60).start()


def hold(c, sip, pbx, n):
    """n answered calls from pbx through one sip node, held; returned once
    all n have their 200."""
    # 5 a second, not SIPp's 10: a node admits past its reservation one
    # call per 10 ms sync round, which a loaded machine may stretch.
    call = caller(c, sip, BASE_NUMBER, calls=n, host=pbx, hold_ms=30000, timeout_s=60,
                  extra=["-r", "5"]).start()
    deadline = time.monotonic() + 15
    while call.codes().count(200) < n and time.monotonic() < deadline:
        time.sleep(0.05)
    assert call.codes().count(200) == n, call.describe()
    return call


def refused(c, sip, pbx):
    """One call from pbx through sip, which must be refused 503 for the
    channel limit."""
    sf = render(c.folder, "uac_expect.xml", code=503, mf=70)
    call = c.sipp("pbx", "refused-" + sip, sf, remote="%s:%d" % (ADDR[sip], SIP_PORT),
                  service=BASE_NUMBER, host=pbx).start()
    assert call.wait() == 0, call.describe()
    assert "channel limit" in call.messages()[-1], call.messages()[-1]


def settle():
    """A few of every node's 10 ms sync rounds, with room for a loaded
    machine: a call admitted on one node is in the other's view."""
    time.sleep(0.3)


def test_a_channel_limit_of_10_refuses_the_11th_call_whichever_sip_node_it_reaches(cl):
    c = cl
    pbx = NET + ".42"
    limited_trunk(c, pbx)
    hold(c, "sip1", pbx, 6)
    hold(c, "sip2", pbx, 4)  # below its share of 5: what refuses the 11th is the cluster
    settle()
    refused(c, "sip2", pbx)
    refused(c, "sip1", pbx)


def test_a_killed_sip_nodes_channels_come_back_within_the_lease(cl):
    c = cl
    pbx = NET + ".43"
    limited_trunk(c, pbx)
    hold(c, "sip1", pbx, 5)
    hold(c, "sip2", pbx, 5)
    settle()
    refused(c, "sip1", pbx)
    c.nodes["sip2"].kill()
    killed = time.monotonic()
    time.sleep(LEASE_MS / 1000 + 0.3)  # one lease and a sync round
    hold(c, "sip1", pbx, 5)
    assert time.monotonic() - killed < LEASE_MS / 1000 + 5.0
    settle()
    refused(c, "sip1", pbx)
