"""REGISTER scanners (issue 14, decision 0044): svmap/svwar-style sources
that only REGISTER get 401 challenges, never a refusal.  A stranger that
got more than [sip] flood_refusals challenges within flood_window without
authenticating has each further one counted as a refusal, so it is banned
(then ignored, listed by GET /api/v1/sip/bans); wrong passwords are 403s,
refusals from the first; a real UA answers its challenge and is never
banned however often it refreshes."""
import hashlib
import re
import socket
import time
import uuid

import pytest

from conftest import http
from sipfix import AUTH, sipwarp  # noqa: F401

USER, PASSWORD, REALM = "pbx-scan", "s3cret-pass-9", "warp"
REFUSALS = 3


@pytest.fixture(autouse=True)
def flood_limits(monkeypatch):
    monkeypatch.setenv("WARP_SIP_FLOOD_REFUSALS", str(REFUSALS))
    monkeypatch.setenv("WARP_SIP_FLOOD_WINDOW", "30s")
    monkeypatch.setenv("WARP_SIP_FLOOD_BAN", "60s")


def provision(sw):
    sw.trunk(sw.customer(), [], username=USER, password=PASSWORD)
    sw.synced()


class Ua:
    """REGISTERs over UDP from src: one Call-ID, CSeq counting up; with
    a password, the digest of the last challenge (RFC 2617, MD5, qop=auth)."""

    def __init__(self, sw, src, password=None):
        self.sw, self.src, self.password = sw, src, password
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((src, 0))
        self.port = self.sock.getsockname()[1]
        self.call_id, self.cseq, self.nc, self.nonce = uuid.uuid4().hex, 0, 0, None

    def close(self):
        self.sock.close()

    def authorization(self, uri):
        self.nc += 1
        ha1 = hashlib.md5(("%s:%s:%s" % (USER, REALM, self.password)).encode()).hexdigest()
        ha2 = hashlib.md5(("REGISTER:%s" % uri).encode()).hexdigest()
        nc, cnonce = "%08x" % self.nc, uuid.uuid4().hex[:8]
        resp = hashlib.md5(("%s:%s:%s:%s:auth:%s" % (ha1, self.nonce, nc, cnonce, ha2))
                           .encode()).hexdigest()
        return ('Authorization: Digest username="%s", realm="%s", nonce="%s", uri="%s", '
                'response="%s", qop=auth, nc=%s, cnonce="%s", algorithm=MD5\r\n'
                % (USER, REALM, self.nonce, uri, resp, nc, cnonce))

    def send(self, auth, wait=1.0):
        """One REGISTER; its final code, None when nothing answered."""
        self.cseq += 1
        port = self.sw.w.sip_port
        uri = "sip:127.0.0.1:%d" % port
        msg = ("REGISTER %s SIP/2.0\r\n"
               "Via: SIP/2.0/UDP %s:%d;branch=z9hG4bK-%s;rport\r\n"
               "From: <sip:%s@127.0.0.1>;tag=%s\r\n"
               "To: <sip:%s@127.0.0.1>\r\n"
               "Call-ID: %s\r\nCSeq: %d REGISTER\r\nMax-Forwards: 70\r\n"
               "Contact: <sip:%s@%s:%d>\r\nExpires: 300\r\n"
               % (uri, self.src, self.port, uuid.uuid4().hex, USER, self.call_id[:8], USER,
                  self.call_id, self.cseq, USER, self.src, self.port))
        if auth:
            msg += self.authorization(uri)
        self.sock.sendto((msg + "Content-Length: 0\r\n\r\n").encode(), ("127.0.0.1", port))
        deadline = time.monotonic() + wait
        while True:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                text = self.sock.recv(65535).decode()
            except socket.timeout:
                return None
            code = int(text.split(" ", 2)[1])
            if code >= 200 and ("CSeq: %d REGISTER" % self.cseq) in text:
                break
        m = re.search(r'WWW-Authenticate: Digest realm="[^"]+", nonce="([^"]+)"', text)
        if m:
            self.nonce = m.group(1)
        return code

    def register(self):
        """Challenge, then its answer (what a PBX does): the two codes."""
        return [self.send(auth=False), self.send(auth=True)]


def metric(sw, name):
    m = re.search(r"^%s (\d+)$" % name, sw.w.get("/metrics").body.decode(), re.M)
    return int(m.group(1)) if m else None


def banned(sw, addr):
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        r = http("GET", sw.w.base + "/api/v1/sip/bans", None, headers=AUTH)
        assert r.status == 200, r.body
        if any(b["address"] == addr for b in r.json()["data"]):
            return True
        time.sleep(0.05)
    return False


def test_a_source_sending_only_unauthenticated_registers_is_banned(sipwarp):
    sw = sipwarp
    provision(sw)
    scanner = Ua(sw, "127.0.1.21")
    try:
        # REFUSALS challenges are free, REFUSALS more count: the ban
        codes = [scanner.send(auth=False) for _ in range(2 * REFUSALS + 2)]
    finally:
        scanner.close()
    assert codes[:2 * REFUSALS] == [401] * (2 * REFUSALS), codes
    assert codes[2 * REFUSALS:] == [None, None], codes  # ignored
    assert metric(sw, "warp_sip_bans_total") == 1
    assert banned(sw, "127.0.1.21")


def test_a_source_guessing_passwords_is_banned(sipwarp):
    sw = sipwarp
    provision(sw)
    cracker = Ua(sw, "127.0.1.22", password="guess")
    try:
        assert cracker.send(auth=False) == 401
        codes = [cracker.send(auth=True) for _ in range(REFUSALS + 2)]
    finally:
        cracker.close()
    assert codes[:REFUSALS] == [403] * REFUSALS, codes
    assert codes[REFUSALS:] == [None, None], codes
    assert banned(sw, "127.0.1.22")


def test_a_real_ua_registering_and_refreshing_is_never_banned(sipwarp):
    sw = sipwarp
    provision(sw)
    pbx = Ua(sw, "127.0.1.23", password=PASSWORD)
    try:
        # each refresh from a fresh challenge (a UA that forgets its nonce)
        # and many more challenges in all than the threshold
        for _ in range(3 * REFUSALS):
            assert pbx.register() == [401, 200]
    finally:
        pbx.close()
    assert metric(sw, "warp_sip_bans_total") == 0
    assert not banned(sw, "127.0.1.23")
