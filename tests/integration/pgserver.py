#!/usr/bin/env python3
"""A throwaway PostgreSQL 15 server for tests (standard library only).

As a module:

    with pgserver.running() as url:      # postgres://warp-test@127.0.0.1:PORT/warp
        ...

As a command, runs CMD with WARP_TEST_PG_URL set and stops the server after,
exiting with CMD's status:

    python3 tests/integration/pgserver.py -- meson test -C build 'test_store_*'

The cluster lives in a new temporary folder (data and socket), listens on a
free port of 127.0.0.1 only, trusts local connections, and is stopped by the
postmaster's PID (SIGINT: fast shutdown) and removed afterwards.  initdb
refuses to run as root, so as root the server runs as the unprivileged
system user `warp-test` (created once with useradd --system) through runuser.
"""
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

BIN = os.environ.get("WARP_PG_BIN", "/usr/lib/postgresql/15/bin")
USER = "warp-test"
DB = "warp"
START_TIMEOUT_S = 30
STOP_TIMEOUT_S = 30


def _as_root():
    return os.geteuid() == 0


def _ensure_user():
    """Creates the unprivileged user once; returns (uid, gid)."""
    import pwd
    try:
        pw = pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                        USER], check=False, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        pw = pwd.getpwnam(USER)
    return pw.pw_uid, pw.pw_gid


def _cmd(argv):
    """argv run as the server's user."""
    return ["runuser", "-u", USER, "--"] + argv if _as_root() else argv


def _free_port():
    """Below the ephemeral range, so no client socket takes it first, and
    apart from the single ports and RTP ranges tests hand out
    (conftest.SINGLE_PORTS, RTP_PORTS)."""
    import random
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(32000, 32700)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    raise RuntimeError("no free port")


def _chown_tree(path, uid, gid):
    os.chown(path, uid, gid)
    for root, dirs, files in os.walk(path):
        for n in dirs + files:
            os.chown(os.path.join(root, n), uid, gid)


def _initdb(tmp):
    data = os.path.join(tmp, "data")
    subprocess.run(_cmd([os.path.join(BIN, "initdb"), "-D", data, "-U", USER, "-A", "trust",
                         "-E", "UTF8", "--no-sync", "--locale=C"]),
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return data


def _postmaster_pid(data):
    try:
        with open(os.path.join(data, "postmaster.pid")) as f:
            return int(f.readline().strip())
    except (OSError, ValueError):
        return None


def _wait_ready(port, proc, log):
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("postgres exited at start; see %s" % log)
        r = subprocess.run([os.path.join(BIN, "pg_isready"), "-q", "-h", "127.0.0.1", "-p",
                            str(port)])
        if r.returncode == 0:
            return
        time.sleep(0.1)
    raise RuntimeError("postgres did not become ready in %d s; see %s" % (START_TIMEOUT_S, log))


def _stop(data, proc):
    pid = _postmaster_pid(data)
    if pid:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGINT)
    try:
        proc.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        proc.kill()
        proc.wait(timeout=STOP_TIMEOUT_S)


class Server:
    """A throwaway cluster that can be stopped and started again on the same
    port and data (to show what clients do while the server is away)."""

    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="warp-pg-")
        self.proc = None
        self.data = None
        self.port = _free_port()
        self.log = os.path.join(self.tmp, "postgres.log")
        self.url = "postgres://%s@127.0.0.1:%d/%s" % (USER, self.port, DB)
        if _as_root():
            self.uid, self.gid = _ensure_user()
            _chown_tree(self.tmp, self.uid, self.gid)
        self.data = _initdb(self.tmp)

    def start(self):
        logf = open(self.log, "a")
        if _as_root():
            os.chown(self.log, self.uid, self.gid)
        self.proc = subprocess.Popen(_cmd([os.path.join(BIN, "postgres"), "-D", self.data,
                                           "-p", str(self.port), "-h", "127.0.0.1", "-k", self.tmp,
                                           "-c", "fsync=off", "-c", "max_connections=200"]),
                                     stdout=logf, stderr=subprocess.STDOUT, start_new_session=True)
        logf.close()
        _wait_ready(self.port, self.proc, self.log)
        return self

    def create_db(self, name=DB):
        subprocess.run([os.path.join(BIN, "createdb"), "-h", "127.0.0.1", "-p", str(self.port),
                        "-U", USER, name], check=True)
        return "postgres://%s@127.0.0.1:%d/%s" % (USER, self.port, name)

    def stop(self):
        if self.proc is not None:
            _stop(self.data, self.proc)
            self.proc = None

    def close(self):
        self.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


@contextlib.contextmanager
def running():
    """Starts a server, yields its URL (database `warp`), stops it after."""
    srv = Server()
    try:
        srv.start()
        srv.create_db()
        yield srv.url
    finally:
        srv.close()


def main(argv):
    if "--" in argv:
        argv = argv[argv.index("--") + 1:]
    if not argv:
        print("usage: pgserver.py -- CMD [ARGS...]", file=sys.stderr)
        return 2
    with running() as url:
        env = dict(os.environ, WARP_TEST_PG_URL=url)
        print("pgserver: PostgreSQL at %s" % url, flush=True)
        try:
            return subprocess.call(argv, env=env)
        except KeyboardInterrupt:
            return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
