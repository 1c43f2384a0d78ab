"""Topology hiding per trunk (decision 0028), end to end with SIPp: the far
side of a call sees WARP's addresses only (Via, Contact, Record-Route,
From and To hosts, Call-ID), the near side gets its own values back, and
in-dialog requests from either side still reach the other.

The hidden side runs on ::1 and the far side on 127.0.0.1, so that "no
customer address" is checked literally: the far side must not see "::1"
anywhere in a header, nor the hidden side's port."""
import re
import socket

from sipfix import sipwarp, shared_scenario, scenario, sip_port, sipp_media_port  # noqa: F401

NUMBER = "15551234567"


def headers(msg):
    """The header lines of a message SIPp logged (the start line and the
    body left out)."""
    head = msg.replace("\r\n", "\n").split("\n\n", 1)[0]
    return head.split("\n")[1:]


def header(msg, name):
    return [l.split(":", 1)[1].strip() for l in headers(msg)
            if l.split(":", 1)[0].strip().lower() == name.lower()]


def assert_hidden(msg, port, call_id):
    """msg shows nothing of the party on ::1 at port: no address, no port,
    not its Call-ID; and only one Via (ours)."""
    lines = headers(msg)
    leak = [l for l in lines if "::1" in l or re.search(r"[:=]%d\b" % port, l) or call_id in l]
    assert not leak, "%s\n%s" % (leak, msg)
    assert len(header(msg, "Via")) == 1, msg
    first = msg.split("\n", 1)[0]
    assert "::1" not in first and ":%d" % port not in first, first


def provision(sw, cport, gport, **trunk):
    cus = sw.customer()
    trk = sw.trunk(cus, [cport], host="::1", **trunk)
    car, gws = sw.carrier("carrier-v4", [gport])
    sw.route("1", [car])
    sw.synced()
    return cus, trk


def call(sw, callee_sf, caller_sf, trunk=None, callee_kw=None, **caller_kw):
    """A termination from a caller on ::1 to a gateway on 127.0.0.1, run to
    its end: (caller, callee, caller's port, gateway's port).  Hidden (the
    trunk's default), every message the callee got is checked for leaks."""
    cport, gport = sip_port(), sip_port()
    provision(sw, cport, gport, **(trunk or {}))
    callee = sw.sipp("callee", callee_sf, gport, **(callee_kw or {})).start()
    caller = sw.caller("caller", caller_sf, cport, NUMBER, host="::1", **caller_kw).start()
    assert caller.wait() == 0, caller.describe()
    assert callee.wait() == 0, callee.describe()
    if (trunk or {}).get("topology_hiding", True):
        for msg in callee.messages():
            assert_hidden(msg, cport, sent_call_id(caller))
    return caller, callee, cport, gport


def sent_call_id(sipp):
    return header(sipp.messages(received=False)[0], "Call-ID")[0]


def test_trunk_hides_topology_by_default_and_patch_turns_it_off(sipwarp):
    sw = sipwarp
    cus = sw.customer()
    trk = sw.api("POST", "/trunks", {"customer_id": cus, "name": "pbx"})
    assert trk["topology_hiding"] is True
    off = sw.api("PATCH", "/trunks/" + trk["id"], {"topology_hiding": False})
    assert off["topology_hiding"] is False
    assert sw.api("GET", "/trunks/" + trk["id"])["topology_hiding"] is False


def test_termination_carrier_sees_only_warp_and_caller_gets_its_own_back(sipwarp):
    sw = sipwarp
    caller, callee, cport, gport = call(sw, scenario("uas_answer.xml"),
                                        shared_scenario("uac_rr.xml"), hold_ms=100)
    assert callee.requests() == ["INVITE", "ACK", "BYE"]
    cid = sent_call_id(caller)
    invite = callee.messages()[0]
    assert header(invite, "Record-Route") == ["<sip:127.0.0.1:%d;lr>" % sw.port]
    assert re.match(r"<sip:th-[0-9a-f]+@127\.0\.0\.1:%d>$" % sw.port, header(invite, "Contact")[0])
    assert header(invite, "From")[0].startswith("caller <sip:caller@127.0.0.1>;tag=")
    assert header(invite, "Call-ID")[0].startswith("wth")
    # The caller sees its own Call-ID, From and Via on every response.
    sent = caller.messages(received=False)[0]
    for msg in caller.messages():
        assert header(msg, "Call-ID") == [cid], msg
        assert header(msg, "From") == header(sent, "From"), msg
        assert header(msg, "Via")[0].startswith(header(sent, "Via")[0].split(";")[0]), msg
    ok = [m for m in caller.messages() if m.startswith("SIP/2.0 200")][0]
    assert header(ok, "Record-Route") == ["<sip:[::1]:%d;lr>" % sw.port]
    assert "callee@" not in header(ok, "Contact")[0] and ":%d" % gport not in ok
    (r,) = sw.cdrs(1)
    assert r["final_code"] == 200 and r["hangup"] == "caller" and r["call_id"] == cid


