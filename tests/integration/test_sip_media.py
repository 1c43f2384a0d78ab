"""WARP's SIP proxy driving a media engine over ng, end to end: SIPp caller
(playing G.711 from a pcap) -> warp -> SIPp callee (echoing RTP), with the
engine being WARP's own media role (in the same process, or separate warps)
or Debian's rtpengine (userspace, table=-1).

What a user sees is checked: the SDP each party gets names the relay, RTP
flows through it, the CDR carries packets per direction; a trunk in bypass
leaves the SDP alone; an engine that does not answer refuses the call 503;
with two engines and one gone, new calls go to the other."""
import os
import re
import select
import signal
import socket
import threading
import time

import pytest

from conftest import Warp, free_port, rtp_ports
from sipfix import (TOKEN, SipWarp, Sipp, ini, render, scenario, shared_scenario, sip_port,
                    sipp_media_port, wait_sip_listening)
from test_media_interop import rtpengine  # noqa: F401 (fixture)
from test_media_kamailio import metric
from test_media_ng import media_ini

NUMBER = "15551234567"


def start_sipwarp(warp_factory, tmp_path, roles="api,sip", sip_extra="", more_ini=""):
    port = sip_port()
    w = warp_factory(extra_ini=ini(port, sip_extra) + more_ini, env={"WARP_ADMIN_TOKEN": TOKEN},
                     args=["--roles", roles])
    w.sip_port = port
    w.start()
    wait_sip_listening(port)
    return SipWarp(w, tmp_path, media_mode="relay")


def start_engine(tmp_path, name):
    """A warp running only the media role, in a folder of its own."""
    d = tmp_path / name
    d.mkdir()
    ng = free_port(socket.SOCK_DGRAM)
    lo, hi = rtp_ports(100)
    w = Warp(d, extra_ini=media_ini(ng, lo, hi), args=["--roles", "media"]).start()
    w.ng_port, w.lo, w.hi = ng, lo, hi
    return w


@pytest.fixture
def stopper():
    """Stops what a test started, by PID, whatever happens."""
    items = []
    yield items.append
    for it in reversed(items):
        if isinstance(it, SipWarp):
            rc, _ = it.stop()
            assert rc == 0, "warp exited %s: %s" % (rc, it.w.stderr()[-3000:])
        elif it.proc and it.proc.poll() is None:
            it.proc.kill()
            it.proc.wait()


def provision(sw, cport, gport, **trunk):
    cus = sw.customer()
    trk = sw.trunk(cus, [cport], **trunk)
    car, _ = sw.carrier("carrier-a", [gport])
    sw.route("1", [car])
    sw.synced()
    return trk


def media_call(sw, calls=1, cport=None, gport=None, name="caller"):
    """One (or more) SIPp call with RTP through the proxy; returns the peers."""
    cport, gport = cport or sip_port(), gport or sip_port()
    callee = sw.sipp("callee", shared_scenario("uas_rr.xml"), gport, calls=calls,
                     extra=["-rtp_echo", "-mp", str(sipp_media_port())]).start()
    caller = sw.caller(name, scenario("media_uac.xml"), cport, NUMBER, calls=calls,
                       extra=["-mp", str(sipp_media_port())])
    return cport, gport, callee, caller


def finish_call(sw, caller, callee):
    caller.start()
    assert caller.wait(timeout=40) == 0, caller.describe() + sw.w.stderr()[-3000:]
    assert callee.wait(timeout=40) == 0, callee.describe()
    return caller, callee


def run_call(sw, calls=1, **trunk):
    cport, gport, callee, caller = media_call(sw, calls)
    provision(sw, cport, gport, **trunk)
    return finish_call(sw, caller, callee)


def sdp_of(msgs, start):
    found = [m for m in msgs if m.startswith(start) and "m=audio" in m]
    assert found, msgs
    body = found[0]
    c = re.search(r"^c=IN IP4 (\S+)", body, re.M).group(1)
    port = int(re.search(r"^m=audio (\d+) ", body, re.M).group(1))
    return c, port


def caller_media_port(caller):
    return int(caller.args[caller.args.index("-mp") + 1])


# ------------------------------------------------- WARP's own media role


@pytest.fixture
def relay_warp(warp_factory, tmp_path, stopper):
    """One warp with api, sip and media: media_engines empty, so the proxy
    uses the local relay."""
    lo, hi = rtp_ports(100)
    ng = free_port(socket.SOCK_DGRAM)
    sw = start_sipwarp(warp_factory, tmp_path, "api,sip,media",
                       more_ini=media_ini(ng, lo, hi))
    sw.lo, sw.hi = lo, hi
    stopper(sw)
    return sw


def test_callee_and_caller_see_the_relay_in_their_sdp(relay_warp):
    sw = relay_warp
    caller, callee = run_call(sw)
    c, port = sdp_of(callee.messages(True), "INVITE ")
    assert c == "127.0.0.1" and sw.lo <= port <= sw.hi, callee.messages(True)[0]
    assert port != caller_media_port(caller)
    c, port = sdp_of(caller.messages(True), "SIP/2.0 200")
    assert c == "127.0.0.1" and sw.lo <= port <= sw.hi


def test_rtp_flows_through_the_local_relay_and_the_cdr_counts_it(relay_warp):
    sw = relay_warp
    run_call(sw)
    text = sw.w.get("/metrics").body.decode()
    got_in = metric(text, "warp_media_packets_total", dir="in")
    got_out = metric(text, "warp_media_packets_total", dir="out")
    assert got_in > 20 and got_out > 20, (got_in, got_out)
    (r,) = sw.cdrs(1)
    assert r["final_code"] == 200
    assert r["rtp_packets_a"] > 20 and r["rtp_packets_b"] > 20, r
    for cmd in ("offer", "answer", "delete"):
        assert metric(text, "warp_media_ng_commands_total", command=cmd, result="ok") >= 1, cmd


