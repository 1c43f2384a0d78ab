"""Fixtures for WARP's integration tests: the real `warp` binary, started on
loopback with a throwaway store, driven over real sockets.

WARP_BIN names the binary (scripts/run-tests sets it; default build/warp).
"""
import collections
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)


def warp_bin():
    return os.path.abspath(os.environ.get("WARP_BIN", os.path.join(ROOT, "build", "warp")))


_port_rng = random.Random(os.getpid())

# Loopback ports are split so that tests running at once (pytest-xdist)
# never take each other's.  warp's listeners use SO_REUSEPORT, so two warps
# of two tests that picked the same port would both bind it and share its
# traffic; a bind check alone cannot rule that out between the check and
# the bind.  So each xdist worker draws single ports (SIP, HTTP, ng) from
# its own slice of SINGLE_PORTS, never handing out one it gave out
# recently, and takes media relays' RTP ranges from its own slice of
# RTP_PORTS.  All lie below the kernel's ephemeral range (32768-60999), so
# no client socket takes a port first; PostgreSQL (pgserver.py) draws from
# 32000-32700, apart from both.
SINGLE_PORTS = (10000, 20000)
RTP_PORTS = (20000, 32000)
_SLICES = 12  # workers the slices allow for
_RTP_SLICE = (RTP_PORTS[1] - RTP_PORTS[0]) // _SLICES
_SINGLE_SLICE = (SINGLE_PORTS[1] - SINGLE_PORTS[0]) // _SLICES
_rtp_next = [0]
_recent = collections.deque(maxlen=256)  # single ports this worker handed out


def _worker_index():
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return (int(worker[2:]) if worker[2:].isdigit() else 0) % _SLICES


def rtp_ports(count=200):
    """An even-aligned range (lo, hi) of `count` RTP ports that no other
    xdist worker uses.  Successive calls in a worker cycle through its
    slice, so the engines one test starts together get disjoint ranges."""
    base = RTP_PORTS[0] + _worker_index() * _RTP_SLICE
    size = (count + 1) // 2 * 2
    assert size <= _RTP_SLICE // 2, "ask for fewer ports"
    blocks = _RTP_SLICE // size
    lo = base + _rtp_next[0] % blocks * size
    _rtp_next[0] += 1
    return lo, lo + count - 1


def pick_port(is_free, span=1):
    """A single port of this worker's slice for which is_free(port) holds
    and that it has not handed out lately; with span > 1, the first of
    `span` such ports in a row, aligned to span."""
    lo = SINGLE_PORTS[0] + _worker_index() * _SINGLE_SLICE
    for _ in range(400):
        port = _port_rng.randrange(lo, lo + _SINGLE_SLICE - span) // span * span
        ports = range(port, port + span)
        if not any(p in _recent for p in ports) and all(is_free(p) for p in ports):
            _recent.extend(ports)
            return port
    raise RuntimeError("no free port")


def _binds(port, targets):
    """Whether port can be bound for every (family, host, kind) in targets."""
    try:
        for fam, host, kind in targets:
            with socket.socket(fam, kind) as s:
                s.bind((host, port))
        return True
    except OSError:
        return False


def free_port(kind=socket.SOCK_STREAM):
    """A port free on 127.0.0.1 for both TCP and UDP, in this worker's
    slice (see SINGLE_PORTS)."""
    return pick_port(lambda p: _binds(p, [(socket.AF_INET, "127.0.0.1", socket.SOCK_STREAM),
                                           (socket.AF_INET, "127.0.0.1", socket.SOCK_DGRAM)]))


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)


def http(method, url, body=None, headers=None, timeout=5):
    """One request; returns a Response for any status (no exception on 4xx/5xx)."""
    data = None
    hdrs = dict(headers or {})
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return Response(r.status, r.headers, r.read())
    except urllib.error.HTTPError as e:
        return Response(e.code, e.headers, e.read())


