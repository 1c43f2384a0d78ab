"""Calls through WARP's SIP proxy, end to end: SIPp as the customer's PBX,
the carrier gateways and the customer's trunk destination, warp provisioned
through its REST API, and the cdrs rows read back from its SQLite store."""
import json
import re
import time

import pytest

from sipfix import sipwarp, shared_scenario, scenario, render, sip_port  # noqa: F401

NUMBER = "15551234567"


def provision_termination(sw, caller_ports, gw_ports, **trunk):
    cus = sw.customer()
    trk = sw.trunk(cus, caller_ports, **trunk)
    car, gws = sw.carrier("carrier-a", gw_ports)
    sw.route("1", [car])
    sw.synced()
    return cus, trk, car, gws


def answered_call(sw, port, hold_ms):
    """A record-routing call from port, answered and held hold_ms (long
    enough, on a loaded 2-core machine under ASan too, for what a test does
    meanwhile); returned once the caller has seen its 200."""
    call = sw.caller("first", shared_scenario("uac_rr.xml"), port, NUMBER, hold_ms=hold_ms).start()
    deadline = time.monotonic() + 5
    while 200 not in call.codes() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert 200 in call.codes(), call.describe()
    return call


def test_basic_call_answered_and_cdr_written(sipwarp):
    sw = sipwarp
    cport, gport = sip_port(), sip_port()
    cus, trk, car, gws = provision_termination(sw, [cport], [gport])
    callee = sw.sipp("callee", shared_scenario("uas_rr.xml"), gport).start()
    caller = sw.caller("caller", shared_scenario("uac_rr.xml"), cport, NUMBER, hold_ms=300).start()
    assert caller.wait() == 0, caller.describe()
    assert callee.wait() == 0, callee.describe()
    assert 200 in caller.codes() and 180 in caller.codes()
    assert callee.requests() == ["INVITE", "ACK", "BYE"]
    rows = sw.cdrs(1)
    assert len(rows) == 1
    r = rows[0]
    assert r["direction"] == "termination"
    assert (r["customer_id"], r["trunk_id"], r["carrier_id"], r["gateway_id"]) == (cus, trk, car, gws[0])
    assert r["final_code"] == 200 and r["hangup"] == "caller"
    assert r["normalized"] == NUMBER
    assert r["answer_ms"] > 0 and 200 <= r["duration_ms"] < 3000
    assert [(a["gateway_id"], a["code"]) for a in json.loads(r["attempts"])] == [(gws[0], 200)]


def attempts(row):
    """(target, code) per attempt: the gateway of a termination, the trunk
    of an origination (each attempt names exactly one)."""
    key = "trunk_id" if row["direction"] == "origination" else "gateway_id"
    out = []
    for a in json.loads(row["attempts"]):
        assert set(a) == {key, "code", "start_ms"}, a
        out.append((a[key], a["code"]))
    return out


def test_failover_from_503_to_the_next_gateway(sipwarp, tmp_path):
    sw = sipwarp
    cport, g1, g2 = sip_port(), sip_port(), sip_port()
    cus, trk, car, gws = provision_termination(sw, [cport], [g1, g2])
    busy = sw.sipp("gw1", render(tmp_path, "uas_reject.xml", code=503), g1).start()
    ok = sw.sipp("gw2", scenario("uas_answer.xml"), g2).start()
    caller = sw.caller("caller", shared_scenario("uac_rr.xml"), cport, NUMBER, hold_ms=200).start()
    assert caller.wait() == 0, caller.describe()
    assert busy.wait() == 0, busy.describe()
    assert ok.wait() == 0, ok.describe()
    assert 503 not in caller.codes() and caller.codes()[-1] == 200
    assert busy.requests() == ["INVITE", "ACK"]
    assert ok.requests() == ["INVITE", "ACK", "BYE"]
    (r,) = sw.cdrs(1)
    assert r["final_code"] == 200 and r["gateway_id"] == gws[1] and r["carrier_id"] == car
    assert attempts(r) == [(gws[0], 503), (gws[1], 200)]


def test_every_gateway_failing_over_sends_the_best_carrier_answer_upstream(sipwarp, tmp_path):
    """No target answers: the caller gets the best failure as the carrier
    sent it (its reason phrase), not a response of our own with its code."""
    sw = sipwarp
    cport, g1, g2 = sip_port(), sip_port(), sip_port()
    cus, trk, car, gws = provision_termination(sw, [cport], [g1, g2])
    first = sw.sipp("gw1", render(tmp_path, "uas_reject.xml", code=503), g1).start()
    second = sw.sipp("gw2", render(tmp_path, "uas_reject.xml", code=502), g2).start()
    caller = sw.caller("caller", render(tmp_path, "uac_expect.xml", code=503, mf=70), cport,
                       NUMBER).start()
    assert caller.wait() == 0, caller.describe()
    assert first.wait() == 0 and second.wait() == 0
    assert caller.seen()[-1] == "SIP/2.0 503 Refused", caller.seen()
    (r,) = sw.cdrs(1)
    assert r["final_code"] == 503
    assert attempts(r) == [(gws[0], 503), (gws[1], 502)]


