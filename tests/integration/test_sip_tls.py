"""SIP over TLS (RFC 3261 §26.2) through the real warp binary, with Debian's
Kamailio and its tls module as the TLS-speaking peer (SIPp on Debian has no
TLS):

  caller side: SIPp caller -UDP-> Kamailio -TLS-> warp's TLS listener
               -UDP-> SIPp callee (a gateway with transport udp);
  gateway side: SIPp caller -UDP-> warp -TLS-> Kamailio (a gateway with
               transport tls) -UDP-> SIPp callee.

A throwaway CA and certificates (IP SAN 127.0.0.1) are made with the openssl
CLI in the test's folder.  Kamailio verifies warp's certificate with that CA
when it connects (verify_certificate), and warp verifies Kamailio's with
tls_ca; a second CA that signed nothing shows a certificate that does not
verify fails the attempt.  Kamailio runs a configuration written by the test,
in a session of its own, and is stopped by its PID (test_media_kamailio's
Kamailio class).  Skipped when kamailio or its tls module is missing
(scripts/install-deps --test)."""
import json
import os
import re
import socket
import ssl
import subprocess
import time

import pytest

from conftest import run_warp
from sipfix import SipWarp, TOKEN, ini, render, scenario, shared_scenario, sip_port
from sipfix import wait_sip_listening
from test_media_kamailio import KAMAILIO, MODULES, Kamailio

NUMBER = "15551234567"

needs_kamailio = pytest.mark.skipif(
    not os.path.exists(KAMAILIO) or not os.path.exists(os.path.join(MODULES, "tls.so")),
    reason="kamailio with its tls module not installed")

# Requests that came in over UDP (the SIPp caller) go to warp's TLS
# listener; requests that came in over TLS (from warp) go to the SIPp
# callee over UDP.  In-dialog requests follow their Route (loose_route).
CFG = """#!KAMAILIO
debug=2
log_stderror=yes
children=1
tcp_children=1
auto_aliases=no
enable_tls=yes
listen=udp:127.0.0.1:{udp}
listen=tls:127.0.0.1:{tls}
mpath="{modules}"

loadmodule "tls.so"
modparam("tls", "tls_method", "TLSv1.2+")
modparam("tls", "certificate", "{cert}")
modparam("tls", "private_key", "{key}")
modparam("tls", "ca_list", "{ca}")
modparam("tls", "verify_certificate", 1)
modparam("tls", "require_certificate", 0)
loadmodule "pv.so"
loadmodule "textops.so"
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "rr.so"

request_route {{
    # A gateway answers OPTIONS itself (warp's prober asks over TLS).
    if (is_method("OPTIONS") && $pr == "tls") {{
        sl_send_reply("200", "OK");
        exit;
    }}
    if (loose_route()) {{
        forward();
        exit;
    }}
    if (is_method("INVITE")) {{
        record_route();
    }}
    if ($pr == "tls") {{
        $du = "sip:127.0.0.1:{uas}";
    }} else {{
        $du = "sip:127.0.0.1:{warp_tls};transport=tls";
    }}
    forward();
}}
"""


def openssl(*args, cwd):
    r = subprocess.run(["openssl"] + list(args), cwd=str(cwd), capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr


def make_ca(d, name):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", name + ".key", "-out", name + ".pem", "-days", "2",
            "-subj", "/CN=WARP test %s" % name, cwd=d)
    return str(d / (name + ".pem"))


def make_cert(d, ca, name):
    """A certificate for 127.0.0.1 (IP SAN, RFC 5922 §7.1) signed by ca."""
    (d / (name + ".ext")).write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                                     "extendedKeyUsage=serverAuth,clientAuth\n")
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=127.0.0.1", cwd=d)
    openssl("x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem", "-CAkey", ca + ".key",
            "-CAcreateserial", "-out", name + ".pem", "-days", "2", "-extfile", name + ".ext",
            cwd=d)
    return str(d / (name + ".pem")), str(d / (name + ".key"))


@pytest.fixture
def pki(tmp_path):
    d = tmp_path / "pki"
    d.mkdir()
    ca = make_ca(d, "ca")
    other = make_ca(d, "other")
    warp_cert, warp_key = make_cert(d, "ca", "warp")
    kam_cert, kam_key = make_cert(d, "ca", "kamailio")
    return {"ca": ca, "other": other, "warp": (warp_cert, warp_key),
            "kamailio": (kam_cert, kam_key)}


