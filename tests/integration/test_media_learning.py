"""Endpoint learning (decision 0019): which source a relay port accepts.

The attacks of issue 8 §1, measured with an ng client: a stranger who sprays
a relay port before the caller speaks must not keep the callee's audio
(RTP bleed), and a stranger's packets after learning must not reach the
callee (RTP inject).  Strangers send from 127.0.0.2, an address no SDP
names (Linux routes all of 127/8 to loopback)."""
import socket
import time

import pytest

from test_media_ng import answer, media, offer, sdp_port  # noqa: F401 (fixture)
from test_media_relay import recv_or_none, rtp, setup_call, udp


def stranger():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.2", 0))
    return s


def count(sock, timeout=0.3):
    """How many datagrams arrive before the line goes quiet."""
    n = 0
    while recv_or_none(sock, timeout) is not None:
        n += 1
    return n


def send(sock, port, n, payload=b"p", pace=0.0):
    for i in range(n):
        sock.sendto(rtp(i, payload * 20), ("127.0.0.1", port))
        if pace:
            time.sleep(pace)


def dropped(w, reason="foreign_source"):
    for line in w.get("/metrics").body.decode().splitlines():
        if line.startswith('warp_media_packets_dropped_total{reason="%s"}' % reason):
            return int(line.split()[-1])
    return 0  # not exported (a build without learning): asserted counts show it


def nat_call(w, callid, b):
    """The caller's SDP names 10.0.0.5:40000 (behind its NAT); b answers.
    Returns (port the caller sends to, port b sends to)."""
    o = offer(w.ng, callid, 40000, addr="10.0.0.5")
    r = answer(w.ng, callid, b.getsockname()[1])
    assert o["result"] == r["result"] == "ok", (o, r)
    return sdp_port(r["sdp"]), sdp_port(o["sdp"])


def test_spray_before_the_caller_does_not_keep_the_callee_audio(media):
    """RTP bleed: the sprayer is learnt first, but the caller sending from
    exactly its SDP's address and port takes the stream over, at once and
    for good, whatever the window."""
    w = media(extra="learning_window = 1s\n")
    a, b, s = udp(), udp(), stranger()
    to_a_side, to_b_side, _, _ = setup_call(w, "bleed", a, b)
    send(s, to_a_side, 50, b"s")
    count(b)  # what the sprayer got relayed while it was all there was
    time.sleep(1.2)  # the window has closed on the sprayer
    a.sendto(rtp(1, b"caller"), ("127.0.0.1", to_a_side))
    assert recv_or_none(b)[0] == rtp(1, b"caller")
    send(b, to_b_side, 50, b"b")
    assert count(a) == 50
    assert count(s, 0.2) == 0
    send(s, to_a_side, 50, b"s")  # and it cannot take it back
    assert count(b) == 0
    assert dropped(w) == 50


def test_inject_after_learning_is_dropped_and_counted(media):
    w = media()
    a, b, s = udp(), udp(), stranger()
    a_port2 = udp()  # the caller's own address, another port
    to_a_side, to_b_side, _, _ = setup_call(w, "inject", a, b)
    a.sendto(rtp(1, b"ok"), ("127.0.0.1", to_a_side))
    assert recv_or_none(b)[0] == rtp(1, b"ok")
    send(s, to_a_side, 50, b"x")
    send(a_port2, to_a_side, 5, b"y")
    assert count(b) == 0
    a.sendto(rtp(2, b"ok again"), ("127.0.0.1", to_a_side))
    assert recv_or_none(b)[0] == rtp(2, b"ok again")
    assert dropped(w) == 55
    q = w.ng.call({"command": "query", "call-id": "inject"})
    assert q["totals"]["RTP"]["errors"] == 55
    # the RTCP port learns on its own, alike
    a.sendto(b"\x81\xc9\x00\x01\x00\x00\x00\x01", ("127.0.0.1", to_a_side + 1))
    s.sendto(b"\x81\xc9\x00\x01\x00\x00\x00\x02", ("127.0.0.1", to_a_side + 1))
    time.sleep(0.2)
    assert dropped(w) == 56