def test_bypass_trunk_leaves_the_sdp_alone(relay_warp):
    sw = relay_warp
    caller, callee = run_call(sw, media_mode="bypass")
    _, port = sdp_of(callee.messages(True), "INVITE ")
    assert port == caller_media_port(caller)
    text = sw.w.get("/metrics").body.decode()
    assert metric(text, "warp_media_ng_commands_total", command="offer", result="ok") == 0
    (r,) = sw.cdrs(1)
    assert r["final_code"] == 200 and r["rtp_packets_a"] is None


def test_early_media_183_and_200_carry_the_same_relayed_sdp_from_one_answer(relay_warp):
    sw = relay_warp
    cport, gport = sip_port(), sip_port()
    callee = sw.sipp("callee", scenario("uas_early_media.xml"), gport,
                     extra=["-rtp_echo", "-mp", str(sipp_media_port())]).start()
    caller = sw.caller("caller", scenario("uac_media_early.xml"), cport, NUMBER,
                       extra=["-mp", str(sipp_media_port())])
    provision(sw, cport, gport)
    caller.start()
    assert caller.wait(timeout=40) == 0, caller.describe()
    assert callee.wait(timeout=40) == 0, callee.describe()
    assert 183 in caller.codes(), caller.seen()
    early = sdp_of(caller.messages(True), "SIP/2.0 183")
    final = sdp_of(caller.messages(True), "SIP/2.0 200")
    assert early == final and sw.lo <= final[1] <= sw.hi, (early, final)
    text = sw.w.get("/metrics").body.decode()
    assert metric(text, "warp_media_ng_commands_total", command="answer", result="ok") == 1
    (r,) = sw.cdrs(1)
    assert r["rtp_packets_a"] > 20 and r["rtp_packets_b"] > 20, r


def test_failed_call_deletes_its_media_and_keeps_no_stream(relay_warp, tmp_path):
    sw = relay_warp
    cport, gport = sip_port(), sip_port()
    provision(sw, cport, gport)
    busy = sw.sipp("gw", render(tmp_path, "uas_reject.xml", code=486), gport).start()
    caller = sw.caller("caller", render(tmp_path, "uac_expect.xml", code=486, mf=70), cport,
                       NUMBER).start()
    assert caller.wait() == 0, caller.describe()
    assert busy.wait() == 0, busy.describe()
    invite = [m for m in busy.messages(True) if m.startswith("INVITE ")][0]
    port = int(re.search(r"^m=audio (\d+) ", invite, re.M).group(1))
    assert sw.lo <= port <= sw.hi, invite
    (r,) = sw.cdrs(1)
    assert r["final_code"] == 486
    text = sw.w.get("/metrics").body.decode()
    assert metric(text, "warp_media_ng_commands_total", command="delete", result="ok") == 1
    assert metric(text, "warp_media_calls") == 0


# ------------------------------------------------------ Debian's rtpengine


def test_call_through_rtpengine_relays_rtp_and_counts_it(warp_factory, tmp_path, rtpengine,  # noqa: F811
                                                         stopper):
    sw = start_sipwarp(warp_factory, tmp_path,
                       sip_extra="media_engines = udp:127.0.0.1:%d\n" % rtpengine.addr[1])
    stopper(sw)
    caller, callee = run_call(sw)
    _, port = sdp_of(callee.messages(True), "INVITE ")
    assert port != caller_media_port(caller)
    _, up = sdp_of(caller.messages(True), "SIP/2.0 200")
    assert up != port
    (r,) = sw.cdrs(1, timeout=8)
    assert r["final_code"] == 200
    assert r["rtp_packets_a"] > 20 and r["rtp_packets_b"] > 20, r


# --------------------------------------------------------- engine failures


def test_engine_not_answering_refuses_the_call_503(warp_factory, tmp_path, stopper):
    dead = free_port(socket.SOCK_DGRAM)
    sw = start_sipwarp(warp_factory, tmp_path,
                       sip_extra="media_engines = udp:127.0.0.1:%d\nmedia_timeout = 600ms\n"
                                 "media_ping_interval = 5s\n" % dead)
    stopper(sw)
    cport, gport = sip_port(), sip_port()
    provision(sw, cport, gport)
    assert "media relay unavailable" in call_refused_503(sw, tmp_path, cport, gport)


def call_refused_503(sw, tmp_path, cport, gport):
    """A call from cport refused 503 before reaching the gateway on gport
    (and its CDR); returns the 503 the caller got."""
    gw = sw.sipp("gw", scenario("uas_answer.xml"), gport, timeout_s=5).start()
    caller = sw.caller("caller", render(tmp_path, "uac_expect.xml", code=503, mf=70), cport,
                       NUMBER).start()
    assert caller.wait() == 0, caller.describe()
    gw.stop()
    assert gw.requests() == [], "the gateway saw %s" % gw.seen()
    (r,) = sw.cdrs(1)
    assert r["final_code"] == 503
    return [m for m in caller.messages(True) if m.startswith("SIP/2.0 503")][0]