def test_486_is_not_retried_on_the_next_gateway(sipwarp, tmp_path):
    sw = sipwarp
    cport, g1, g2 = sip_port(), sip_port(), sip_port()
    cus, trk, car, gws = provision_termination(sw, [cport], [g1, g2])
    busy = sw.sipp("gw1", render(tmp_path, "uas_reject.xml", code=486), g1).start()
    spare = sw.sipp("gw2", scenario("uas_answer.xml"), g2, timeout_s=5).start()
    caller = sw.caller("caller", render(tmp_path, "uac_expect.xml", code=486, mf=70), cport,
                       NUMBER).start()
    assert caller.wait() == 0, caller.describe()
    assert busy.wait() == 0, busy.describe()
    (r,) = sw.cdrs(1)
    spare.stop()
    assert spare.requests() == [], "the second gateway saw %s" % spare.seen()
    assert caller.codes()[-1] == 486
    assert r["final_code"] == 486 and r["answer_ms"] in (None, 0) and r["duration_ms"] == 0
    assert attempts(r) == [(gws[0], 486)]


def test_silent_gateway_times_out_and_the_next_answers(sipwarp):
    sw = sipwarp
    cport, g1, g2 = sip_port(), sip_port(), sip_port()
    cus, trk, car, gws = provision_termination(sw, [cport], [g1, g2])
    silent = sw.sipp("gw1", scenario("uas_silent.xml"), g1).start()
    ok = sw.sipp("gw2", scenario("uas_answer.xml"), g2).start()
    caller = sw.caller("caller", shared_scenario("uac_rr.xml"), cport, NUMBER, hold_ms=100).start()
    assert caller.wait() == 0, caller.describe()
    assert ok.wait() == 0, ok.describe()
    assert silent.wait() == 0, silent.describe()
    assert silent.requests()[0] == "INVITE" and set(silent.requests()) == {"INVITE"}
    (r,) = sw.cdrs(1)
    assert attempts(r) == [(gws[0], 408), (gws[1], 200)]
    assert r["final_code"] == 200 and r["gateway_id"] == gws[1]
    a = json.loads(r["attempts"])
    assert a[1]["start_ms"] - a[0]["start_ms"] >= 900  # the setup timeout, 1 s here


def test_cancel_before_answer_gives_487_and_reaches_the_callee(sipwarp):
    sw = sipwarp
    cport, gport = sip_port(), sip_port()
    cus, trk, car, gws = provision_termination(sw, [cport], [gport])
    callee = sw.sipp("callee", scenario("uas_cancel.xml"), gport).start()
    caller = sw.caller("caller", scenario("uac_cancel.xml"), cport, NUMBER).start()
    assert caller.wait() == 0, caller.describe()
    assert callee.wait() == 0, callee.describe()
    assert caller.codes()[-2:] == [200, 487]
    assert callee.requests() == ["INVITE", "CANCEL", "ACK"]
    (r,) = sw.cdrs(1)
    assert r["final_code"] == 487 and r["hangup"] == "caller" and r["duration_ms"] == 0


def test_unknown_source_gets_403(sipwarp, tmp_path):
    sw = sipwarp
    cport, stranger = sip_port(), sip_port()
    sw.trunk(sw.customer(), [cport])
    sw.synced()
    caller = sw.caller("stranger", render(tmp_path, "uac_expect.xml", code=403, mf=70), stranger,
                       NUMBER).start()
    assert caller.wait() == 0, caller.describe()
    assert "unknown source" in caller.messages()[-1]
    assert sw.cdrs(0, timeout=0.3) == []
    # The caller's ACK of that stateless 403 is absorbed: routed by its
    # Request-URI it would loop back to the proxy until Max-Forwards ran out.
    m = re.search(r'^warp_sip_requests_total\{method="ACK"\} (\d+)$',
                  sw.w.get("/metrics").body.decode(), re.M)
    assert m and int(m.group(1)) == 1, m and m.group(0)


def test_blocked_prefix_gets_403_and_a_cdr(sipwarp, tmp_path):
    sw = sipwarp
    cport, gport = sip_port(), sip_port()
    cus, trk, car, gws = provision_termination(sw, [cport], [gport], blocked_prefixes=["1555"])
    caller = sw.caller("caller", render(tmp_path, "uac_expect.xml", code=403, mf=70), cport,
                       NUMBER).start()
    assert caller.wait() == 0, caller.describe()
    assert "destination blocked" in caller.messages()[-1]
    (r,) = sw.cdrs(1)
    assert (r["final_code"], r["customer_id"], r["trunk_id"]) == (403, cus, trk)
    assert attempts(r) == [] and r["carrier_id"] in (None, "")
    assert r["final_reason"] == "destination blocked" and r["direction"] == "termination"


def test_max_forwards_zero_gets_483(sipwarp, tmp_path):
    sw = sipwarp
    cport, gport = sip_port(), sip_port()
    provision_termination(sw, [cport], [gport])
    caller = sw.caller("caller", render(tmp_path, "uac_expect.xml", code=483, mf=0), cport,
                       NUMBER).start()
    assert caller.wait() == 0, caller.describe()
    assert caller.codes()[-1] == 483