def test_same_address_beats_an_earlier_sprayer_within_the_window_only(media):
    """A caller on the address its SDP named but sending from another port
    (ranked below an exact match, above a stranger) takes the stream from a
    sprayer that came first while the learning window is open; once it has
    closed, the stream stays locked and the caller's packets are dropped."""
    w = media(extra="learning_window = 1s\n")
    for late in (False, True):
        a_sdp, a_other, b, s = udp(), udp(), udp(), stranger()
        to_a_side, to_b_side, _, _ = setup_call(w, "window-%s" % late, a_sdp, b)
        send(s, to_a_side, 3, b"s")
        assert count(b) == 3
        if late:
            time.sleep(1.3)
        send(a_other, to_a_side, 3, b"a")
        assert count(b) == (0 if late else 3)
        send(b, to_b_side, 4, b"b")
        got = (count(a_other), count(s, 0.2), count(a_sdp, 0.2))
        assert got == ((0, 4, 0) if late else (4, 0, 0))
    assert dropped(w) == 3


def test_nat_caller_is_learnt_and_a_later_stranger_refused(media):
    """The caller's SDP names a private address; its packets come from
    elsewhere (its NAT): it is learnt, media goes back to it, and a
    stranger, even inside the window, gets nowhere."""
    w = media()
    nat, b, s = udp(), udp(), stranger()
    to_a_side, to_b_side = nat_call(w, "nat", b)
    send(nat, to_a_side, 10, b"n")
    assert count(b) == 10
    send(b, to_b_side, 10, b"b")
    assert count(nat) == 10
    send(s, to_a_side, 10, b"s")
    assert count(b) == 0
    send(b, to_b_side, 5, b"b")
    assert count(nat) == 5 and count(s, 0.2) == 0
    assert dropped(w) == 10


def test_reinvite_moving_the_caller_relearns(media):
    """A re-offer naming a new port moves the caller: its new socket is
    learnt (and wins over late packets from the old one), the old one is
    refused, and media goes to the new one."""
    w = media()
    a1, a2, b = udp(), udp(), udp()
    to_a_side, to_b_side, _, _ = setup_call(w, "move", a1, b)
    send(a1, to_a_side, 3, b"1")
    assert count(b) == 3
    o2 = offer(w.ng, "move", a2.getsockname()[1])
    r2 = answer(w.ng, "move", b.getsockname()[1])
    assert o2["result"] == r2["result"] == "ok"
    assert (sdp_port(r2["sdp"]), sdp_port(o2["sdp"])) == (to_a_side, to_b_side)
    send(a1, to_a_side, 1, b"1")  # late, from where the caller was
    send(a2, to_a_side, 3, b"2")
    count(b)
    send(b, to_b_side, 10, b"b")
    assert count(a2) == 10 and count(a1, 0.2) == 0
    send(a1, to_a_side, 5, b"1")
    assert count(b) == 0


def test_reinvite_moving_a_nat_caller_relearns(media):
    """The same for a NATed caller: a new private address in the re-offer
    starts learning again, so its new NAT mapping is taken."""
    w = media()
    nat1, nat2, b = udp(), udp(), udp()
    to_a_side, to_b_side = nat_call(w, "natmove", b)
    send(nat1, to_a_side, 3, b"1")
    assert count(b) == 3
    o2 = offer(w.ng, "natmove", 40000, addr="10.0.0.6")
    assert o2["result"] == "ok"
    send(nat2, to_a_side, 3, b"2")
    assert count(b) == 3
    send(b, to_b_side, 4, b"b")
    assert count(nat2) == 4 and count(nat1, 0.2) == 0
    send(nat1, to_a_side, 3, b"1")
    assert count(b) == 0


def test_session_refresh_keeps_a_nat_caller(media):
    """The same SDP again (a session refresh) keeps what was learnt: a
    stranger cannot use the re-offer to get in."""
    w = media()
    nat, b, s = udp(), udp(), stranger()
    to_a_side, to_b_side = nat_call(w, "refresh", b)
    send(nat, to_a_side, 3, b"n")
    assert count(b) == 3
    assert offer(w.ng, "refresh", 40000, addr="10.0.0.5")["result"] == "ok"
    send(s, to_a_side, 3, b"s")
    assert count(b) == 0
    send(b, to_b_side, 2, b"b")
    assert count(nat) == 2 and count(s, 0.2) == 0


