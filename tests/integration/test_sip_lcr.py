"""Least-cost routing of calls (decision 0038), end to end: two carriers
behind SIPp gateways, buy decks imported and activated through the REST API,
a route in lcr mode.  Which carrier gets the INVITE first follows the buy
rates (and changes when a buy deck's new version takes effect), a carrier
whose rate leaves less than the route's minimum margin over the customer's
sell rate gets none, and every CDR attempt records the buy rate it was
chosen at."""
import json
import re

from sipfix import AUTH, sipwarp, scenario, render, shared_scenario, sip_port  # noqa: F401
from conftest import http

NUMBER = "15551234567"
CSV = dict(AUTH, **{"Content-Type": "text/csv"})


def deck(sw, direction, rows):
    """A deck of `direction` with one activated version of `rows`
    ([(prefix, rate)], decimal rates per minute)."""
    d = sw.api("POST", "/rate-decks", {"name": "d", "direction": direction, "currency": "USD"})
    deck_version(sw, d["id"], rows)
    return d["id"]


def deck_version(sw, deck_id, rows):
    text = "prefix,rate\n" + "".join("%s,%s\n" % r for r in rows)
    r = http("POST", sw.w.base + "/api/v1/rate-decks/%s/versions" % deck_id, text.encode(),
             headers=CSV)
    assert r.status == 201, r.body
    n = r.json()["data"]["number"]
    sw.api("POST", "/rate-decks/%s/versions/%d/activate" % (deck_id, n), {})


def rating_synced(sw, timeout=5.0):
    """The sip policy and the rating snapshot both at the store's version."""
    sw.synced(timeout, snapshots=("sip_policy", "billing_rating"))


def provision(sw, cport, gports, sell=None, buys=(), **route):
    """A customer (with a sell deck when `sell` is a rate) calling from
    cport, one carrier per gateway port with its buy deck (a rate per
    carrier, None: no deck), and a global lcr route over them in the given
    priority order."""
    cus = sw.customer(billing_type="postpaid")  # routing, not prepaid authorization
    if sell is not None:
        sw.api("PATCH", "/customers/" + cus, {"sell_deck_id": deck(sw, "sell", [("1", sell)])})
    sw.trunk(cus, [cport])
    cars, gws = [], []
    for i, port in enumerate(gports):
        car, (gw,) = sw.carrier("carrier-%d" % i, [port])
        if buys[i] is not None:
            sw.api("PATCH", "/carriers/" + car, {"buy_deck_id": deck(sw, "buy", [("1", buys[i])])})
        cars.append(car)
        gws.append(gw)
    body = {"prefix": "1", "mode": "lcr",
            "carriers": [{"carrier_id": c, "priority": i} for i, c in enumerate(cars)]}
    body.update(route)
    rte = sw.api("POST", "/routes", body)
    assert rte["mode"] == "lcr"
    rating_synced(sw)
    return cus, cars, gws, rte


def refused_call(sw, tmp_path, cport, code, name):
    caller = sw.caller(name, render(tmp_path, "uac_expect.xml", code=code, mf=70), cport,
                       NUMBER).start()
    assert caller.wait() == 0, caller.describe()
    return caller


def attempts(row):
    return [(a["gateway_id"], a["code"], a.get("buy_rate")) for a in json.loads(row["attempts"])]


def excluded(sw, reason):
    m = re.search(r'^warp_sip_lcr_excluded_total\{reason="%s"\} (\d+)$' % reason,
                  sw.w.get("/metrics").body.decode(), re.M)
    return int(m.group(1)) if m else 0


def test_lcr_order_follows_buy_rates_and_a_new_deck_version(sipwarp, tmp_path):
    """Carrier 0 has priority, carrier 1 is cheaper: 1 gets the INVITE first.
    Carrier 1's buy deck then gets a dearer version: 0 goes first."""
    sw = sipwarp
    cport, g0, g1 = sip_port(), sip_port(), sip_port()
    cus, cars, gws, _ = provision(sw, cport, [g0, g1], buys=["0.0100", "0.0080"])
    gw0 = sw.sipp("gw0", render(tmp_path, "uas_reject.xml", code=503), g0, calls=2).start()
    gw1 = sw.sipp("gw1", render(tmp_path, "uas_reject.xml", code=503), g1, calls=2).start()
    refused_call(sw, tmp_path, cport, 503, "call1")
    (r,) = sw.cdrs(1)
    assert attempts(r) == [(gws[1], 503, 8000), (gws[0], 503, 10000)], r["attempts"]

    buy1 = sw.api("GET", "/carriers/" + cars[1])["buy_deck_id"]
    deck_version(sw, buy1, [("1", "0.0120")])
    rating_synced(sw)
    refused_call(sw, tmp_path, cport, 503, "call2")
    rows = sw.cdrs(2)
    assert len(rows) == 2
    assert attempts(rows[1]) == [(gws[0], 503, 10000), (gws[1], 503, 12000)], rows[1]["attempts"]
    assert gw0.wait() == 0, gw0.describe()
    assert gw1.wait() == 0, gw1.describe()