def test_malformed_invite_gets_400(sipwarp):
    sw = sipwarp
    cport, gport = sip_port(), sip_port()
    provision_termination(sw, [cport], [gport])
    caller = sw.caller("caller", scenario("uac_malformed.xml"), cport, NUMBER).start()
    assert caller.wait() == 0, caller.describe()
    assert caller.codes() == [400]
    assert "Warning: 399 warp" in caller.messages()[-1]
    assert sw.cdrs(0, timeout=0.3) == []


def test_cps_limit_refuses_with_503_and_refills(sipwarp, tmp_path):
    sw = sipwarp
    c1, c2, c3, gport = sip_port(), sip_port(), sip_port(), sip_port()
    cus, trk, car, gws = provision_termination(sw, [c1, c2, c3], [gport], cps_limit=1)
    callee = sw.sipp("callee", scenario("uas_answer.xml"), gport, calls=2).start()
    first = sw.caller("first", shared_scenario("uac_rr.xml"), c1, NUMBER, hold_ms=0).start()
    assert first.wait() == 0, first.describe()  # took the only token
    second = sw.caller("second", render(tmp_path, "uac_expect.xml", code=503, mf=70), c2,
                       NUMBER).start()
    assert second.wait() == 0, second.describe()
    assert "CPS limit" in second.messages()[-1]
    import time
    time.sleep(1.1)  # one call a second: the bucket has a token again
    third = sw.caller("third", shared_scenario("uac_rr.xml"), c3, NUMBER, hold_ms=0).start()
    assert third.wait() == 0, third.describe()
    assert callee.wait() == 0, callee.describe()
    rows = sw.cdrs(3)
    assert [r["final_code"] for r in rows] == [200, 503, 200]
    refused = rows[1]
    assert (refused["customer_id"], refused["trunk_id"], refused["direction"]) == (
        cus, trk, "termination")
    assert refused["final_reason"] == "CPS limit" and attempts(refused) == []
    assert attempts(rows[2]) == [(gws[0], 200)]


def test_channel_limit_refuses_with_503_and_is_released(sipwarp, tmp_path):
    sw = sipwarp
    c1, c2, c3, gport = sip_port(), sip_port(), sip_port(), sip_port()
    cus, trk, car, gws = provision_termination(sw, [c1, c2, c3], [gport], channel_limit=1)
    callee = sw.sipp("callee", scenario("uas_answer.xml"), gport, calls=2).start()
    # The first call holds the channel long enough for the second to be
    # refused meanwhile.
    first = answered_call(sw, c1, hold_ms=6000)
    second = sw.caller("second", render(tmp_path, "uac_expect.xml", code=503, mf=70), c2,
                       NUMBER).start()
    assert second.wait() == 0, second.describe()
    assert "channel limit" in second.messages()[-1]
    assert first.wait() == 0, first.describe()
    third = sw.caller("third", shared_scenario("uac_rr.xml"), c3, NUMBER, hold_ms=0).start()
    assert third.wait() == 0, third.describe()
    assert callee.wait() == 0, callee.describe()
    rows = sw.cdrs(3)
    assert [r["final_code"] for r in rows] == [200, 503, 200]
    assert rows[1]["final_reason"] == "channel limit" and rows[1]["trunk_id"] == trk
    assert rows[0]["duration_ms"] >= 6000 and rows[2]["gateway_id"] == gws[0]


def test_carrier_channel_follows_the_call_on_failover(sipwarp, tmp_path):
    """Carrier channels are charged per attempt: a call that fails over from
    carrier A to carrier B holds B's channel, not A's (issue 5)."""
    sw = sipwarp
    c1, c2, c3, ga, gb = sip_port(), sip_port(), sip_port(), sip_port(), sip_port()
    cus = sw.customer()
    trk = sw.trunk(cus, [c1, c2, c3])
    car_a, (gw_a,) = sw.carrier("carrier-a", [ga], channel_limit=1)
    car_b, (gw_b,) = sw.carrier("carrier-b", [gb], channel_limit=1)
    sw.route("1", [car_a, car_b])
    sw.route("44", [car_a])
    sw.synced()
    refuser = sw.sipp("gw-a", render(tmp_path, "uas_reject.xml", code=503), ga, calls=3).start()
    answerer = sw.sipp("gw-b", scenario("uas_answer.xml"), gb).start()
    # The first call holds B long enough for the other two to be routed
    # meanwhile.
    first = answered_call(sw, c1, hold_ms=8000)
    # B is full with the first call: the second may try A, never B.
    second = sw.caller("second", render(tmp_path, "uac_expect.xml", code=503, mf=70), c2,
                       NUMBER).start()
    assert second.wait() == 0, second.describe()
    assert "carrier channel limit" in second.messages()[-1]
    # A carries nothing: a call routed to A alone reaches its gateway.
    third = sw.caller("third", render(tmp_path, "uac_expect.xml", code=503, mf=70), c3,
                      "442071234567").start()
    assert third.wait() == 0, third.describe()
    assert "carrier channel limit" not in third.messages()[-1]
    assert first.wait() == 0, first.describe()
    assert refuser.wait() == 0, refuser.describe()
    assert answerer.wait() == 0, answerer.describe()
    assert refuser.requests() == ["INVITE", "ACK"] * 3
    assert answerer.requests() == ["INVITE", "ACK", "BYE"]
    rows = sw.cdrs(3)
    assert [r["final_code"] for r in rows] == [200, 503, 503]
    assert attempts(rows[0]) == [(gw_a, 503), (gw_b, 200)] and rows[0]["carrier_id"] == car_b
    assert rows[1]["final_reason"] == "carrier channel limit"
    assert attempts(rows[1]) == [(gw_a, 503)]  # B was skipped: no INVITE, no attempt
    assert rows[2]["final_reason"] != "carrier channel limit"
    assert attempts(rows[2]) == [(gw_a, 503)]


