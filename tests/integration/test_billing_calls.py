"""A real call priced by the billing role: SIPp as the customer's PBX and
the carrier's gateway, warp with the api, sip and billing roles on SQLite,
decks imported and assigned through the API.  The CDR the sip role wrote is
rated and charged: sell 0.06/min and buy 0.03/min, both 1/1, so a call of
s billed seconds sells for exactly 0.001 * s and costs 0.0005 * s."""
import time

import pytest

from conftest import http
from sipfix import SipWarp, TOKEN, AUTH, ini, shared_scenario, sip_port, wait_sip_listening

NUMBER = "15551234567"


@pytest.fixture
def billwarp(warp_factory, tmp_path):
    port = sip_port()
    w = warp_factory(extra_ini=ini(port) + "\n[billing]\nrate_interval = 50ms\n",
                     env={"WARP_ADMIN_TOKEN": TOKEN}, args=["--roles", "api,sip,billing"])
    w.sip_port = port
    w.start()
    wait_sip_listening(port)
    sw = SipWarp(w, tmp_path)
    yield sw
    rc, _ = sw.stop()
    assert rc == 0, "warp exited %s: %s" % (rc, w.stderr()[-3000:])


def deck(sw, direction, rate):
    d = sw.api("POST", "/rate-decks", {"name": direction, "direction": direction,
                                       "currency": "USD"})
    csv = ("prefix,destination,zone,rate,increments\n1,USA,NANP,%s,1/1\n" % rate).encode()
    r = http("POST", sw.w.base + "/api/v1/rate-decks/%s/versions" % d["id"], csv,
             headers=dict(AUTH, **{"Content-Type": "text/csv"}))
    assert r.status == 201, r.body
    sw.api("POST", "/rate-decks/%s/versions/1/activate" % d["id"], {})
    return d["id"]


def test_a_real_call_is_rated_and_charged(billwarp):
    sw = billwarp
    cport, gport = sip_port(), sip_port()
    # postpaid: the billing role charges it after the call (a prepaid one is
    # priced before it is routed, and this one has no balance)
    cus = sw.customer(currency="USD", billing_type="postpaid",
                      sell_deck_id=deck(sw, "sell", "0.06"))
    trk = sw.trunk(cus, [cport])
    car, _ = sw.carrier("carrier-a", [gport], buy_deck_id=deck(sw, "buy", "0.03"))
    sw.route("1", [car])
    sw.synced()
    time.sleep(0.01)  # the call starts after the versions took effect
    callee = sw.sipp("callee", shared_scenario("uas_rr.xml"), gport).start()
    caller = sw.caller("caller", shared_scenario("uac_rr.xml"), cport, NUMBER, hold_ms=300).start()
    assert caller.wait() == 0, caller.describe()
    assert callee.wait() == 0, callee.describe()
    row = sw.cdrs(1)[0]
    seconds = (row["duration_ms"] + 999) // 1000
    assert seconds >= 1 and row["trunk_id"] == trk
    deadline = time.monotonic() + 10
    while True:
        c = sw.api("GET", "/cdrs/" + row["id"])
        if c["rating"]["state"] == "rated":
            break
        assert time.monotonic() < deadline, c["rating"]
        time.sleep(0.05)
    p = c["rating"]
    assert (p["sell_micros"], p["buy_micros"], p["margin_micros"]) == (
        1000 * seconds, 500 * seconds, 500 * seconds)
    assert (p["zone"], p["billable_s"], p["currency"]) == ("NANP", seconds, "USD")
    ledger = sw.api("GET", "/customers/%s/ledger" % cus)
    assert [(e["type"], e["amount_micros"], e["reference"]["id"]) for e in ledger] == [
        ("call_charge", -1000 * seconds, row["id"])]
