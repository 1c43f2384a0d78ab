"""SMPP over TLS on both sides of the smsc, through the real warp binary,
with the npm `smpp` package as both peers (tests/peers):

  customers' side: an ESME (esme.js, ssmpp://) binds to [smsc] tls_listen,
  verifying WARP's certificate with the test CA, and submits; its receipt
  comes back over the same TLS session;
  carriers' side: a connector with tls on binds to an upstream SMSC
  (smsc_sim.js with a certificate and key), verifying the upstream's
  certificate against the connector's tls_ca_file and its name against
  tls_server_name.

A throwaway CA (and a second one that signed nothing WARP trusts) and the
certificates are made with the openssl CLI in the module's tmp folder.  A
connector whose CA does not match, and one whose upstream's certificate
names another host, never bind: the upstream sees no bind_transceiver,
warp_smsc_connector_binds_up stays 0, the TLS failure is counted and its
reason logged, and the message submitted meanwhile stays in the queue; so
does one whose tls_ca_file cannot be read.
A plain client on the TLS port is dropped, and a start with tls_listen but
no loadable certificate or key stops with exit code 2."""
import re
import socket
import subprocess
import time
import uuid

import pytest

import conftest
import smppfix
from conftest import run_warp
from smppfix import route

pytest.register_assert_rewrite("apiclient")
from apiclient import ADMIN_TOKEN, API_INI, Env, SqliteRows  # noqa: E402

ROK = 0x00