def test_sip_without_engines_refuses_relay_calls_and_keeps_bypass_ones(warp_factory, tmp_path,
                                                                      stopper):
    """The roles split, [sip] media_engines left empty: a relay trunk's call
    is refused 503 with a reason (and a log line), never sent in bypass; a
    bypass trunk's call goes through.  The trunk's mode changes at runtime,
    so it is decided per call."""
    sw = start_sipwarp(warp_factory, tmp_path)
    stopper(sw)
    assert "refused 503" in sw.w.stderr()
    cport, gport = sip_port(), sip_port()
    trk = provision(sw, cport, gport)
    refusal = call_refused_503(sw, tmp_path, cport, gport)
    assert 'text="media relay not configured"' in refusal
    assert "media_engines is empty" in sw.w.stderr()
    sw.api("PATCH", "/trunks/" + trk, {"media_mode": "bypass"})
    sw.synced()
    _, _, callee, caller = media_call(sw, cport=cport, gport=gport, name="caller2")
    finish_call(sw, caller, callee)
    _, port = sdp_of(callee.messages(True), "INVITE ")
    assert port == caller_media_port(caller)


def test_with_one_of_two_engines_killed_new_calls_go_to_the_other(warp_factory, tmp_path,
                                                                  stopper):
    e1 = start_engine(tmp_path, "e1")
    e2 = start_engine(tmp_path, "e2")
    stopper(e1)
    stopper(e2)
    sw = start_sipwarp(warp_factory, tmp_path,
                       sip_extra="media_engines = udp:127.0.0.1:%d=1 udp:127.0.0.1:%d=1\n"
                                 "media_ping_interval = 200ms\nmedia_ping_misses = 2\n"
                                 % (e1.ng_port, e2.ng_port))
    stopper(sw)
    os.kill(e1.proc.pid, signal.SIGKILL)
    e1.proc.wait()
    time.sleep(1.0)  # two missed pings mark it down
    caller, callee = run_call(sw, calls=3)
    rows = sw.cdrs(3, timeout=8)
    assert [r["final_code"] for r in rows] == [200, 200, 200]
    assert all(r["rtp_packets_a"] > 0 for r in rows), rows
    text = e2.get("/metrics").body.decode()
    assert metric(text, "warp_media_ng_commands_total", command="offer", result="ok") == 3


# ------------------------------------------------------------ stopping


def wait_for(pred, timeout=10.0, peers=()):
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in %ss\n%s" % (
                timeout, "\n".join(p.describe() for p in peers)))
        time.sleep(0.05)


def test_sigterm_while_the_offer_is_out_answers_503_and_exits_0(warp_factory, tmp_path, stopper):
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # takes the offer, never answers
    silent.bind(("127.0.0.1", 0))
    sw = start_sipwarp(warp_factory, tmp_path,
                       sip_extra="media_engines = udp:127.0.0.1:%d\nmedia_timeout = 20s\n"
                                 "media_ping_interval = 60s\n" % silent.getsockname()[1])
    try:
        cport, gport = sip_port(), sip_port()
        provision(sw, cport, gport)
        caller = sw.caller("caller", render(tmp_path, "uac_expect.xml", code=503, mf=70), cport,
                           NUMBER).start()
        silent.settimeout(5)
        while b"5:offer" not in silent.recv(65536):
            pass
        rc, _ = sw.w.stop(timeout=10)
        assert rc == 0, sw.w.stderr()[-3000:]
        assert caller.wait() == 0, caller.describe()
        (r,) = sw.cdrs(1)
        assert r["final_code"] == 503
    finally:
        sw.stop()
        silent.close()


def test_sigterm_with_a_relayed_call_up_deletes_it_and_writes_the_cdr(warp_factory, tmp_path,
                                                                       stopper):
    e = start_engine(tmp_path, "engine")
    stopper(e)
    sw = start_sipwarp(warp_factory, tmp_path,
                       sip_extra="media_engines = udp:127.0.0.1:%d\n" % e.ng_port)
    cport, gport, callee, caller = media_call(sw)
    provision(sw, cport, gport)
    caller.start()
    wait_for(lambda: metric(e.get("/metrics").body.decode(), "warp_media_calls") == 1)
    wait_for(lambda: any(m.startswith("SIP/2.0 200") for m in caller.messages(True)),
                 peers=(caller, callee))
    rc, _ = sw.w.stop(timeout=10)
    sw.stop()
    assert rc == 0, sw.w.stderr()[-3000:]
    (r,) = sw.cdrs(1)
    assert r["final_code"] == 200 and r["hangup"] == "proxy"
    wait_for(lambda: metric(e.get("/metrics").body.decode(), "warp_media_calls") == 0, 5)


# ------------------------------------------- offers inside the dialog


def rtp_socket():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.setblocking(False)
    return s


def rtp_packet(seq):
    """A G.711 A-law RTP packet (RFC 3550 header, 20 ms of payload)."""
    return (bytes([0x80, 8]) + seq.to_bytes(2, "big") + (seq * 160).to_bytes(4, "big")
            + b"\x12\x34\x56\x78" + b"\xd5" * 160)


def drain(sock):
    n = 0
    while True:
        try:
            sock.recv(2048)
            n += 1
        except BlockingIOError:
            return n


def relayed(src, relay_port, dst, packets=15):
    """How many of `packets` sent from src to the relay's port reach dst."""
    drain(dst)
    for seq in range(packets):
        src.sendto(rtp_packet(seq), ("127.0.0.1", relay_port))
        time.sleep(0.02)
    time.sleep(0.2)
    return drain(dst)


def sdps(msgs, start):
    return [(re.search(r"^c=IN IP4 (\S+)", m, re.M).group(1),
             int(re.search(r"^m=audio (\d+) ", m, re.M).group(1)))
            for m in msgs if m.startswith(start) and "m=audio" in m]


def start_pair(sw, uas, uac, callee_keys, caller_keys):
    """SIPp callee (uas) and caller (uac) through a provisioned warp, each
    given the RTP ports of the test's sockets as -key values; both started."""
    cport, gport = sip_port(), sip_port()
    callee = sw.sipp("callee", scenario(uas), gport, keys=callee_keys,
                     extra=["-mp", str(sipp_media_port())]).start()
    caller = sw.caller("caller", scenario(uac), cport, NUMBER, keys=caller_keys,
                       extra=["-mp", str(sipp_media_port())])
    provision(sw, cport, gport)
    caller.start()
    return caller, callee


