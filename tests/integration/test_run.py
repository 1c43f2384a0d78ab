"""`warp run`: start-up, health endpoints, admin token, clean stop, and every
start-up failure ending with one line and exit code 2."""
import re
import signal
import socket
import sqlite3
import time
import pytest

from conftest import Warp, free_port, http, run_warp


def test_healthz_answers_200_with_request_id(warp):
    r = warp.get("/healthz")
    assert r.status == 200
    assert r.json()["status"] == "ok"
    assert r.headers["X-Request-Id"]


def test_request_id_is_echoed(warp):
    r = warp.get("/healthz", headers={"X-Request-Id": "abc-123"})
    assert r.headers["X-Request-Id"] == "abc-123"


def test_readyz_is_ready_on_migrated_store(warp):
    r = warp.get("/readyz")
    assert r.status == 200, r.body


def test_metrics_in_prometheus_text(warp):
    warp.get("/healthz")
    r = warp.get("/metrics")
    assert r.status == 200
    assert r.headers["Content-Type"].startswith("text/plain")
    text = r.body.decode()
    assert "# TYPE warp_http_requests_total counter" in text
    assert re.search(r'warp_http_requests_total\{[^}]*code="200"[^}]*\} [1-9]', text)


def test_build_info_names_version_and_roles(warp_factory):
    version = run_warp(["--version"]).stdout.split()[-1]
    for roles in ("api", "api,sip"):
        w = warp_factory(args=["--roles", roles]).start()
        lines = [l for l in w.get("/metrics").body.decode().splitlines()
                 if l.startswith("warp_build_info")]
        assert lines == ['warp_build_info{version="%s",roles="%s"} 1' % (version, roles)]
        w.stop(signal.SIGTERM)


def test_unknown_path_is_json_404(warp):
    r = warp.get("/nope")
    assert r.status == 404
    err = r.json()["errors"][0]
    assert err["code"] and err["title"]


def test_sigterm_stops_cleanly_within_5s(warp):
    rc, took = warp.stop(signal.SIGTERM)
    assert rc == 0, warp.stderr()
    assert took < 5


def test_sigint_stops_cleanly(warp):
    rc, _ = warp.stop(signal.SIGINT)
    assert rc == 0, warp.stderr()


def test_sighup_reloads_and_keeps_running(warp):
    warp.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 5
    while not any("reload" in l.get("msg", "") for l in warp.log_lines()):
        assert time.monotonic() < deadline, "no reload logged: " + warp.stderr()
        time.sleep(0.05)
    assert warp.get("/healthz").status == 200
    rc, _ = warp.stop()
    assert rc == 0


def test_access_log_lines_carry_request_id(warp):
    warp.get("/healthz", headers={"X-Request-Id": "trace-77"})
    warp.stop()
    lines = [l for l in warp.log_lines() if l.get("ctx") == "trace-77"]
    assert lines, warp.stderr()
    assert lines[0]["component"] == "http"


def test_admin_token_printed_once_and_stored_as_hash(warp_factory, tmp_path):
    w = warp_factory().start()
    m = re.search(r"admin token \(shown once; keep it now\): (\S+)", w.stdout())
    assert m, w.stdout()
    token = m.group(1)
    assert w.stop()[0] == 0
    db = sqlite3.connect(str(tmp_path / "warp.db"))
    rows = db.execute("SELECT secret_hash, role FROM api_keys").fetchall()
    assert len(rows) == 1 and rows[0][1] == "admin"
    assert token not in rows[0][0]
    import hashlib
    assert rows[0][0] == hashlib.sha256(token.encode()).hexdigest()
    again = warp_factory().start()
    assert "admin token" not in again.stdout()
    again.stop()


def test_admin_token_from_environment(warp_factory, tmp_path):
    token = "operator-chosen-secret-123"
    w = warp_factory(env={"WARP_ADMIN_TOKEN": token}).start()
    assert "admin token" not in w.stdout()
    w.stop()
    import hashlib
    db = sqlite3.connect(str(tmp_path / "warp.db"))
    hashes = [r[0] for r in db.execute("SELECT secret_hash FROM api_keys WHERE role = 'admin'")]
    assert hashlib.sha256(token.encode()).hexdigest() in hashes


def test_port_in_use_exits_2_with_one_line(warp_factory):
    blocker = socket.socket()
    blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    port = blocker.getsockname()[1]
    try:
        w = warp_factory(env={"WARP_HTTP_LISTEN": "127.0.0.1:%d" % port}).start(wait=False)
        rc = w.proc.wait(timeout=10)
        assert rc == 2
        err = [l for l in w.stderr().splitlines() if l.startswith("warp:")]
        assert len(err) == 1 and "in use" in err[0], w.stderr()
    finally:
        blocker.close()


def test_unopenable_store_exits_2(warp_factory, tmp_path):
    w = warp_factory(store_url="sqlite:%s/missing-dir/warp.db" % tmp_path).start(wait=False)
    assert w.proc.wait(timeout=10) == 2
    assert "store" in w.stderr()


def test_unknown_store_scheme_exits_2(warp_factory):
    w = warp_factory(store_url="mysql://localhost/warp").start(wait=False)
    assert w.proc.wait(timeout=10) == 2
    assert "store" in w.stderr()


def test_store_newer_than_binary_is_refused(warp_factory, tmp_path):
    w = warp_factory().start()
    w.stop()
    db = sqlite3.connect(str(tmp_path / "warp.db"))
    db.execute("INSERT INTO schema_migrations (version, name, checksum, applied_at) "
               "VALUES (9999, 'from_the_future', 'x', 0)")
    db.commit()
    db.close()
    again = warp_factory().start(wait=False)
    assert again.proc.wait(timeout=10) == 2
    assert "9999" in again.stderr()


def test_bad_config_exits_2(warp_factory):
    w = warp_factory(extra_ini="\n[http]\nmax_body = many\n").start(wait=False)
    assert w.proc.wait(timeout=10) == 2
    assert "max_body" in w.stderr()


@pytest.mark.parametrize("listener", ["http", "sip", "media_ng", "smsc"])
def test_a_second_warp_on_the_same_address_exits_2(warp_factory, tmp_path, listener):
    """SO_REUSEPORT would let a second warp bind the same HTTP or SIP port
    and take part of its traffic; it exits 2 instead, and the first keeps
    serving.  The ng and SMPP listeners (one socket each, no SO_REUSEPORT)
    are refused by the kernel: pinned here too."""
    first = warp_factory().start()
    if listener == "http":
        env = {"WARP_HTTP_LISTEN": "127.0.0.1:%d" % first.port}
    else:
        var = {"sip": "WARP_SIP_LISTEN", "media_ng": "WARP_MEDIA_NG_LISTEN",
               "smsc": "WARP_SMSC_LISTEN"}[listener]
        env = {var: first.env[var]}
    d = tmp_path / "second"
    d.mkdir()
    second = Warp(d, env=env)
    second.start(wait=False)
    try:
        rc = second.proc.wait(timeout=10)
    finally:
        if second.proc.poll() is None:
            second.proc.kill()
            second.proc.wait()
    assert rc == 2, second.stderr()
    err = [l for l in second.stderr().splitlines() if l.startswith("warp:")]
    assert len(err) == 1 and "in use" in err[0], second.stderr()
    assert first.get("/healthz").status == 200
    assert first.proc.poll() is None
