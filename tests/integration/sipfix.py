"""Fixtures for the SIP end-to-end tests: a real `warp` with the api and sip
roles, provisioned through the real REST API, and SIPp processes as callers,
callees and carrier gateways on loopback.

Every SIPp run is bounded (-m, -timeout, -timeout_error), runs in a folder of
its own (so its -trace_msg log is found by name) and is stopped by its PID.
What SIPp saw is read back from that log: `Sipp.seen()` lists the first
lines of the messages it received, in order.

The record-routing caller and callee come from the shared test data
(WARP_TESTDATA, or ../shared/testdata beside the repository) and are read in
place; the variants for the other cases live in tests/integration/sipp/.
Templates there with @NAME@ placeholders (uac_expect.xml) are rendered into
the test's temporary folder: SIPp cannot take a response code from -key.
"""
import itertools
import os
import re
import signal
import socket
import sqlite3
import subprocess
import time

import pytest

from conftest import ROOT, HERE, _binds, http, pick_port
from apiclient import PgRows, SqliteRows

SIPP = "/usr/bin/sipp"
TOKEN = "sip-e2e-admin-token-0123456789"
AUTH = {"Authorization": "Bearer " + TOKEN}
SCENARIOS = os.path.join(HERE, "sipp")
SETUP_TIMEOUT_MS = 1000


def shared_scenario(name):
    base = os.environ.get("WARP_TESTDATA") or os.path.join(ROOT, "..", "shared", "testdata")
    path = os.path.join(base, "sipp", name)
    if not os.path.exists(path):
        pytest.skip("shared SIPp scenario %s not found" % path)
    return path


def scenario(name):
    return os.path.join(SCENARIOS, name)


def sip_port():
    """A port free for UDP and TCP on 127.0.0.1 and ::1, in this worker's
    slice (conftest.SINGLE_PORTS)."""
    return pick_port(lambda p: _binds(p, [(fam, host, kind)
                                          for fam, host in ((socket.AF_INET, "127.0.0.1"),
                                                            (socket.AF_INET6, "::1"))
                                          for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM)]))


def sipp_media_port():
    """A port for SIPp's -mp: SIPp binds it and the three after it (RTCP,
    video RTP and RTCP), so all four must be free and kept from others."""
    return pick_port(lambda p: _binds(p, [(socket.AF_INET, "127.0.0.1", socket.SOCK_DGRAM)]),
                     span=4)