class TlsKamailio(Kamailio):
    """test_media_kamailio's Kamailio (started and stopped by its PID and
    process group) with the TLS configuration above: UDP on .port, TLS on
    .tls."""

    def __init__(self, tmp, pki, warp_tls, uas_port):
        self.dir = tmp / "kamailio"
        self.dir.mkdir(exist_ok=True)
        self.port, self.tls = sip_port(), sip_port()
        self.cfg = self.dir / "kamailio.cfg"
        cert, key = pki["kamailio"]
        self.cfg.write_text(CFG.format(udp=self.port, tls=self.tls, modules=MODULES, cert=cert,
                                       key=key, ca=pki["ca"], uas=uas_port, warp_tls=warp_tls))
        self.err = self.dir / "stderr"
        self.proc = None


def tls_ini(port, tls_port, pki, ca, extra):
    cert, key = pki["warp"]
    return ini(port, "tls_listen = 127.0.0.1:%d\ntls_cert = %s\ntls_key = %s\ntls_ca = %s\n%s"
               % (tls_port, cert, key, ca, extra))


def start_warp(warp_factory, tmp_path, pki, ca, extra=""):
    port, tls_port = sip_port(), sip_port()
    w = warp_factory(extra_ini=tls_ini(port, tls_port, pki, ca, extra),
                     env={"WARP_ADMIN_TOKEN": TOKEN}, args=["--roles", "api,sip"])
    w.sip_port = port
    w.start()
    wait_sip_listening(port)
    sw = SipWarp(w, tmp_path)
    sw.tls_port = tls_port
    return sw


@pytest.fixture
def tlswarp(warp_factory, tmp_path, pki):
    """Starts warp with a TLS listener, verifying gateways with the CA named
    ("ca", "other": one that signed none of the certificates, or "": none)."""
    started = []

    def make(ca="ca", extra=""):
        started.append(start_warp(warp_factory, tmp_path, pki, pki[ca] if ca else "", extra))
        return started[-1]

    yield make
    for sw in started:
        rc, _ = sw.stop()
        assert rc == 0, "warp exited %s: %s" % (rc, sw.w.stderr()[-3000:])


@pytest.fixture
def kamailio(tmp_path, pki):
    started = []

    def make(warp_tls, uas_port):
        k = TlsKamailio(tmp_path, pki, warp_tls, uas_port).start()
        started.append(k)
        return k

    yield make
    for k in started:
        k.stop()


def provision(sw, gw_port, transport, **trunk):
    """A customer whose trunk admits 127.0.0.1 from any port (Kamailio's TLS
    connections come from a port of its choosing), and a carrier."""
    cus = sw.customer()
    trk = sw.api("POST", "/trunks", dict({"customer_id": cus, "name": "pbx",
                                          "media_mode": "bypass",
                                          "acl": [{"cidr": "127.0.0.1/32"}]}, **trunk))["id"]
    car, gws = sw.carrier("carrier-" + transport, [gw_port], transport=transport)
    sw.route("1", [car])
    sw.synced()
    return cus, trk, car, gws


def connections_to(port):
    """Established TCP connections on this host whose far end is 127.0.0.1:port
    (from /proc/net/tcp: the sockets of the connecting side)."""
    n = 0
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            cols = line.split()
            if cols[2] == "0100007F:%04X" % port and cols[3] == "01":
                n += 1
    return n


def first(msgs, start):
    hit = [m for m in msgs if m.startswith(start)]
    assert hit, msgs
    return hit[0]


