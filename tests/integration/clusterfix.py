"""WARP as a cluster inside network namespaces the test makes itself.

Topology (docs/cluster.md describes the same for real machines): a
"switch" namespace holds a bridge; every other namespace has one veth to
it and its own address on 10.77.0.0/24:

    ctl     10.77.0.1   the test's own end: its HTTP requests start here
    pg      10.77.0.2   PostgreSQL 15 (pgserver's throwaway cluster)
    redis   10.77.0.3   redis-server
    api1/2  10.77.0.11/12   warp --roles api   ([ratelimit] backend = redis)
    sip1/2  10.77.0.21/22   warp --roles sip   (both engines, [limits] backend = redis)
    media1/2 10.77.0.31/32  warp --roles media
    pbx     10.77.0.40 (+ .41-.43)  SIPp callers (customers' PBXs)
    gw      10.77.0.50  SIPp callees (a carrier's gateway)

Nothing is bound in the host's own namespace: the test's HTTP requests run
with the calling thread moved into `ctl` (setns(2) on a network namespace
moves one thread), processes are started with `ip netns exec`, which execs
them, so Popen's PID is theirs and each is stopped by that PID.  The
namespaces are named after the pytest process's PID (two runs at once do
not meet; a run that died is cleaned up by the next) and deleted at the
end, which deletes their veths and the bridge with them.

Needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN); cannot_make() says why not
when namespaces cannot be made, and only then does the test skip.
"""
import contextlib
import ctypes
import fcntl
import os
import re
import signal
import socket
import subprocess
import time

import pgserver
from conftest import http, warp_bin
from sipfix import Sipp

NET = "10.77.0"
ADDR = {"ctl": NET + ".1", "pg": NET + ".2", "redis": NET + ".3",
        "api1": NET + ".11", "api2": NET + ".12", "sip1": NET + ".21", "sip2": NET + ".22",
        "media1": NET + ".31", "media2": NET + ".32", "pbx": NET + ".40", "gw": NET + ".50"}
# More PBXs: one per test that needs a trunk of its own (an address is one trunk's).
EXTRA_ADDR = {"pbx": [NET + ".41", NET + ".42", NET + ".43"]}
PREFIX = "warpcl"
TOKEN = "cluster-admin-token-0123456789abcdef"
AUTH = {"Authorization": "Bearer " + TOKEN}
HEARTBEAT_MS = 300  # [sip] call_heartbeat: the journal bills a dead node's calls 3 later
PING_MS = 200  # [sip] media_ping_interval
PING_MISSES = 2  # [sip] media_ping_misses
LEASE_MS = 1000  # [limits] lease: a killed sip node's channels free after it
HTTP_PORT, SIP_PORT, NG_PORT = 8080, 5060, 2223
START_TIMEOUT_S = 20
TCP_USER_TIMEOUT_MS = 2000
PG_URL_PARAMS = ("tcp_user_timeout=%d&keepalives_idle=5&keepalives_interval=1&keepalives_count=3"
                 % TCP_USER_TIMEOUT_MS)

_libc = ctypes.CDLL(None, use_errno=True)
_CLONE_NEWNET = 0x40000000


def _ip(*args, check=True):
    r = subprocess.run(["ip"] + list(args), capture_output=True, text=True, timeout=10)
    if check and r.returncode != 0:
        raise RuntimeError("ip %s: %s" % (" ".join(args), r.stderr.strip()))
    return r