def test_origination_reaches_the_customers_trunk(sipwarp):
    sw = sipwarp
    gport, dport, unused = sip_port(), sip_port(), sip_port()
    cus = sw.customer()
    trk = sw.trunk(cus, [unused], destinations=[{"uri": "sip:127.0.0.1:%d" % dport}])
    sw.number("+15550001111", cus, trk)
    car, gws = sw.carrier("carrier-in", [gport])
    sw.synced()
    pbx = sw.sipp("pbx", scenario("uas_answer.xml"), dport).start()
    carrier = sw.caller("carrier", shared_scenario("uac_rr.xml"), gport, "+15550001111",
                        hold_ms=200).start()
    assert carrier.wait() == 0, carrier.describe()
    assert pbx.wait() == 0, pbx.describe()
    assert pbx.seen()[0].startswith("INVITE sip:+15550001111@127.0.0.1:%d" % dport)
    (r,) = sw.cdrs(1)
    assert (r["direction"], r["customer_id"], r["trunk_id"]) == ("origination", cus, trk)
    assert r["final_code"] == 200 and r["duration_ms"] >= 200
    assert attempts(r) == [(trk, 200)]


def test_origination_cdr_names_the_inbound_carrier_and_gateway(sipwarp):
    # Every gateway here is on 127.0.0.1: the one the call came from is told
    # apart by its port, among another carrier's and a sibling gateway.
    sw = sipwarp
    gport, dport, unused, other, sibling = (sip_port() for _ in range(5))
    cus = sw.customer()
    trk = sw.trunk(cus, [unused], destinations=[{"uri": "sip:127.0.0.1:%d" % dport}])
    sw.number("+15550002222", cus, trk)
    sw.carrier("carrier-other", [other])
    car, gws = sw.carrier("carrier-in", [sibling, gport])
    sw.synced()
    pbx = sw.sipp("pbx", scenario("uas_answer.xml"), dport).start()
    carrier = sw.caller("carrier", shared_scenario("uac_rr.xml"), gport, "+15550002222",
                        hold_ms=100).start()
    assert carrier.wait() == 0, carrier.describe()
    assert pbx.wait() == 0, pbx.describe()
    (r,) = sw.cdrs(1)
    assert (r["direction"], r["customer_id"], r["trunk_id"]) == ("origination", cus, trk)
    assert (r["carrier_id"], r["gateway_id"]) == (car, gws[1])
    assert attempts(r) == [(trk, 200)]


def test_origination_to_an_unknown_number_gets_404(sipwarp, tmp_path):
    sw = sipwarp
    gport, unused = sip_port(), sip_port()
    sw.trunk(sw.customer(), [unused])
    sw.carrier("carrier-in", [gport])
    sw.synced()
    carrier = sw.caller("carrier", render(tmp_path, "uac_expect.xml", code=404, mf=70), gport,
                        "+15550009999").start()
    assert carrier.wait() == 0, carrier.describe()
    assert "unknown number" in carrier.messages()[-1]


def test_maximum_duration_byes_both_sides(sipwarp):
    sw = sipwarp
    cport, gport = sip_port(), sip_port()
    cus, trk, car, gws = provision_termination(sw, [cport], [gport], max_call_duration=1)
    callee = sw.sipp("callee", scenario("uas_held_up.xml"), gport).start()
    caller = sw.caller("caller", scenario("uac_held_up.xml"), cport, NUMBER).start()
    assert caller.wait() == 0, caller.describe()
    assert callee.wait() == 0, callee.describe()
    assert caller.requests() == ["BYE"] and callee.requests() == ["INVITE", "ACK", "BYE"]
    bye = callee.messages()[-1]
    # The callee record-routed itself: the proxy's BYE follows that route set.
    assert "Route: <sip:127.0.0.1:%d;lr>" % gport in bye, bye
    assert "Reason: SIP;cause=200" in bye and "Reason: SIP;cause=200" in caller.messages()[-1]
    (r,) = sw.cdrs(1)
    assert r["hangup"] == "proxy" and r["final_code"] == 200
    assert 900 <= r["duration_ms"] < 2500


