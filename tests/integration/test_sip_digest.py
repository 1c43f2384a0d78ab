"""Digest authentication of trunks at WARP's SIP proxy (RFC 3261 §22.3),
end to end: a customer's PBX at an address in no trunk ACL (127.0.0.5,
while the carrier's gateway is on 127.0.0.1) is challenged with 407, answers
with the credentials the trunk was given through the REST API (SIPp's
[authentication], -au/-ap), and its call reaches a SIPp callee behind WARP
with a CDR naming the trunk."""
import hashlib
import re
import socket
import time

from sipfix import sipwarp, scenario, render, sip_port  # noqa: F401

NUMBER = "15551234567"
PBX = "127.0.0.5"  # a dynamic-address PBX: in no ACL, and not a gateway address
USER, PASSWORD = "pbx-dyn", "s3cret-pass-1"
# Debian's SIPp 3.6 answers only the first challenge, in MD5, and baresip 1.0
# fails on any SHA-256 one: both register with the shipped defaults, which
# offer MD5 alone (decision 0053); test_sip_digest_sha256.py drives SHA-256.


def provision(sw, gport, **trunk):
    cus = sw.customer()
    trk = sw.trunk(cus, [], **trunk)
    car, gws = sw.carrier("carrier-a", [gport])
    sw.route("1", [car])
    sw.synced()
    return cus, trk, car, gws


def pbx(sw, name, sf, user=USER, password=PASSWORD, **kw):
    extra = ["-au", user, "-ap", password] if user else []
    return sw.sipp(name, sf, sip_port(), remote="127.0.0.1:%d" % sw.port, service=NUMBER,
                   host=PBX, extra=extra, **kw)


def metric(sw, name, labels=""):
    text = sw.w.get("/metrics").body.decode()
    m = re.search(r"^%s%s (\d+)$" % (re.escape(name), re.escape(labels)), text, re.M)
    return int(m.group(1)) if m else 0


def test_challenged_caller_with_good_credentials_is_connected(sipwarp):
    sw = sipwarp
    gport = sip_port()
    cus, trk, car, gws = provision(sw, gport, username=USER, password=PASSWORD)
    callee = sw.sipp("callee", scenario("uas_answer.xml"), gport).start()
    caller = pbx(sw, "caller", scenario("uac_digest.xml"), hold_ms=200).start()
    assert caller.wait() == 0, caller.describe()
    assert callee.wait() == 0, callee.describe()
    assert 407 in caller.codes() and caller.codes()[-1] == 200
    challenge = [m for m in caller.messages() if m.startswith("SIP/2.0 407")][0]
    assert re.search(r'Proxy-Authenticate: Digest realm="warp", nonce="[^"]+", '
                     r'qop="auth", algorithm=MD5', challenge), challenge
    # The ACK to the 407 stays with the proxy; the callee sees one call.
    assert callee.requests() == ["INVITE", "ACK", "BYE"]
    invite = callee.messages()[0]
    assert "Proxy-Authorization" not in invite, invite  # ours, not the carrier's
    (r,) = sw.cdrs(1)
    assert (r["direction"], r["customer_id"], r["trunk_id"]) == ("termination", cus, trk)
    assert (r["carrier_id"], r["gateway_id"], r["final_code"]) == (car, gws[0], 200)
    assert r["source"].startswith(PBX + ":")
    assert metric(sw, "warp_sip_auth_challenges_total") >= 1
    # The ACK of the 407 and the ACK of the 200, each received once: the
    # former is not sent on (to the callee, or back to the proxy itself).
    assert metric(sw, "warp_sip_requests_total", '{method="ACK"}') == 2


def test_cancel_of_an_authenticated_invite_reaches_the_callee(sipwarp):
    sw = sipwarp
    gport = sip_port()
    cus, trk, car, gws = provision(sw, gport, username=USER, password=PASSWORD)
    callee = sw.sipp("callee", scenario("uas_cancel.xml"), gport).start()
    caller = pbx(sw, "caller", scenario("uac_digest_cancel.xml")).start()
    assert caller.wait() == 0, caller.describe()
    assert callee.wait() == 0, callee.describe()
    assert caller.codes()[-2:] == [200, 487]
    assert callee.requests() == ["INVITE", "CANCEL", "ACK"]
    (r,) = sw.cdrs(1)
    assert (r["trunk_id"], r["final_code"], r["hangup"]) == (trk, 487, "caller")