def openssl(d, *args):
    r = subprocess.run(["openssl"] + list(args), cwd=str(d), capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr


def make_ca(d, name):
    openssl(d, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", name + ".key", "-out", name + ".pem", "-days", "2",
            "-subj", "/CN=WARP smsc test %s" % name)
    return str(d / (name + ".pem"))


def make_cert(d, ca, name, san):
    """A server certificate with subjectAltName san, signed by ca."""
    (d / (name + ".ext")).write_text("subjectAltName=%s\nextendedKeyUsage=serverAuth\n" % san)
    openssl(d, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + name)
    openssl(d, "x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem", "-CAkey", ca + ".key",
            "-CAcreateserial", "-out", name + ".pem", "-days", "2", "-extfile", name + ".ext")
    return {"cert": str(d / (name + ".pem")), "key": str(d / (name + ".key"))}


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    out = {"ca": make_ca(d, "ca"), "other": make_ca(d, "other")}
    out["warp"] = make_cert(d, "ca", "warp", "IP:127.0.0.1,DNS:localhost")
    out["smsc"] = make_cert(d, "ca", "smsc", "DNS:smsc.example")
    out["elsewhere"] = make_cert(d, "ca", "elsewhere", "DNS:other.example")
    return out


def tls_warp(tmp, pki):
    env = {"WARP_ADMIN_TOKEN": ADMIN_TOKEN, "WARP_RUN_ROLES": "api,smsc",
           "WARP_SMSC_TLS_LISTEN": "127.0.0.1:%d" % conftest.free_port(),
           "WARP_SMSC_TLS_CERTIFICATE": pki["warp"]["cert"],
           "WARP_SMSC_TLS_KEY": pki["warp"]["key"],
           "WARP_SMSC_TLS_HANDSHAKE_TIMEOUT": "1s"}
    return conftest.Warp(tmp, store_url="sqlite:%s" % (tmp / "warp.db"), extra_ini=API_INI,
                         env=env).start()


@pytest.fixture(scope="module")
def api(pki, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("smsc-tls")
    w = tls_warp(tmp, pki)
    try:
        yield Env(w, SqliteRows(str(tmp / "warp.db")))
    finally:
        rc, _ = w.stop()
        assert rc == 0, "warp exited %s after SIGTERM: %s" % (rc, w.stderr()[-4000:])


def port_of(api, var):
    return int(api.warp.env[var].rsplit(":", 1)[1])


@pytest.fixture
def peers(api):
    started = []

    def start(cls, *args, **cfg):
        p = cls(*args, **cfg)
        started.append(p)
        return p

    yield start
    for p in started:
        p.stop()


def metric(api, name, **labels):
    """One sample of /metrics (labels a subset of the series'), 0 when absent."""
    for line in api.warp.get("/metrics").body.decode().splitlines():
        m = re.match(r"^%s(?:\{([^}]*)\})? (\S+)$" % re.escape(name), line)
        if m and all('%s="%s"' % kv in (m.group(1) or "") for kv in labels.items()):
            return float(m.group(2))
    return 0.0


def provision(api, upstream_port, prefix, **tls):
    """A customer with an SMPP account, and a carrier whose connector binds
    to the upstream on loopback with TLS as given; returns (system_id,
    connector_id)."""
    carrier = api.admin.create("/api/v1/carriers", {"name": "tls-" + uuid.uuid4().hex[:6]})["id"]
    body = {"carrier_id": carrier, "name": "c", "host": "127.0.0.1", "port": upstream_port,
            "system_id": "warp", "password": "pw", "reconnect_min_ms": 200,
            "reconnect_max_ms": 1000, "response_timeout_ms": 2000, "tls": True}
    body.update(tls)
    conn = api.admin.create("/api/v1/smpp-connectors", body)["id"]
    route(api, prefix, [carrier])
    sid = "tls" + uuid.uuid4().hex[:8]
    api.admin.create("/api/v1/smpp-accounts", {"customer_id": api.customer(), "system_id": sid,
                                                "password": "pw", "allowed_cidrs": ["127.0.0.1"]})
    time.sleep(0.5)  # snapshots rebuilt
    return sid, conn


def tls_esme(api, peers, pki):
    e = peers(smppfix.Esme, port_of(api, "WARP_SMSC_TLS_LISTEN"), tls=True, ca=pki["ca"],
              servername="localhost")
    e.wait("connected")
    return e


def wait_state(api, mid, state, timeout=10):
    deadline = time.monotonic() + timeout
    while True:
        rows = api.rows("SELECT state FROM messages WHERE id = ?", "msg_" + mid)
        if rows and rows[0]["state"] == state:
            return
        assert time.monotonic() < deadline, "message %s is %r, not %s" % (mid, rows, state)
        time.sleep(0.05)


def test_esme_over_tls_to_a_tls_upstream_and_the_receipt_back(api, peers, pki):
    up = peers(smppfix.UpstreamSmsc, tls=pki["smsc"])
    sid, conn = provision(api, up.port, "44901", tls_ca_file=pki["ca"],
                          tls_server_name="smsc.example")
    up.wait("bind", timeout=10)
    deadline = time.monotonic() + 5
    while metric(api, "warp_smsc_connector_binds_up", connector=conn) != 1:
        assert time.monotonic() < deadline, "the TLS connector's bind is not counted up"
        time.sleep(0.1)
    e = tls_esme(api, peers, pki)
    assert e.bind(sid, "pw") == ROK
    r = e.submit(source_addr="15550100", destination_addr="449010001",
                 short_message="over tls", registered_delivery=1)
    assert r["command_status"] == ROK
    got = up.wait("submit_sm", destination_addr="449010001")
    assert got["text"] == "over tls"
    d = e.wait("deliver_sm", timeout=10)
    assert d["esm_class"] == 4 and d["receipted_message_id"] == r["message_id"]
    wait_state(api, r["message_id"], "delivered")
    assert metric(api, "warp_smsc_connector_tls_failures_total", connector=conn) == 0
    e.send(cmd="enquire_link", tag="el")
    assert e.wait("enquire_link_resp", tag="el")["command_status"] == ROK
    e.send(cmd="unbind", tag="ub")
    assert e.wait("unbind_resp", tag="ub")["command_status"] == ROK
    e.wait("closed", timeout=5)  # WARP closes once its unbind_resp is written


def test_an_unreadable_ca_file_keeps_the_connector_down(api, peers, pki):
    up = peers(smppfix.UpstreamSmsc, tls=pki["smsc"])
    _, conn = provision(api, up.port, "44905", tls_ca_file="/nonexistent/ca.pem",
                        tls_server_name="smsc.example")
    deadline = time.monotonic() + 10
    while metric(api, "warp_smsc_connector_tls_failures_total", connector=conn) < 2:
        assert time.monotonic() < deadline, api.warp.stderr()[-3000:]
        time.sleep(0.1)
    assert not up.seen("bind")
    assert metric(api, "warp_smsc_connector_binds_up", connector=conn) == 0
    assert any(conn in line and "tls_ca_file /nonexistent/ca.pem" in line
               for line in api.warp.stderr().splitlines())


@pytest.mark.parametrize("case", ["wrong_ca", "wrong_name"])
def test_a_certificate_that_fails_keeps_the_connector_down(api, peers, pki, case):
    cert = pki["elsewhere"] if case == "wrong_name" else pki["smsc"]
    ca = pki["other"] if case == "wrong_ca" else pki["ca"]
    prefix = "4490%d" % (2 + ["wrong_ca", "wrong_name"].index(case))
    up = peers(smppfix.UpstreamSmsc, tls=cert)
    sid, conn = provision(api, up.port, prefix, tls_ca_file=ca, tls_server_name="smsc.example")
    e = peers(smppfix.Esme, port_of(api, "WARP_SMSC_LISTEN"))
    e.wait("connected")
    assert e.bind(sid, "pw") == ROK
    r = e.submit(destination_addr=prefix + "0001", short_message="stays queued")
    assert r["command_status"] == ROK
    deadline = time.monotonic() + 10
    while metric(api, "warp_smsc_connector_tls_failures_total", connector=conn) < 2:
        assert time.monotonic() < deadline, "no TLS failure counted: %s" % api.warp.stderr()[-3000:]
        time.sleep(0.1)
    assert not up.seen("bind"), "the upstream was bound through a certificate that failed"
    assert metric(api, "warp_smsc_connector_binds_up", connector=conn) == 0
    reason = "hostname mismatch" if case == "wrong_name" else "unable to get local issuer"
    log = [line for line in api.warp.stderr().splitlines() if conn in line]
    assert any("TLS handshake failed" in line and "certificate verify failed" in line
               and reason in line for line in log), log[-5:]
    rows = api.rows("SELECT state FROM messages WHERE id = ?", "msg_" + r["message_id"])
    assert rows[0]["state"] in ("accepted", "queued"), rows


def test_an_upstream_that_never_answers_the_handshake_times_out(api):
    """A listening socket nobody reads: TCP connects, the ClientHello gets no
    answer; the bind gives up after response_timeout_ms and tries again,
    and the upstream thread goes on meanwhile (non-blocking)."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        _, conn = provision(api, silent.getsockname()[1], "44906",
                            tls_server_name="smsc.example")
        deadline = time.monotonic() + 15
        while not any(conn in line and "connect or TLS handshake timed out" in line
                      for line in api.warp.stderr().splitlines()):
            assert time.monotonic() < deadline, api.warp.stderr()[-3000:]
            time.sleep(0.2)
        assert metric(api, "warp_smsc_connector_binds_up", connector=conn) == 0
        assert api.warp.get("/healthz").status == 200


def test_plain_client_on_the_tls_port_is_dropped(api, peers):
    before = metric(api, "warp_smsc_tls_handshake_failures_total")
    e = peers(smppfix.Esme, port_of(api, "WARP_SMSC_TLS_LISTEN"))
    e.wait("connected")
    e.send(cmd="bind", mode="transceiver", system_id="plain", password="pw", tag="b")
    e.wait("closed", timeout=5)
    assert not e.seen("bind_resp")
    assert metric(api, "warp_smsc_tls_handshake_failures_total") == before + 1


def test_a_silent_client_is_dropped_after_the_handshake_timeout(api):
    before = metric(api, "warp_smsc_tls_handshake_failures_total")
    with socket.create_connection(("127.0.0.1", port_of(api, "WARP_SMSC_TLS_LISTEN"))) as s:
        s.settimeout(5)
        t0 = time.monotonic()
        assert s.recv(16) == b""  # closed by WARP after tls_handshake_timeout (1s here)
        assert 0.5 < time.monotonic() - t0 < 4
    assert metric(api, "warp_smsc_tls_handshake_failures_total") == before + 1


def plain_enquire_link(port):
    """A plain enquire_link to the TLS port; returns once WARP has closed
    (or reset) the connection."""
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.settimeout(5)
        s.sendall(bytes.fromhex("00000010" "00000015" "00000000" "00000001"))
        try:
            while s.recv(64):
                pass
        except ConnectionResetError:
            pass


def test_failed_handshakes_are_logged_in_one_line_not_one_each(pki, tmp_path):
    """Six plain clients in a row: the first failure is logged at once, the
    five after it in one line when the 10 s window ends; all six counted."""
    w = tls_warp(tmp_path, pki)
    api = Env(w, None)
    try:
        for _ in range(6):
            plain_enquire_link(port_of(api, "WARP_SMSC_TLS_LISTEN"))
        assert metric(api, "warp_smsc_tls_handshake_failures_total") == 6
        deadline = time.monotonic() + 15
        while "5 more TLS handshakes failed" not in w.stderr():
            assert time.monotonic() < deadline, w.stderr()[-3000:]
            time.sleep(0.2)
        assert w.stderr().count("TLS handshake from 127.0.0.1") == 1, w.stderr()[-3000:]
    finally:
        rc, _ = w.stop()
    assert rc == 0, "warp exited %s after SIGTERM: %s" % (rc, w.stderr()[-4000:])


def start_with_tls(tmp_path, pki, **given):
    cfg = tmp_path / "warp.ini"
    cfg.write_text("[store]\nurl = sqlite:%s\n[http]\nlisten = 127.0.0.1:%d\n[smsc]\n"
                   "listen = 127.0.0.1:%d\ntls_listen = 127.0.0.1:%d\n%s" % (
                       tmp_path / "w.db", conftest.free_port(), conftest.free_port(),
                       conftest.free_port(), "".join("%s = %s\n" % kv for kv in given.items())))
    return run_warp(["run", "-c", str(cfg), "--roles", "smsc"], cwd=str(tmp_path))


@pytest.mark.parametrize("missing", ["tls_certificate", "tls_key"])
def test_tls_listen_without_its_files_exits_2_naming_the_key(tmp_path, pki, missing):
    given = {"tls_certificate": pki["warp"]["cert"], "tls_key": pki["warp"]["key"]}
    del given[missing]
    r = start_with_tls(tmp_path, pki, **given)
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert "[smsc] tls_listen is set but %s is empty" % missing in r.stderr, r.stderr[-2000:]


@pytest.mark.parametrize("bad", ["tls_certificate", "tls_key"])
def test_unreadable_certificate_or_key_exits_2_naming_the_file(tmp_path, pki, bad):
    given = {"tls_certificate": pki["warp"]["cert"], "tls_key": pki["warp"]["key"]}
    given[bad] = str(tmp_path / "missing.pem")
    r = start_with_tls(tmp_path, pki, **given)
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert "[smsc] %s %s" % (bad, given[bad]) in r.stderr, r.stderr[-2000:]