def cannot_make():
    """None when this process can make namespaces and veths, else why not."""
    if os.geteuid() != 0:
        return "not root (uid %d): ip netns needs root" % os.geteuid()
    probe = "%s%d-probe" % (PREFIX, os.getpid())
    try:
        r = _ip("netns", "add", probe, check=False)
        if r.returncode != 0:
            return "ip netns add failed: %s" % r.stderr.strip()
        r = _ip("-n", probe, "link", "add", "p0", "type", "veth", "peer", "name", "p1", check=False)
        if r.returncode != 0:
            return "no veth pair inside a namespace: %s" % r.stderr.strip()
        return None
    except (OSError, subprocess.SubprocessError) as e:
        return "ip netns cannot run: %s" % e
    finally:
        subprocess.run(["ip", "netns", "del", probe], capture_output=True, timeout=10)


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def remove_stale():
    """Deletes the namespaces of earlier runs whose pytest process is gone
    (killed before its teardown), ending first what that run left running
    in them (by PID: `ip netns pids`)."""
    for name in _ip("netns", "list").stdout.split():
        m = re.match(r"^%s(\d+)-" % PREFIX, name)
        if not m or _pid_alive(int(m.group(1))):
            continue
        for pid in _ip("netns", "pids", name, check=False).stdout.split():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGKILL)
        _ip("netns", "del", name, check=False)


LOCK = "/tmp/warp-cluster-test.lock"
LOCK_WAIT_S = 600


