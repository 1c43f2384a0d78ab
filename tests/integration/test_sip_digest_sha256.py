"""SHA-256 digest (RFC 8760, RFC 7616) at WARP's proxy and registrar, end to
end.  Debian's SIPp (3.6.1) answers only MD5, so the peer here is a plain
UDP client of the test's own that reads the challenges and computes its
answers with hashlib: a REGISTER and an INVITE answered with SHA-256, a
trunk whose SHA-256 HA1 is unknown (its password set before migration 0025)
challenged with MD5 alone, and `[sip] digest_sha256 = false`.  Both
algorithms are offered MD5 first unless `digest_sha256_first` (decision
0053)."""
import hashlib
import re
import socket
import sqlite3
import uuid

import pytest

from sipfix import sipwarp, render, sip_port  # noqa: F401

# SHA-256 is offered only when asked (decision 0053: MD5 alone as shipped).
SIPWARP_SIP_INI = "digest_sha256 = true\n"

NUMBER = "15551234567"
PBX = "127.0.0.7"  # in no ACL, not a gateway address
USER, PASSWORD = "pbx-sha", "s3cret-pass-256"
HASH = {"SHA-256": hashlib.sha256, "MD5": hashlib.md5}


def h(alg, text):
    return HASH[alg](text.encode()).hexdigest()


def challenges(text):
    """The (header, realm, algorithm, nonce, stale) of each challenge, in order."""
    return re.findall(r'^(WWW|Proxy)-Authenticate: Digest realm="([^"]+)", nonce="([^"]+)", '
                      r'qop="auth", algorithm=([A-Z0-9-]+)(, stale=true)?\r$', text, re.M)


def algorithms(text):
    return [c[3] for c in challenges(text)]


class Peer:
    """A UA on UDP from PBX: requests with one Call-ID, CSeq counting up, the
    final response returned (1xx and resent earlier finals skipped)."""

    def __init__(self, sw, user=USER, password=PASSWORD):
        self.sw, self.user, self.password = sw, user, password
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((PBX, 0))
        self.sock.settimeout(5)
        self.port = self.sock.getsockname()[1]
        self.call_id, self.cseq, self.nc = uuid.uuid4().hex, 0, 0

    def close(self):
        self.sock.close()

    def auth(self, challenge, alg, method, uri, password=None):
        """The Authorization (401) or Proxy-Authorization (407) answering the
        challenge of algorithm alg in the response text."""
        kind, realm, nonce = [c for c in challenges(challenge) if c[3] == alg][0][:3]
        self.nc += 1
        nc, cnonce = "%08x" % self.nc, uuid.uuid4().hex[:8]
        ha1 = h(alg, "%s:%s:%s" % (self.user, realm, password or self.password))
        resp = h(alg, "%s:%s:%s:%s:auth:%s" % (ha1, nonce, nc, cnonce, h(alg, "%s:%s" % (method, uri))))
        return ('%sAuthorization: Digest username="%s", realm="%s", nonce="%s", uri="%s", '
                'response="%s", algorithm=%s, qop=auth, nc=%s, cnonce="%s"\r\n'
                % ("Proxy-" if kind == "Proxy" else "", self.user, realm, nonce, uri, resp, alg,
                   nc, cnonce))

    def request(self, method, uri, to, extra=""):
        self.cseq += 1
        branch = "z9hG4bK-%s" % uuid.uuid4().hex
        msg = ("%s %s SIP/2.0\r\n"
               "Via: SIP/2.0/UDP %s:%d;branch=%s;rport\r\n"
               "Max-Forwards: 70\r\nFrom: <sip:%s@%s>;tag=sha\r\nTo: <sip:%s@127.0.0.1>\r\n"
               "Call-ID: %s\r\nCSeq: %d %s\r\nContact: <sip:%s@%s:%d>\r\n%s"
               "Content-Length: 0\r\n\r\n"
               % (method, uri, PBX, self.port, branch, self.user, PBX, to, self.call_id,
                  self.cseq, method, self.user, PBX, self.port, extra))
        self.sock.sendto(msg.encode(), ("127.0.0.1", self.sw.port))
        while True:
            text = self.sock.recv(65535).decode()
            if not text.startswith("SIP/2.0 1") and "CSeq: %d %s" % (self.cseq, method) in text:
                break
        if method == "INVITE":  # §17.1.1.3: the non-2xx final's ACK, same branch
            ack = msg.replace("INVITE " + uri, "ACK " + uri, 1).replace(
                "CSeq: %d INVITE" % self.cseq, "CSeq: %d ACK" % self.cseq)
            to_line = re.search(r"^To: [^\r]*", text, re.M).group(0)
            ack = re.sub(r"^To: [^\r]*", to_line, ack, flags=re.M)
            self.sock.sendto(ack.encode(), ("127.0.0.1", self.sw.port))
        return int(text.split(" ", 2)[1]), text

    def register(self, extra=""):
        return self.request("REGISTER", "sip:127.0.0.1:%d" % self.sw.port, self.user,
                            "Expires: 300\r\n" + extra)

    def invite(self, extra=""):
        return self.request("INVITE", "sip:%s@127.0.0.1:%d" % (NUMBER, self.sw.port), NUMBER,
                            extra)

    def call(self, alg, offered=("MD5", "SHA-256")):
        """An INVITE challenged with both algorithms, MD5 first as shipped
        (decision 0053; SHA-256 first with digest_sha256_first), and
        answered in alg: the final code of the authenticated one."""
        code, first = self.invite()
        assert code == 407 and algorithms(first) == list(offered), first
        uri = "sip:%s@127.0.0.1:%d" % (NUMBER, self.sw.port)
        code, final = self.invite(self.auth(first, alg, "INVITE", uri))
        return code, final