def test_wrong_password_gets_403_and_no_call(sipwarp):
    sw = sipwarp
    gport = sip_port()
    provision(sw, gport, username=USER, password=PASSWORD)
    callee = sw.sipp("callee", scenario("uas_answer.xml"), gport, timeout_s=3).start()
    caller = pbx(sw, "caller", scenario("uac_digest_refused.xml"),
                 password="not-the-password").start()
    assert caller.wait() == 0, caller.describe()
    assert caller.codes()[-1] == 403 and "bad credentials" in caller.messages()[-1]
    assert sw.cdrs(0, timeout=0.3) == []
    callee.stop()
    assert callee.requests() == []
    assert metric(sw, "warp_sip_auth_failures_total", '{reason="response"}') == 1


def test_unknown_username_gets_403(sipwarp):
    sw = sipwarp
    gport = sip_port()
    provision(sw, gport, username=USER, password=PASSWORD)
    caller = pbx(sw, "caller", scenario("uac_digest_refused.xml"), user="someone-else").start()
    assert caller.wait() == 0, caller.describe()
    assert caller.codes()[-1] == 403
    assert metric(sw, "warp_sip_auth_failures_total", '{reason="user"}') == 1


def test_without_credentials_anywhere_a_stranger_gets_403_unknown_source(sipwarp, tmp_path):
    sw = sipwarp
    provision(sw, sip_port())
    caller = pbx(sw, "stranger", render(tmp_path, "uac_expect.xml", code=403, mf=70),
                 user=None).start()
    assert caller.wait() == 0, caller.describe()
    assert caller.codes() == [403], caller.seen()
    assert "unknown source" in caller.messages()[-1]
    assert metric(sw, "warp_sip_auth_challenges_total") == 0


# ------------------------------------------------ nonce life ([sip] digest_nonce_ttl)

def invite(proxy_port, port, cseq, auth=""):
    return ("INVITE sip:%s@127.0.0.1:%d SIP/2.0\r\n"
            "Via: SIP/2.0/UDP %s:%d;branch=z9hG4bK-ttl-%d;rport\r\n"
            "Max-Forwards: 70\r\nFrom: <sip:pbx@%s>;tag=ttl\r\nTo: <sip:%s@127.0.0.1>\r\n"
            "Call-ID: nonce-ttl@%s\r\nCSeq: %d INVITE\r\nContact: <sip:pbx@%s:%d>\r\n%s"
            "Content-Length: 0\r\n\r\n"
            % (NUMBER, proxy_port, PBX, port, cseq, PBX, NUMBER, PBX, cseq, PBX, port, auth)).encode()


def final_response(sock, cseq):
    """The final response to INVITE number cseq (the 407 of an earlier one,
    resent until ACKed, is skipped)."""
    while True:
        data = sock.recv(65535).decode()
        if not data.startswith("SIP/2.0 1") and "CSeq: %d INVITE" % cseq in data:
            return data


def digest_header(challenge, uri, cnonce="0a4f113b"):
    nonce = re.search(r'nonce="([^"]+)"', challenge).group(1)
    md5 = lambda s: hashlib.md5(s.encode()).hexdigest()  # noqa: E731
    ha1, ha2 = md5("%s:warp:%s" % (USER, PASSWORD)), md5("INVITE:" + uri)
    resp = md5("%s:%s:00000001:%s:auth:%s" % (ha1, nonce, cnonce, ha2))
    return ('Proxy-Authorization: Digest username="%s", realm="warp", nonce="%s", uri="%s", '
            'response="%s", algorithm=MD5, qop=auth, nc=00000001, cnonce="%s"\r\n'
            % (USER, nonce, uri, resp, cnonce))


def test_nonce_older_than_digest_nonce_ttl_gets_a_stale_challenge(warp_factory, tmp_path):
    from sipfix import SipWarp, TOKEN, ini, wait_sip_listening
    port = sip_port()
    w = warp_factory(extra_ini=ini(port, "digest_nonce_ttl = 1s"), env={"WARP_ADMIN_TOKEN": TOKEN},
                     args=["--roles", "api,sip"])
    w.sip_port = port
    w.start()
    wait_sip_listening(port)
    sw = SipWarp(w, tmp_path)
    provision(sw, sip_port(), username=USER, password=PASSWORD)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(5)
    sock.bind((PBX, 0))
    lport = sock.getsockname()[1]
    uri = "sip:%s@127.0.0.1:%d" % (NUMBER, port)
    try:
        sock.sendto(invite(port, lport, 1), ("127.0.0.1", port))
        first = final_response(sock, 1)
        assert first.startswith("SIP/2.0 407") and "stale" not in first, first
        time.sleep(1.3)  # the nonce outlives its one second
        sock.sendto(invite(port, lport, 2, digest_header(first, uri)), ("127.0.0.1", port))
        second = final_response(sock, 2)
        assert second.startswith("SIP/2.0 407"), second
        assert re.search(r"Proxy-Authenticate: Digest [^\r\n]*stale=true", second), second
    finally:
        sock.close()
    assert sw.stop()[0] == 0