def test_call_over_tcp(sipwarp):
    sw = sipwarp
    cport, gport = sip_port(), sip_port()
    cus = sw.customer()
    sw.trunk(cus, [cport])
    car, gws = sw.carrier("carrier-tcp", [gport], transport="tcp")
    sw.route("1", [car])
    sw.synced()
    callee = sw.sipp("callee", scenario("uas_answer.xml"), gport, transport="t1").start()
    caller = sw.caller("caller", shared_scenario("uac_rr.xml"), cport, NUMBER, hold_ms=100,
                       transport="t1").start()
    assert caller.wait() == 0, caller.describe()
    assert callee.wait() == 0, callee.describe()
    assert callee.requests() == ["INVITE", "ACK", "BYE"]
    assert "transport=tcp" in callee.messages()[0].split("\n", 1)[0] or "TCP" in callee.messages()[0]
    (r,) = sw.cdrs(1)
    assert r["final_code"] == 200 and attempts(r) == [(gws[0], 200)]


def test_call_over_ipv6(sipwarp):
    sw = sipwarp
    cport, gport = sip_port(), sip_port()
    cus = sw.customer()
    sw.trunk(cus, [cport], host="::1")
    car, gws = sw.carrier("carrier-v6", [gport], host="::1")
    sw.route("1", [car])
    sw.synced()
    callee = sw.sipp("callee", scenario("uas_answer.xml"), gport, host="::1").start()
    caller = sw.caller("caller", shared_scenario("uac_rr.xml"), cport, NUMBER, hold_ms=100,
                       host="::1").start()
    assert caller.wait() == 0, caller.describe()
    assert callee.wait() == 0, callee.describe()
    (r,) = sw.cdrs(1)
    assert r["final_code"] == 200 and r["source"].startswith("[::1]:%d" % cport)


def test_2xx_after_an_early_cancel_is_acked_and_byed_by_the_proxy(sipwarp):
    sw = sipwarp
    cport, gport = sip_port(), sip_port()
    cus, trk, car, gws = provision_termination(sw, [cport], [gport])
    callee = sw.sipp("callee", scenario("uas_late_answer.xml"), gport).start()
    caller = sw.caller("caller", scenario("uac_cancel_early.xml"), cport, NUMBER).start()
    assert caller.wait() == 0, caller.describe()
    assert callee.wait() == 0, callee.describe()
    assert caller.codes() == [100, 200, 487]
    # The callee's INVITE retransmissions aside, it gets the proxy's ACK and BYE.
    assert [m for m in callee.requests() if m != "INVITE"] == ["ACK", "BYE"]
    ack, bye = callee.messages()[-2:]
    assert "CSeq: 1 ACK" in ack and "CSeq: 2 BYE" in bye and "tag=" in bye.split("To:", 1)[1]
    (r,) = sw.cdrs(1)
    assert r["final_code"] == 487 and r["hangup"] == "caller" and r["duration_ms"] == 0


def test_2xx_after_the_setup_timeout_is_acked_and_byed_by_the_proxy(sipwarp, tmp_path):
    sw = sipwarp
    cport, gport = sip_port(), sip_port()
    cus, trk, car, gws = provision_termination(sw, [cport], [gport])
    callee = sw.sipp("callee", scenario("uas_late_answer.xml"), gport).start()
    caller = sw.caller("caller", render(tmp_path, "uac_expect.xml", code=408, mf=70), cport,
                       NUMBER).start()
    assert caller.wait() == 0, caller.describe()
    assert callee.wait() == 0, callee.describe()
    assert [m for m in callee.requests() if m != "INVITE"] == ["ACK", "BYE"]
    (r,) = sw.cdrs(1)
    assert r["final_code"] == 408 and attempts(r) == [(gws[0], 408)]


def test_callee_hangs_up_through_the_proxy(sipwarp):
    sw = sipwarp
    cport, gport = sip_port(), sip_port()
    cus, trk, car, gws = provision_termination(sw, [cport], [gport])
    callee = sw.sipp("callee", scenario("uas_hangup.xml"), gport, hold_ms=300).start()
    caller = sw.caller("caller", scenario("uac_held_up.xml"), cport, NUMBER).start()
    assert caller.wait() == 0, caller.describe()
    assert callee.wait() == 0, callee.describe()
    bye = caller.messages()[-1]
    assert bye.startswith("BYE sip:caller@127.0.0.1:%d" % cport) and "Reason:" not in bye
    (r,) = sw.cdrs(1)
    assert r["hangup"] == "callee" and r["final_code"] == 200 and r["duration_ms"] >= 300


def test_twenty_calls_spread_over_both_workers(sipwarp):
    sw = sipwarp
    cport, gport = sip_port(), sip_port()
    provision_termination(sw, [cport], [gport])
    callee = sw.sipp("callee", scenario("uas_answer.xml"), gport, calls=20).start()
    caller = sw.caller("caller", shared_scenario("uac_rr.xml"), cport, NUMBER, hold_ms=100,
                       calls=20, extra=["-r", "20", "-l", "10"]).start()
    assert caller.wait() == 0, caller.describe()
    assert callee.wait() == 0, callee.describe()
    rows = sw.cdrs(20)
    assert len(rows) == 20 and {r["final_code"] for r in rows} == {200}
    assert len({r["call_id"] for r in rows}) == 20
    metrics = sw.w.get("/metrics").body.decode()
    assert "warp_sip_active_dialogs 0" in metrics