@needs_kamailio
def test_invite_over_tls_to_the_tls_listener_completes_through_a_udp_gateway(
        tlswarp, kamailio, tmp_path):
    sw = tlswarp()
    gport = sip_port()
    # Hiding off: the callee is to see Kamailio's Via and both of our
    # Record-Route entries (the other tests here run hidden, the default).
    cus, trk, car, gws = provision(sw, gport, "udp", topology_hiding=False)
    k = kamailio(sw.tls_port, sip_port())
    callee = sw.sipp("callee", shared_scenario("uas_rr.xml"), gport).start()
    caller = sw.sipp("caller", shared_scenario("uac_rr.xml"), remote="127.0.0.1:%d" % k.port,
                     service=NUMBER, hold_ms=300).start()
    assert caller.wait() == 0, "%s\n%s\n%s" % (caller.describe(), callee.describe(), k.stderr())
    assert callee.wait() == 0, callee.describe()
    assert 180 in caller.codes() and 200 in caller.codes()
    assert callee.requests() == ["INVITE", "ACK", "BYE"]
    invite = first(callee.messages(), "INVITE ")
    # Kamailio sent it over TLS (its Via), and warp record-routed the TLS
    # hop by its TLS listener with ;transport=tls (RFC 5658 double RR).
    assert re.search(r"^Via: SIP/2.0/TLS 127.0.0.1:%d;" % k.tls, invite, re.M | re.I), invite
    assert "<sip:127.0.0.1:%d;transport=tls;lr>" % sw.tls_port in invite, invite
    (r,) = sw.cdrs(1)
    assert (r["customer_id"], r["trunk_id"], r["gateway_id"]) == (cus, trk, gws[0])
    assert r["final_code"] == 200 and r["hangup"] == "caller"


@needs_kamailio
def test_callee_bye_reaches_the_tls_caller_side_over_tls(tlswarp, kamailio, tmp_path):
    sw = tlswarp()
    gport = sip_port()
    provision(sw, gport, "udp")
    k = kamailio(sw.tls_port, sip_port())
    callee = sw.sipp("callee", scenario("uas_hangup.xml"), gport, hold_ms=300).start()
    caller = sw.sipp("caller", scenario("uac_held_up.xml"), remote="127.0.0.1:%d" % k.port,
                     service=NUMBER).start()
    assert caller.wait() == 0, "%s\n%s\n%s" % (caller.describe(), callee.describe(), k.stderr())
    assert callee.wait() == 0, callee.describe()
    assert caller.messages()[-1].startswith("BYE "), caller.describe()
    # Kamailio's Record-Route for its TLS side said ;transport=tls: warp
    # opened a TLS connection to Kamailio's TLS port (verified with tls_ca)
    # for the BYE, beside the one Kamailio opened to warp for the INVITE.
    assert connections_to(k.tls) == 1
    assert "certificate verify failed" not in sw.w.stderr()
    (r,) = sw.cdrs(1)
    assert r["hangup"] == "callee" and r["final_code"] == 200


@needs_kamailio
def test_tls_gateway_is_reached_over_tls_with_its_certificate_verified(
        tlswarp, kamailio, tmp_path):
    sw = tlswarp()
    uport, cport = sip_port(), sip_port()
    callee = sw.sipp("callee", shared_scenario("uas_rr.xml"), uport).start()
    k = kamailio(sw.tls_port, uport)
    cus, trk, car, gws = provision(sw, k.tls, "tls")
    caller = sw.caller("caller", shared_scenario("uac_rr.xml"), cport, NUMBER,
                       hold_ms=300).start()
    assert caller.wait() == 0, "%s\n%s\n%s\n%s" % (caller.describe(), callee.describe(),
                                                   k.stderr(), sw.w.stderr()[-2000:])
    assert callee.wait() == 0, callee.describe()
    assert 180 in caller.codes() and 200 in caller.codes()
    assert callee.requests() == ["INVITE", "ACK", "BYE"]
    invite = first(callee.messages(), "INVITE ")
    # warp's own Via names its TLS listener: the INVITE left it over TLS,
    # to Kamailio's TLS port (which speaks nothing else), and the
    # Request-URI asks for TLS on that hop.
    assert re.search(r"^Via: SIP/2.0/TLS 127.0.0.1:%d;(received=[^;]+;)?branch=z9hG4bK-"
                     % sw.tls_port, invite, re.M), invite
    assert "<sip:127.0.0.1:%d;transport=tls;lr>" % sw.tls_port in invite, invite
    bye = first(callee.messages(), "BYE ")
    assert re.search(r"^Via: SIP/2.0/TLS 127.0.0.1:%d;" % sw.tls_port, bye, re.M), bye
    # The BYE went on the connection the INVITE opened (reused, like TCP).
    assert connections_to(k.tls) == 1
    assert "certificate verify failed" not in sw.w.stderr()
    (r,) = sw.cdrs(1)
    assert (r["carrier_id"], r["gateway_id"]) == (car, gws[0])
    assert r["final_code"] == 200 and r["hangup"] == "caller"


