"""WARP's ng client (src/ng: engine set, pinger, async client) against real
engines: WARP's media role and Debian's rtpengine (userspace, table=-1, on
loopback), driven through tests/tools/ngclient_harness, the way the SIP
proxy will drive them: offer, answer, query, delete; calls spread by
weight and stick to their engine; a killed engine is marked down by the
pinger and new calls go to the other.

rtpengine tests are skipped when it is not installed (scripts/install-deps
--test).  NGCLIENT_HARNESS names the harness (default: beside WARP_BIN)."""
import os
import select
import shutil
import socket
import subprocess
import time

import pytest

from conftest import free_port, rtp_ports, warp_bin
from test_media_ng import media  # noqa: F401 (fixture)
from test_media_relay import rtp, udp

needs_rtpengine = pytest.mark.skipif(not shutil.which("rtpengine"), reason="rtpengine not installed")


def harness_bin():
    return os.environ.get("NGCLIENT_HARNESS") or os.path.join(
        os.path.dirname(warp_bin()), "tests", "tools", "ngclient_harness")


class Harness:
    """One ngclient_harness process: a command a line in, a result a line out."""

    def __init__(self, spec, ping_ms=100, miss=3):
        self.proc = subprocess.Popen(
            [harness_bin(), "--engines", spec, "--ping-ms", str(ping_ms), "--miss", str(miss),
             "--retransmit-ms", "200", "--retransmits", "2"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)

    def cmd(self, line, timeout=5):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        assert ready, "harness did not answer %r" % line
        words = self.proc.stdout.readline().split()
        assert words, "harness exited on %r" % line
        out = {"ok": words[0] == "ok", "words": words}
        for w in words[2:]:
            if "=" in w:
                k, v = w.split("=", 1)
                out[k] = int(v) if v.lstrip("-").isdigit() else v
        return out

    def states(self):
        return self.cmd("state")["words"][2:]

    def close(self):
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        # A sanitizer build reports leaks and errors through its exit code.
        assert self.proc.returncode == 0, "harness exited with %d" % self.proc.returncode


class Rtpengine:
    """Debian's rtpengine in userspace on loopback, stopped by its PID."""

    def __init__(self, tmp_path):
        self.port = free_port(socket.SOCK_DGRAM)
        lo, hi = rtp_ports(200)
        self.err = tmp_path / ("rtpengine-%d.err" % self.port)
        self.proc = subprocess.Popen(
            ["rtpengine", "--config-file=none", "-f", "-E", "--table=-1", "-i", "127.0.0.1",
             "-n", "127.0.0.1:%d" % self.port, "-m", str(lo), "-M", str(hi),
             "--log-level=5"],
            stdout=subprocess.DEVNULL, stderr=open(self.err, "wb"))
        self._wait_pong()

    def _wait_pong(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(0.3)
        deadline = time.monotonic() + 10
        try:
            while True:
                try:
                    s.sendto(b"p1 d7:command4:pinge", ("127.0.0.1", self.port))
                    if b"pong" in s.recv(1000):
                        return
                except OSError:
                    pass
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError("rtpengine did not start: %s" % self.err.read_text())
        finally:
            s.close()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def rtpe(tmp_path):
    engines = []

    def make():
        engines.append(Rtpengine(tmp_path))
        return engines[-1]
    yield make
    for e in engines:
        e.stop()


@pytest.fixture
def harness():
    made = []

    def make(spec, **kw):
        made.append(Harness(spec, **kw))
        return made[-1]
    yield make
    for h in made:
        h.close()


def warp_spec(w, weight=1):
    return "udp:127.0.0.1:%d=%d" % (w.ng.addr[1], weight)


def rtpe_spec(r, weight=1):
    return "udp:127.0.0.1:%d=%d" % (r.port, weight)


def full_call(h, callid):
    """Offer, answer, five RTP packets from the caller, query, delete."""
    a, b = udp(), udp()
    o = h.cmd("offer %s %d" % (callid, a.getsockname()[1]))
    r = h.cmd("answer %s %d" % (callid, b.getsockname()[1]))
    assert o["ok"] and r["ok"], (o, r)
    assert o["engine"] == r["engine"]
    for seq in range(5):
        a.sendto(rtp(seq + 1, b"\x7f" * 160), ("127.0.0.1", r["port"]))
        assert len(b.recvfrom(4096)[0]) == 172
    q = h.cmd("query " + callid)
    d = h.cmd("delete " + callid)
    gone = h.cmd("query " + callid)
    a.close()
    b.close()
    return o, r, q, d, gone


def check_full_call(o, r, q, d, gone, callid, deleted_at_once=True):
    assert o["port"] > 0 and r["port"] > 0
    assert q["ok"] and q["engine"] == o["engine"]
    assert q["ft-" + callid] == 5, q
    assert q["rtp_packets"] >= 5
    assert d["ok"], d
    assert d["ft-" + callid] == 5, d  # a delete reply carries the final statistics
    if deleted_at_once:
        assert not gone["ok"] and "Unknown call-id" in " ".join(gone["words"]), gone


def test_offer_answer_query_delete_against_warp(media, harness):  # noqa: F811
    w = media()
    h = harness(warp_spec(w))
    check_full_call(*full_call(h, "nc-warp"), "nc-warp")


@needs_rtpengine
def test_offer_answer_query_delete_against_rtpengine(rtpe, harness):
    h = harness(rtpe_spec(rtpe()))
    # rtpengine keeps a deleted call for its delete-delay (30 s by default).
    check_full_call(*full_call(h, "nc-rtpe"), "nc-rtpe", deleted_at_once=False)


@needs_rtpengine
def test_calls_spread_by_weight_and_stick_to_their_engine(media, rtpe, harness):  # noqa: F811
    w, r = media(), rtpe()
    h = harness(warp_spec(w, 1) + ", " + rtpe_spec(r, 3))
    hits = [0, 0]
    for i in range(40):
        callid = "spread-%d" % i
        o = h.cmd("offer %s %d" % (callid, 40000 + 2 * i))
        assert o["ok"], o
        hits[o["engine"]] += 1
        # The answer reaches the engine holding the offer: another engine
        # would answer "Unknown call-id".
        a = h.cmd("answer %s %d" % (callid, 41000 + 2 * i))
        assert a["ok"] and a["engine"] == o["engine"], a
        assert h.cmd("delete " + callid)["ok"]
    # Binomial(40, 3/4): 30 expected on rtpengine, below 20 is ~1 in 10^5.
    assert hits[1] >= 20 and hits[0] >= 1, hits


@needs_rtpengine
def test_killed_engine_is_marked_down_and_new_calls_go_to_the_other(media, rtpe, harness):  # noqa: F811
    w, r = media(), rtpe()
    h = harness(warp_spec(w) + " " + rtpe_spec(r), ping_ms=100, miss=3)
    assert h.states() == ["up", "up"]
    r.stop()
    t0 = time.monotonic()
    while h.states()[1] != "down":
        assert time.monotonic() - t0 < 2.0, "rtpengine not marked down: %s" % h.states()
        time.sleep(0.05)
    # Three missed pings at 100 ms: down in well under a second.
    assert time.monotonic() - t0 < 1.0
    assert h.states()[0] == "up"
    for i in range(10):
        o = h.cmd("offer after-%d %d" % (i, 42000 + 2 * i))
        assert o["ok"] and o["engine"] == 0, o
    # With every engine down, a new call is refused at once.
    w.stop()
    t0 = time.monotonic()
    while h.states()[0] != "down":
        assert time.monotonic() - t0 < 2.0
        time.sleep(0.05)
    err = h.cmd("offer nobody 43000")
    assert not err["ok"] and err["status"] == -113, err  # -EHOSTUNREACH