def registrations(sw, trunk):
    db = sqlite3.connect(str(sw.tmp / "warp.db"))
    try:
        return db.execute("SELECT aor FROM registrations WHERE trunk_id = ?", (trunk,)).fetchall()
    finally:
        db.close()


def forget_sha256(sw, trunk):
    """The trunk as a password set before migration 0025 left it: no SHA-256 HA1."""
    db = sqlite3.connect(str(sw.tmp / "warp.db"))
    try:
        db.execute("UPDATE trunks SET auth_ha1_sha256 = NULL WHERE id = ?", (trunk,))
        db.execute("UPDATE config_version SET version = version + 1")
        db.commit()
    finally:
        db.close()
    sw.synced()


def provision(sw):
    cus = sw.customer()
    trk = sw.trunk(cus, [], username=USER, password=PASSWORD)
    sw.synced()
    return cus, trk


def test_register_answered_with_sha256_binds_the_aor(sipwarp):
    sw = sipwarp
    _, trk = provision(sw)
    ua = Peer(sw)
    try:
        code, first = ua.register()
        assert code == 401, first
        # both algorithms, MD5 first as shipped (decision 0053), one nonce for both
        (a, b) = challenges(first)
        assert (a[0], a[1], a[3]) == ("WWW", "warp", "MD5") and not a[4], first
        assert (b[1], b[3]) == ("warp", "SHA-256") and b[2] == a[2], first
        code, ok = ua.register(ua.auth(first, "SHA-256", "REGISTER",
                                       "sip:127.0.0.1:%d" % sw.port))
        assert code == 200, ok
        assert registrations(sw, trk) == [("%s@127.0.0.1" % USER,)]
    finally:
        ua.close()


def test_invite_answered_with_sha256_is_routed_as_the_trunk(sipwarp, tmp_path):
    sw = sipwarp
    gport = sip_port()
    _, trk = provision(sw)
    car, _ = sw.carrier("carrier-a", [gport])
    sw.route("1", [car])
    sw.synced()
    callee = sw.sipp("callee", render(tmp_path, "uas_reject.xml", code=486), gport).start()
    callee.wait_bound()
    ua = Peer(sw)
    try:
        code, final = ua.call("SHA-256")
        assert code == 486, final
    finally:
        ua.close()
    assert callee.wait() == 0, callee.describe()
    (cdr,) = sw.cdrs()
    assert cdr["trunk_id"] == trk and cdr["final_code"] == 486


def test_wrong_sha256_password_is_refused(sipwarp):
    sw = sipwarp
    provision(sw)
    ua = Peer(sw)
    try:
        code, first = ua.register()
        code, text = ua.register(ua.auth(first, "SHA-256", "REGISTER",
                                         "sip:127.0.0.1:%d" % sw.port, password="not-the-one"))
        assert code == 403 and "bad credentials" in text, text
    finally:
        ua.close()


def test_trunk_without_a_sha256_ha1_is_challenged_with_md5_only(sipwarp):
    sw = sipwarp
    _, trk = provision(sw)
    forget_sha256(sw, trk)
    ua = Peer(sw)
    uri = "sip:127.0.0.1:%d" % sw.port
    try:
        code, first = ua.register()
        assert code == 401 and algorithms(first) == ["MD5"], first
        # A client that answers with SHA-256 anyway: MD5 alone again, stale
        # (it retries with the same password), then MD5 binds.
        sha = re.sub("algorithm=MD5", "algorithm=SHA-256", first)
        code, again = ua.register(ua.auth(sha, "SHA-256", "REGISTER", uri))
        assert code == 401 and algorithms(again) == ["MD5"], again
        assert all(c[4] for c in challenges(again)), again
        code, ok = ua.register(ua.auth(again, "MD5", "REGISTER", uri))
        assert code == 200, ok
        assert registrations(sw, trk) == [("%s@127.0.0.1" % USER,)]
    finally:
        ua.close()


def test_digest_sha256_false_offers_md5_alone_and_still_verifies_sha256(warp_factory, tmp_path):
    from sipfix import SipWarp, TOKEN, ini, wait_sip_listening
    port = sip_port()
    w = warp_factory(extra_ini=ini(port, "digest_sha256 = false"),
                     env={"WARP_ADMIN_TOKEN": TOKEN}, args=["--roles", "api,sip"])
    w.sip_port = port
    w.start()
    wait_sip_listening(port)
    sw = SipWarp(w, tmp_path)
    _, trk = provision(sw)
    ua = Peer(sw)
    try:
        code, first = ua.register()
        assert code == 401 and algorithms(first) == ["MD5"], first
        # The trunk's SHA-256 HA1 is kept: a client choosing SHA-256 is admitted.
        sha = re.sub("algorithm=MD5", "algorithm=SHA-256", first)
        code, ok = ua.register(ua.auth(sha, "SHA-256", "REGISTER", "sip:127.0.0.1:%d" % port))
        assert code == 200, ok
    finally:
        ua.close()
        rc, _ = sw.stop()
    assert rc == 0


@pytest.fixture
def sha256_first(monkeypatch):
    monkeypatch.setenv("WARP_SIP_DIGEST_SHA256_FIRST", "true")


def test_digest_sha256_first_offers_sha256_before_md5(sha256_first, sipwarp):
    """RFC 8760 §2.4's order of preference, for a fleet whose clients all
    pick the challenge they support (not simply the first)."""
    sw = sipwarp
    provision(sw)
    ua = Peer(sw)
    try:
        code, final = ua.call("SHA-256", offered=("SHA-256", "MD5"))
    finally:
        ua.close()
    assert code >= 200 and code not in (401, 403, 407), final  # admitted (no route here)
