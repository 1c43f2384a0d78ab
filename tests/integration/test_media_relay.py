"""The media role's packet path: RTP relayed between two UDP sockets of the
test as the rewritten SDPs direct, latching, strict source (the attacks on
learning are in test_media_learning.py), timeouts,
PCMU→PCMA transcoding and pcap recordings (read back with tshark, written
off the packet path, dropped and counted when the disk fails)."""
import glob
import json
import os
import shutil
import socket
import struct
import subprocess
import time

import pytest

from test_media_ng import answer, media, offer, sdp_port  # noqa: F401 (fixture)


def udp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(2)
    return s


def rtp(seq, payload, pt=0, ssrc=0x1234):
    return struct.pack("!BBHII", 0x80, pt, seq, seq * 160, ssrc) + payload


def setup_call(w, callid, a, b, **kw):
    """Offer from a, answer from b; returns (port a sends to, port b sends to)."""
    o = offer(w.ng, callid, a.getsockname()[1], **kw.get("offer", {}))
    r = answer(w.ng, callid, b.getsockname()[1], **kw.get("answer", {}))
    assert o["result"] == "ok" and r["result"] == "ok", (o, r)
    return sdp_port(r["sdp"]), sdp_port(o["sdp"]), o, r


def recv_or_none(s, timeout=0.5):
    s.settimeout(timeout)
    try:
        return s.recvfrom(4096)
    except socket.timeout:
        return None


def test_rtp_relayed_both_ways_unchanged(media):
    w = media()
    a, b = udp(), udp()
    to_a_side, to_b_side, _, _ = setup_call(w, "call-both", a, b)
    for i in range(5):
        pkt = rtp(i, bytes(range(i, i + 160)))
        a.sendto(pkt, ("127.0.0.1", to_a_side))
        data, src = b.recvfrom(4096)
        assert data == pkt
        assert src == ("127.0.0.1", to_b_side)  # symmetric: from the port b sends to
        back = rtp(100 + i, b"\x55" * 160, ssrc=0x9999)
        b.sendto(back, ("127.0.0.1", to_b_side))
        data, src = a.recvfrom(4096)
        assert data == back and src == ("127.0.0.1", to_a_side)
    q = w.ng.call({"command": "query", "call-id": "call-both"})
    assert q["totals"]["RTP"]["packets"] == 10
    assert q["totals"]["RTP"]["bytes"] == 10 * 172
    text = w.get("/metrics").body.decode()
    assert 'warp_media_packets_total{dir="in"} 10' in text
    assert 'warp_media_packets_total{dir="out"} 10' in text


def test_latching_follows_the_real_source_port(media):
    w = media()
    a_sdp, a_real, b = udp(), udp(), udp()  # a announces one port, sends from another
    to_a_side, to_b_side, _, _ = setup_call(w, "call-latch", a_sdp, b)
    a_real.sendto(rtp(1, b"x" * 20), ("127.0.0.1", to_a_side))
    assert b.recvfrom(4096)[0] == rtp(1, b"x" * 20)
    b.sendto(rtp(2, b"y" * 20), ("127.0.0.1", to_b_side))
    assert a_real.recvfrom(4096)[0] == rtp(2, b"y" * 20)
    assert recv_or_none(a_sdp, 0.2) is None


def test_strict_source_refuses_a_stranger_after_latching(media):
    w = media()
    a, b, stranger = udp(), udp(), udp()
    to_a_side, _, _, _ = setup_call(w, "call-strict", a, b,
                                    offer={"flags": ["strict-source"]})
    a.sendto(rtp(1, b"ok"), ("127.0.0.1", to_a_side))
    assert b.recvfrom(4096)[0] == rtp(1, b"ok")
    stranger.sendto(rtp(2, b"intruder"), ("127.0.0.1", to_a_side))
    assert recv_or_none(b) is None
    a.sendto(rtp(3, b"ok again"), ("127.0.0.1", to_a_side))
    assert b.recvfrom(4096)[0] == rtp(3, b"ok again")
    q = w.ng.call({"command": "query", "call-id": "call-strict"})
    assert q["totals"]["RTP"]["errors"] == 1