def callee_reinvites_and_moves(sw):
    """The callee re-INVITEs twice (hold, then a new media port); returns
    what each side was told and whether RTP then reached the new port."""
    a, b, b2 = rtp_socket(), rtp_socket(), rtp_socket()
    try:
        caller, callee = start_pair(
            sw, "uas_reinvite_media.xml", "uac_reinvited_media.xml",
            {"rtp_b": b.getsockname()[1], "rtp_b2": b2.getsockname()[1]},
            {"rtp_a": a.getsockname()[1]})
        wait_for(lambda: sdps(caller.messages(True), "SIP/2.0 200"),
                 peers=(caller, callee))
        (to_caller,) = sdps(caller.messages(True), "SIP/2.0 200")
        (to_callee,) = sdps(callee.messages(True), "INVITE ")
        # Before the re-INVITEs: both ways through the relay, the callee's
        # side latched to its first port.
        assert relayed(b, to_callee[1], a) > 10
        assert relayed(a, to_caller[1], b) > 10
        wait_for(lambda: len(sdps(callee.messages(True), "SIP/2.0 200")) == 2,
                 peers=(caller, callee))
        after = {"old": relayed(a, to_caller[1], b), "new": relayed(a, to_caller[1], b2)}
        assert caller.wait(timeout=40) == 0, caller.describe() + sw.w.stderr()[-3000:]
        assert callee.wait(timeout=40) == 0, callee.describe()
        return {"first": (to_caller, to_callee),
                "reoffers": sdps(caller.messages(True), "INVITE "),
                "reanswers": sdps(callee.messages(True), "SIP/2.0 200"),
                "rtp": after, "caller_port": a.getsockname()[1],
                "callee_ports": (b.getsockname()[1], b2.getsockname()[1])}
    finally:
        for s in (a, b, b2):
            s.close()


def assert_reinvites_stayed_on_the_relay(got):
    to_caller, to_callee = got["first"]
    # The caller is told, in both re-INVITEs, the relay's address and the
    # same relay port as in the 200 OK, never the callee's ports.
    assert got["reoffers"] == [to_caller, to_caller], got
    assert to_caller[1] not in got["callee_ports"]
    # The callee is told, in both 200 OKs, the relay's port it had.
    assert got["reanswers"] == [to_callee, to_callee], got
    assert to_callee[1] != got["caller_port"]
    # RTP to the relay now reaches the callee's new port, not the old one.
    assert got["rtp"]["new"] > 10 and got["rtp"]["old"] == 0, got["rtp"]


def test_callee_reinvite_hold_and_move_stay_on_the_local_relay(relay_warp):
    sw = relay_warp
    got = callee_reinvites_and_moves(sw)
    assert_reinvites_stayed_on_the_relay(got)
    assert sw.lo <= got["first"][0][1] <= sw.hi and got["first"][0][0] == "127.0.0.1"
    text = sw.w.get("/metrics").body.decode()
    for cmd in ("offer", "answer"):
        assert metric(text, "warp_media_ng_commands_total", command=cmd, result="ok") == 3, cmd
    (r,) = sw.cdrs(1)
    assert r["final_code"] == 200 and r["rtp_packets_b"] > 10, r


def test_callee_reinvite_hold_and_move_stay_on_rtpengine(warp_factory, tmp_path,
                                                         rtpengine, stopper):  # noqa: F811
    sw = start_sipwarp(warp_factory, tmp_path,
                       sip_extra="media_engines = udp:127.0.0.1:%d\n" % rtpengine.addr[1])
    stopper(sw)
    assert_reinvites_stayed_on_the_relay(callee_reinvites_and_moves(sw))
    (r,) = sw.cdrs(1, timeout=8)
    assert r["final_code"] == 200


# ------------------------------------------------------------- late offer


def late_offer_call(sw, uas="uas_late_offer.xml", uac="uac_late_offer.xml",
                    offer_in="SIP/2.0 200", answer_in="ACK "):
    """The caller's INVITE has no SDP: the callee offers in its 200 OK (or
    the response offer_in names), the caller answers in the ACK (or the
    request answer_in names).  Returns what each side was told and how much
    RTP the relay carried each way, once the ACK reached the callee."""
    a, b = rtp_socket(), rtp_socket()
    try:
        caller, callee = start_pair(sw, uas, uac, {"rtp_b": b.getsockname()[1]},
                                    {"rtp_a": a.getsockname()[1]})
        wait_for(lambda: any(m.startswith("ACK ") for m in callee.messages(True)),
                 peers=(caller, callee))
        offers = sdps(caller.messages(True), offer_in)
        (to_callee,) = sdps(callee.messages(True), answer_in)
        rtp = {"to_callee": relayed(a, offers[0][1], b), "to_caller": relayed(b, to_callee[1], a)}
        assert caller.wait(timeout=40) == 0, caller.describe() + sw.w.stderr()[-3000:]
        assert callee.wait(timeout=40) == 0, callee.describe()
        return {"to_caller": offers[0], "offers": offers, "to_callee": to_callee, "rtp": rtp,
                "ok_to_caller": sdps(caller.messages(True), "SIP/2.0 200"),
                "ports": (a.getsockname()[1], b.getsockname()[1]),
                "invites": callee.messages(True)}
    finally:
        a.close()
        b.close()