def test_sigterm_with_a_call_up_writes_its_cdr_and_exits_0(sipwarp):
    sw = sipwarp
    cport, gport = sip_port(), sip_port()
    provision_termination(sw, [cport], [gport])
    callee = sw.sipp("callee", scenario("uas_answer.xml"), gport).start()
    caller = sw.caller("caller", shared_scenario("uac_rr.xml"), cport, NUMBER,
                       hold_ms=10000).start()
    import time
    deadline = time.monotonic() + 5
    while 200 not in caller.codes() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert 200 in caller.codes(), caller.describe()
    time.sleep(0.2)
    rc, _ = sw.w.stop(timeout=10)
    assert rc == 0, sw.w.stderr()[-3000:]
    (r,) = sw.cdrs(1, timeout=0)
    assert r["hangup"] == "proxy" and r["final_code"] == 200 and r["answer_ms"] > 0
    time.sleep(0.2)
    assert caller.requests() == ["BYE"], caller.seen()
    assert callee.requests() == ["INVITE", "ACK", "BYE"], callee.seen()


def test_call_from_ipv6_tcp_to_an_ipv4_udp_gateway(sipwarp):
    """The request changes family and transport: the proxy record-routes
    twice (RFC 5658), and the caller's ACK and BYE still find the callee.
    (With topology hiding, the default, each side sees only the entry
    facing it: test_sip_topology.py.)"""
    sw = sipwarp
    cport, gport = sip_port(), sip_port()
    cus = sw.customer()
    sw.trunk(cus, [cport], host="::1", topology_hiding=False)
    car, gws = sw.carrier("carrier-v4", [gport])
    sw.route("1", [car])
    sw.synced()
    callee = sw.sipp("callee", scenario("uas_answer.xml"), gport).start()
    caller = sw.caller("caller", shared_scenario("uac_rr.xml"), cport, NUMBER, hold_ms=100,
                       host="::1", transport="t1").start()
    assert caller.wait() == 0, caller.describe()
    assert callee.wait() == 0, callee.describe()
    invite = callee.messages()[0]
    rr = [l for l in invite.split("\n") if l.startswith("Record-Route:")]
    assert rr == ["Record-Route: <sip:127.0.0.1:%d;lr>" % sw.port,
                  "Record-Route: <sip:[::1]:%d;transport=tcp;lr>" % sw.port], rr
    assert callee.requests() == ["INVITE", "ACK", "BYE"]
    (r,) = sw.cdrs(1)
    assert r["final_code"] == 200 and r["hangup"] == "caller"


def test_callee_reinvite_and_its_retransmitted_2xx_reach_the_right_side(sipwarp):
    """A re-INVITE from the callee: the caller's 200 to it, retransmitted
    until the late ACK, goes back to the callee (the next Via), not to the
    caller who sent it."""
    sw = sipwarp
    cport, gport = sip_port(), sip_port()
    provision_termination(sw, [cport], [gport])
    callee = sw.sipp("callee", scenario("uas_reinvite.xml"), gport).start()
    caller = sw.caller("caller", scenario("uac_reinvited.xml"), cport, NUMBER).start()
    assert caller.wait() == 0, caller.describe()
    assert callee.wait() == 0, callee.describe()
    assert callee.codes().count(200) >= 2, callee.seen()
    assert caller.requests() == ["INVITE", "ACK"]
    (r,) = sw.cdrs(1)
    assert r["final_code"] == 200 and r["hangup"] == "caller"


def test_2xx_racing_a_forwarded_cancel_goes_to_the_caller(sipwarp):
    """The caller's INVITE is still open (the CANCEL was forwarded after a
    180): the callee's 200 is forwarded (§16.7) and the caller ends the call
    with ACK and BYE through the proxy (decision 0014)."""
    sw = sipwarp
    cport, gport = sip_port(), sip_port()
    provision_termination(sw, [cport], [gport])
    callee = sw.sipp("callee", scenario("uas_cancel_raced.xml"), gport).start()
    caller = sw.caller("caller", scenario("uac_cancel_raced.xml"), cport, NUMBER).start()
    assert caller.wait() == 0, caller.describe()
    assert callee.wait() == 0, callee.describe()
    assert callee.requests() == ["INVITE", "CANCEL", "ACK", "BYE"]
    (r,) = sw.cdrs(1)
    assert r["final_code"] == 200 and r["answer_ms"] > 0 and r["hangup"] == "caller"