@contextlib.contextmanager
def one_at_a_time():
    """Holds the machine's one cluster slot.  pytest-xdist hands a module's
    tests to several workers, and each would build a cluster of its own:
    several at once on a small machine would starve each other's one-second
    deadlines.  So they take turns (a flock, released by the kernel if the
    holder dies); the wait is bounded."""
    fd = os.open(LOCK, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        deadline = time.monotonic() + LOCK_WAIT_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise AssertionError("another cluster test held %s for %ds" % (
                        LOCK, LOCK_WAIT_S))
                time.sleep(0.2)
        yield
    finally:
        os.close(fd)  # releases the lock


class Net:
    """The namespaces, the bridge and the veths; close() deletes them."""

    def __init__(self):
        self.tag = "%s%d" % (PREFIX, os.getpid())
        self.switch = self.tag + "-switch"
        self.made = []
        self.cut_off = set()

    def ns(self, name):
        return "%s-%s" % (self.tag, name)

    def build(self):
        remove_stale()
        self._add(self.switch)
        _ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
        _ip("-n", self.switch, "link", "set", "br0", "up")
        for name, addr in ADDR.items():
            self._add(self.ns(name))
            self._attach(name, [addr] + EXTRA_ADDR.get(name, []))
        return self

    def _add(self, ns):
        _ip("netns", "add", ns)
        self.made.append(ns)
        _ip("-n", ns, "link", "set", "lo", "up")

    def _attach(self, name, addrs):
        port = self.port_of(name)
        _ip("-n", self.switch, "link", "add", port, "type", "veth", "peer", "name", "eth0",
            "netns", self.ns(name))
        _ip("-n", self.switch, "link", "set", port, "master", "br0")
        _ip("-n", self.switch, "link", "set", port, "up")
        for a in addrs:
            _ip("-n", self.ns(name), "addr", "add", a + "/24", "dev", "eth0")
        _ip("-n", self.ns(name), "link", "set", "eth0", "up")

    @staticmethod
    def port_of(name):
        """The switch's end of a node's veth (interface names: 15 bytes)."""
        return "v-" + name

    def cut(self, name):
        """Unplugs a node's cable at the switch."""
        _ip("-n", self.switch, "link", "set", self.port_of(name), "down")
        self.cut_off.add(name)

    def plug_all(self):
        """Plugs every cable back in.  The neighbour entries that failed
        while a cable was out are flushed: one left FAILED answers the next
        connect() "No route to host" (a node restarted at once would stop
        at start-up for an unreachable store)."""
        if not self.cut_off:
            return
        for name in self.cut_off:
            _ip("-n", self.switch, "link", "set", self.port_of(name), "up", check=False)
        for name in ADDR:
            _ip("-n", self.ns(name), "neigh", "flush", "all", check=False)
        self.cut_off = set()

    def exec_argv(self, name, argv):
        return ["ip", "netns", "exec", self.ns(name)] + list(argv)

    @contextlib.contextmanager
    def inside(self, name):
        """Runs the block with this thread in a node's network namespace:
        sockets made inside stay there.  Always moved back."""
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        target = os.open("/run/netns/" + self.ns(name), os.O_RDONLY)
        try:
            if _libc.setns(target, _CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns into " + self.ns(name))
            yield
        finally:
            if _libc.setns(own, _CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back")
            os.close(target)
            os.close(own)

    def close(self):
        for ns in reversed(self.made):
            _ip("netns", "del", ns, check=False)
        self.made = []


class Postgres(pgserver.Server):
    """pgserver's throwaway cluster, bound to its namespace's address."""

    def __init__(self, net):
        super().__init__()
        self.net = net
        self.port = 5432
        # A node cut off from the store must not wait on a reply for ever
        # (libpq's default: until TCP gives up, minutes): docs/cluster.md.
        self.url = "postgres://%s@%s:%d/%s?%s" % (pgserver.USER, ADDR["pg"], self.port,
                                                  pgserver.DB, PG_URL_PARAMS)
        # initdb's trust lines are for loopback; the nodes connect from the net.
        with open(os.path.join(self.data, "pg_hba.conf"), "a") as f:
            f.write("host all all %s.0/24 trust\n" % NET)

    def start(self):
        logf = open(self.log, "a")
        if os.geteuid() == 0:
            os.chown(self.log, self.uid, self.gid)
        argv = pgserver._cmd([os.path.join(pgserver.BIN, "postgres"), "-D", self.data, "-p",
                              str(self.port), "-h", ADDR["pg"], "-k", self.tmp, "-c", "fsync=off",
                              "-c", "max_connections=200"])
        self.proc = subprocess.Popen(self.net.exec_argv("pg", argv), stdout=logf,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        logf.close()
        deadline = time.monotonic() + pgserver.START_TIMEOUT_S
        ready = self.net.exec_argv("pg", [os.path.join(pgserver.BIN, "pg_isready"), "-q", "-h",
                                          ADDR["pg"], "-p", str(self.port)])
        while subprocess.run(ready).returncode != 0:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("postgres did not start in its namespace; see %s" % self.log)
            time.sleep(0.1)
        subprocess.run(self.net.exec_argv("pg", [
            os.path.join(pgserver.BIN, "createdb"), "-h", ADDR["pg"], "-p", str(self.port), "-U",
            pgserver.USER, pgserver.DB]), check=True, timeout=30)
        return self

    def query(self, sql):
        """One value per line of `psql -At` (the test's look at the store)."""
        r = subprocess.run(self.net.exec_argv("pg", [
            "psql", "-X", "-q", "-At", "-h", ADDR["pg"], "-p", str(self.port), "-U",
            pgserver.USER, "-d", pgserver.DB, "-v", "ON_ERROR_STOP=1", "-c", sql]),
            capture_output=True, text=True, timeout=20)
        assert r.returncode == 0, r.stderr
        return r.stdout.splitlines()


class Proc:
    """One process in a node's namespace, stopped by its PID."""

    def __init__(self, net, node, argv, folder, name):
        self.net, self.node, self.argv = net, node, argv
        self.folder = folder
        self.name = name
        self.proc = None

    def start(self, env=None):
        self.out = self.folder / (self.name + ".log")
        with open(self.out, "ab") as f:
            self.proc = subprocess.Popen(self.net.exec_argv(self.node, self.argv), stdout=f,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         env=env, cwd=str(self.folder))
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        """SIGKILL, as a crash: nothing runs after it."""
        if self.alive():
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self, timeout=15):
        """SIGTERM and its exit code (None if it was not running)."""
        if not self.alive():
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return "killed after %ds" % timeout

    def log(self):
        return self.out.read_text(errors="replace") if self.out.exists() else ""


def node_ini(name, store_url, redis_url):
    """A node's whole configuration: its own address, the shared store."""
    a = ADDR[name]
    text = ("[store]\nurl = %s\nmigrate_on_start = false\nsnapshot_poll = 100ms\n"
            "health_interval = 200ms\n\n[http]\nlisten = %s:%d\nthreads = 1\n\n"
            "[log]\nlevel = info\nformat = json\n\n[webhooks]\nenabled = false\n\n"
            % (store_url, a, HTTP_PORT))
    if name.startswith("api"):
        text += ("[ratelimit]\nbackend = redis\nredis_url = %s\nadmin_rate = 100000\n"
                 "admin_burst = 100000\n\n" % redis_url)
    if name.startswith("sip"):
        engines = " ".join("udp:%s:%d=1" % (ADDR[m], NG_PORT) for m in ("media1", "media2"))
        text += ("[sip]\nlisten = %s:%d\nthreads = 2\nsetup_timeout = 2s\ncall_heartbeat = %dms\n"
                 "media_engines = %s\nmedia_ping_interval = %dms\nmedia_ping_misses = %d\n"
                 "media_timeout = 1500ms\n\n" % (a, SIP_PORT, HEARTBEAT_MS, engines, PING_MS,
                                                 PING_MISSES))
    if name.startswith("media"):
        text += ("[media]\nng_listen = %s:%d\ninterfaces = default/%s\nport_min = 30000\n"
                 "port_max = 30999\nworkers = 1\nport_quiet = 2s\n\n" % (a, NG_PORT, a))
    return text


class Node(Proc):
    """`warp run --roles ROLE` in its own namespace with its own address."""

    def __init__(self, net, name, folder, store_url, redis_url):
        d = folder / name
        d.mkdir(exist_ok=True)
        (d / "warp.ini").write_text(node_ini(name, store_url, redis_url))
        self.role = re.sub(r"\d+$", "", name)
        super().__init__(net, name, [warp_bin(), "run", "-c", str(d / "warp.ini"), "--roles",
                                     self.role], d, "warp")
        self.base = "http://%s:%d" % (ADDR[name], HTTP_PORT)
        # The sip nodes' [limits] (decision 0046), in the keys' environment
        # form: channel and CPS limits held across both sip nodes.
        self.limits_env = {"WARP_LIMITS_BACKEND": "redis", "WARP_LIMITS_REDIS_URL": redis_url,
                           "WARP_LIMITS_TIMEOUT": "200ms", "WARP_LIMITS_SYNC_INTERVAL": "10ms",
                           "WARP_LIMITS_LEASE": "%dms" % LEASE_MS, "WARP_LIMITS_NODES": "2"}

    def start(self, env=None):
        e = dict(os.environ, WARP_ADMIN_TOKEN=TOKEN)
        if self.role == "sip":
            e.update(self.limits_env)
        super().start(env=e)
        self.wait_ready()
        return self

    def wait_ready(self):
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert self.alive(), "%s exited %s: %s" % (self.node, self.proc.returncode,
                                                       self.log()[-3000:])
            if self._answers():
                return
            assert time.monotonic() < deadline, "%s not up in %ds: %s" % (
                self.node, START_TIMEOUT_S, self.log()[-3000:])
            time.sleep(0.05)

    def _answers(self):
        """/healthz answers, and a sip node's TCP listener accepts (HTTP
        starts last, but say it anyway)."""
        with self.net.inside("ctl"):
            try:
                if http("GET", self.base + "/healthz", timeout=1).status != 200:
                    return False
                if self.role == "sip":
                    socket.create_connection((ADDR[self.node], SIP_PORT), timeout=1).close()
                return True
            except OSError:
                return False

    def get(self, path, **kw):
        with self.net.inside("ctl"):
            return http("GET", self.base + path, **kw)

    def metrics(self):
        return self.get("/metrics").body.decode()


class ClusterSipp(Sipp):
    """sipfix's SIPp, run in a namespace: caller at pbx, callee at gw."""

    def __init__(self, net, node, *args, **kw):
        super().__init__(*args, **kw)
        self.net, self.node = net, node
        self.args = net.exec_argv(node, self.args)

    def wait_bound(self, timeout=10):
        with self.net.inside(self.node):
            super().wait_bound(timeout)


class Cluster:
    """Everything of the topology, started in order, stopped in reverse."""

    NODES = ("api1", "api2", "media1", "media2", "sip1", "sip2")

    def __init__(self, folder):
        self.folder = folder
        self.net = None
        self.pg = None
        self.redis = None
        self.nodes = {}
        self.sipps = []
        self._sip_ports = iter(range(5100, 6000, 2))
        self._media_ports = iter(range(16000, 20000, 4))

    def start(self):
        self.net = Net().build()
        self.pg = Postgres(self.net).start()
        self.redis = Proc(self.net, "redis", [
            "redis-server", "--bind", ADDR["redis"], "--port", "6379", "--save", "",
            "--appendonly", "no", "--protected-mode", "no"], self.folder, "redis").start()
        self._wait_redis()
        redis_url = "redis://%s:6379" % ADDR["redis"]
        for name in self.NODES:
            self.nodes[name] = Node(self.net, name, self.folder, self.pg.url, redis_url)
        self._migrate()
        for name in self.NODES:
            self.nodes[name].start()
        return self

    def _migrate(self):
        """Once, before any node starts (each runs with migrate_on_start off)."""
        api1 = self.nodes["api1"]
        r = subprocess.run(self.net.exec_argv("api1", [warp_bin(), "migrate", "-c",
                                                       str(api1.folder / "warp.ini")]),
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr

    def _wait_redis(self):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with self.net.inside("ctl"):
                try:
                    with socket.create_connection((ADDR["redis"], 6379), timeout=0.5) as s:
                        s.sendall(b"PING\r\n")
                        if s.recv(16).startswith(b"+PONG"):
                            return
                except OSError:
                    pass
            time.sleep(0.05)
        raise AssertionError("redis-server did not answer: %s" % self.redis.log())

    # ------------------------------------------------------------ API
    def api(self, node, method, path, body=None, headers=None, expect=(200, 201, 204)):
        with self.net.inside("ctl"):
            r = http(method, self.nodes[node].base + "/api/v1" + path, body,
                     headers=headers or AUTH)
        if expect:
            assert r.status in expect, "%s %s %s: %d %s" % (node, method, path, r.status, r.body)
        return r

    def create(self, node, path, body):
        return self.api(node, "POST", path, body).json()["data"]

    def config_version(self):
        return int(self.pg.query("SELECT version FROM config_version")[0])

    def snapshot_version(self, node):
        m = re.search(r'^warp_snapshot_version\{name="sip_policy"\} (\d+)$',
                      self.nodes[node].metrics(), re.M)
        return int(m.group(1)) if m else -1

    # ----------------------------------------------------------- SIPp
    def sipp(self, node, name, sf, remote=None, port=None, **kw):
        port, mp = port or next(self._sip_ports), next(self._media_ports)
        extra = ["-mp", str(mp)] + kw.pop("extra", [])
        folder = self.folder / "sipp"
        folder.mkdir(exist_ok=True)
        p = ClusterSipp(self.net, node, folder, "%s-%d" % (name, port), sf, port, remote=remote,
                        host=kw.pop("host", ADDR[node]), extra=extra, **kw)
        self.sipps.append(p)
        return p

    def stop_sipps(self):
        for p in self.sipps:
            p.stop()
        self.sipps = []

    # ------------------------------------------------------- stopping
    def ensure_running(self):
        """Plugs cables back in, restarts a node an earlier test killed."""
        self.net.plug_all()
        for name in self.NODES:
            if not self.nodes[name].alive():
                self.nodes[name].start()

    def close(self):
        """Stops every process by its PID, then deletes the namespaces.
        Returns {node: exit code} of the warps that were still running."""
        codes = {}
        if self.net is None:
            return codes
        self.stop_sipps()
        self.net.plug_all()
        for name in reversed(self.NODES):
            if name in self.nodes and self.nodes[name].alive():
                codes[name] = self.nodes[name].stop()
        if self.redis:
            self.redis.stop()
        if self.pg:
            self.pg.close()
        self.net.close()
        return codes