def wait_sip_listening(port, timeout=15):
    """warp answers /healthz before the sip role has bound its sockets (HTTP
    starts first): wait until the TCP listeners accept, which sip_proxy_new
    opens after the UDP sockets of the same addresses."""
    deadline = time.monotonic() + timeout
    for host in ("127.0.0.1", "::1"):
        while True:
            try:
                with socket.create_connection((host, port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError("sip not listening on %s:%d" % (host, port))
                time.sleep(0.02)


class Sipp:
    """One SIPp process.  start() returns at once; wait() returns its exit
    code (0: every call of the scenario succeeded)."""

    def __init__(self, tmp, name, sf, port, remote=None, host="127.0.0.1", transport="u1",
                 calls=1, timeout_s=15, service=None, hold_ms=None, keys=None, extra=None):
        self.dir = tmp / ("sipp-" + name)
        self.dir.mkdir(exist_ok=True)
        self.name = name
        self.port = port
        self.sf = sf
        self.remote, self.host, self.transport = remote, host, transport
        args = [SIPP, "-sf", sf, "-i", host, "-p", str(port), "-t", transport, "-m", str(calls),
                "-timeout", "%ds" % timeout_s, "-timeout_error", "-nostdin", "-trace_msg",
                "-trace_err", "-max_recv_loops", "100", "-mi", host]
        if service:
            args += ["-s", service]
        if hold_ms is not None:
            args += ["-d", str(hold_ms)]
        for k, v in (keys or {}).items():
            args += ["-key", k, str(v)]
        args += extra or []
        if remote:
            args.append(remote)
        self.args = args
        self.proc = None

    def start(self):
        self.out = open(self.dir / "stdout", "wb")
        self.proc = subprocess.Popen(self.args, cwd=str(self.dir), stdout=self.out,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        if self.remote is None:
            self.wait_bound()
        return self

    def wait_bound(self, timeout=10):
        """A SIPp that waits for calls binds its port some time after it
        starts; on a loaded machine long enough for the first INVITE sent to
        it to be lost and setup_timeout to end the call.  Wait until the
        port is taken (or SIPp has exited, which wait() then reports)."""
        deadline = time.monotonic() + timeout
        kind = socket.SOCK_STREAM if self.transport.startswith("t") else socket.SOCK_DGRAM
        fam = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        while self.proc.poll() is None and time.monotonic() < deadline:
            if not _binds(self.port, [(fam, self.host, kind)]):
                return
            time.sleep(0.02)

    def wait(self, timeout=30):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise AssertionError("sipp %s still running after %ds" % (self.name, timeout))

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def log(self):
        base = os.path.splitext(os.path.basename(self.sf))[0]
        path = self.dir / ("%s_%d_messages.log" % (base, self.proc.pid))
        return path.read_text(errors="replace") if path.exists() else ""

    def errors(self):
        base = os.path.splitext(os.path.basename(self.sf))[0]
        path = self.dir / ("%s_%d_errors.log" % (base, self.proc.pid))
        return path.read_text(errors="replace") if path.exists() else ""

    def messages(self, received=True):
        """The messages SIPp logged as received (or sent), as text."""
        want = "received" if received else "sent"
        out = []
        for block in re.split(r"\n-{20,} [^\n]*", "\n" + self.log()):
            head, _, body = block.lstrip("\n").partition("\n")
            if re.search(r"message %s" % want, head):
                out.append(body.strip())
        return out

    def seen(self):
        """First lines of the messages received: 'SIP/2.0 180 Ringing', 'BYE sip:...'."""
        return [m.split("\n", 1)[0].strip() for m in self.messages(True)]

    def codes(self):
        return [int(s.split()[1]) for s in self.seen() if s.startswith("SIP/2.0 ")]

    def requests(self):
        return [s.split()[0] for s in self.seen() if not s.startswith("SIP/2.0 ")]

    def describe(self):
        return "sipp %s rc=%s seen=%s\n%s\n%s" % (
            self.name, self.proc.returncode if self.proc else None, self.seen(),
            self.errors()[-2000:], (self.dir / "stdout").read_text(errors="replace")[-1500:])


def render(tmp, name, **subst):
    """A template scenario with @KEY@ replaced, written into tmp."""
    text = open(scenario(name)).read()
    for k, v in subst.items():
        text = text.replace("@%s@" % k.upper(), str(v))
    out = tmp / ("%s-%s" % ("-".join("%s" % v for v in subst.values()), name))
    out.write_text(text)
    return str(out)


class SipWarp:
    """A running warp (roles api,sip) with helpers to provision it and to
    run SIPp peers against it."""

    def __init__(self, warp, tmp, media_mode="bypass", rows=None):
        self.w = warp
        self.tmp = tmp
        # A row reader of the store (apiclient.SqliteRows or PgRows); None:
        # the warp.db SQLite file in tmp.
        self.store_rows = rows  # a store fixture (.rows(sql)), or None: the SQLite file
        # Trunks' media_mode unless a test says: a warp with no media
        # engine refuses the calls of relay-mode trunks (503).
        self.media_mode = media_mode
        self.port = warp.sip_port
        self.peers = []

    # ------------------------------------------------------------ API
    def api(self, method, path, body=None):
        r = http(method, self.w.base + "/api/v1" + path, body, headers=AUTH)
        assert r.status in (200, 201, 204), "%s %s: %d %s" % (method, path, r.status, r.body)
        return r.json()["data"] if r.body else None

    def customer(self, **kw):
        return self.api("POST", "/customers", dict({"name": "Acme"}, **kw))["id"]

    def trunk(self, customer, caller_ports, host="127.0.0.1", **kw):
        prefix = "128" if ":" in host else "32"
        acl = [{"cidr": "%s/%s" % (host, prefix), "port": p} for p in caller_ports]
        body = dict({"customer_id": customer, "name": "pbx", "acl": acl,
                     "media_mode": self.media_mode}, **kw)
        return self.api("POST", "/trunks", body)["id"]

    def carrier(self, name, gateways, transport="udp", host="127.0.0.1", **kw):
        cid = self.api("POST", "/carriers", dict({"name": name}, **kw))["id"]
        gws = []
        for i, port in enumerate(gateways):
            gws.append(self.api("POST", "/carriers/%s/gateways" % cid, {
                "host": host, "port": port, "transport": transport, "priority": i})["id"])
        return cid, gws

    def route(self, prefix, carriers, customer=None):
        body = {"prefix": prefix, "carriers": [
            {"carrier_id": c, "priority": i} for i, c in enumerate(carriers)]}
        if customer:
            body["customer_id"] = customer
        return self.api("POST", "/routes", body)["id"]

    def number(self, e164, customer, trunk):
        return self.api("POST", "/numbers", {"e164": e164, "customer_id": customer,
                                             "trunk_id": trunk, "voice": True})["id"]

    def synced(self, timeout=3.0, snapshots=("sip_policy",)):
        """Waits until the sip role's snapshot (or each of `snapshots`, by
        their warp_snapshot_version name) has the store's config version."""
        if self.store_rows:
            target = self.store_rows.rows("SELECT version FROM config_version")[0]["version"]
        else:
            db = sqlite3.connect(str(self.tmp / "warp.db"))
            try:
                target = db.execute("SELECT version FROM config_version").fetchone()[0]
            finally:
                db.close()
        deadline = time.monotonic() + timeout
        for name in snapshots:
            while True:
                m = re.search(r'^warp_snapshot_version\{name="%s"\} (\d+)$' % name,
                              self.w.get("/metrics").body.decode(), re.M)
                if m and int(m.group(1)) >= target:
                    break
                if time.monotonic() > deadline:
                    raise AssertionError("%s snapshot did not reach config version %d" % (
                        name, target))
                time.sleep(0.02)

    # ----------------------------------------------------------- SIPp
    def sipp(self, name, sf, port=None, **kw):
        p = Sipp(self.tmp, name, sf, port or sip_port(), **kw)
        self.peers.append(p)
        return p

    def caller(self, name, sf, port, service, host="127.0.0.1", **kw):
        remote = "[%s]:%d" % (host, self.port) if ":" in host else "%s:%d" % (host, self.port)
        return self.sipp(name, sf, port, remote=remote, service=service, host=host, **kw)

    # ------------------------------------------------------------ CDRs
    def cdrs(self, expect=1, timeout=5.0):
        """The cdrs rows (as dicts, oldest first) once `expect` are there."""
        deadline = time.monotonic() + timeout
        while True:
            db = sqlite3.connect(str(self.tmp / "warp.db"))
            db.row_factory = sqlite3.Row
            try:
                rows = [dict(r) for r in db.execute("SELECT * FROM cdrs ORDER BY start_ms, id")]
            finally:
                db.close()
            if len(rows) >= expect or time.monotonic() > deadline:
                return rows
            time.sleep(0.05)

    def stop(self):
        for p in self.peers:
            p.stop()
        return self.w.stop(timeout=10)


_dbs = itertools.count(1)


def store_of(request, tmp_path, name):
    """For a fixture parametrized "sqlite" / "postgres": (the store URL, None
    for the SQLite file in tmp_path; a row reader of it).  PostgreSQL gives
    each test a database of its own on the session's server."""
    if request.param == "sqlite":
        return None, SqliteRows(str(tmp_path / "warp.db"))
    pg = request.getfixturevalue("postgres")
    url = pg.create_db("%s_%d" % (name, next(_dbs)))
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    return url, PgRows(port, url.rsplit("/", 1)[1])


def ini(port, extra=""):
    return ("\n[sip]\nlisten = 127.0.0.1:%d\nlisten_also = [::1]:%d\nthreads = 2\n"
            "setup_timeout = %dms\n%s\n[store]\nsnapshot_poll = 100ms\n\n"
            "[webhooks]\nenabled = false\n\n"
            "[ratelimit]\nadmin_rate = 100000\nadmin_burst = 100000\n" % (
                port, port, SETUP_TIMEOUT_MS, extra))


@pytest.fixture
def sipwarp(warp_factory, tmp_path, request):
    """A started warp with api and sip roles; stopped with SIGTERM at the end,
    which must exit 0 (under ASan a leak makes it non-zero).  A test module's
    SIPWARP_SIP_INI adds lines to its [sip] section."""
    port = sip_port()
    w = warp_factory(extra_ini=ini(port, getattr(request.module, "SIPWARP_SIP_INI", "")),
                     env={"WARP_ADMIN_TOKEN": TOKEN},
                     args=["--roles", "api,sip"])
    w.sip_port = port
    w.start()
    wait_sip_listening(port)
    sw = SipWarp(w, tmp_path)
    yield sw
    rc, _ = sw.stop()
    assert rc == 0, "warp exited %s: %s" % (rc, w.stderr()[-3000:])