@pytest.mark.parametrize("how", ["key", "flag", "config"])
def test_endpoint_learning_off_accepts_only_the_sdp_address_and_port(media, how):
    w = media(extra="endpoint_learning = off\n" if how == "config" else "")
    a_sdp, a_other, b = udp(), udp(), udp()
    kw = {"key": {"endpoint-learning": "off"},
          "flag": {"flags": ["endpoint-learning-off"]},
          "config": {}}[how]
    to_a_side, _, _, _ = setup_call(w, "off-" + how, a_sdp, b, offer=kw)
    send(a_other, to_a_side, 3, b"o")
    assert count(b) == 0
    send(a_sdp, to_a_side, 3, b"s")
    assert count(b) == 3
    assert dropped(w) == 3


def test_strict_source_wins_over_loose_source(media):
    """Both flags: learning as by default, so a sprayer before the caller
    neither keeps the stream nor locks the caller out."""
    w = media()
    a, b, s = udp(), udp(), stranger()
    to_a_side, to_b_side, _, _ = setup_call(w, "both", a, b,
                                            offer={"flags": ["loose-source", "strict-source"]})
    send(s, to_a_side, 2, b"s")
    count(b)
    send(a, to_a_side, 1, b"a")
    send(s, to_a_side, 2, b"s")
    assert count(b) == 1
    send(b, to_b_side, 3, b"b")
    assert count(a) == 3 and count(s, 0.2) == 0


# Flag sets an offer may carry (what Kamailio's rtpengine module and SBCs
# send, and one WARP does not know).  None of them weakens learning: only
# loose-source does, whatever else comes with it.
FLAG_SETS = {
    "none": {},
    "trust-address": {"flags": ["trust-address"], "replace": ["origin"]},
    "asymmetric": {"flags": ["asymmetric"]},
    "symmetric-strict": {"flags": ["symmetric", "strict-source"]},
    "sip-source": {"flags": ["SIP-source-address"], "received-from": ["IP4", "127.0.0.1"]},
    "assorted": {"flags": ["port-latching", "no-rtcp-attribute", "record-call", "made-up-flag"],
                 "ICE": "remove", "endpoint-learning": "immediate"},
}


def ringing_then_inject(w, callid, offer_kw):
    """The two attacks of issue 8 on one call: a stranger sprays before the
    caller's first packet, the callee speaks, then the stranger injects.
    Returns (callee packets reaching the caller, reaching the stranger,
    injected packets reaching the callee, foreign drops counted)."""
    a, b, s = udp(), udp(), stranger()
    before = dropped(w)
    to_a_side, to_b_side, _, _ = setup_call(w, callid, a, b, offer=offer_kw)
    send(s, to_a_side, 5, b"s")
    count(b)
    a.sendto(rtp(1, b"caller"), ("127.0.0.1", to_a_side))
    assert recv_or_none(b)[0] == rtp(1, b"caller")
    send(b, to_b_side, 10, b"b")
    to_caller, to_stranger = count(a), count(s, 0.2)
    send(s, to_a_side, 10, b"s")
    return to_caller, to_stranger, count(b), dropped(w) - before


@pytest.mark.parametrize("name", sorted(FLAG_SETS))
def test_learning_holds_whatever_flags_unless_loose_source(media, name):
    w = media()
    kw = FLAG_SETS[name]
    assert ringing_then_inject(w, "strict-" + name, kw) == (10, 0, 0, 10)

    loose = dict(kw, flags=kw.get("flags", []) + ["loose-source"])
    loose["flags"] = [f for f in loose["flags"] if f != "strict-source"]
    to_caller, to_stranger, injected, drops = ringing_then_inject(w, "loose-" + name, loose)
    assert (injected, drops) == (10, 0)  # the old behaviour: anyone is relayed
    # ... and media follows the first source, unless asymmetric keeps it on the SDP's
    assert (to_caller, to_stranger) == ((10, 0) if "asymmetric" in kw.get("flags", []) else (0, 10))