def test_each_side_sees_only_our_record_route_facing_it(sipwarp):
    """An IPv6 TCP caller and an IPv4 UDP gateway: unhidden, both would see
    both of our entries (RFC 5658); hidden, each sees the one facing it,
    and the caller's ACK and BYE over TCP still reach the callee."""
    sw = sipwarp
    caller, callee, _, _ = call(sw, scenario("uas_answer.xml"), shared_scenario("uac_rr.xml"),
                                hold_ms=100, transport="t1")
    assert callee.requests() == ["INVITE", "ACK", "BYE"]
    assert header(callee.messages()[0], "Record-Route") == ["<sip:127.0.0.1:%d;lr>" % sw.port]
    ok = [m for m in caller.messages() if m.startswith("SIP/2.0 200")][0]
    assert header(ok, "Record-Route") == ["<sip:[::1]:%d;transport=tcp;lr>" % sw.port]
    assert header(ok, "Contact")[0].endswith("@[::1]:%d;transport=tcp>" % sw.port)


def test_termination_with_hiding_off_passes_the_callers_headers(sipwarp):
    sw = sipwarp
    caller, callee, cport, _ = call(sw, scenario("uas_answer.xml"), shared_scenario("uac_rr.xml"),
                                    trunk={"topology_hiding": False}, hold_ms=100)
    invite = callee.messages()[0]
    assert header(invite, "Call-ID") == [sent_call_id(caller)]
    assert len(header(invite, "Via")) == 2
    assert header(invite, "Via")[1].startswith("SIP/2.0/UDP [::1]:%d;" % cport)
    assert header(invite, "Contact")[0] == "<sip:caller@[::1]:%d>" % cport


def test_callee_bye_reaches_the_hidden_caller(sipwarp):
    sw = sipwarp
    caller, callee, cport, gport = call(sw, scenario("uas_hangup.xml"),
                                        scenario("uac_held_up.xml"), callee_kw={"hold_ms": 200})
    bye = caller.messages()[-1]
    assert bye.startswith("BYE sip:caller@[::1]:%d" % cport), bye
    assert header(bye, "Call-ID") == [sent_call_id(caller)]
    assert header(bye, "To")[0].startswith("caller <sip:caller@[::1]:%d>;tag=" % cport), bye
    assert ":%d" % gport not in bye
    (r,) = sw.cdrs(1)
    assert r["hangup"] == "callee" and r["final_code"] == 200


def test_reinvite_from_the_callee_and_its_retransmitted_2xx(sipwarp):
    sw = sipwarp
    caller, callee, cport, gport = call(sw, scenario("uas_reinvite.xml"),
                                        scenario("uac_reinvited.xml"))
    assert caller.requests() == ["INVITE", "ACK"]
    assert callee.codes().count(200) >= 2, callee.seen()
    reinvite = [m for m in caller.messages() if m.startswith("INVITE")][0]
    assert reinvite.startswith("INVITE sip:caller@[::1]:%d" % cport), reinvite
    assert header(reinvite, "Call-ID") == [sent_call_id(caller)]
    assert ":%d" % gport not in reinvite
    (r,) = sw.cdrs(1)
    assert r["final_code"] == 200 and r["hangup"] == "caller"


def test_reinvite_from_the_caller_reaches_the_callee(sipwarp):
    sw = sipwarp
    caller, callee, _, gport = call(sw, scenario("uas_reinvited.xml"),
                                    scenario("uac_reinvite.xml"))
    assert callee.requests() == ["INVITE", "ACK", "INVITE", "ACK", "BYE"]
    reinvite = callee.messages()[2]
    assert reinvite.startswith("INVITE sip:callee@127.0.0.1:%d" % gport), reinvite
    assert [m.split()[1] for m in caller.seen() if m.startswith("SIP/2.0")].count("200") == 3
    (r,) = sw.cdrs(1)
    assert r["final_code"] == 200 and r["hangup"] == "caller"


