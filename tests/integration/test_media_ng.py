"""The media role's ng control protocol, driven like Kamailio's rtpengine
module drives it: bencoded dictionaries over UDP, with a cookie each.

The bencode encoder and decoder below are the test's own (a dozen lines
each), so a bug in WARP's codec cannot hide itself."""
import os
import socket
import time

import pytest

from conftest import free_port, rtp_ports

# ------------------------------------------------------------------ bencode


def benc(v):
    if isinstance(v, int):
        return b"i%de" % v
    if isinstance(v, str):
        v = v.encode()
    if isinstance(v, bytes):
        return b"%d:%s" % (len(v), v)
    if isinstance(v, list):
        return b"l" + b"".join(benc(x) for x in v) + b"e"
    if isinstance(v, dict):
        return b"d" + b"".join(benc(k) + benc(x) for k, x in v.items()) + b"e"
    raise TypeError(type(v))


def bdec(b, i=0):
    """Returns (value, next index); strings come back as str."""
    c = b[i:i + 1]
    if c == b"i":
        j = b.index(b"e", i)
        return int(b[i + 1:j]), j + 1
    if c in (b"l", b"d"):
        i += 1
        items = []
        while b[i:i + 1] != b"e":
            v, i = bdec(b, i)
            items.append(v)
        if c == b"l":
            return items, i + 1
        return dict(zip(items[::2], items[1::2])), i + 1
    j = b.index(b":", i)
    n = int(b[i:j])
    return b[j + 1:j + 1 + n].decode("utf-8", "replace"), j + 1 + n


# ------------------------------------------------------------------ helpers


