"""US 10DLC throughput holds (issue 12 part 2, decision 0050): the
destination's carrier comes from the portability table imported as CSV; a
campaign's AT&T limit a window lets that many through and holds the rest in
the queue ('queued' with a hold the customer sees) until the next window,
where they go to the upstream (npm smpp, tests/peers/smsc_sim.js); a
brand's T-Mobile daily cap holds what is over it until midnight US Pacific,
for every campaign of the brand.  A content rule with the action hold
keeps a matching message in the queue until an admin releases it.  The window is 3 s here
([tendlc] throughput_window), AT&T's minute in production."""
import datetime
import re
import time
import uuid
import zoneinfo

import pytest

import smppfix
from smppfix import carrier_with_connector, route

pytest.register_assert_rewrite("apiclient")
from apiclient import assert_error, running_env  # noqa: E402
from test_tendlc import bind_number, campaign, number  # noqa: E402

pytest_plugins = ["apiclient"]

WINDOW_S = 3
PREFIXES = b"prefix,carrier\n1212555,att\n1646555,tmobile\n16465550999,att\n1917555,verizon\n"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def api(request, tmp_path_factory):
    yield from running_env(request, tmp_path_factory, roles="api,smsc",
                           env={"WARP_TENDLC_THROUGHPUT_WINDOW": "%ds" % WINDOW_S,
                                "WARP_TENDLC_ATT_CLASS_LIMITS": "A:4500,T:3"})


@pytest.fixture
def up(api):
    u = smppfix.UpstreamSmsc()
    yield u
    u.stop()
    for c in api.admin.list_all("/api/v1/smpp-connectors"):
        if c["enabled"]:
            api.admin.patch("/api/v1/smpp-connectors/" + c["id"], {"enabled": False})


def import_prefixes(api, body, query=""):
    return api.admin.request("POST", "/api/v1/carrier-prefix-imports" + query, body=body,
                             headers={"Content-Type": "text/csv"})


def provision(api, up, throughput, brand=None):
    """A customer routed over the upstream with a number bound to an active
    campaign of this throughput; the sender's digits and the campaign."""
    cid = api.customer()
    route(api, "1", [carrier_with_connector(api, up.port)], customer_id=cid)
    nid, e164 = number(api, cid)
    cmp = campaign(api, cid, brand=brand, throughput=throughput)
    assert bind_number(api, cid, cmp["id"], nid).status == 201
    time.sleep(0.5)  # snapshots rebuilt
    return cid, e164, cmp


def send(api, cid, frm, to, text):
    r = api.admin.post("/api/v1/messages", {"customer_id": cid, "from": frm, "to": "+" + to,
                                            "text": text})
    assert r.status == 202, r.body
    return r.json()["data"]["id"]


def message(api, mid):
    return api.admin.get("/api/v1/messages/" + mid).json()["data"]


def holds(api, limit):
    text = api.warp.get("/metrics").body.decode()
    m = re.search(r'^warp_tendlc_holds_total\{limit="%s"\} (\d+)' % limit, text, re.M)
    return int(m.group(1)) if m else 0