@needs_kamailio
def test_tls_gateway_whose_certificate_does_not_verify_is_not_used(
        tlswarp, kamailio, tmp_path):
    sw = tlswarp("other")
    cport = sip_port()
    k = kamailio(sw.tls_port, sip_port())
    provision(sw, k.tls, "tls")
    # The refused handshake fails the attempt at once as a transport error
    # (RFC 3261 §8.1.3.1: a 503), not at the 8 s setup timeout.
    started = time.monotonic()
    caller = sw.caller("caller", render(tmp_path, "uac_expect.xml", code=503, mf=70), cport,
                       NUMBER).start()
    rc = caller.wait()
    assert 200 not in caller.codes(), caller.describe()
    assert rc == 0, "%s\n%s" % (caller.describe(), sw.w.stderr()[-2000:])
    assert time.monotonic() - started < 5, "answered only at the setup timeout"
    assert "certificate verify failed" in sw.w.stderr(), sw.w.stderr()[-2000:]
    (r,) = sw.cdrs(1)
    assert r["final_code"] == 503


@needs_kamailio
def test_failed_tls_handshake_fails_over_to_the_next_gateway_at_once(
        tlswarp, kamailio, tmp_path):
    sw = tlswarp("other")
    cport, uport = sip_port(), sip_port()
    k = kamailio(sw.tls_port, sip_port())
    cus = sw.customer()
    sw.api("POST", "/trunks", {"customer_id": cus, "name": "pbx", "media_mode": "bypass",
                               "acl": [{"cidr": "127.0.0.1/32"}]})
    car_tls, (gw_tls,) = sw.carrier("carrier-tls", [k.tls], transport="tls")
    car_udp, (gw_udp,) = sw.carrier("carrier-udp", [uport])
    sw.route("1", [car_tls, car_udp])
    sw.synced()
    callee = sw.sipp("callee", scenario("uas_answer.xml"), uport).start()
    started = time.monotonic()
    caller = sw.caller("caller", shared_scenario("uac_rr.xml"), cport, NUMBER,
                       hold_ms=200).start()
    assert caller.wait() == 0, "%s\n%s" % (caller.describe(), sw.w.stderr()[-2000:])
    assert callee.wait() == 0, callee.describe()
    assert caller.codes()[-1] == 200
    assert time.monotonic() - started < 6, "failed over only at the setup timeout"
    (r,) = sw.cdrs(1)
    assert r["carrier_id"] == car_udp and r["final_code"] == 200
    assert [(a["gateway_id"], a["code"]) for a in json.loads(r["attempts"])] == \
        [(gw_tls, 503), (gw_udp, 200)]


def gateway_up(sw, gw):
    m = re.search(r'^warp_sip_gateway_up\{gateway="%s"\} (-?\d+)$' % gw,
                  sw.w.get("/metrics").body.decode(), re.M)
    return int(m.group(1)) if m else None


@needs_kamailio
@pytest.mark.parametrize("ca,up", [("ca", 1), ("other", 0)])
def test_tls_gateway_is_probed_over_tls_and_down_when_its_certificate_fails(
        tlswarp, kamailio, ca, up):
    """OPTIONS over TLS with the certificate checked as for a call: a
    gateway whose certificate does not verify is marked down by the prober
    before any call tries it."""
    sw = tlswarp(ca, extra="probe_interval = 200ms\n")
    k = kamailio(sw.tls_port, sip_port())
    car, (gw,) = sw.carrier("carrier-tls", [k.tls], transport="tls")
    sw.synced()
    deadline = time.monotonic() + 8
    while gateway_up(sw, gw) != up and time.monotonic() < deadline:
        time.sleep(0.05)
    assert gateway_up(sw, gw) == up, sw.w.stderr()[-2000:]
    if up:
        assert connections_to(k.tls) <= 1  # one probe connection a round, closed after