class Warp:
    """A running `warp run` process with its own config, store and port."""

    def __init__(self, tmp_path, store_url=None, extra_ini="", env=None, args=None):
        self.tmp = tmp_path
        self.port = free_port()
        self.base = "http://127.0.0.1:%d" % self.port
        self.store_url = store_url or "sqlite:%s" % (tmp_path / "warp.db")
        self.config = tmp_path / "warp.ini"
        self.config.write_text(
            "[store]\nurl = %s\nhealth_interval = 200ms\n\n[http]\nlisten = 127.0.0.1:%d\nthreads = 2\n\n"
            "[log]\nlevel = info\nformat = json\n%s" % (self.store_url, self.port, extra_ini))
        self.env = dict(os.environ)
        self.env.pop("WARP_ADMIN_TOKEN", None)
        self.env.update(env or {})
        self._isolate_listeners(extra_ini)
        self.args = args or []
        self.proc = None
        self.stdout_path = tmp_path / ("warp-%d.out" % self.port)
        self.stderr_path = tmp_path / ("warp-%d.err" % self.port)

    # Listeners every role binds by default; each warp a test starts gets free
    # ports of its own unless the test chose them, so warps never collide.
    LISTENERS = (("sip", "listen", socket.SOCK_DGRAM), ("media", "ng_listen", socket.SOCK_DGRAM),
                 ("smsc", "listen", socket.SOCK_STREAM))

    def _isolate_listeners(self, extra_ini):
        for section, key, kind in self.LISTENERS:
            var = "WARP_%s_%s" % (section.upper(), key.upper())
            chosen = re.search(r"(?ms)^\[%s\][^\[]*^\s*%s\s*=" % (section, key), extra_ini or "")
            if var not in self.env and not chosen:
                self.env[var] = "127.0.0.1:%d" % free_port(kind)

    def start(self, wait=True):
        self.proc = subprocess.Popen(
            [warp_bin(), "run", "-c", str(self.config)] + self.args,
            stdout=open(self.stdout_path, "wb"), stderr=open(self.stderr_path, "wb"),
            env=self.env, cwd=str(self.tmp))
        if wait:
            self.wait_healthy()
        return self

    def wait_healthy(self, timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("warp exited with %d: %s" % (self.proc.returncode, self.stderr()))
            try:
                if http("GET", self.base + "/healthz", timeout=1).status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError("warp did not answer /healthz in %ds: %s" % (timeout, self.stderr()))

    def get(self, path, **kw):
        return http("GET", self.base + path, **kw)

    def stdout(self):
        return self.stdout_path.read_text(errors="replace")

    def stderr(self):
        return self.stderr_path.read_text(errors="replace")

    def log_lines(self):
        """stderr as parsed JSON log lines (format = json)."""
        out = []
        for line in self.stderr().splitlines():
            line = line.strip()
            if line.startswith("{"):
                out.append(json.loads(line))
        return out

    def stop(self, sig=signal.SIGTERM, timeout=5):
        """Sends sig and returns (exit code, seconds it took)."""
        if self.proc is None or self.proc.poll() is not None:
            return (self.proc.returncode if self.proc else None), 0.0
        t0 = time.monotonic()
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("warp did not stop within %ds" % timeout)
        return rc, time.monotonic() - t0


@pytest.fixture
def warp_factory(tmp_path):
    started = []

    def make(**kw):
        w = Warp(tmp_path, **kw)
        started.append(w)
        return w

    yield make
    for w in started:
        if w.proc and w.proc.poll() is None:
            w.proc.kill()
            w.proc.wait()


@pytest.fixture
def warp(warp_factory):
    """A running warp on a fresh SQLite store."""
    return warp_factory().start()


def run_warp(args, env=None, cwd=None, timeout=20):
    """Runs `warp ARGS` to completion; returns CompletedProcess with text output."""
    e = dict(os.environ)
    e.pop("WARP_ADMIN_TOKEN", None)
    e.update(env or {})
    return subprocess.run([warp_bin()] + args, capture_output=True, text=True, env=e,
                          cwd=cwd, timeout=timeout)


@pytest.fixture(scope="session")
def postgres():
    """A throwaway PostgreSQL 15 on loopback for the whole session (a
    pgserver.Server; create_db() gives each test its own database)."""
    import pgserver
    with pgserver.Server() as pg:
        pg.start()
        yield pg