def test_late_offer_goes_through_the_local_relay_both_ways(relay_warp):
    sw = relay_warp
    got = late_offer_call(sw)
    # The caller is offered the relay (not the callee's port) in the 200 OK,
    # the callee is answered with the relay (not the caller's port) in the ACK.
    assert got["to_caller"][0] == "127.0.0.1" and sw.lo <= got["to_caller"][1] <= sw.hi, got
    assert got["to_callee"][0] == "127.0.0.1" and sw.lo <= got["to_callee"][1] <= sw.hi, got
    assert got["to_caller"][1] not in got["ports"] and got["to_callee"][1] not in got["ports"]
    assert got["rtp"]["to_callee"] > 10 and got["rtp"]["to_caller"] > 10, got["rtp"]
    # The INVITE itself went out without a body, as the caller sent it.
    invite = [m for m in got["invites"] if m.startswith("INVITE ")][0]
    assert "m=audio" not in invite, invite
    text = sw.w.get("/metrics").body.decode()
    for cmd in ("offer", "answer", "delete"):
        assert metric(text, "warp_media_ng_commands_total", command=cmd, result="ok") == 1, cmd
    (r,) = sw.cdrs(1)
    assert r["final_code"] == 200
    assert r["rtp_packets_a"] > 10 and r["rtp_packets_b"] > 10, r


# ------------------------------- late offer in a reliable 183 (RFC 3262)


def test_late_offer_in_a_reliable_183_answered_in_prack_goes_through_the_local_relay(relay_warp):
    sw = relay_warp
    got = late_offer_call(sw, "uas_late_prack.xml", "uac_late_prack.xml", "SIP/2.0 183", "PRACK ")
    relay = got["to_caller"]
    # The caller is offered the relay (not the callee's port) in the 183,
    # the callee is answered with the relay (not the caller's port) in the
    # PRACK, and the 200 OK repeating the 183's SDP names the same relay port.
    assert relay[0] == "127.0.0.1" and sw.lo <= relay[1] <= sw.hi, got
    assert set(got["offers"]) == {relay} and got["ok_to_caller"] == [relay], got
    assert got["to_callee"][0] == "127.0.0.1" and sw.lo <= got["to_callee"][1] <= sw.hi, got
    assert relay[1] not in got["ports"] and got["to_callee"][1] not in got["ports"], got
    assert got["rtp"]["to_callee"] > 10 and got["rtp"]["to_caller"] > 10, got["rtp"]
    # One offer (the 183's; none for the 200 repeating it), one answer.
    text = sw.w.get("/metrics").body.decode()
    for cmd in ("offer", "answer", "delete"):
        assert metric(text, "warp_media_ng_commands_total", command=cmd, result="ok") == 1, cmd
    (r,) = sw.cdrs(1)
    assert r["final_code"] == 200 and r["hangup"] == "caller", r
    assert r["rtp_packets_a"] > 10 and r["rtp_packets_b"] > 10, r


# ------------------------------------------ re-INVITE without SDP


def callee_reinvites_without_sdp(sw):
    """The callee re-INVITEs without SDP once the call is up; the caller
    offers in its 200 (media moved to a2), the callee answers in the ACK
    (media moved to b2).  Returns what each side was told and how much RTP
    the relay then carried to the new ports."""
    a, a2, b, b2 = rtp_socket(), rtp_socket(), rtp_socket(), rtp_socket()
    try:
        caller, callee = start_pair(
            sw, "uas_reinvite_late.xml", "uac_reinvited_late.xml",
            {"rtp_b": b.getsockname()[1], "rtp_b2": b2.getsockname()[1]},
            {"rtp_a": a.getsockname()[1], "rtp_a2": a2.getsockname()[1]})
        wait_for(lambda: sdps(caller.messages(True), "SIP/2.0 200"),
                 peers=(caller, callee))
        (to_caller,) = sdps(caller.messages(True), "SIP/2.0 200")
        (to_callee,) = sdps(callee.messages(True), "INVITE ")
        before = {"to_callee": relayed(a, to_caller[1], b),
                  "to_caller": relayed(b, to_callee[1], a)}
        wait_for(lambda: sdps(caller.messages(True), "ACK "),
                 peers=(caller, callee))
        after = {"to_callee": relayed(a2, to_caller[1], b2),
                 "to_caller": relayed(b2, to_callee[1], a2)}
        assert caller.wait(timeout=40) == 0, caller.describe() + sw.w.stderr()[-3000:]
        assert callee.wait(timeout=40) == 0, callee.describe()
        return {"first": (to_caller, to_callee), "before": before, "after": after,
                "offer_to_callee": sdps(callee.messages(True), "SIP/2.0 200"),
                "answer_to_caller": sdps(caller.messages(True), "ACK "),
                "reinvites": [m for m in caller.messages(True) if m.startswith("INVITE ")],
                "ports": [s.getsockname()[1] for s in (a, a2, b, b2)]}
    finally:
        for s in (a, a2, b, b2):
            s.close()


def test_callee_reinvite_without_sdp_keeps_both_sides_on_the_local_relay(relay_warp):
    sw = relay_warp
    got = callee_reinvites_without_sdp(sw)
    to_caller, to_callee = got["first"]
    assert to_caller[0] == "127.0.0.1" and sw.lo <= to_caller[1] <= sw.hi, got
    assert got["before"]["to_callee"] > 10 and got["before"]["to_caller"] > 10, got
    # The re-INVITE reached the caller without a body, as the callee sent it.
    assert len(got["reinvites"]) == 1 and "m=audio" not in got["reinvites"][0], got
    # The callee is offered, in the caller's 200, the relay's port it had
    # (not the caller's new one); the caller is answered, in the callee's
    # ACK, the relay's port it had (not the callee's new one).
    assert got["offer_to_callee"] == [to_callee], got
    assert got["answer_to_caller"] == [to_caller], got
    assert to_caller[1] not in got["ports"] and to_callee[1] not in got["ports"]
    # RTP through the relay reaches both parties' new ports.
    assert got["after"]["to_callee"] > 10 and got["after"]["to_caller"] > 10, got
    text = sw.w.get("/metrics").body.decode()
    for cmd in ("offer", "answer"):
        assert metric(text, "warp_media_ng_commands_total", command=cmd, result="ok") == 2, cmd
    (r,) = sw.cdrs(1)
    assert r["final_code"] == 200 and r["rtp_packets_a"] > 10 and r["rtp_packets_b"] > 10, r


