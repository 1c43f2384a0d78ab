"""Independent SMPP peers for the SMSC tests: the npm `smpp` package as a
customer's ESME (tests/peers/esme.js) and as an upstream SMSC
(tests/peers/smsc_sim.js).

Each peer is a Node.js process driven by JSON lines on its stdin; what it
saw on the wire comes back as JSON lines on stdout, read by a thread into a
list, so a test waits for an event with a bounded timeout and asserts on
the fields the peer decoded with its own codec.  Every process is stopped
by its PID when the test ends.
"""
import json
import os
import re
import shutil
import subprocess
import threading
import time
import uuid

import pytest

from conftest import ROOT

PEERS = os.path.join(ROOT, "tests", "peers")
NODE = shutil.which("node") or "/usr/bin/node"


def _require_peers():
    # A missing test dependency fails the test; it never skips it.
    mod = os.path.join(PEERS, "node_modules", "smpp", "package.json")
    if not os.path.exists(mod):
        raise RuntimeError("npm smpp is not installed in tests/peers: run scripts/install-deps --test")


class Peer:
    """One peer process; `events` holds every JSON line it printed."""

    def __init__(self, script, config):
        _require_peers()
        self.events = []
        self._cond = threading.Condition()
        interpreter = "/usr/bin/perl" if script.endswith(".pl") else NODE
        self.proc = subprocess.Popen([interpreter, os.path.join(PEERS, script), json.dumps(config)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, bufsize=1)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                ev = json.loads(line)
            except ValueError:
                ev = {"ev": "garbage", "line": line}
            with self._cond:
                self.events.append(ev)
                self._cond.notify_all()

    def send(self, **cmd):
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()

    def wait(self, ev, timeout=10.0, count=1, **match):
        """The first `count` events named ev whose fields equal match;
        raises AssertionError naming what was seen when they do not come."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                hits = [e for e in self.events
                        if e.get("ev") == ev and all(e.get(k) == v for k, v in match.items())]
                if len(hits) >= count:
                    return hits[0] if count == 1 else hits[:count]
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None and not self._reader.is_alive():
                    raise AssertionError("peer %s: %d of %d %s %r within %.1fs; saw %s" % (
                        self.proc.args[1], len(hits), count, ev, match, timeout,
                        self.events[-10:]))
                self._cond.wait(min(left, 0.2))

    def seen(self, ev, **match):
        with self._cond:
            return [e for e in self.events
                    if e.get("ev") == ev and all(e.get(k) == v for k, v in match.items())]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=5)
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                f.close()
            except OSError:
                pass


class UpstreamSmsc(Peer):
    """An upstream carrier's SMSC; `port` is where it listens."""

    def __init__(self, **config):
        super().__init__("smsc_sim.js", config)
        self.port = self.wait("listening")["port"]


class Esme(Peer):
    """A customer's ESME connected to host:port (npm smpp; PerlEsme below
    speaks the same commands through Net::SMPP)."""

    SCRIPT = "esme.js"

    def __init__(self, port, host="127.0.0.1", **config):
        config.update(host=host, port=port)
        super().__init__(self.SCRIPT, config)

    def bind(self, system_id, password, mode="transceiver", timeout=10.0):
        """Binds and returns the bind_resp's command_status."""
        tag = "bind-%d" % len(self.events)
        self.send(cmd="bind", mode=mode, system_id=system_id, password=password, tag=tag)
        return self.wait("bind_resp", timeout, tag=tag)["command_status"]

    def submit(self, timeout=10.0, **fields):
        """Submits one submit_sm and returns its submit_sm_resp event."""
        tag = "submit-%d" % len(self.events)
        self.send(cmd="submit", fields=fields, tag=tag)
        return self.wait("submit_sm_resp", timeout, tag=tag)


class PerlEsme(Esme):
    """A customer's ESME on Perl Net::SMPP: bind, submit, read, enquire_link,
    unbind."""

    SCRIPT = "esme.pl"


# Provisioning the smsc's routing through the API: a carrier with one SMPP
# connector to an upstream on loopback (short reconnect and response times,
# so that tests of failures end quickly), and message routes.

def carrier_with_connector(api, port, **fields):
    carrier = api.admin.create("/api/v1/carriers", {"name": "sms-" + uuid.uuid4().hex[:6]})["id"]
    body = {"carrier_id": carrier, "name": "c", "host": "127.0.0.1", "port": port,
            "system_id": "warp",
            "password": "pw", "reconnect_min_ms": 200, "reconnect_max_ms": 1000,
            "response_timeout_ms": 2000}
    body.update(fields)
    api.admin.create("/api/v1/smpp-connectors", body)
    return carrier


def route(api, prefix, carriers, customer_id=None):
    body = {"prefix": prefix, "carriers": [{"carrier_id": c, "priority": i}
                                           for i, c in enumerate(carriers)]}
    if customer_id:
        body["customer_id"] = customer_id
    api.admin.create("/api/v1/message-routes", body)


def stop_smsc_test(api, warps, peers):
    """The end of a test that ran its own smsc processes: each must exit 0
    after SIGTERM with its peers still connected (under ASan: no leak);
    then the peers stop and every enabled connector is turned off, so that
    a later test's upstream on a reused port is not bound twice."""
    try:
        for w in warps:
            if w.proc.poll() is None:
                rc, _ = w.stop()
                assert rc == 0, "smsc exited %s after SIGTERM: %s" % (rc, w.stderr()[-4000:])
    finally:
        for p in peers:
            p.stop()
        for c in api.admin.list_all("/api/v1/smpp-connectors"):
            if c["enabled"]:
                r = api.admin.patch("/api/v1/smpp-connectors/" + c["id"], {"enabled": False})
                assert r.status == 200, r.body


@pytest.fixture
def smsc_peers(api):
    """(upstream, esme): start an upstream SMSC and an ESME connected to the
    test's warp (the `api` fixture of the test module, roles api,smsc); all
    stopped, and every connector turned off, when the test ends."""
    started = []

    def upstream(**cfg):
        u = UpstreamSmsc(**cfg)
        started.append(u)
        return u

    def esme():
        e = Esme(int(api.warp.env["WARP_SMSC_LISTEN"].rsplit(":", 1)[1]))
        started.append(e)
        e.wait("connected")
        return e

    yield upstream, esme
    stop_smsc_test(api, [], started)


# Rate decks and snapshots for the smsc's LCR and prepaid tests (decision 0038).

CSV = {"Content-Type": "text/csv"}


def deck_version(api, deck_id, prefix, rate):
    r = api.admin.post("/api/v1/rate-decks/%s/versions" % deck_id,
                       ("prefix,rate,service\n%s,%s,sms\n" % (prefix, rate)).encode(),
                       headers=CSV)
    assert r.status == 201, r.body
    n = r.json()["data"]["number"]
    r = api.admin.post("/api/v1/rate-decks/%s/versions/%d/activate" % (deck_id, n), {})
    assert r.status == 200, r.body


def deck(api, direction, prefix, rate):
    d = api.admin.create("/api/v1/rate-decks", {"name": "d", "direction": direction,
                                                "currency": "USD"})
    deck_version(api, d["id"], prefix, rate)
    return d["id"]


def snapshots_synced(api, timeout=5.0):
    """The smsc's route snapshot and the rating snapshot at the store's version."""
    target = api.rows("SELECT version FROM config_version WHERE id = 1")[0]["version"]
    deadline = time.monotonic() + timeout
    for name in ("message_routes", "billing_rating"):
        while True:
            m = re.search(r'^warp_snapshot_version\{name="%s"\} (\d+)$' % name,
                          api.warp.get("/metrics").body.decode(), re.M)
            if m and int(m.group(1)) >= target:
                break
            assert time.monotonic() < deadline, "%s not at version %d" % (name, target)
            time.sleep(0.02)