def test_sigterm_during_setup_answers_503_and_cancels_downstream(sipwarp, tmp_path):
    sw = sipwarp
    cport, gport = sip_port(), sip_port()
    provision_termination(sw, [cport], [gport])
    callee = sw.sipp("callee", scenario("uas_cancel.xml"), gport).start()
    caller = sw.caller("caller", render(tmp_path, "uac_expect.xml", code=503, mf=70), cport,
                       NUMBER).start()
    import time
    deadline = time.monotonic() + 5
    while 180 not in caller.codes() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert 180 in caller.codes(), caller.describe()
    rc, _ = sw.w.stop(timeout=10)
    assert rc == 0, sw.w.stderr()[-3000:]
    assert caller.wait() == 0, caller.describe()
    time.sleep(0.2)
    assert callee.requests()[:2] == ["INVITE", "CANCEL"], callee.seen()
    (r,) = sw.cdrs(1, timeout=0)
    assert r["final_code"] == 503 and r["hangup"] == "proxy" and r["duration_ms"] == 0


def test_provisioning_changes_during_a_call_do_not_drop_it(sipwarp):
    """A snapshot rebuilt under an established call (its trunk, carrier and
    route all changed, a second route added) leaves the call up: the BYE
    still goes through and the CDR is the call's, not a failure."""
    sw = sipwarp
    cport, gport = sip_port(), sip_port()
    cus, trk, car, gws = provision_termination(sw, [cport], [gport])
    callee = sw.sipp("callee", shared_scenario("uas_rr.xml"), gport).start()
    caller = sw.caller("caller", shared_scenario("uac_rr.xml"), cport, NUMBER,
                       hold_ms=2500).start()
    deadline = time.monotonic() + 5
    while "warp_sip_active_dialogs 1" not in sw.w.get("/metrics").body.decode():
        assert time.monotonic() < deadline, "the call never came up"
        time.sleep(0.05)
    sw.api("PATCH", "/trunks/" + trk, {"name": "renamed", "cps_limit": 50, "channel_limit": 10})
    sw.api("PATCH", "/carriers/" + car, {"name": "carrier-renamed"})
    sw.route("44", [car])
    sw.synced()
    assert "warp_sip_active_dialogs 1" in sw.w.get("/metrics").body.decode()
    assert caller.wait() == 0, caller.describe()
    assert callee.wait() == 0, callee.describe()
    assert callee.requests() == ["INVITE", "ACK", "BYE"]
    (r,) = sw.cdrs(1)
    assert r["final_code"] == 200 and r["hangup"] == "caller" and r["duration_ms"] >= 2500


PROBE_MS = 200  # [sip] probe_interval of probewarp; a gateway is down after 2 rounds


@pytest.fixture
def probing(monkeypatch):
    """[sip] probe_interval = PROBE_MS, through its environment override, for
    the warp a fixture listed after this one starts."""
    monkeypatch.setenv("WARP_SIP_PROBE_INTERVAL", "%dms" % PROBE_MS)


@pytest.fixture
def probewarp(probing, sipwarp):  # noqa: F811 (sipwarp is the fixture imported above)
    """sipwarp with OPTIONS probing of gateways every PROBE_MS."""
    return sipwarp


def gateway_up(sw, gw):
    m = re.search(r'^warp_sip_gateway_up\{gateway="%s"\} (-?\d+)$' % gw,
                  sw.w.get("/metrics").body.decode(), re.M)
    return int(m.group(1)) if m else None


def wait_gateway_up(sw, gw, want, timeout):
    deadline = time.monotonic() + timeout
    while gateway_up(sw, gw) != want and time.monotonic() < deadline:
        time.sleep(0.02)
    return gateway_up(sw, gw)


def options_responder(sw, name, port):
    return sw.sipp(name, scenario("uas_options.xml"), port, transport="t1", calls=10000,
                   timeout_s=60).start()