# ------------------------------------------------- UPDATE with new SDP


def assert_caller_update_kept_the_relay(sw, caller, callee, first, caller_socks, after):
    """Once both SIPp peers are done: the callee's UPDATE named the relay's
    port it had (first[1]), not the caller's new one; the caller's 200s
    named the relay's port it had (first[0]); RTP from the callee reached
    the caller's new port only; two offers and two answers at the engine."""
    to_caller, to_callee = first
    assert caller.wait(timeout=40) == 0, caller.describe() + sw.w.stderr()[-3000:]
    assert callee.wait(timeout=40) == 0, callee.describe()
    assert sdps(callee.messages(True), "UPDATE ") == [to_callee]
    assert sdps(caller.messages(True), "SIP/2.0 200") == [to_caller, to_caller]
    assert to_callee[1] not in [s.getsockname()[1] for s in caller_socks]
    assert after["new"] > 10 and after["old"] == 0, after
    text = sw.w.get("/metrics").body.decode()
    for cmd in ("offer", "answer"):
        assert metric(text, "warp_media_ng_commands_total", command=cmd, result="ok") == 2, cmd


def test_caller_update_moves_its_media_and_both_sides_keep_the_relay(relay_warp):
    sw = relay_warp
    a, a2, b = rtp_socket(), rtp_socket(), rtp_socket()
    try:
        caller, callee = start_pair(sw, "uas_update_media.xml", "uac_update_media.xml",
                                    {"rtp_b": b.getsockname()[1]},
                                    {"rtp_a": a.getsockname()[1], "rtp_a2": a2.getsockname()[1]})
        wait_for(lambda: sdps(caller.messages(True), "SIP/2.0 200"),
                 peers=(caller, callee))
        (to_caller,) = sdps(caller.messages(True), "SIP/2.0 200")
        (to_callee,) = sdps(callee.messages(True), "INVITE ")
        assert relayed(b, to_callee[1], a) > 10
        wait_for(lambda: len(sdps(caller.messages(True), "SIP/2.0 200")) == 2,
                 peers=(caller, callee))
        after = {"old": relayed(b, to_callee[1], a), "new": relayed(b, to_callee[1], a2)}
        assert_caller_update_kept_the_relay(sw, caller, callee, (to_caller, to_callee),
                                            (a, a2), after)
    finally:
        for s in (a, a2, b):
            s.close()
    (r,) = sw.cdrs(1)
    assert r["final_code"] == 200


def test_caller_update_before_the_answer_moves_its_media_and_both_sides_keep_the_relay(
        relay_warp):
    """RFC 3311 in the early dialog a reliable 183 opened: the caller's
    UPDATE with a new port is offered to the engine, the callee's 200 to it
    answered, and the 200 OK to the INVITE, repeating the 183's SDP, keeps
    the relay's port without a third answer."""
    sw = relay_warp
    a, a2, b = rtp_socket(), rtp_socket(), rtp_socket()
    try:
        caller, callee = start_pair(sw, "uas_early_update.xml", "uac_early_update.xml",
                                    {"rtp_b": b.getsockname()[1]},
                                    {"rtp_a": a.getsockname()[1], "rtp_a2": a2.getsockname()[1]})
        wait_for(lambda: any(m.startswith("ACK ") for m in callee.messages(True)),
                 peers=(caller, callee))
        (to_callee,) = sdps(callee.messages(True), "INVITE ")
        to_caller = sdps(caller.messages(True), "SIP/2.0 183")[0]
        after = {"old": relayed(b, to_callee[1], a), "new": relayed(b, to_callee[1], a2),
                 "to_callee": relayed(a2, to_caller[1], b)}
        # The 200s to the UPDATE and to the INVITE both name the 183's
        # relay port (the 200 OK's repeat of the 183's SDP is not answered
        # again), never the callee's.
        assert_caller_update_kept_the_relay(sw, caller, callee, (to_caller, to_callee),
                                            (a, a2), after)
        assert to_caller[0] == "127.0.0.1" and sw.lo <= to_caller[1] <= sw.hi, to_caller
        assert after["to_callee"] > 10, after
    finally:
        for s in (a, a2, b):
            s.close()
    (r,) = sw.cdrs(1)
    assert r["final_code"] == 200 and r["rtp_packets_a"] > 10, r


# ------------------------------------------------- CANCEL racing a 2xx


class DelayingNg:
    """An ng hop in front of an engine holding each `answer` (or command)
    for `delay` seconds, everything else passing at once: a response the
    proxy holds for its SDP stays held long enough for a CANCEL to arrive,
    or (delay past media_timeout) the engine seems not to answer it."""

    def __init__(self, engine_port, delay, command=b"6:answer"):
        self.command = command
        self.down, self.up = rtp_socket(), rtp_socket()
        self.port = self.down.getsockname()[1]
        self.engine = ("127.0.0.1", engine_port)
        self.delay = delay
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        pending, clients = [], {}  # the pinger and each worker have a socket each
        deadline = time.monotonic() + 120
        while not self.done.is_set() and time.monotonic() < deadline:
            now = time.monotonic()
            for item in [p for p in pending if p[0] <= now]:
                self.up.sendto(item[1], self.engine)
                pending.remove(item)
            ready, _, _ = select.select([self.down, self.up], [], [], 0.02)
            if self.down in ready:
                data, client = self.down.recvfrom(65536)
                clients[data.split(b" ", 1)[0]] = client
                if self.command in data:
                    pending.append((now + self.delay, data))
                else:
                    self.up.sendto(data, self.engine)
            if self.up in ready:
                data = self.up.recv(65536)
                client = clients.get(data.split(b" ", 1)[0])
                if client:
                    self.down.sendto(data, client)

    def close(self):
        self.done.set()
        self.thread.join(5)
        self.down.close()
        self.up.close()


