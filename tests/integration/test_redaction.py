"""Secrets in URLs never reach a log line, a terminal or an API response
(src/core/redact.c): the store URL in the start-up log line, an upstream
mount's URL in its start-up error, a webhook's URL as the API shows it."""
import re

import conftest

ADMIN_TOKEN = "warp_test-admin-token-redaction-0123"
SECRET = "s3cret-PW-never-shown"


def test_startup_log_masks_the_store_password(warp_factory, postgres):
    url = postgres.create_db("redaction_store")  # postgres://user@host:port/db; trust auth
    url = re.sub(r"^postgres://([^@]+)@", r"postgres://\1:%s@" % SECRET, url)
    url += "?password=" + SECRET + "&connect_timeout=5"
    w = warp_factory(store_url=url, args=["--roles", "api"]).start()
    started = [l for l in w.log_lines() if l.get("msg", "").startswith("started;")]
    assert started, w.stderr()
    line = started[0]["msg"]
    assert ":***@127.0.0.1:" in line and "password=***&connect_timeout=5" in line, line
    assert SECRET not in w.stderr() and SECRET not in w.stdout()
    assert w.stop()[0] == 0


def test_bad_upstream_url_error_masks_the_password(warp_factory):
    ini = "[route.billing]\nprefix = /billing\nupstream = http://u:%s@127.0.0.1:1/x?q=1\n" % SECRET
    w = warp_factory(extra_ini=ini, args=["--roles", "api"]).start(wait=False)
    assert w.proc.wait(timeout=15) == 2
    err = w.stderr()
    assert "upstream 'http://u:***@127.0.0.1:1/x?q=1'" in err, err
    assert SECRET not in err


def test_webhook_url_is_shown_with_its_password_masked(warp_factory):
    w = warp_factory(env={"WARP_ADMIN_TOKEN": ADMIN_TOKEN, "WARP_WEBHOOKS_ALLOW_PRIVATE": "1"},
                     args=["--roles", "api"]).start()
    auth = {"Authorization": "Bearer " + ADMIN_TOKEN}
    r = conftest.http("POST", w.base + "/api/v1/customers", headers=auth,
                      body={"name": "Acme", "billing_type": "postpaid", "currency": "USD"})
    cust = r.json()["data"]["id"]
    r = conftest.http("POST", w.base + "/api/v1/webhooks", headers=auth,
                      body={"customer_id": cust, "url": "https://hook:%s@127.0.0.1:9/in" % SECRET,
                            "secret": "whsec_test_0123456789abcdef", "event_types": ["*"]})
    assert r.status == 201, r.body
    assert r.json()["data"]["url"] == "https://hook:***@127.0.0.1:9/in"
    hid = r.json()["data"]["id"]
    for path in ("/api/v1/webhooks/" + hid, "/api/v1/webhooks"):
        r = conftest.http("GET", w.base + path, headers=auth)
        assert r.status == 200
        assert "https://hook:***@127.0.0.1:9/in" in r.body.decode() and SECRET not in r.body.decode()
    events = conftest.http("GET", w.base + "/api/v1/events", headers=auth).body.decode()
    assert SECRET not in events
