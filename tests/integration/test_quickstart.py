"""docs/quickstart.md, run as written.

The guide's ```sh blocks are its commands; each runnable one is named with
`id=NAME` in its info string, and ```sh norun blocks (installing packages,
`make build`, creating a PostgreSQL role) are left out: the binary under test
is WARP_BIN and the database comes from the `postgres` fixture.  A run takes
the blocks named in its list, in that order, into one bash script (set -eu,
pipefail) started from the top of the repository, so variables one block sets
(ids, the token, PIDs) are there for the next, as in the reader's shell.  The
only change made to the text is in the `settings` block: each of its
assignments gets the value the test chose (free loopback ports, a temporary
folder, the fixtures' URLs), and the test checks the block assigns exactly
the names it knows, so a renamed setting fails here.

Each block's output goes to its own file; the assertions read them — SIPp's
exit codes, the CDRs the guide prints, the relay's SDP rewrite — and the
traces the guide's SIPp commands leave in $WORK.  A block that fails stops
the script (set -e), and the test names the block.
"""
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import time

import pytest

from conftest import ROOT, free_port, rtp_ports, warp_bin

GUIDE = os.path.join(ROOT, "docs", "quickstart.md")
FENCE = re.compile(r"^```sh(?P<info>[^\n]*)\n(?P<body>.*?)^```[ \t]*$", re.M | re.S)
SETTING = re.compile(r"^(?P<export>export )?(?P<name>[A-Z_]+)=(?P<value>\S*)(?P<comment>\s+#.*)?$")

# The reader's order: SQLite, then PostgreSQL (sections 2-5 again on the new
# store), then Redis (which stops the PostgreSQL process itself).
SQLITE_RUN = ["settings", "store-sqlite", "start", "token", "provision", "call", "cdr", "incoming",
              "relay", "relay-sdp", "error-no-route", "error-unknown-source", "error-port"]
PG_RUN = ["stop", "store-pg", "start", "token", "provision", "call", "cdr"]
REDIS_RUN = ["redis-on", "start", "replica", "shared-limit", "stop-all"]
RUN_TIMEOUT_S = 150


def guide_blocks():
    """{id: body} of the runnable ```sh blocks."""
    out = {}
    with open(GUIDE) as f:
        text = f.read()
    for m in FENCE.finditer(text):
        words = m.group("info").split()
        if "norun" in words:
            continue
        ids = [w[3:] for w in words if w.startswith("id=")]
        assert len(ids) == 1, "a ```sh block needs one id= or norun: %r" % m.group(0)[:80]
        assert ids[0] not in out, "two blocks named %s" % ids[0]
        out[ids[0]] = m.group("body")
    return out


def with_settings(body, values):
    """The settings block with each assignment's value replaced by ours."""
    lines, seen = [], set()
    for line in body.splitlines():
        m = SETTING.match(line)
        if not m:
            assert not line.strip(), "settings: not NAME=value: %r" % line
            continue
        name = m.group("name")
        seen.add(name)
        lines.append("%s%s=%s" % (m.group("export") or "", name, shlex.quote(str(values[name]))))
    assert seen == set(values), "settings names changed: %s" % sorted(seen ^ set(values))
    return "\n".join(lines) + "\n"