def test_cancel_after_the_answer_lets_the_caller_ack_and_bye_it(warp_factory, tmp_path, stopper):
    """The callee's 200 reached the proxy, which holds it while the engine
    rewrites its SDP, when the caller's CANCEL arrives: the 200 still goes
    up (RFC 3261 §16.7 step 5) and the caller ACKs and BYEs it (§9.1), so
    the callee is not left answered without an ACK or a BYE."""
    e = start_engine(tmp_path, "engine")
    stopper(e)
    ng = DelayingNg(e.ng_port, 1.0)
    try:
        sw = start_sipwarp(warp_factory, tmp_path,
                           sip_extra="media_engines = udp:127.0.0.1:%d\nmedia_timeout = 6s\n"
                                     % ng.port)
        stopper(sw)
        cport, gport = sip_port(), sip_port()
        callee = sw.sipp("callee", scenario("uas_ring_then_answer.xml"), gport,
                         extra=["-mp", str(sipp_media_port())]).start()
        caller = sw.caller("caller", scenario("uac_cancel_held_answer.xml"), cport, NUMBER,
                           extra=["-mp", str(sipp_media_port())])
        provision(sw, cport, gport)
        caller.start()
        assert caller.wait(timeout=40) == 0, caller.describe() + sw.w.stderr()[-3000:]
        assert callee.wait(timeout=40) == 0, callee.describe()
    finally:
        ng.close()
    assert callee.requests() == ["INVITE", "ACK", "BYE"], callee.seen()
    assert 487 not in caller.codes(), caller.seen()
    _, port = sdp_of(caller.messages(True), "SIP/2.0 200")
    assert e.lo <= port <= e.hi, sw.w.stderr()[-3000:]
    (r,) = sw.cdrs(1, timeout=8)
    assert r["final_code"] == 200 and r["answer_ms"] > 0 and r["hangup"] == "caller", r


class RawCaller:
    """A UAC written by hand on a UDP socket (SIPp cannot be told to leave a
    200 unacknowledged and then repeat its ACK): a late offer, ACKed late."""

    def __init__(self, port, proxy_port):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", port))
        self.sock.settimeout(0.2)
        self.proxy = ("127.0.0.1", proxy_port)
        self.me = "127.0.0.1:%d" % port
        self.head = ("From: <sip:caller@%s>;tag=rawc1\r\nCall-ID: raw-late-%d@127.0.0.1\r\n"
                     "Max-Forwards: 70\r\nContact: <sip:caller@%s>\r\n" % (self.me, port, self.me))
        self.got = []

    def send(self, first, to, cseq, branch, extra="", body=""):
        msg = ("%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK%s;rport\r\n%sTo: %s\r\n"
               "CSeq: %s\r\n%s%sContent-Length: %d\r\n\r\n%s"
               % (first, self.me, branch, self.head, to, cseq, extra,
                  "Content-Type: application/sdp\r\n" if body else "", len(body), body))
        self.sock.sendto(msg.encode(), self.proxy)

    def wait(self, pred, timeout=8.0):
        """Reads responses (kept in self.got) until pred(self.got) holds."""
        deadline = time.monotonic() + timeout
        while not pred(self.got):
            assert time.monotonic() < deadline, [m.split("\r\n")[0] + " " + m.split("CSeq: ")[1].split("\r")[0] for m in self.got]
            try:
                self.got.append(self.sock.recv(65536).decode())
            except socket.timeout:
                pass

    def dialog(self, resp):
        """Request-URI, To and Route of the dialog a 200 opened."""
        hdr = lambda name: re.search(r"^%s: *(.*?)\r$" % name, resp, re.M).group(1)  # noqa: E731
        ruri = re.search(r"<([^>]*)>", hdr("Contact")).group(1)
        return ruri, hdr("To"), "Route: %s\r\n" % hdr("Record-Route")


def oks(msgs):
    return [m for m in msgs if m.startswith("SIP/2.0 200") and "INVITE" in m.split("CSeq:")[1]]


# The caller's answer at port 4000, for RawCaller.
RAW_ANSWER = ("v=0\r\no=caller 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
              "t=0 0\r\nm=audio 4000 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n")


def raw_pair(sw, uas, invite_extra=""):
    """A SIPp callee (uas, media at the returned socket's port) and a
    RawCaller through the provisioned warp, its INVITE without SDP sent."""
    cport, gport = sip_port(), sip_port()
    b = rtp_socket()
    callee = sw.sipp("callee", scenario(uas), gport, keys={"rtp_b": b.getsockname()[1]},
                     extra=["-mp", str(sipp_media_port())]).start()
    provision(sw, cport, gport)
    ua = RawCaller(cport, sw.port)
    ua.send("INVITE sip:%s@127.0.0.1:%d" % (NUMBER, sw.port), "<sip:%s@127.0.0.1>" % NUMBER,
            "1 INVITE", "inv1", invite_extra)
    return callee, ua, b


def raw_hang_up(ua, callee, ruri, to, route, cseq):
    ua.send("BYE " + ruri, to, "%d BYE" % cseq, "bye1", route)
    assert callee.wait(timeout=20) == 0, callee.describe()
    ua.wait(lambda got: any("BYE" in m.split("CSeq:")[1] for m in got))