def test_equal_rates_keep_the_route_priority_and_no_rate_is_left_out(sipwarp, tmp_path):
    sw = sipwarp
    cport, g0, g1, g2 = sip_port(), sip_port(), sip_port(), sip_port()
    cus, cars, gws, _ = provision(sw, cport, [g0, g1, g2], buys=[None, "0.0050", "0.0050"])
    peers = [sw.sipp("gw%d" % i, render(tmp_path, "uas_reject.xml", code=503), p,
                     timeout_s=8).start() for i, p in enumerate((g0, g1, g2))]
    before = excluded(sw, "no_rate")
    refused_call(sw, tmp_path, cport, 503, "call")
    (r,) = sw.cdrs(1)
    assert attempts(r) == [(gws[1], 503, 5000), (gws[2], 503, 5000)], r["attempts"]
    assert excluded(sw, "no_rate") == before + 1
    peers[0].stop()
    assert peers[0].requests() == [], "the carrier without a rate saw %s" % peers[0].seen()


def test_a_carrier_under_the_minimum_margin_is_skipped(sipwarp, tmp_path):
    """Sell 0.0100/min, 10 % minimum: carrier 0 at 0.0095 keeps 5 % and is
    left out although cheapest-but-one and first by priority; carrier 1 at
    0.0090 keeps exactly 10 % and answers.  At 20 % none is left: 503."""
    sw = sipwarp
    cport, g0, g1 = sip_port(), sip_port(), sip_port()
    cus, cars, gws, rte = provision(sw, cport, [g0, g1], sell="0.0100",
                                    buys=["0.0095", "0.0090"], min_margin_bps=1000)
    assert rte["min_margin_bps"] == 1000
    skipped = sw.sipp("gw0", scenario("uas_answer.xml"), g0, timeout_s=8).start()
    ok = sw.sipp("gw1", scenario("uas_answer.xml"), g1).start()
    before = excluded(sw, "margin")
    caller = sw.caller("call1", shared_scenario("uac_rr.xml"), cport, NUMBER, hold_ms=100).start()
    assert caller.wait() == 0, caller.describe()
    assert ok.wait() == 0, ok.describe()
    (r,) = sw.cdrs(1)
    assert r["final_code"] == 200 and r["carrier_id"] == cars[1]
    assert attempts(r) == [(gws[1], 200, 9000)]
    assert excluded(sw, "margin") == before + 1
    skipped.stop()
    assert skipped.requests() == [], "the carrier under the margin saw %s" % skipped.seen()

    sw.api("PATCH", "/routes/" + rte["id"], {"min_margin_bps": 2000})
    rating_synced(sw)
    refused_call(sw, tmp_path, cport, 503, "call2")
    rows = sw.cdrs(2)
    assert rows[1]["final_code"] == 503 and rows[1]["final_reason"] == "no carrier within margin"
    assert json.loads(rows[1]["attempts"]) == []


def test_priority_routes_record_no_buy_rate(sipwarp, tmp_path):
    sw = sipwarp
    cport, g0 = sip_port(), sip_port()
    cus = sw.customer(billing_type="postpaid")  # routing, not prepaid authorization
    sw.trunk(cus, [cport])
    car, (gw,) = sw.carrier("c", [g0])
    sw.api("PATCH", "/carriers/" + car, {"buy_deck_id": deck(sw, "buy", [("1", "0.0100")])})
    rte = sw.api("POST", "/routes", {"prefix": "1", "carriers": [{"carrier_id": car}]})
    assert rte["mode"] == "priority" and rte["min_margin_bps"] is None
    rating_synced(sw)
    gw0 = sw.sipp("gw0", render(tmp_path, "uas_reject.xml", code=503), g0).start()
    refused_call(sw, tmp_path, cport, 503, "call")
    (r,) = sw.cdrs(1)
    assert json.loads(r["attempts"])[0].keys() == {"gateway_id", "code", "start_ms"}
    assert gw0.wait() == 0, gw0.describe()



def test_the_customers_margin_applies_where_the_route_sets_none(sipwarp, tmp_path):
    """The same carriers as above, the 10 % minimum on the customer: carrier 0
    is skipped.  A route minimum of 0 then overrides it: both are tried."""
    sw = sipwarp
    cport, g0, g1 = sip_port(), sip_port(), sip_port()
    cus, cars, gws, rte = provision(sw, cport, [g0, g1], sell="0.0100",
                                    buys=["0.0095", "0.0090"])
    assert sw.api("PATCH", "/customers/" + cus, {"min_margin_bps": 1000})["min_margin_bps"] == 1000
    rating_synced(sw)
    peers = [sw.sipp("gw%d" % i, render(tmp_path, "uas_reject.xml", code=503), p, calls=2,
                     timeout_s=10).start() for i, p in enumerate((g0, g1))]
    refused_call(sw, tmp_path, cport, 503, "call1")
    (r,) = sw.cdrs(1)
    assert attempts(r) == [(gws[1], 503, 9000)], r["attempts"]

    sw.api("PATCH", "/routes/" + rte["id"], {"min_margin_bps": 0})
    rating_synced(sw)
    refused_call(sw, tmp_path, cport, 503, "call2")
    rows = sw.cdrs(2)
    assert attempts(rows[1]) == [(gws[1], 503, 9000), (gws[0], 503, 9500)], rows[1]["attempts"]
    assert peers[1].wait() == 0, peers[1].describe()
    peers[0].stop()