class Ng:
    """An ng client on loopback."""

    def __init__(self, port):
        self.addr = ("127.0.0.1", port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.settimeout(3)
        self.n = 0

    def raw(self, data):
        self.sock.sendto(data, self.addr)
        return self.sock.recv(65536)

    def call(self, msg, cookie=None):
        self.n += 1
        cookie = cookie or ("c%d_%d" % (os.getpid(), self.n))
        reply = self.raw(cookie.encode() + b" " + benc(msg))
        got_cookie, body = reply.split(b" ", 1)
        assert got_cookie == cookie.encode()
        value, end = bdec(body)
        assert end == len(body)
        return value

    def close(self):
        self.sock.close()


def media_ini(ng_port, port_min=None, port_max=None, extra=""):
    lo, hi = (port_min, port_max) if port_min else rtp_ports(200)
    return ("\n[media]\nng_listen = 127.0.0.1:%d\ninterfaces = default/127.0.0.1\n"
            "port_min = %d\nport_max = %d\nworkers = 2\nport_quiet = 2s\n%s\n"
            % (ng_port, lo, hi, extra))


@pytest.fixture
def media(warp_factory, tmp_path):
    """A warp running only the media role, and an ng client for it."""
    def make(extra="", port_min=None, port_max=None, env=None):
        ng_port = free_port(socket.SOCK_DGRAM)
        w = warp_factory(extra_ini=media_ini(ng_port, port_min, port_max,
                                             "recording_dir = %s\n%s" % (tmp_path / "spool", extra)),
                         args=["--roles", "media"], env=env).start()
        ng = Ng(ng_port)
        deadline = time.monotonic() + 5
        while True:
            try:
                ng.call({"command": "ping"})
                break
            except socket.timeout:
                if time.monotonic() > deadline:
                    raise
        w.ng = ng
        return w
    return make


def sdp(port, addr="127.0.0.1", codecs=(0,), extra=""):
    fmts = " ".join(str(c) for c in codecs)
    maps = "".join("a=rtpmap:%d %s/8000\r\n" % (c, {0: "PCMU", 8: "PCMA", 18: "G729"}[c])
                   for c in codecs)
    return ("v=0\r\no=- 1545997027 1 IN IP4 %s\r\ns=tester\r\nc=IN IP4 %s\r\nt=0 0\r\n"
            "m=audio %d RTP/AVP %s\r\n%sa=sendrecv\r\n%s" % (addr, addr, port, fmts, maps, extra))


def sdp_port(body):
    for line in body.split("\r\n"):
        if line.startswith("m="):
            return int(line.split()[1])
    raise AssertionError("no m= line in %r" % body)


def offer(ng, callid, port, **kw):
    msg = {"command": "offer", "call-id": callid, "from-tag": "ft-" + callid, "sdp": sdp(port, **{
        k: v for k, v in kw.items() if k in ("addr", "codecs", "extra")})}
    msg.update({k: v for k, v in kw.items() if k not in ("addr", "codecs", "extra")})
    return ng.call(msg)


def answer(ng, callid, port, **kw):
    msg = {"command": "answer", "call-id": callid, "from-tag": "ft-" + callid,
           "to-tag": "tt-" + callid, "sdp": sdp(port, **{
               k: v for k, v in kw.items() if k in ("addr", "codecs", "extra")})}
    msg.update({k: v for k, v in kw.items() if k not in ("addr", "codecs", "extra")})
    return ng.call(msg)


# -------------------------------------------------------------------- tests


def test_ping_answers_pong(media):
    w = media()
    assert w.ng.call({"command": "ping"}) == {"result": "pong"}


def test_offer_rewrites_address_and_port_and_keeps_other_lines(media):
    w = media()
    r = offer(w.ng, "call-rw", 5000, extra="a=x-custom:keep me\r\n")
    assert r["result"] == "ok", r
    body = r["sdp"]
    assert "c=IN IP4 127.0.0.1\r\n" in body
    port = sdp_port(body)
    assert port != 5000 and port % 2 == 0
    assert "a=rtcp:%d\r\n" % (port + 1) in body
    assert "a=x-custom:keep me\r\n" in body
    assert "s=tester\r\n" in body and "a=rtpmap:0 PCMU/8000\r\n" in body


def test_offer_answer_query_delete_round_trip(media):
    w = media()
    o = offer(w.ng, "call-rt", 5000)
    a = answer(w.ng, "call-rt", 6000)
    assert o["result"] == "ok" and a["result"] == "ok", (o, a)
    assert sdp_port(o["sdp"]) != sdp_port(a["sdp"])
    q = w.ng.call({"command": "query", "call-id": "call-rt"})
    assert q["result"] == "ok"
    assert set(q["tags"]) == {"ft-call-rt", "tt-call-rt"}
    ft = q["tags"]["ft-call-rt"]
    assert ft["in dialogue with"] == "tt-call-rt"
    streams = ft["medias"][0]["streams"]
    assert streams[0]["local port"] == sdp_port(a["sdp"])
    assert streams[0]["endpoint"] == {"family": "IPv4", "address": "127.0.0.1", "port": 5000}
    assert q["totals"]["RTP"] == {"packets": 0, "bytes": 0, "errors": 0}
    lst = w.ng.call({"command": "list"})
    assert "call-rt" in lst["calls"]
    d = w.ng.call({"command": "delete", "call-id": "call-rt", "from-tag": "ft-call-rt"})
    assert d["result"] == "ok" and "totals" in d
    assert "call-rt" not in w.ng.call({"command": "list"})["calls"]
    q = w.ng.call({"command": "query", "call-id": "call-rt"})
    assert q == {"result": "error", "error-reason": "Unknown call-id"}


def test_repeated_cookie_gets_identical_reply_and_allocates_nothing(media):
    w = media()
    msg = (b"dup-1 " + benc({"command": "offer", "call-id": "call-dup", "from-tag": "a",
                             "sdp": sdp(5000)}))
    first = w.ng.raw(msg)
    second = w.ng.raw(msg)
    assert first == second
    # A call holds two pairs (one per party); a fresh offer with another
    # cookie takes the next two, so the repeat took none.
    r2 = offer(w.ng, "call-dup2", 5002)
    assert sdp_port(r2["sdp"]) == sdp_port(bdec(first.split(b" ", 1)[1])[0]["sdp"]) + 4
    stats = w.ng.call({"command": "statistics"})
    assert stats["statistics"]["totalstatistics"]["managedsessions"] == 2


def test_bad_bencode_gets_an_error_reply(media):
    w = media()
    reply = w.ng.raw(b"bad-1 d7:command4:ping")
    cookie, body = reply.split(b" ", 1)
    assert cookie == b"bad-1"
    assert bdec(body)[0] == {"result": "error", "error-reason": "Could not decode dictionary"}


def test_unknown_call_is_an_error(media):
    w = media()
    r = answer(w.ng, "call-nobody", 6000)
    assert r == {"result": "error", "error-reason": "Unknown call-id"}
    d = w.ng.call({"command": "delete", "call-id": "call-nobody", "from-tag": "x",
                   "flags": ["fatal"]})
    assert d == {"result": "error", "error-reason": "Call-ID not found or tags didn't match"}


def test_port_exhaustion_is_an_error_reply_not_a_crash(media):
    lo, hi = rtp_ports(4)
    w = media(port_min=lo, port_max=hi)  # two pairs: one call
    assert offer(w.ng, "call-ex1", 5000)["result"] == "ok"
    r = offer(w.ng, "call-ex2", 5002)
    assert r == {"result": "error", "error-reason": "Ran out of ports"}
    assert w.ng.call({"command": "ping"}) == {"result": "pong"}
    assert w.proc.poll() is None


def test_commands_are_counted_in_metrics(media):
    w = media()
    w.ng.call({"command": "ping"})
    offer(w.ng, "call-met", 5000)
    text = w.get("/metrics").body.decode()
    assert 'warp_media_ng_commands_total{command="offer",result="ok"} 1' in text
    assert "warp_media_calls 1" in text


def test_direction_picks_named_interfaces_and_advertised_address(media):
    w = media(env={"WARP_MEDIA_INTERFACES": "priv/127.0.0.1;pub/127.0.0.1!203.0.113.7"})
    o = offer(w.ng, "call-dir", 5000, direction=["priv", "pub"], replace=["origin"])
    assert o["result"] == "ok", o
    assert "c=IN IP4 203.0.113.7\r\n" in o["sdp"]
    assert "o=- 1545997027 1 IN IP4 203.0.113.7\r\n" in o["sdp"]
    a = answer(w.ng, "call-dir", 6000)
    assert "c=IN IP4 127.0.0.1\r\n" in a["sdp"]


def test_unknown_interface_is_an_error(media):
    w = media()
    r = offer(w.ng, "call-noif", 5000, direction=["nowhere", "default"])
    assert r == {"result": "error", "error-reason": "Unknown interface in direction"}


def test_ice_removed_and_codec_stripped(media):
    w = media()
    r = offer(w.ng, "call-ice", 5000, codecs=(0, 8),
              extra="a=ice-ufrag:abcd\r\na=ice-pwd:0123456789abcdef01234567\r\n"
                    "a=candidate:1 1 UDP 2130706431 10.0.0.1 5000 typ host\r\n",
              ICE="remove", codec={"strip": ["PCMA"]})
    assert r["result"] == "ok", r
    assert "ice-" not in r["sdp"] and "candidate" not in r["sdp"]
    assert "m=audio %d RTP/AVP 0\r\n" % sdp_port(r["sdp"]) in r["sdp"]
    assert "PCMA" not in r["sdp"]
