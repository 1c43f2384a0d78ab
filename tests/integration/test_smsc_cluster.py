"""Several smsc processes on one PostgreSQL share the message queue: each
message an ESME got ESME_ROK for reaches the upstream SMSC exactly once
while both processes run, and every one of them at least once when one
process is killed with SIGKILL in the middle (the survivor takes its
leases over once they ran out).  What is counted is what the upstream (an
npm smpp server, independent of WARP's codec) received."""
import collections
import re
import signal
import time
import uuid

import pytest

import smppfix
from conftest import Warp
from smppfix import carrier_with_connector, route

pytest.register_assert_rewrite("apiclient")
from apiclient import API_INI, running_env  # noqa: E402

pytest_plugins = ["apiclient"]

ROK = 0x00
# Short leases, so the takeover after a kill is quick; the connectors'
# response_timeout_ms (2 s in smppfix) keeps the lease at 4 s at least.
SMSC_INI = API_INI + "\n[smsc]\nlease = 5s\n"


@pytest.fixture(scope="module", params=["postgres"])
def api(request, tmp_path_factory):
    """The api role alone: the smsc processes are the test's own."""
    yield from running_env(request, tmp_path_factory, roles="api")


@pytest.fixture
def cluster(api, tmp_path):
    """Starts smsc-only warps on the api's store; kills what is left."""
    started = []

    def start(name):
        d = tmp_path / name
        d.mkdir()
        w = Warp(d, store_url=api.warp.store_url, extra_ini=SMSC_INI,
                 env={"WARP_ADMIN_TOKEN": "unused-but-long-enough-0", "WARP_RUN_ROLES": "smsc"})
        started.append(w)
        w.start()
        w.smsc_port = int(w.env["WARP_SMSC_LISTEN"].rsplit(":", 1)[1])
        return w

    peers = []
    yield start, peers.append
    for p in peers:
        p.stop()
    for w in started:
        if w.proc and w.proc.poll() is None:
            w.proc.send_signal(signal.SIGTERM)
            rc = w.proc.wait(timeout=20)
            assert rc == 0, "warp %s exited %s: %s" % (w, rc, w.stderr()[-3000:])


def provision(api, upstream_port, prefix):
    cid = api.customer()
    route(api, prefix, [carrier_with_connector(api, upstream_port, window=50)])
    sid = "cl" + uuid.uuid4().hex[:8]
    api.admin.create("/api/v1/smpp-accounts", {
        "customer_id": cid, "system_id": sid, "password": "pw", "allowed_cidrs": ["127.0.0.1"],
        "throughput": 100000, "burst": 100000, "window": 500, "max_binds": 4})
    time.sleep(0.5)  # snapshots rebuilt
    return sid


def submit(w, sid, prefix, tag, n, add):
    e = smppfix.Esme(w.smsc_port)
    add(e)
    e.wait("connected")
    assert e.bind(sid, "pw", "transmitter") == ROK
    e.send(cmd="submit_many", n=n, window=100, each=True, tag=tag,
           fields={"destination_addr": prefix + tag + "{i}", "short_message": "cluster"})
    return e


def acked(e, tag):
    return {ev["message_id"] for ev in e.seen("submit_resp", tag=tag, command_status=ROK)}


def upstream_counts(up, prefix):
    """How many submit_sm the upstream received per destination."""
    return collections.Counter(ev["destination_addr"] for ev in up.seen("submit_sm")
                               if ev["destination_addr"].startswith(prefix))


def wait_count(up, prefix, want, timeout):
    deadline = time.monotonic() + timeout
    while len(upstream_counts(up, prefix)) < want:
        assert time.monotonic() < deadline, "upstream has %d of %d destinations" % (
            len(upstream_counts(up, prefix)), want)
        time.sleep(0.2)


def submitted(w):
    """How many messages this process handed upstream (its own /metrics)."""
    text = w.get("/metrics").body.decode()
    m = re.search(r'^warp_smsc_upstream_outcomes_total\{state="submitted"\} (\d+)', text, re.M)
    return int(m.group(1)) if m else 0


def test_two_processes_send_each_message_once(api, cluster):
    start, add = cluster
    up = smppfix.UpstreamSmsc(dlr=False)
    add(up)
    prefix = "1881"
    sid = provision(api, up.port, prefix)
    a, b = start("a"), start("b")
    ea = submit(a, sid, prefix, "1", 1500, add)
    eb = submit(b, sid, prefix, "2", 1500, add)
    for e in (ea, eb):
        done = e.wait("submit_many_done", timeout=60)
        assert done["by_status"] == {"0": 1500}, done
    wait_count(up, prefix, 3000, timeout=60)
    time.sleep(1.0)  # anything sent twice would arrive by now
    counts = upstream_counts(up, prefix)
    assert len(counts) == 3000 and max(counts.values()) == 1, counts.most_common(3)
    rows = api.rows("SELECT state, COUNT(*) AS n FROM messages WHERE destination LIKE ? "
                    "GROUP BY state", prefix + "%")
    assert {r["state"]: r["n"] for r in rows} == {"submitted": 3000}, rows
    # Both processes took messages from the shared queue, and together
    # exactly the 3,000.
    sent = [submitted(w) for w in (a, b)]
    assert all(n > 0 for n in sent) and sum(sent) == 3000, sent


def test_kill_9_of_one_process_the_other_delivers_its_messages(api, cluster):
    start, add = cluster
    up = smppfix.UpstreamSmsc(dlr=False, resp_delay_ms=20)  # keeps messages in flight
    add(up)
    prefix = "1882"
    sid = provision(api, up.port, prefix)
    a, b = start("a"), start("b")
    ea = submit(a, sid, prefix, "1", 3000, add)
    ea.wait("submit_resp", timeout=30, count=1500, tag="1", command_status=ROK)
    a.proc.kill()
    a.proc.wait()
    time.sleep(0.3)  # the ESME reads what was on the wire before the reset
    got = acked(ea, "1")
    assert len(got) >= 1500
    # Every acknowledged message reaches the upstream, through b once a's
    # leases ran out; some a had sent may be sent again (at least once).
    stored = api.rows("SELECT destination FROM messages WHERE id IN (%s)" % ",".join(
        "'msg_%s'" % m for m in got))
    want = {r["destination"] for r in stored}
    assert len(want) == len(got), "acknowledged messages missing from the store"
    deadline = time.monotonic() + 60
    while not want <= set(upstream_counts(up, prefix)):
        assert time.monotonic() < deadline, "%d acknowledged messages never reached the upstream" % (
            len(want - set(upstream_counts(up, prefix))))
        time.sleep(0.2)
    assert b.proc.poll() is None