class GuideRun:
    """One bash script made of guide blocks; outputs[i] is (id, text)."""

    def __init__(self, tmp, ids, values):
        self.tmp = tmp
        self.ids = ids
        self.values = values
        self.outdir = tmp / "blocks"
        self.outdir.mkdir()
        blocks = guide_blocks()
        parts = ["set -euo pipefail",
                 # what the guide leaves running when a block fails
                 "trap 'kill $(jobs -p) 2>/dev/null || true' EXIT",
                 '__qs_block() { exec >"%s/$1.out" 2>&1; }' % self.outdir]
        for n, i in enumerate(ids):
            body = with_settings(blocks[i], values) if i == "settings" else blocks[i]
            parts += ["__qs_block %02d-%s" % (n, i), body]
        self.script = tmp / "guide.sh"
        self.script.write_text("\n".join(parts) + "\n")

    def run(self):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("WARP_") or k in ("WARP_BIN", "WARP_TESTDATA")}
        proc = subprocess.Popen(["bash", str(self.script)], cwd=ROOT, env=env,
                                stdout=open(self.tmp / "guide.stdout", "wb"),
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            self.rc = proc.wait(timeout=RUN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.rc = None
        finally:
            try:  # the script's own process group: warp and SIPp left behind
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
        return self

    def out(self, block, nth=0):
        """The output of the nth run of block."""
        hits = [n for n, i in enumerate(self.ids) if i == block]
        path = self.outdir / ("%02d-%s.out" % (hits[nth], block))
        return path.read_text(errors="replace") if path.exists() else ""

    def describe(self):
        done = sorted(p.name for p in self.outdir.iterdir())
        last = done[-1] if done else "(none)"
        work = self.values["WORK"]
        log = os.path.join(work, "warp.log")
        tail = open(log, errors="replace").read()[-3000:] if os.path.exists(log) else ""
        return "guide rc=%s; last block %s:\n%s\n--- warp.log:\n%s" % (
            self.rc, last, (self.outdir / last).read_text(errors="replace")[-3000:] if done else "",
            tail)

    def ok(self):
        assert self.rc == 0, self.describe()


def settings(tmp, pg_url="postgres://unused@127.0.0.1:1/unused", redis_url="redis://127.0.0.1:1"):
    lo, hi = rtp_ports(100)
    return {
        "WARP": warp_bin(),
        "WORK": str(tmp / "work"),
        "WARP_HTTP_LISTEN": "127.0.0.1:%d" % free_port(),
        "WARP_SIP_LISTEN": "127.0.0.1:%d" % free_port(),
        "WARP_MEDIA_NG_LISTEN": "127.0.0.1:%d" % free_port(),
        "WARP_MEDIA_PORT_MIN": lo,
        "WARP_MEDIA_PORT_MAX": hi,
        "PBX_PORT": free_port(),
        "CARRIER_PORT": free_port(),
        "REPLICA_LISTEN": "127.0.0.1:%d" % free_port(),
        "PG_URL": pg_url,
        "REDIS_URL": redis_url,
    }


def first_audio_port(path):
    with open(path, errors="replace") as f:
        m = re.search(r"^m=audio (\d+) ", f.read(), re.M)
    assert m, "no m=audio line in %s" % path
    return int(m.group(1))


def assert_sipp_ok(run, block, *sides):
    text = run.out(block)
    for side in sides:
        assert "%s: sipp exit code 0" % side in text, "%s: %s" % (block, text)


def assert_first_call(run, nth=0):
    assert_sipp_ok(run, "call", "caller", "carrier")
    cdr = json.loads(run.out("cdr", nth))
    assert cdr["direction"] == "termination", cdr
    assert cdr["dialed"] == "15551230001" and cdr["final_code"] == 200, cdr
    assert cdr["duration_ms"] >= 900 and cdr["hangup"] == "caller", cdr
    assert cdr["trunk_id"].startswith("trk_") and cdr["gateway_id"].startswith("gw_"), cdr


# ------------------------------------------------------------------ tests


def test_every_runnable_block_is_run():
    named = set(guide_blocks())
    runs = set(SQLITE_RUN) | set(PG_RUN) | set(REDIS_RUN)
    assert named == runs, "blocks no run takes, or runs naming no block: %s" % sorted(named ^ runs)


def test_quickstart_on_sqlite(tmp_path):
    values = settings(tmp_path)
    run = GuideRun(tmp_path, SQLITE_RUN + ["stop"], values).run()
    run.ok()
    work = values["WORK"]
    assert re.fullmatch(r"warp_\S+\n", run.out("token")), run.out("token")
    ids = run.out("provision").split()
    assert [i.split("_")[0] for i in ids] == ["cus", "trk", "car", "gw", "rte", "num"], ids

    # a call from the customer to the carrier, its CDR; bypass: SDP untouched
    assert_first_call(run)
    assert first_audio_port(os.path.join(work, "carrier.log")) == \
        first_audio_port(os.path.join(work, "pbx.log"))

    # a call from the carrier to the number
    assert_sipp_ok(run, "incoming", "carrier", "pbx")
    last = json.loads(run.out("incoming").strip().splitlines()[-1])
    assert last == {"direction": "origination", "normalized": "14155550100", "final_code": 200}

    # the relay: the carrier is offered a relay port, not the PBX's
    assert_sipp_ok(run, "relay", "caller", "carrier")
    assert '"media_mode":"relay"' in run.out("relay")
    sdp = dict(re.findall(r"^(PBX offered|carrier received): +m=audio (\d+) ", run.out("relay-sdp"),
                          re.M))
    offered, received = int(sdp["PBX offered"]), int(sdp["carrier received"])
    lo, hi = values["WARP_MEDIA_PORT_MIN"], values["WARP_MEDIA_PORT_MAX"]
    assert lo <= received <= hi and offered != received, (offered, received, lo, hi)
    assert not lo <= offered <= hi, offered
    with open(os.path.join(work, "pbx-relay.log"), errors="replace") as f:
        answered = [int(p) for p in re.findall(r"^m=audio (\d+) ", f.read(), re.M)][1]
    assert lo <= answered <= hi and answered != received, (answered, received)  # the 200 OK's

    # the errors shown
    assert "SIP/2.0 404 Not Found" in run.out("error-no-route"), run.out("error-no-route")
    assert 'Reason: SIP;cause=404;text="no route"' in run.out("error-no-route")
    stranger = run.out("error-unknown-source")
    assert "SIP/2.0 403 Forbidden" in stranger, stranger
    assert 'Reason: SIP;cause=403;text="unknown source"' in stranger, stranger
    port = run.out("error-port")
    assert "exit code 2" in port and re.search(r"^warp: .*(in use|Address already)", port, re.M), port
    assert "warp exit code 0" in run.out("stop"), run.out("stop")


def redis_server():
    for p in ("/usr/bin/redis-server", "/usr/sbin/redis-server"):
        if os.path.exists(p):
            return p
    return None


@pytest.fixture
def redis_url(tmp_path):
    """A throwaway redis-server on loopback, stopped by its PID; None when
    it is not installed (the guide's Redis part is then left out)."""
    path = redis_server()
    if not path:
        yield None
        return
    port = free_port()
    proc = subprocess.Popen([path, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):  # up to 10 s for its first PONG
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                time.sleep(0.05)
        else:
            pytest.fail("redis-server did not start")
        yield "redis://127.0.0.1:%d" % port
    finally:
        proc.terminate()
        proc.wait(10)


def test_quickstart_on_postgres_and_redis(tmp_path, request, redis_url):
    import pgserver
    if not os.path.exists(os.path.join(pgserver.BIN, "postgres")):
        pytest.skip("PostgreSQL 15 is not installed")
    pg = request.getfixturevalue("postgres")
    values = settings(tmp_path, pg_url=pg.create_db("quickstart_%d" % os.getpid()),
                      redis_url=redis_url or "redis://127.0.0.1:1")
    # The PostgreSQL part follows a short SQLite start, as in the guide.
    ids = ["settings", "store-sqlite", "start", "token"] + PG_RUN
    ids += REDIS_RUN if redis_url else ["stop"]
    run = GuideRun(tmp_path, ids, values).run()
    run.ok()
    assert re.fullmatch(r"warp_\S+\n", run.out("token", 1)), run.out("token", 1)
    assert_first_call(run)
    if not redis_url:
        assert "warp exit code 0" in run.out("stop", 1)
        pytest.skip("redis-server is not installed: the Redis part was not run")
    statuses = run.out("shared-limit").split("\n")[0].split()
    assert len(statuses) == 6 and statuses[:3] == ["200"] * 3, statuses
    # one bucket of 3 for both processes (a token may refill meanwhile)
    assert statuses.count("429") >= 2, statuses
    assert re.search(r'^warp_ratelimit_requests_total\{kind="credential",backend="redis",'
                     r'result="(allowed|limited)"\} [1-9]', run.out("shared-limit"), re.M), \
        run.out("shared-limit")
    assert "warp exit code 0" in run.out("stop-all"), run.out("stop-all")
