"""`warp run` on PostgreSQL: the same start-up as on SQLite, and what happens
when the database goes away and comes back while warp runs."""
import itertools
import time

_dbs = itertools.count()


def wait_for(pred, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return False


def fresh_db(postgres):
    return postgres.create_db("warp_run_%d" % next(_dbs))


def test_runs_ready_on_postgres(warp_factory, postgres):
    w = warp_factory(store_url=fresh_db(postgres)).start()
    assert w.get("/readyz").status == 200
    assert "admin token" in w.stdout()
    rc, took = w.stop()
    assert rc == 0 and took < 5


def test_migrate_on_postgres_is_idempotent(warp_factory, postgres):
    url = fresh_db(postgres)
    w = warp_factory(store_url=url).start()
    w.stop()
    again = warp_factory(store_url=url).start()
    assert again.get("/readyz").status == 200
    assert "admin token" not in again.stdout()
    assert again.stop()[0] == 0


def test_readyz_follows_postgres_going_away_and_back(warp_factory, postgres):
    w = warp_factory(store_url=fresh_db(postgres)).start()
    assert w.get("/readyz").status == 200
    postgres.stop()
    try:
        assert wait_for(lambda: w.get("/readyz").status == 503), "readyz stayed ready"
        r = w.get("/readyz")
        assert r.json()["status"] == "not ready"
        assert "store" in r.json()["reason"]
        assert w.get("/healthz").status == 200
        assert w.proc.poll() is None
    finally:
        postgres.start()
    assert wait_for(lambda: w.get("/readyz").status == 200, timeout=15), w.stderr()
    rc, _ = w.stop()
    assert rc == 0


def test_unreachable_postgres_at_start_exits_2(warp_factory):
    from conftest import free_port
    w = warp_factory(store_url="postgres://nobody@127.0.0.1:%d/warp" % free_port()).start(wait=False)
    assert w.proc.wait(timeout=15) == 2
    assert "store" in w.stderr()