def test_without_strict_source_a_stranger_is_refused_all_the_same(media):
    """strict-source is the default (decision 0019); test_media_learning.py
    has the rest, and the one flag that relays strangers (loose-source)."""
    w = media()
    a, b, stranger = udp(), udp(), udp()
    to_a_side, _, _, _ = setup_call(w, "call-loose", a, b)
    a.sendto(rtp(1, b"ok"), ("127.0.0.1", to_a_side))
    assert b.recvfrom(4096)[0] == rtp(1, b"ok")
    stranger.sendto(rtp(2, b"other"), ("127.0.0.1", to_a_side))
    assert recv_or_none(b) is None


def test_silent_call_times_out_and_list_says_so(media):
    w = media(extra="timeout = 1s\n")
    a, b = udp(), udp()
    setup_call(w, "call-quiet", a, b)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        lst = w.ng.call({"command": "list"})
        if "call-quiet" not in lst["calls"]:
            break
        time.sleep(0.2)
    assert "call-quiet" not in lst["calls"]
    assert {"call-id": "call-quiet", "reason": "timeout"} in [
        {k: e[k] for k in ("call-id", "reason")} for e in lst["ended"]]
    assert "warp_media_timeouts_total 1" in w.get("/metrics").body.decode()


def test_talking_call_does_not_time_out(media):
    w = media(extra="timeout = 1s\n")
    a, b = udp(), udp()
    to_a_side, _, _, _ = setup_call(w, "call-talk", a, b)
    for i in range(15):
        a.sendto(rtp(i, b"z" * 10), ("127.0.0.1", to_a_side))
        time.sleep(0.1)
    assert "call-talk" in w.ng.call({"command": "list"})["calls"]


def ulaw_decode(u):
    u = ~u & 0xFF
    e, m = (u >> 4) & 7, u & 15
    v = ((2 * m + 33) << e) - 33  # G.711 Table 2, in 14-bit units
    return -4 * v if u & 0x80 else 4 * v


def alaw_encode(x):
    """Nearest-interval A-law code for a 16-bit value, from G.711 Table 1."""
    sign = 0x80 if x >= 0 else 0
    mag = (x if x >= 0 else -x - 1) >> 3  # 13-bit
    if mag >= 4096:
        mag = 4095
    seg = 0 if mag < 32 else mag.bit_length() - 5
    step = (mag >> 1) & 15 if seg == 0 else (mag >> seg) & 15
    return (sign | seg << 4 | step) ^ 0x55


def test_pcmu_transcoded_to_pcma_sample_by_sample(media):
    w = media()
    a, b = udp(), udp()
    to_a_side, _, o, r = setup_call(w, "call-tc", a, b,
                                    offer={"codecs": (0,), "codec": {"transcode": ["PCMA"]}},
                                    answer={"codecs": (8,)})
    assert "m=audio %d RTP/AVP 0 8\r\n" % sdp_port(o["sdp"]) in o["sdp"]
    assert "a=rtpmap:8 PCMA/8000\r\n" in o["sdp"]
    assert "m=audio %d RTP/AVP 0\r\n" % sdp_port(r["sdp"]) in r["sdp"]
    assert "PCMA" not in r["sdp"]
    payload = bytes(range(256))
    a.sendto(rtp(7, payload, pt=0), ("127.0.0.1", to_a_side))
    data, _ = b.recvfrom(4096)
    assert data[1] & 0x7F == 8
    assert data[2:12] == rtp(7, b"")[2:12]
    assert list(data[12:]) == [alaw_encode(ulaw_decode(u)) for u in payload]


def talk(a, b, to_a_side, to_b_side, n_a, n_b, size=40):
    """a sends n_a RTP packets and b n_b through the relay, each awaited: no
    packet may be lost on the way."""
    for i in range(n_a):
        a.sendto(rtp(i, b"a" * size), ("127.0.0.1", to_a_side))
        assert b.recvfrom(4096)[0] == rtp(i, b"a" * size)
    for i in range(n_b):
        b.sendto(rtp(i, b"b" * size, ssrc=7), ("127.0.0.1", to_b_side))
        assert a.recvfrom(4096)[0] == rtp(i, b"b" * size, ssrc=7)


