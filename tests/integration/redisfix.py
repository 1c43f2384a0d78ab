"""A real redis-server on loopback for the tests that share state through
Redis (the gateway's rate limits, the sip role's cluster limits): started on
a free port with no persistence, stopped at the end, and stoppable in the
middle of a test (Redis lost)."""
import os
import shutil
import socket
import subprocess
import time

import pytest

from conftest import free_port


def redis_server_path():
    return shutil.which("redis-server") or next(
        (p for p in ("/usr/bin/redis-server", "/usr/sbin/redis-server") if os.path.exists(p)), None)


class RedisServer:
    def __init__(self, path):
        self.path = path
        self.port = free_port()
        self.url = "redis://127.0.0.1:%d" % self.port
        self.start()

    def start(self):
        """Starts the server (again, empty, on the same port after stop())."""
        self.proc = subprocess.Popen([self.path, "--port", str(self.port), "--bind",
                                      "127.0.0.1", "--save", "", "--appendonly", "no"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not self.ping():
            if time.monotonic() > deadline:
                self.proc.kill()
                pytest.fail("redis-server did not start")
            time.sleep(0.05)

    def ping(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def command(self, *args):
        """Sends one command (RESP array of bulk strings); the first line of
        the answer, e.g. b"+OK"."""
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a.encode() if isinstance(a, str) else a
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
            s.sendall(out)
            return s.recv(4096).split(b"\r\n", 1)[0]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


@pytest.fixture
def redis_server():
    path = redis_server_path()
    if not path:
        pytest.skip("redis-server is not installed")
    r = RedisServer(path)
    yield r
    r.stop()