@needs_kamailio
def test_empty_tls_ca_reaches_the_gateway_unverified_and_warns(tlswarp, kamailio, tmp_path):
    sw = tlswarp("")
    uport, cport = sip_port(), sip_port()
    callee = sw.sipp("callee", shared_scenario("uas_rr.xml"), uport).start()
    k = kamailio(sw.tls_port, uport)
    provision(sw, k.tls, "tls")
    caller = sw.caller("caller", shared_scenario("uac_rr.xml"), cport, NUMBER,
                       hold_ms=100).start()
    assert caller.wait() == 0, "%s\n%s" % (caller.describe(), sw.w.stderr()[-2000:])
    assert callee.wait() == 0, callee.describe()
    log = sw.w.stderr()
    assert "tls_ca is empty: gateways' TLS certificates are not verified" in log, log[-2000:]
    assert "TLS to 127.0.0.1: tls_ca is empty" in log, log[-2000:]
    (r,) = sw.cdrs(1)
    assert r["final_code"] == 200


OPTIONS = ("OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\n"
           "Via: SIP/2.0/TLS 127.0.0.1:5999;branch=z9hG4bK-tls-{n};rport\r\n"
           "From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\n"
           "Call-ID: tls-{n}@test\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
           "Content-Length: 0\r\n\r\n")


def ask_over_tls(port, pki, n, client_cert=None):
    """Sends an OPTIONS over TLS (warp's certificate verified with the test
    CA); the status line of the answer, or the error that ended it."""
    ctx = ssl.create_default_context(cafile=pki["ca"])
    if client_cert:
        ctx.load_cert_chain(*client_cert)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=3) as raw:
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                s.sendall(OPTIONS.format(port=port, n=n).encode())
                data = s.recv(65535).decode()
                return data.split("\r\n", 1)[0] if data else "closed"
    except (ssl.SSLError, OSError) as e:
        return "error: %s" % e


def test_tls_verify_clients_admits_only_clients_with_a_verified_certificate(tlswarp, pki):
    sw = tlswarp("ca", "tls_verify_clients = true\n")
    without = ask_over_tls(sw.tls_port, pki, 1)
    assert not without.startswith("SIP/2.0"), without
    # Any answer shows the request was read (an unknown source gets 403).
    assert ask_over_tls(sw.tls_port, pki, 2, pki["warp"]).startswith("SIP/2.0 "), \
        sw.w.stderr()[-2000:]


def test_tls_listener_answers_a_plain_tls_client(tlswarp, pki):
    sw = tlswarp()
    assert ask_over_tls(sw.tls_port, pki, 3).startswith("SIP/2.0 403"), sw.w.stderr()[-2000:]


def run_with_tls(tmp_path, files):
    """Runs warp (sip role) with a TLS listener and the given tls_* keys;
    it must fail at start: the CompletedProcess."""
    cfg = tmp_path / "warp.ini"
    cfg.write_text("[store]\nurl = sqlite:%s\n[http]\nlisten = 127.0.0.1:%d\n[sip]\n"
                   "listen = 127.0.0.1:%d\ntls_listen = 127.0.0.1:%d\n%s" % (
                       tmp_path / "w.db", sip_port(), sip_port(), sip_port(),
                       "".join("%s = %s\n" % kv for kv in files.items())))
    return run_warp(["run", "-c", str(cfg), "--roles", "sip"], cwd=str(tmp_path))


@pytest.mark.parametrize("missing", ["tls_cert", "tls_key"])
def test_tls_listen_without_its_files_exits_2_naming_the_key(tmp_path, pki, missing):
    cert, key = pki["warp"]
    given = {"tls_cert": cert, "tls_key": key}
    del given[missing]
    r = run_with_tls(tmp_path, given)
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert missing in r.stderr, r.stderr[-2000:]


@pytest.mark.parametrize("bad", ["tls_cert", "tls_key"])
def test_tls_file_that_does_not_load_exits_2_naming_the_key_and_file(tmp_path, pki, bad):
    cert, key = pki["warp"]
    given = {"tls_cert": cert, "tls_key": key}
    given[bad] = str(tmp_path / "missing.pem")
    r = run_with_tls(tmp_path, given)
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert "%s %s" % (bad, given[bad]) in r.stderr, r.stderr[-2000:]


def test_tls_verify_clients_without_tls_ca_exits_2(tmp_path, pki):
    cert, key = pki["warp"]
    r = run_with_tls(tmp_path, {"tls_cert": cert, "tls_key": key, "tls_verify_clients": "true"})
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert "tls_verify_clients needs tls_ca" in r.stderr, r.stderr[-2000:]