def assert_resent_alike(sw, got, party_port):
    """Every copy of a repeated message named the relay's one port."""
    assert len(got) >= 2 and len(set(got)) == 1, got
    assert sw.lo <= got[0][1] <= sw.hi and got[0][1] != party_port, got


def test_late_offer_2xx_and_ack_retransmissions_carry_the_relays_sdp(relay_warp):
    sw = relay_warp
    callee, ua, b = raw_pair(sw, "uas_late_offer.xml")
    callee_port = b.getsockname()[1]
    try:
        # Unacknowledged, the callee repeats its 200 (every 500 ms).
        ua.wait(lambda got: len(oks(got)) >= 2)
        ruri, to, route = ua.dialog(oks(ua.got)[0])
        for _ in range(2):  # the ACK repeated, as on a 2xx retransmission
            ua.send("ACK " + ruri, to, "1 ACK", "ack1", route, RAW_ANSWER)
            time.sleep(0.3)
        wait_for(lambda: len(sdps(callee.messages(True), "ACK ")) >= 2, peers=(callee,))
        raw_hang_up(ua, callee, ruri, to, route, 2)
    finally:
        ua.sock.close()
        b.close()
    assert_resent_alike(sw, sdps(oks(ua.got), "SIP/2.0 200"), callee_port)
    assert_resent_alike(sw, sdps(callee.messages(True), "ACK "), 4000)
    text = sw.w.get("/metrics").body.decode()
    for cmd in ("offer", "answer"):
        assert metric(text, "warp_media_ng_commands_total", command=cmd, result="ok") == 1, cmd


def test_reliable_183_and_prack_retransmissions_get_one_offer_and_one_answer(relay_warp):
    """The callee repeats its reliable 183 until PRACKed, the caller repeats
    its PRACK: every 183 carries the relay's one SDP, the callee gets one
    PRACK with the relay's answer, the engine one offer and one answer."""
    sw = relay_warp
    callee, ua, b = raw_pair(sw, "uas_late_prack.xml", "Supported: 100rel\r\n")
    callee_port = b.getsockname()[1]
    progress = lambda got: [m for m in got if m.startswith("SIP/2.0 183")]  # noqa: E731
    try:
        ua.wait(lambda got: len(progress(got)) >= 2)  # resent every 500 ms
        ruri, to, route = ua.dialog(progress(ua.got)[0])
        for _ in range(2):  # the PRACK repeated, as when its 200 is late
            ua.send("PRACK " + ruri, to, "2 PRACK", "prack1", route + "RAck: 1 1 INVITE\r\n",
                    RAW_ANSWER)
            time.sleep(0.1)
        ua.wait(lambda got: len(oks(got)) >= 1)
        ua.send("ACK " + ruri, to, "1 ACK", "ack1", route)
        raw_hang_up(ua, callee, ruri, to, route, 3)
    finally:
        ua.sock.close()
        b.close()
    offered = sdps(progress(ua.got), "SIP/2.0 183")
    assert_resent_alike(sw, offered, callee_port)
    assert sdps(oks(ua.got), "SIP/2.0 200") == [offered[0]]
    (answered,) = sdps(callee.messages(True), "PRACK ")
    assert sw.lo <= answered[1] <= sw.hi and answered[1] != 4000, answered
    text = sw.w.get("/metrics").body.decode()
    for cmd in ("offer", "answer"):
        assert metric(text, "warp_media_ng_commands_total", command=cmd, result="ok") == 1, cmd


def test_late_offer_goes_through_rtpengine_both_ways(warp_factory, tmp_path, rtpengine,  # noqa: F811
                                                     stopper):
    sw = start_sipwarp(warp_factory, tmp_path,
                       sip_extra="media_engines = udp:127.0.0.1:%d\n" % rtpengine.addr[1])
    stopper(sw)
    got = late_offer_call(sw)
    assert got["to_caller"][1] not in got["ports"] and got["to_callee"][1] not in got["ports"]
    assert got["rtp"]["to_callee"] > 10 and got["rtp"]["to_caller"] > 10, got["rtp"]
    (r,) = sw.cdrs(1, timeout=8)
    assert r["final_code"] == 200 and r["rtp_packets_a"] > 10, r


def test_engine_silent_on_the_late_offer_lets_the_answered_call_through_unrelayed(
        warp_factory, tmp_path, stopper):
    """The callee has answered: its 200 goes up with its own SDP once the
    engine has not answered in media_timeout, the ACK goes down with the
    caller's, media flows directly, and the call is not failed."""
    e = start_engine(tmp_path, "engine")
    stopper(e)
    ng = DelayingNg(e.ng_port, 60.0, command=b"5:offer")
    try:
        sw = start_sipwarp(warp_factory, tmp_path,
                           sip_extra="media_engines = udp:127.0.0.1:%d\nmedia_timeout = 600ms\n"
                                     % ng.port)
        stopper(sw)
        got = late_offer_call(sw)
    finally:
        ng.close()
    caller_port, callee_port = got["ports"]
    assert got["to_caller"][1] == callee_port and got["to_callee"][1] == caller_port, got
    assert got["rtp"]["to_callee"] > 10 and got["rtp"]["to_caller"] > 10, got["rtp"]
    assert "late offer" in sw.w.stderr()
    (r,) = sw.cdrs(1)
    assert r["final_code"] == 200 and r["hangup"] == "caller" and r["rtp_packets_a"] is None, r
    # Not relayed, so nothing to delete at the end.
    text = e.get("/metrics").body.decode()
    assert metric(text, "warp_media_ng_commands_total", command="delete", result="ok") == 0