def test_tcp_gateway_is_probed_over_tcp_marked_down_skipped_and_up_again(probewarp):
    sw = probewarp
    cport, gtcp, gudp = sip_port(), sip_port(), sip_port()
    cus = sw.customer()
    sw.trunk(cus, [cport])
    car = sw.api("POST", "/carriers", {"name": "carrier-probed"})["id"]
    gws = [sw.api("POST", "/carriers/%s/gateways" % car, {
        "host": "127.0.0.1", "port": port, "transport": tp, "priority": prio, "probe": probe})["id"]
        for port, tp, prio, probe in ((gtcp, "tcp", 0, True), (gudp, "udp", 1, False))]
    sw.route("1", [car])
    up = options_responder(sw, "gw-tcp", gtcp)
    sw.synced()
    # Answered over TCP: up, and the probes arrived on a TCP connection.
    assert wait_gateway_up(sw, gws[0], 1, 5) == 1
    deadline = time.monotonic() + 5
    while len(up.requests()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert up.requests()[:2] == ["OPTIONS", "OPTIONS"], up.describe()
    first = up.messages()[0]
    assert "Via: SIP/2.0/TCP " in first and ";transport=tcp" in first.split("\n", 1)[0]
    # Stopped: connections are refused, down within two rounds (plus slack).
    up.stop()
    t0 = time.monotonic()
    assert wait_gateway_up(sw, gws[0], 0, 5) == 0
    assert time.monotonic() - t0 < 2 * PROBE_MS / 1000 + 1.0
    # A call on the route skips it: the UDP gateway is the only attempt.
    ok = sw.sipp("gw-udp", scenario("uas_answer.xml"), gudp).start()
    caller = sw.caller("caller", shared_scenario("uac_rr.xml"), cport, NUMBER, hold_ms=100).start()
    assert caller.wait() == 0, caller.describe()
    assert ok.wait() == 0, ok.describe()
    (r,) = sw.cdrs(1)
    assert r["final_code"] == 200 and attempts(r) == [(gws[1], 200)]
    # Listening again: up again at the next answered probe.
    back = options_responder(sw, "gw-tcp-back", gtcp)
    assert wait_gateway_up(sw, gws[0], 1, 5) == 1, back.describe()


def test_overlapping_acls_longest_prefix_then_port_pick_the_trunk(sipwarp):
    """docs/openapi.yaml Trunk.acl: the longest prefix wins, then an entry
    with the call's source port over a portless one."""
    sw = sipwarp
    p_port, p_prefix, gport = sip_port(), sip_port(), sip_port()

    def trunk(name, acl):
        return sw.api("POST", "/trunks", {"customer_id": sw.customer(), "name": name,
                                          "acl": acl, "media_mode": "bypass"})["id"]

    host = trunk("host", [{"cidr": "127.0.0.1/32"}])
    by_port = trunk("port", [{"cidr": "127.0.0.1/32", "port": p_port}])
    wide = trunk("wide", [{"cidr": "127.0.0.0/8", "port": p_prefix}])
    car, gws = sw.carrier("carrier-a", [gport])
    sw.route("1", [car])
    sw.synced()
    for port in (p_port, p_prefix):
        callee = sw.sipp("callee-%d" % port, scenario("uas_answer.xml"), gport).start()
        caller = sw.caller("caller-%d" % port, shared_scenario("uac_rr.xml"), port, NUMBER,
                           hold_ms=100).start()
        assert caller.wait() == 0, caller.describe()
        assert callee.wait() == 0, callee.describe()
    first, second = sw.cdrs(2)
    # From p_port: the /32 with that port beats the portless /32.
    assert first["trunk_id"] == by_port
    # From p_prefix: the portless /32 beats the /8 with that port.
    assert second["trunk_id"] == host and wide not in (first["trunk_id"], second["trunk_id"])


def gateway_lines(sw, gw):
    return [l for l in sw.w.get("/metrics").body.decode().splitlines()
            if l.startswith("warp_sip_gateway_") and 'gateway="%s"' % gw in l]


def test_gateway_series_name_it_mark_unprobed_and_leave_with_it(probewarp):
    sw = probewarp
    gon, goff, moved = sip_port(), sip_port(), sip_port()
    car = sw.api("POST", "/carriers", {"name": "Carrier \"Ost\""})["id"]
    on, off = [sw.api("POST", "/carriers/%s/gateways" % car, {
        "host": "127.0.0.1", "port": port, "probe": probe})["id"]
        for port, probe in ((gon, True), (goff, False))]
    up = options_responder(sw, "gw-on", gon)
    sw.synced()
    assert wait_gateway_up(sw, on, 1, 5) == 1, up.describe()
    info = ('warp_sip_gateway_info{gateway="%s",carrier="%s",carrier_name="Carrier \\"Ost\\"",'
            'host="127.0.0.1",port="%d",transport="udp"} 1')
    # Never probed: -1, not 1; named by the info series.
    assert gateway_lines(sw, off) == ['warp_sip_gateway_up{gateway="%s"} -1' % off,
                                      info % (off, car, goff)]
    # A changed gateway's info series is replaced; a deleted one's series go.
    sw.api("PATCH", "/carriers/%s/gateways/%s" % (car, off), {"port": moved})
    sw.synced()
    assert gateway_lines(sw, off)[1:] == [info % (off, car, moved)]
    sw.api("DELETE", "/carriers/%s/gateways/%s" % (car, off))
    sw.synced()
    assert gateway_lines(sw, off) == []
    # The other stays (answered or, on a loaded machine, missed: not -1).
    lines = gateway_lines(sw, on)
    assert lines[0] in ['warp_sip_gateway_up{gateway="%s"} %d' % (on, v) for v in (0, 1)]
    assert lines[1:] == [info % (on, car, gon)]


def test_deleted_carrier_totals_leave_metrics(sipwarp):
    sw = sipwarp
    gone, kept = (sw.api("POST", "/carriers", {"name": n})["id"] for n in ("gone", "kept"))
    sw.synced()

    def carrier_lines(car):
        return sorted(l.split("{")[0] for l in sw.w.get("/metrics").body.decode().splitlines()
                      if l.startswith("warp_sip_carrier_") and 'carrier="%s"' % car in l)

    totals = ["warp_sip_carrier_answered_total", "warp_sip_carrier_attempts_total",
              "warp_sip_carrier_duration_seconds_total"]
    assert carrier_lines(gone) == totals and carrier_lines(kept) == totals
    sw.api("DELETE", "/carriers/" + gone)
    sw.synced()
    assert carrier_lines(gone) == [] and carrier_lines(kept) == totals