def window_start():
    """Sleeps to just after a window opens; its start, epoch seconds."""
    now = time.time()
    start = (int(now) // WINDOW_S + 1) * WINDOW_S
    time.sleep(start - now + 0.05)
    return start


def test_portability_import_by_csv(api):
    bad = import_prefixes(api, b"prefix,carrier\n1212555,att\n+1646,tmobile\n1917,sprint\n")
    assert bad.status == 422, bad.body
    assert [e["source"]["line"] for e in bad.json()["errors"]] == [3, 4]
    assert api.count("carrier_prefixes") == 0
    good = import_prefixes(api, b"prefix,carrier\r\n1999,att\r\n1998,verizon\r\n")
    assert good.status == 200, good.body
    assert good.json()["data"] == {"rows": 2, "removed": 0}
    r = import_prefixes(api, b"1998,tmobile\n" + PREFIXES, "?replace=true")
    assert r.json()["data"] == {"rows": 5, "removed": 1}  # 1999 was not in the file
    got = {p["prefix"]: p["carrier"] for p in api.admin.list_all("/api/v1/carrier-prefixes")}
    assert got == {"1998": "tmobile", "1212555": "att", "1646555": "tmobile",
                   "16465550999": "att", "1917555": "verizon"}
    _, cust = api.tenant()
    assert cust.request("POST", "/api/v1/carrier-prefix-imports", body=PREFIXES,
                        headers={"Content-Type": "text/csv"}).status == 403
    assert_error(api.admin.post("/api/v1/carrier-prefixes", {"prefix": "1x", "carrier": "att"}),
                 422, "invalid_prefix", "/prefix")


def test_att_minute_limit_holds_the_excess_until_the_next_window(api, up):
    assert import_prefixes(api, PREFIXES).status == 200
    cid, frm, _ = provision(api, up, {"att": {"class": "T"}})  # T: 3 a window here
    up.wait("bind")
    before = holds(api, "att_campaign_minute")
    start = window_start()
    ids = [send(api, cid, frm, "1212555%04d" % i, "att %d" % i) for i in range(7)]
    # A ported number in a T-Mobile block is AT&T's (the longest prefix).
    ids.append(send(api, cid, frm, "16465550999", "ported"))
    # And Verizon has no limit of this campaign's: it goes at once.
    vz = [send(api, cid, frm, "1917555%04d" % i, "vz %d" % i) for i in range(5)]
    up.wait("submit_sm", count=3 + 5, timeout=WINDOW_S * 0.7)
    time.sleep(0.3)
    assert time.time() < start + WINDOW_S, "the machine was too slow for the window"
    sent = [e["destination_addr"] for e in up.seen("submit_sm")]
    assert len([d for d in sent if d.startswith("1917555")]) == 5
    assert len([d for d in sent if not d.startswith("1917555")]) == 3
    held = [message(api, i) for i in ids]
    waiting = [m for m in held if m["hold"]]
    assert len(waiting) == 5 and all(m["status"] == "queued" for m in waiting)
    assert {m["hold"]["reason"] for m in waiting} == {"att_campaign_minute"}
    # Three promised to the next window, two to the one after.
    untils = sorted(m["hold"]["until"] for m in waiting)
    assert untils == [(start + WINDOW_S) * 1000] * 3 + [(start + 2 * WINDOW_S) * 1000] * 2
    assert all(message(api, i)["hold"] is None for i in vz)
    assert holds(api, "att_campaign_minute") == before + 5

    up.wait("submit_sm", count=3 + 5 + 3, timeout=WINDOW_S + 3)
    assert time.time() >= start + WINDOW_S
    assert len(up.seen("submit_sm")) == 11  # the next three, not more
    up.wait("submit_sm", count=13, timeout=WINDOW_S + 3)
    assert time.time() >= start + 2 * WINDOW_S
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(message(api, i)["hold"] for i in ids):
        time.sleep(0.1)
    assert [message(api, i)["hold"] for i in ids] == [None] * 8
    assert holds(api, "att_campaign_minute") == before + 5  # each held once


def next_pacific_midnight_ms():
    la = zoneinfo.ZoneInfo("America/Los_Angeles")
    now = datetime.datetime.now(la)
    midnight = datetime.datetime.combine(now.date() + datetime.timedelta(days=1),
                                         datetime.time(0), tzinfo=la)
    return int(midnight.timestamp() * 1000)


def test_tmobile_daily_cap_holds_the_brand_until_pacific_midnight(api, up):
    assert import_prefixes(api, PREFIXES).status == 200
    cid, frm, cmp = provision(api, up, {"tmobile": {"daily_cap": 3}})
    up.wait("bind")
    brand = {"id": cmp["brand_id"]}
    # A second campaign of the same brand shares its T-Mobile day.
    nid2, frm2 = number(api, cid)
    cmp2 = campaign(api, cid, brand=brand, throughput={"tmobile": {"daily_cap": 3}})
    assert bind_number(api, cid, cmp2["id"], nid2).status == 201
    time.sleep(0.5)
    before = holds(api, "tmobile_brand_day")
    ids = [send(api, cid, frm, "1646555%04d" % i, "tmo %d" % i) for i in range(2)]
    ids += [send(api, cid, frm2, "1646555%04d" % i, "tmo2 %d" % i) for i in range(2, 5)]
    up.wait("submit_sm", count=3)
    time.sleep(1.0)
    assert len(up.seen("submit_sm")) == 3
    waiting = [m for m in (message(api, i) for i in ids) if m["hold"]]
    assert len(waiting) == 2
    assert {m["hold"]["reason"] for m in waiting} == {"tmobile_brand_day"}
    assert {m["hold"]["until"] for m in waiting} == {next_pacific_midnight_ms()}
    assert holds(api, "tmobile_brand_day") == before + 2
    # Another brand's day is its own.
    cid3, frm3, _ = provision(api, up, {"tmobile": {"daily_cap": 3}})
    mid = send(api, cid3, frm3, "16465559000", "other brand")
    up.wait("submit_sm", destination_addr="16465559000")
    assert message(api, mid)["hold"] is None


def test_only_admins_set_a_campaigns_throughput(api):
    cid, cust = api.tenant()
    brand = api.admin.create("/api/v1/brands", {
        "customer_id": cid, "legal_name": "ACME Inc.", "ein": "12-3456789",
        "vertical": "RETAIL", "registry_id": "B" + uuid.uuid4().hex[:6].upper()})
    r = cust.post("/api/v1/campaigns", {"brand_id": brand["id"], "use_case": "MARKETING",
                                        "help_text": "h", "opt_out_text": "o",
                                        "throughput": {"att": {"sms_tpm": 100000}}})
    assert_error(r, 403, "forbidden", "/throughput")


def test_hold_for_review_until_an_admin_releases_it(api, up):
    rule = "review-%s" % uuid.uuid4().hex[:6]
    r = api.admin.post("/api/v1/content-rules", {"name": rule, "match": "keyword",
                                                 "patterns": ["crypto giveaway"],
                                                 "action": "hold"})
    assert r.status == 201, r.body
    cid, frm, _ = provision(api, up, {})
    up.wait("bind")
    before = holds(api, "review:" + rule)
    mid = send(api, cid, frm, "12125557001", "Join our CRYPTO giveaway today")
    ok = send(api, cid, frm, "12125557002", "Your order has shipped")
    up.wait("submit_sm", destination_addr="12125557002")
    time.sleep(1.0)
    assert not up.seen("submit_sm", destination_addr="12125557001")
    m = message(api, mid)
    assert m["status"] == "queued"
    assert m["hold"] == {"reason": "review:" + rule, "until": m["expires_at"]}
    assert message(api, ok)["hold"] is None
    assert holds(api, "review:" + rule) == before + 1

    _, cust = api.tenant()
    assert cust.post("/api/v1/messages/%s/release" % mid, {}).status == 403
    r = api.admin.post("/api/v1/messages/%s/release" % mid, {})
    assert r.status == 200, r.body
    assert r.json()["data"] == {"id": mid, "released": 1}
    got = up.wait("submit_sm", destination_addr="12125557001")
    assert got["text"] == "Join our CRYPTO giveaway today"
    assert holds(api, "review:" + rule) == before + 1  # not held again
    assert_error(api.admin.post("/api/v1/messages/%s/release" % mid, {}), 409, "not_held")
    assert_error(api.admin.post("/api/v1/messages/msg_aaaaaaaaaaaaaaaaaaaaaaaaaa/release", {}),
                 404, "not_found")
