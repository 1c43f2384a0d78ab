"""WARP's media role next to Debian's rtpengine (userspace, table=-1, on
loopback): the same ng conversation goes to both, and what a proxy sees —
rewritten SDP, error replies, query shape, relayed RTP — must match.

Skipped when rtpengine is not installed (scripts/install-deps --test)."""
import re
import shutil
import socket
import subprocess
import time

import pytest

from conftest import free_port, rtp_ports
from test_media_ng import Ng, answer, media, offer, sdp_port  # noqa: F401 (fixture)
from test_media_relay import rtp, udp

pytestmark = pytest.mark.skipif(not shutil.which("rtpengine"), reason="rtpengine not installed")


@pytest.fixture
def rtpengine(tmp_path):
    port = free_port(socket.SOCK_DGRAM)
    lo, hi = rtp_ports(200)
    err = open(tmp_path / "rtpengine.err", "wb")
    proc = subprocess.Popen(
        ["rtpengine", "--config-file=none", "-f", "-E", "--table=-1", "-i", "127.0.0.1",
         "-n", "127.0.0.1:%d" % port, "-m", str(lo), "-M", str(hi), "--log-level=5"],
        stdout=subprocess.DEVNULL, stderr=err)
    ng = Ng(port)
    deadline = time.monotonic() + 10
    while True:
        try:
            ng.sock.settimeout(0.3)
            ng.call({"command": "ping"})
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("rtpengine did not start: %s"
                                     % (tmp_path / "rtpengine.err").read_text())
    ng.sock.settimeout(3)
    yield ng
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture
def both(media, rtpengine):
    return {"warp": media().ng, "rtpengine": rtpengine}


def ports_out(body):
    """The SDP with our ports blanked: they differ by design."""
    return re.sub(r"(m=audio |a=rtcp:)\d+", r"\1PORT", body)


def test_offer_and_answer_sdp_lines_same_as_rtpengine(both):
    """The same lines; rtpengine regenerates the a= lines in its own order
    where WARP keeps the sender's, so order is compared only for WARP."""
    got = {}
    for name, ng in both.items():
        o = offer(ng, "call-io", 5000, extra="a=x-keep:1\r\n")
        a = answer(ng, "call-io", 6000)
        got[name] = (ports_out(o["sdp"]), ports_out(a["sdp"]))
    for mine, theirs in zip(got["warp"], got["rtpengine"]):
        assert sorted(mine.split("\r\n")) == sorted(theirs.split("\r\n"))
    assert "a=sendrecv\r\na=x-keep:1\r\na=rtcp:PORT\r\n" in got["warp"][0]


def test_error_replies_match_rtpengine(both):
    got = {}
    for name, ng in both.items():
        got[name] = (ng.call({"command": "query", "call-id": "nobody"}),
                     ng.call({"command": "delete", "call-id": "nobody", "from-tag": "x"}),
                     ng.call({"command": "ping"}))
    assert got["warp"] == got["rtpengine"]


def keys_missing(ours, theirs, path=""):
    """Keys WARP sends that rtpengine does not, walking dicts and lists."""
    missing = []
    if isinstance(ours, dict) and isinstance(theirs, dict):
        for k, v in ours.items():
            if k not in theirs:
                missing.append(path + "/" + k)
            else:
                missing += keys_missing(v, theirs[k], path + "/" + k)
    elif isinstance(ours, list) and isinstance(theirs, list):
        for x, y in zip(ours, theirs):
            missing += keys_missing(x, y, path + "[]")
    return missing


def test_query_reply_uses_rtpengine_keys(both):
    got = {}
    for name, ng in both.items():
        offer(ng, "call-q", 5000)
        answer(ng, "call-q", 6000)
        got[name] = ng.call({"command": "query", "call-id": "call-q"})
    # "in dialogue with" is in rtpengine's documentation of query but no
    # longer in what 10.5 sends (it lists subscriptions instead).
    extra = [k for k in keys_missing(got["warp"], got["rtpengine"])
             if not k.endswith("/in dialogue with")]
    assert extra == []
    assert got["warp"]["totals"] == got["rtpengine"]["totals"]
    for tag in ("ft-call-q", "tt-call-q"):
        for name in both:
            streams = got[name]["tags"][tag]["medias"][0]["streams"]
            assert [s["endpoint"]["port"] for s in streams] == \
                ([5000, 5001] if tag.startswith("ft") else [6000, 6001])


def test_rtp_relayed_by_both_alike(both):
    for name, ng in both.items():
        a, b = udp(), udp()
        o = offer(ng, "call-pk-" + name, a.getsockname()[1])
        r = answer(ng, "call-pk-" + name, b.getsockname()[1])
        pkt = rtp(1, b"\x01\x02\x03" * 50)
        a.sendto(pkt, ("127.0.0.1", sdp_port(r["sdp"])))
        assert b.recvfrom(4096)[0] == pkt, name
        b.sendto(pkt, ("127.0.0.1", sdp_port(o["sdp"])))
        assert a.recvfrom(4096)[0] == pkt, name