def recording(tmp_path, callid, timeout=10):
    """(pcap path, metadata) once the writer thread has written NAME.json,
    which it does only after the pcap is complete."""
    spool = tmp_path / "spool"
    deadline = time.monotonic() + timeout
    while not glob.glob(str(spool / (callid + "-*.json"))):
        assert time.monotonic() < deadline, "no metadata for %s" % callid
        time.sleep(0.02)
    pcaps = glob.glob(str(spool / (callid + "-*.pcap")))
    metas = glob.glob(str(spool / (callid + "-*.json")))
    assert len(pcaps) == 1 and len(metas) == 1
    return pcaps[0], json.loads(open(metas[0]).read())


def tshark_udp(pcap):
    out = subprocess.run(["tshark", "-r", pcap, "-T", "fields", "-e", "udp.srcport",
                          "-e", "udp.dstport", "-e", "udp.length"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return [line.split("\t") for line in out.stdout.splitlines() if line]


def test_record_call_writes_pcap_tshark_reads(media, tmp_path):
    if not shutil.which("tshark"):
        pytest.skip("tshark not installed")
    w = media()
    a, b = udp(), udp()
    to_a_side, to_b_side, _, _ = setup_call(w, "call-rec", a, b,
                                            offer={"record call": "yes"})
    talk(a, b, to_a_side, to_b_side, 3, 2)
    d = w.ng.call({"command": "delete", "call-id": "call-rec", "from-tag": "ft-call-rec"})
    assert d["result"] == "ok"
    pcap, meta = recording(tmp_path, "call-rec")
    assert meta["call-id"] == "call-rec" and meta["pcap"] == os.path.basename(pcap)
    rows = tshark_udp(pcap)
    assert len(rows) == 5
    assert rows[0] == [str(a.getsockname()[1]), str(to_a_side), str(8 + 52)]
    assert rows[-1][:2] == [str(b.getsockname()[1]), str(to_b_side)]


def test_recording_metadata_counts_packets_and_no_drops(media, tmp_path):
    w = media()
    a, b = udp(), udp()
    to_a_side, to_b_side, _, _ = setup_call(w, "call-cnt", a, b, offer={"record call": "yes"})
    talk(a, b, to_a_side, to_b_side, 20, 10)
    w.ng.call({"command": "delete", "call-id": "call-cnt", "from-tag": "ft-call-cnt"})
    pcap, meta = recording(tmp_path, "call-cnt")
    assert meta["packets"] == 30 and meta["dropped"] == 0
    # 24-byte global header, then per packet 16 + 20 (IPv4) + 8 (UDP) + 52
    assert os.path.getsize(pcap) == 24 + 30 * (16 + 28 + 52)
    text = w.get("/metrics").body.decode()
    assert "warp_media_record_dropped_total 0" in text


def test_sigterm_writes_the_recording_of_a_running_call(media, tmp_path):
    w = media()
    a, b = udp(), udp()
    to_a_side, to_b_side, _, _ = setup_call(w, "call-term", a, b, offer={"record call": "yes"})
    talk(a, b, to_a_side, to_b_side, 7, 4)
    rc, _ = w.stop()
    assert rc == 0, w.stderr()
    pcap, meta = recording(tmp_path, "call-term", timeout=1)
    assert meta["reason"] == "shutdown" and meta["packets"] == 11 and meta["dropped"] == 0
    assert os.path.getsize(pcap) == 24 + 11 * (16 + 28 + 52)


FSIZE_WRAPPER = """import os, resource, signal, sys
# Writes past the limit fail with EFBIG instead of killing the process.
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (%d, %d))
os.execv(%r, [%r] + sys.argv[1:])
"""


def test_failing_disk_drops_records_not_packets(media, tmp_path, monkeypatch):
    """Every file warp writes is capped at 64 KiB (RLIMIT_FSIZE): the pcap
    stops growing, but every RTP packet is still relayed, and the records
    that could not be written are counted in the metadata and the metric."""
    import conftest
    real = conftest.warp_bin()
    wrapper = tmp_path / "warp-fsize"
    limit = 64 * 1024
    wrapper.write_text("#!/usr/bin/python3\n" + FSIZE_WRAPPER % (limit, limit, real, real))
    wrapper.chmod(0o755)
    monkeypatch.setattr(conftest, "warp_bin", lambda: str(wrapper))
    w = media(env={"WARP_STORE_URL": "sqlite::memory:"})  # the store's file would hit the cap
    a, b = udp(), udp()
    to_a_side, to_b_side, _, _ = setup_call(w, "call-full", a, b, offer={"record call": "yes"})
    n = 3000  # 3000 * 140 bytes: well past 64 KiB
    talk(a, b, to_a_side, to_b_side, n, n // 10, size=100)
    w.ng.call({"command": "delete", "call-id": "call-full", "from-tag": "ft-call-full"})
    pcap, meta = recording(tmp_path, "call-full")
    assert os.path.getsize(pcap) <= limit
    assert meta["dropped"] > 0
    assert meta["packets"] + meta["dropped"] == n + n // 10
    text = w.get("/metrics").body.decode()
    assert "warp_media_record_dropped_total %d" % meta["dropped"] in text
    rc, _ = w.stop()
    assert rc == 0, w.stderr()


def test_rtcp_receiver_report_shows_in_query(media):
    w = media()
    a, b, b_rtcp = udp(), udp(), udp()
    to_a_side, _, _, _ = setup_call(w, "call-rtcp", a, b, answer={
        "extra": "a=rtcp:%d\r\n" % b_rtcp.getsockname()[1]})
    # RR from a (RFC 3550 §6.4.2): one block, fraction 64/256, 1000 lost, jitter 77.
    block = (struct.pack("!IB", 0xABCD, 64) + (1000).to_bytes(3, "big")
             + struct.pack("!IIII", 5, 77, 0, 0))
    rr = struct.pack("!BBHI", 0x81, 201, 7, 0x1111) + block
    a.sendto(rr, ("127.0.0.1", to_a_side + 1))
    data, _ = b_rtcp.recvfrom(4096)
    assert data == rr
    q = w.ng.call({"command": "query", "call-id": "call-rtcp"})
    st = q["tags"]["ft-call-rtcp"]["medias"][0]["streams"][1]
    assert st["rtcp"]["fraction lost"] == 64
    assert st["rtcp"]["packets lost"] == 1000
    assert st["rtcp"]["jitter"] == 77
    assert q["totals"]["RTCP"]["packets"] == 1


def test_rtcp_mux_demuxed_towards_a_peer_without_mux(media):
    w = media()
    a, b, b_rtcp = udp(), udp(), udp()
    to_a_side, to_b_side, o, r = setup_call(
        w, "call-mux", a, b,
        offer={"extra": "a=rtcp-mux\r\n", "rtcp-mux": ["demux"]},
        answer={"extra": "a=rtcp:%d\r\n" % b_rtcp.getsockname()[1]})
    assert "a=rtcp-mux" not in o["sdp"]
    assert "a=rtcp-mux\r\n" in r["sdp"]  # accepted back towards the offerer
    sr = struct.pack("!BBHI", 0x80, 200, 6, 0x42) + b"\x11" * 20
    a.sendto(sr, ("127.0.0.1", to_a_side))  # muxed: RTCP on the RTP port
    assert b_rtcp.recvfrom(4096)[0] == sr
    b_rtcp.sendto(sr, ("127.0.0.1", to_b_side + 1))
    data, src = a.recvfrom(4096)  # back to a's one port
    assert data == sr and src == ("127.0.0.1", to_a_side)


def test_final_timeout_ends_even_a_talking_call(media):
    w = media(extra="timeout = 30s\nfinal_timeout = 1s\n")
    a, b = udp(), udp()
    to_a_side, _, _, _ = setup_call(w, "call-final", a, b)
    ended = None
    for i in range(40):
        a.sendto(rtp(i, b"z" * 10), ("127.0.0.1", to_a_side))
        lst = w.ng.call({"command": "list"})
        ended = [e for e in lst["ended"] if e["call-id"] == "call-final"]
        if ended:
            break
        time.sleep(0.1)
    assert ended and ended[0]["reason"] == "final-timeout"
    stats = w.ng.call({"command": "statistics"})["statistics"]["totalstatistics"]
    assert stats["finaltimeoutsessions"] == 1


# ------------------------------------------------ forking: one dialogue each


def fork_call(ng, callid, a, b1, b2, delay=None):
    """Offer from a, answered by b1 (to-tag tt1-) then b2 (tt2-): one
    offer, two callees (a forking proxy).  Returns (port the callees send
    to, port a sends to)."""
    o = offer(ng, callid, a.getsockname()[1])
    r1 = answer(ng, callid, b1.getsockname()[1], **{"to-tag": "tt1-" + callid})
    r2 = answer(ng, callid, b2.getsockname()[1], **{"to-tag": "tt2-" + callid})
    assert o["result"] == r1["result"] == r2["result"] == "ok", (o, r1, r2)
    return sdp_port(o["sdp"]), sdp_port(r2["sdp"])


def delete(ng, callid, **kw):
    # rtpengine keeps a deleted call for its --delete-delay (30 s) unless
    # the delete says otherwise; WARP's default is 0.
    msg = {"command": "delete", "call-id": callid, "delete-delay": 0}
    msg.update(kw)
    return ng.call(msg)


def forked(media, callid):
    """A WARP relay holding a forked call: (ng, a, b1, b2, to_b, to_a)."""
    ng = media().ng
    a, b1, b2 = udp(), udp(), udp()
    return (ng, a, b1, b2) + fork_call(ng, callid, a, b1, b2)


def delete_ok(ng, callid, **tags):
    d = delete(ng, callid, **tags)
    assert d["result"] == "ok" and "warning" not in d, d
    return d


def assert_relays(a, b, to_b, to_a, quiet=()):
    """b and a talk through the relay; the parties in quiet hear nothing."""
    for seq in range(1, 4):  # the first packet latches
        b.sendto(rtp(seq, b"from-b"), ("127.0.0.1", to_b))
        got = recv_or_none(a)
        assert got and got[0] == rtp(seq, b"from-b"), got
        a.sendto(rtp(seq, b"from-a"), ("127.0.0.1", to_a))
        got = recv_or_none(b)
        assert got and got[0] == rtp(seq, b"from-a"), got
    for q in quiet:
        assert recv_or_none(q, 0.2) is None


def test_delete_of_one_forked_dialogue_leaves_the_other_relaying(media):
    ng, a, b1, b2, to_b, to_a = forked(media, "fork-1")
    delete_ok(ng, "fork-1", **{"from-tag": "ft-fork-1", "to-tag": "tt1-fork-1"})
    assert ng.call({"command": "query", "call-id": "fork-1"})["result"] == "ok"
    assert_relays(a, b2, to_b, to_a, quiet=[b1])


def test_delete_of_the_active_dialogue_hands_media_to_the_earlier_answerer(media):
    ng, a, b1, b2, to_b, to_a = forked(media, "fork-2")
    assert_relays(a, b2, to_b, to_a)  # b2 answered last: b2 has the media, latched
    delete_ok(ng, "fork-2", **{"from-tag": "ft-fork-2", "to-tag": "tt2-fork-2"})
    q = ng.call({"command": "query", "call-id": "fork-2"})
    assert set(q["tags"]) == {"ft-fork-2", "tt1-fork-2"}
    assert_relays(a, b1, to_b, to_a, quiet=[b2])


def test_delete_with_callee_tags_reversed_ends_that_dialogue_only(media):
    """A BYE from callee b1: its tag is the From tag, the caller's the To."""
    ng, a, b1, b2, to_b, to_a = forked(media, "fork-3")
    delete_ok(ng, "fork-3", **{"from-tag": "tt1-fork-3", "to-tag": "ft-fork-3"})
    assert_relays(a, b2, to_b, to_a, quiet=[b1])


def test_delete_by_via_branch_ends_the_answer_of_that_branch(media):
    ng = media().ng
    a, b1, b2 = udp(), udp(), udp()
    o = offer(ng, "fork-4", a.getsockname()[1])
    r1 = answer(ng, "fork-4", b1.getsockname()[1], **{"to-tag": "x1", "via-branch": "z9hG4bK1"})
    r2 = answer(ng, "fork-4", b2.getsockname()[1], **{"to-tag": "x2", "via-branch": "z9hG4bK2"})
    assert o["result"] == r1["result"] == r2["result"] == "ok"
    delete_ok(ng, "fork-4", **{"from-tag": "ft-fork-4", "via-branch": "z9hG4bK2"})
    q = ng.call({"command": "query", "call-id": "fork-4"})
    assert set(q["tags"]) == {"ft-fork-4", "x1"}
    assert_relays(a, b1, sdp_port(o["sdp"]), sdp_port(r2["sdp"]), quiet=[b2])


def test_delete_of_the_last_dialogue_removes_the_call(media):
    ng = forked(media, "fork-5")[0]
    for tt in ("tt1-fork-5", "tt2-fork-5"):
        delete_ok(ng, "fork-5", **{"from-tag": "ft-fork-5", "to-tag": tt})
    q = ng.call({"command": "query", "call-id": "fork-5"})
    assert q == {"result": "error", "error-reason": "Unknown call-id"}


def test_delete_without_to_tag_removes_the_whole_forked_call(media):
    ng, a, b1, b2, to_b, to_a = forked(media, "fork-6")
    delete_ok(ng, "fork-6", **{"from-tag": "ft-fork-6"})
    q = ng.call({"command": "query", "call-id": "fork-6"})
    assert q == {"result": "error", "error-reason": "Unknown call-id"}
    b2.sendto(rtp(1, b"late"), ("127.0.0.1", to_b))
    assert recv_or_none(a, 0.3) is None


def test_delete_of_an_unknown_to_tag_warns_and_keeps_the_call(media):
    ng, a, b1, b2, to_b, to_a = forked(media, "fork-7")
    d = delete(ng, "fork-7", **{"from-tag": "ft-fork-7", "to-tag": "nobody"})
    assert d == {"result": "ok", "warning": "Call-ID not found or tags didn't match"}
    d = delete(ng, "fork-7", **{"from-tag": "ft-fork-7", "to-tag": "nobody", "flags": ["fatal"]})
    assert d == {"result": "error", "error-reason": "Call-ID not found or tags didn't match"}
    assert ng.call({"command": "query", "call-id": "fork-7"})["result"] == "ok"
    assert_relays(a, b2, to_b, to_a)


def test_delete_delay_keeps_the_call_until_it_runs_out(media):
    w = media()
    a, b = udp(), udp()
    a_sends_to, b_sends_to, _, _ = setup_call(w, "call-dd", a, b)
    delete_ok(w.ng, "call-dd", **{"from-tag": "ft-call-dd", "delete-delay": 1})
    assert w.ng.call({"command": "query", "call-id": "call-dd"})["result"] == "ok"
    assert_relays(a, b, b_sends_to, a_sends_to)
    deadline = time.monotonic() + 5
    while w.ng.call({"command": "query", "call-id": "call-dd"})["result"] == "ok":
        assert time.monotonic() < deadline, "delete-delay never ran out"
        time.sleep(0.2)
    ended = w.ng.call({"command": "list"})["ended"]
    assert {"call-id": "call-dd", "reason": "deleted"}.items() <= ended[0].items()


# ---------------------------------------- flags that only restate the default


@pytest.mark.parametrize("flags,to_sdp", [(["asymmetric"], True),
                                           (["symmetric", "trust-address"], False),
                                           ([], False)])
def test_asymmetric_sends_to_the_sdp_address_symmetric_to_the_source(media, flags, to_sdp):
    """a sends from one port while its SDP names another (a_sdp):
    asymmetric keeps the SDP's, symmetric (the default) latches to a."""
    w = media()
    a, a_sdp, b = udp(), udp(), udp()
    o = offer(w.ng, "call-asym", a_sdp.getsockname()[1], flags=flags)
    r = answer(w.ng, "call-asym", b.getsockname()[1])
    a.sendto(rtp(1, b"from-a"), ("127.0.0.1", sdp_port(r["sdp"])))
    assert recv_or_none(b)[0] == rtp(1, b"from-a")
    b.sendto(rtp(1, b"from-b"), ("127.0.0.1", sdp_port(o["sdp"])))
    hears, quiet = (a_sdp, a) if to_sdp else (a, a_sdp)
    assert recv_or_none(hears)[0] == rtp(1, b"from-b")
    assert recv_or_none(quiet, 0.2) is None


@pytest.mark.parametrize("flags", [[], ["port-latching"]])
def test_reoffer_with_a_new_remote_port_keeps_our_ports(media, flags):
    """rtpengine's port-latching keeps its local ports when the remote port
    changes; WARP never changes a call's ports, flag or not."""
    w = media()
    o1 = offer(w.ng, "call-pl", 5000, flags=flags)
    a1 = answer(w.ng, "call-pl", 6000, flags=flags)
    o2 = offer(w.ng, "call-pl", 5100, flags=flags)
    a2 = answer(w.ng, "call-pl", 6100, flags=flags)
    assert sdp_port(o2["sdp"]) == sdp_port(o1["sdp"])
    assert sdp_port(a2["sdp"]) == sdp_port(a1["sdp"])