def test_origination_customer_sees_only_warp(sipwarp):
    """Origination: the carrier (on ::1) calls the customer's number; the
    customer's trunk (on 127.0.0.1) sees nothing of the carrier."""
    sw = sipwarp
    gport, dport, unused = sip_port(), sip_port(), sip_port()
    cus = sw.customer()
    trk = sw.trunk(cus, [unused], destinations=[{"uri": "sip:127.0.0.1:%d" % dport}])
    sw.number("+15550001111", cus, trk)
    sw.carrier("carrier-in", [gport], host="::1")
    sw.synced()
    pbx = sw.sipp("pbx", scenario("uas_answer.xml"), dport).start()
    carrier = sw.caller("carrier", shared_scenario("uac_rr.xml"), gport, "+15550001111",
                        hold_ms=100, host="::1").start()
    assert carrier.wait() == 0, carrier.describe()
    assert pbx.wait() == 0, pbx.describe()
    assert pbx.requests() == ["INVITE", "ACK", "BYE"]
    for msg in pbx.messages():
        assert_hidden(msg, gport, sent_call_id(carrier))
    for msg in carrier.messages():
        assert header(msg, "Call-ID") == [sent_call_id(carrier)]
    (r,) = sw.cdrs(1)
    assert r["direction"] == "origination" and r["final_code"] == 200


def test_target_refresh_moves_where_the_callee_bye_goes(sipwarp):
    """The caller re-INVITEs with a new Contact (RFC 3261 §12.2.1.2): the
    callee still knows only WARP, and its BYE reaches the new target."""
    sw = sipwarp
    caller, callee, cport, _ = call(sw, scenario("uas_reinvited_hangup.xml"),
                                    scenario("uac_reinvite_moved.xml"))
    bye = caller.messages()[-1]
    assert bye.startswith("BYE sip:moved@[::1]:%d" % cport), bye
    (r,) = sw.cdrs(1)
    assert r["final_code"] == 200 and r["hangup"] == "callee"


def test_prack_in_the_early_dialog_goes_to_the_callees_contact(sipwarp):
    """Before the answer there is no dialog yet: the caller's PRACK for a
    reliable 183 (RFC 3262) carries WARP's Contact as its Request-URI, and
    reaches the callee with the Contact of the callee's 183 instead."""
    sw = sipwarp
    caller, callee, _, gport = call(
        sw, scenario("uas_late_prack.xml"), scenario("uac_late_prack.xml"),
        callee_kw={"keys": {"rtp_b": 40002}, "extra": ["-mp", str(sipp_media_port())]},
        keys={"rtp_a": 40000}, extra=["-mp", str(sipp_media_port())])
    prack = [m for m in callee.messages() if m.startswith("PRACK ")][0]
    assert prack.startswith("PRACK sip:callee@127.0.0.1:%d" % gport), prack
    sent = [m for m in caller.messages(received=False) if m.startswith("PRACK ")][0]
    assert sent.startswith("PRACK sip:th-"), sent


def test_target_refresh_in_a_2xx_moves_where_the_caller_bye_goes(sipwarp):
    """The callee answers the caller's re-INVITE with a new Contact (RFC
    3261 §12.2.2): the caller's ACK and BYE, sent to WARP, reach it there."""
    sw = sipwarp
    caller, callee, _, gport = call(sw, scenario("uas_reinvited_moved.xml"),
                                    scenario("uac_reinvite.xml"))
    assert callee.requests() == ["INVITE", "ACK", "INVITE", "ACK", "BYE"]
    assert callee.messages()[3].startswith("ACK sip:moved@127.0.0.1:%d" % gport)
    assert callee.messages()[4].startswith("BYE sip:moved@127.0.0.1:%d" % gport)


def test_request_to_a_hidden_contact_of_no_call_gets_481(sipwarp):
    """A BYE for a hidden call that is over (its Request-URI WARP's hidden
    Contact, no route left) is answered 481, not routed back to WARP."""
    sw = sipwarp
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind(("127.0.0.1", 0))
        s.settimeout(5)
        me = "127.0.0.1:%d" % s.getsockname()[1]
        s.sendto(("BYE sip:th-00ff@127.0.0.1:%d SIP/2.0\r\n"
                  "Via: SIP/2.0/UDP %s;branch=z9hG4bK-gone-1;rport\r\n"
                  "From: <sip:gw@%s>;tag=b\r\nTo: <sip:caller@127.0.0.1>;tag=a\r\n"
                  "Call-ID: wth0-00112233445566778899aabbccddeeff\r\nCSeq: 2 BYE\r\n"
                  "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n" % (sw.port, me, me)).encode(),
                 ("127.0.0.1", sw.port))
        reply = s.recv(65535).decode()
    finally:
        s.close()
    assert reply.startswith("SIP/2.0 481 "), reply
