"""US A2P 10DLC (issue 12, decision 0041): an MT from a US long code
without an active campaign is refused before it is queued, over SMPP (npm
smpp and Perl Net::SMPP as the customer's ESME) and HTTP; a registered one
reaches the upstream (npm smpp server, tests/peers/smsc_sim.js).  A
handset's STOP records an opt-out, is confirmed with the campaign's text and
refuses later MT to that handset while another still passes (with
`[tendlc] opt_out_scope = brand`, from every number of the brand); START undoes
it; HELP is answered with the campaign's help text; a bit.ly link is
refused naming the rule.  One warp runs api and smsc on each store."""
import json
import re
import time
import uuid

import pytest

import smppfix
from smppfix import carrier_with_connector, route

pytest.register_assert_rewrite("apiclient")
from apiclient import assert_error, running_env  # noqa: E402
from test_webhooks import SECRET, Receiver, valid_signature  # noqa: E402

pytest_plugins = ["apiclient"]

ROK, RINVSRCADR, OPTED_OUT, CONTENT = 0x00, 0x0A, 0x401, 0x402
HELP = "ACME Alerts: help at acme.example or 1-800-555-0100. Msg&data rates may apply."
STOPPED = "ACME Alerts: you are unsubscribed and will get no more messages."
STARTED = "ACME Alerts: you are subscribed again. Reply STOP to stop."


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def api(request, tmp_path_factory):
    yield from running_env(request, tmp_path_factory, roles="api,smsc")


@pytest.fixture
def peers(api):
    started = []

    def upstream(**cfg):
        u = smppfix.UpstreamSmsc(**cfg)
        started.append(u)
        return u

    def esme(perl=False):
        port = int(api.warp.env["WARP_SMSC_LISTEN"].rsplit(":", 1)[1])
        e = (smppfix.PerlEsme if perl else smppfix.Esme)(port)
        started.append(e)
        e.wait("connected")
        return e

    yield upstream, esme
    for p in started:
        p.stop()
    for c in api.admin.list_all("/api/v1/smpp-connectors"):
        if c["enabled"]:
            api.admin.patch("/api/v1/smpp-connectors/" + c["id"], {"enabled": False})


def us_number():
    """A fresh US long code: +1 415 5xx xxxx."""
    return "+14155%06d" % (int(uuid.uuid4().hex[:8], 16) % 10**6)


def number(api, cid):
    e164 = us_number()
    return api.admin.create("/api/v1/numbers", {"e164": e164, "customer_id": cid,
                                                "sms": True})["id"], e164


def campaign(api, cid, brand=None, **fields):
    brand = brand or api.admin.create("/api/v1/brands", {
        "customer_id": cid, "legal_name": "ACME Inc.", "ein": "12-3456789",
        "vertical": "RETAIL", "registry_id": "B" + uuid.uuid4().hex[:6].upper(),
        "vetting_score": 75, "status": "verified"})
    body = {"customer_id": cid, "brand_id": brand["id"], "use_case": "ACCOUNT_NOTIFICATION",
            "registry_id": "C" + uuid.uuid4().hex[:6].upper(),
            "sample_messages": ["Your order 123 has shipped."], "help_text": HELP,
            "opt_out_text": STOPPED, "opt_in_text": STARTED, "status": "active",
            "throughput": {"att": {"class": "T", "sms_tpm": 4500}, "tmobile": {"daily_cap": 2000}}}
    body.update(fields)
    return api.admin.create("/api/v1/campaigns", body)


def bind_number(api, cid, cmp_id, nid):
    return api.admin.post("/api/v1/campaigns/%s/numbers" % cmp_id,
                          {"customer_id": cid, "number_id": nid})


def provision(api, up):
    """A customer with a route over the upstream, an SMPP account, a number
    bound to an active campaign and one bound to none."""
    cid = api.customer()
    carrier = carrier_with_connector(api, up.port)
    route(api, "1", [carrier], customer_id=cid)
    sid = "dlc" + uuid.uuid4().hex[:8]
    api.admin.create("/api/v1/smpp-accounts", {"customer_id": cid, "system_id": sid,
                                                "password": "pw", "allowed_cidrs": ["127.0.0.1"],
                                                "throughput": 1000, "window": 100})
    registered, reg_e164 = number(api, cid)
    _, bare_e164 = number(api, cid)
    cmp = campaign(api, cid)
    r = bind_number(api, cid, cmp["id"], registered)
    assert r.status == 201, r.body
    time.sleep(0.5)  # snapshots rebuilt
    return cid, sid, reg_e164[1:], bare_e164[1:], cmp


def refusals(api, rule):
    text = api.warp.get("/metrics").body.decode()
    m = re.search(r'^warp_tendlc_refusals_total\{rule="%s"\} (\d+)' % re.escape(rule), text, re.M)
    return int(m.group(1)) if m else 0


def send_http(api, cid, frm, to, text):
    return api.admin.post("/api/v1/messages", {"customer_id": cid, "from": "+" + frm,
                                               "to": "+" + to, "text": text})


def submit(e, frm, to, text):
    return e.submit(source_addr=frm, source_addr_ton=1, source_addr_npi=1, destination_addr=to,
                    short_message=text, data_coding=0)["command_status"]


def status_soon(e, frm, to, text, want, timeout=5.0):
    """The status of a submit once the snapshots caught up with a change."""
    deadline = time.monotonic() + timeout
    while True:
        got = submit(e, frm, to, text)
        if got == want or time.monotonic() > deadline:
            return got
        time.sleep(0.1)


def mo(up, tag, frm, to, text):
    up.send(cmd="mo", tag=tag, source_addr=frm, destination_addr=to, text=text)
    return up.wait("deliver_sm_resp", what=tag)["command_status"]


@pytest.mark.parametrize("perl", [False, True], ids=["npm", "net-smpp"])
def test_unregistered_long_code_refused_registered_delivered(api, peers, perl):
    upstream, esme = peers
    up = upstream()
    cid, sid, reg, bare, _ = provision(api, up)
    up.wait("bind")
    e = esme(perl)
    assert e.bind(sid, "pw", "transceiver") == ROK
    before = refusals(api, "unregistered_long_code")
    assert submit(e, bare, "14155550001", "unregistered sender") == RINVSRCADR
    assert submit(e, reg, "14155550002", "registered sender") == ROK
    got = up.wait("submit_sm", destination_addr="14155550002")
    assert got["source_addr"] == reg and got["text"] == "registered sender"
    assert not up.seen("submit_sm", destination_addr="14155550001")
    assert refusals(api, "unregistered_long_code") == before + 1
    # Nothing of the refused one was stored.
    assert api.count("messages", "destination = ?", "14155550001") == 0

    r = send_http(api, cid, bare, "14155550003", "over http")
    assert_error(r, 422, "unregistered_long_code", "/from")
    assert "unregistered_long_code" in r.json()["errors"][0]["detail"]
    assert send_http(api, cid, reg, "14155550004", "over http").status == 202
    up.wait("submit_sm", destination_addr="14155550004")
    assert refusals(api, "unregistered_long_code") == before + 2


def test_campaign_not_active_or_not_the_senders_is_refused(api, peers):
    upstream, esme = peers
    up = upstream()
    cid, sid, reg, _, cmp = provision(api, up)
    other = api.customer()
    route(api, "1", [carrier_with_connector(api, up.port)], customer_id=other)
    assert api.admin.patch("/api/v1/campaigns/" + cmp["id"], {"status": "suspended"}).status == 200
    time.sleep(0.5)
    assert_error(send_http(api, cid, reg, "14155550010", "suspended"), 422,
                 "unregistered_long_code", "/from")
    # Another customer's campaign does not make the number theirs.
    assert api.admin.patch("/api/v1/campaigns/" + cmp["id"], {"status": "active"}).status == 200
    time.sleep(0.5)
    assert_error(send_http(api, other, reg, "14155550011", "not mine"), 422,
                 "unregistered_long_code", "/from")
    assert send_http(api, cid, reg, "14155550012", "active again").status == 202
    # Toll-free and short codes are no long codes: not this rule's.
    assert send_http(api, cid, "18885550100", "14155550013", "toll-free").status == 202


def test_stop_refuses_later_mt_start_resumes(api, peers):
    upstream, esme = peers
    up = upstream()
    cid, sid, reg, _, _ = provision(api, up)
    handset, other = "14155551234", "14155554321"
    up.wait("bind")
    e = esme()
    assert e.bind(sid, "pw", "transmitter") == ROK
    assert mo(up, "stop", handset, reg, "  Stop! ") == ROK
    conf = up.wait("submit_sm", destination_addr=handset)
    assert conf["source_addr"] == reg and conf["text"] == STOPPED
    # The opt-out is in force once the snapshots are rebuilt (this process
    # wakes its loader at the commit); from then on nothing more reaches it.
    assert status_soon(e, reg, handset, "after stop", OPTED_OUT) == OPTED_OUT
    reached = len(up.seen("submit_sm", destination_addr=handset))
    assert submit(e, reg, handset, "refused again") == OPTED_OUT
    assert submit(e, reg, other, "another handset") == ROK
    up.wait("submit_sm", destination_addr=other)
    # submit_multi: the opted-out destination listed with its status, the other sent.
    tag = "multi-%d" % len(e.events)
    e.send(cmd="pdu", command="submit_multi", tag=tag, fields={
        "source_addr": reg, "source_addr_ton": 1, "source_addr_npi": 1,
        "short_message": "to both",
        "dest_address": [{"destination_addr": handset}, {"destination_addr": other}]})
    r = e.wait("submit_multi_resp", tag=tag)
    assert r["command_status"] == ROK
    assert [(u["destination_addr"], u["error_status_code"]) for u in r["unsuccess_sme"]] == [
        (handset, OPTED_OUT)]
    up.wait("submit_sm", destination_addr=other, text="to both")
    assert_error(send_http(api, cid, reg, handset, "over http"), 422, "opted_out", "/to")
    assert refusals(api, "opted_out") >= 4
    assert len(up.seen("submit_sm", destination_addr=handset)) == reached
    assert not up.seen("submit_sm", destination_addr=handset, text="refused again")
    # A second STOP (or the upstream resending the first) is confirmed no more.
    assert mo(up, "stop2", handset, reg, "STOP") == ROK
    time.sleep(0.5)
    assert len(up.seen("submit_sm", destination_addr=handset, text=STOPPED)) == 1
    # Readable through the API, and the customer was told.
    outs = api.admin.get("/api/v1/opt-outs?customer_id=" + cid).json()["data"]
    assert [(o["number"], o["recipient"], o["source"], o["keyword"]) for o in outs] == [
        ("+" + reg, "+" + handset, "keyword", "STOP")]
    ev = api.rows("SELECT data FROM message_events WHERE customer_id = ? AND type = ?", cid,
                  "message.opt_out")
    assert len(ev) == 1 and '"recipient":"+%s"' % handset in ev[0]["data"]
    # The MO itself is kept for the customer as every MO is.
    assert api.count("inbound_messages", "number = ?", "+" + reg) == 2

    assert mo(up, "start", handset, reg, "start") == ROK
    up.wait("submit_sm", destination_addr=handset, text=STARTED)
    assert status_soon(e, reg, handset, "after start", ROK) == ROK
    assert api.admin.get("/api/v1/opt-outs?customer_id=" + cid).json()["data"] == []


def test_help_is_answered_with_the_campaign_text(api, peers):
    upstream, _ = peers
    up = upstream()
    cid, _, reg, _, _ = provision(api, up)
    up.wait("bind")
    assert mo(up, "help", "14155557777", reg, "HELP") == ROK
    got = up.wait("submit_sm", destination_addr="14155557777")
    assert got["source_addr"] == reg and got["text"] == HELP
    assert api.admin.get("/api/v1/opt-outs?customer_id=" + cid).json()["data"] == []
    # An ordinary MO is no keyword: nothing is sent back.
    assert mo(up, "chat", "14155557778", reg, "stop by the shop later?") == ROK
    time.sleep(0.5)
    assert not up.seen("submit_sm", destination_addr="14155557778")


def test_url_shortener_refused_with_the_rule_named(api, peers):
    upstream, esme = peers
    up = upstream()
    cid, sid, reg, _, _ = provision(api, up)
    up.wait("bind")
    e = esme()
    assert e.bind(sid, "pw") == ROK
    before = refusals(api, "url_shortener")
    assert submit(e, reg, "14155550020", "Your code: https://bit.ly/3xYz") == CONTENT
    r = send_http(api, cid, reg, "14155550021", "Track it at www.TinyURL.com/abc")
    assert_error(r, 422, "content_refused", "/text")
    assert "url_shortener" in r.json()["errors"][0]["detail"]
    assert refusals(api, "url_shortener") == before + 2
    # A link to the brand's own site passes; so does bit.ly to a non-US number.
    assert submit(e, reg, "14155550022", "See https://acme.example/t/1") == ROK
    up.wait("submit_sm", destination_addr="14155550022")
    assert api.count("messages", "destination IN (?, ?)", "14155550020", "14155550021") == 0


def test_replace_sm_meets_the_content_rules_too(api, peers):
    upstream, esme = peers
    up = upstream()
    cid, sid, reg, _, _ = provision(api, up)
    up.wait("bind")
    e = esme()
    assert e.bind(sid, "pw") == ROK
    # Scheduled ten minutes ahead, so it still waits when it is replaced.
    r = e.submit(source_addr=reg, source_addr_ton=1, source_addr_npi=1,
                 destination_addr="14155550040", short_message="clean text", data_coding=0,
                 schedule_delivery_time="000000001000000R")
    assert r["command_status"] == ROK
    tag = "rp-%d" % len(e.events)
    e.send(cmd="pdu", command="replace_sm", tag=tag, fields={
        "message_id": r["message_id"], "source_addr": reg, "source_addr_ton": 1,
        "source_addr_npi": 1, "short_message": "now with https://bit.ly/x"})
    assert e.wait("replace_sm_resp", tag=tag)["command_status"] == CONTENT
    body = api.rows("SELECT body FROM messages WHERE id = ?", "msg_" + r["message_id"])[0]["body"]
    assert bytes.fromhex(body) == b"clean text"
    tag = "rp-%d" % len(e.events)
    e.send(cmd="pdu", command="replace_sm", tag=tag, fields={
        "message_id": r["message_id"], "source_addr": reg, "source_addr_ton": 1,
        "source_addr_npi": 1, "short_message": "still clean"})
    assert e.wait("replace_sm_resp", tag=tag)["command_status"] == ROK


def test_keyword_rules_refuse_or_tag(api, peers):
    upstream, esme = peers
    up = upstream()
    cid, sid, reg, _, _ = provision(api, up)
    name = "cannabis" + uuid.uuid4().hex[:4]
    api.admin.create("/api/v1/content-rules", {"name": name, "category": "cannabis",
                                               "match": "keyword", "patterns": ["CBD oil", "thc"]})
    api.admin.create("/api/v1/content-rules", {"name": name + "-tag", "match": "keyword",
                                               "patterns": ["loan"], "action": "tag"})
    time.sleep(0.5)
    r = send_http(api, cid, reg, "14155550030", "Fresh cbd   OIL in stock!")
    assert_error(r, 422, "content_refused", "/text")
    assert name in r.json()["errors"][0]["detail"]
    assert send_http(api, cid, reg, "14155550031", "methcathinone is a word, not thc-free")\
        .status == 422  # "thc" stands alone before '-'
    assert send_http(api, cid, reg, "14155550032", "thcx is not the word").status == 202
    assert send_http(api, cid, reg, "14155550033", "a loan offer").status == 202
    text = api.warp.get("/metrics").body.decode()
    assert re.search(r'^warp_tendlc_tags_total\{rule="%s-tag"\} 1$' % name, text, re.M)


def test_registration_api_rules(api):
    cid, client = api.tenant()
    nid, _ = number(api, cid)
    brand = client.post("/api/v1/brands", {"legal_name": "Self Inc", "ein": "123456789",
                                           "vertical": "TECHNOLOGY"})
    assert brand.status == 201 and brand.json()["data"]["status"] == "pending"
    bid = brand.json()["data"]["id"]
    # What the registry decides is the operator's to set.
    assert_error(client.patch("/api/v1/brands/" + bid, {"status": "verified"}), 403, "forbidden",
                 "/status")
    assert_error(client.post("/api/v1/brands", {"legal_name": "x", "ein": "1234-5678", "vertical":
                                                "x"}), 422, "invalid_ein", "/ein")
    cmp = client.post("/api/v1/campaigns", {"brand_id": bid, "use_case": "MARKETING",
                                            "help_text": HELP, "opt_out_text": STOPPED})
    assert cmp.status == 201 and cmp.json()["data"]["status"] == "pending"
    assert_error(client.post("/api/v1/campaigns", {"brand_id": bid, "use_case": "M",
                                                   "help_text": "h", "opt_out_text": "s",
                                                   "status": "active"}), 403, "forbidden",
                 "/status")
    c1 = cmp.json()["data"]["id"]
    r = client.post("/api/v1/campaigns/%s/numbers" % c1, {"number_id": nid})
    assert r.status == 201, r.body
    # Exactly one campaign per number.
    c2 = campaign(api, cid)["id"]
    assert bind_number(api, cid, c2, nid).status == 409
    # The cap: a campaign of max_numbers 1 takes no second number.
    c3 = campaign(api, cid, max_numbers=1)["id"]
    n2, _ = number(api, cid)
    n3, _ = number(api, cid)
    assert bind_number(api, cid, c3, n2).status == 201
    assert_error(bind_number(api, cid, c3, n3), 422, "campaign_full", "/number_id")
    # Only US long codes bind.
    uk = api.admin.create("/api/v1/numbers", {"e164": "+447700900%03d" % (
        int(uuid.uuid4().hex[:4], 16) % 1000), "customer_id": cid})["id"]
    assert_error(bind_number(api, cid, c2, uk), 422, "not_us_long_code", "/number_id")
    # Another customer sees none of it.
    _, stranger = api.tenant()
    assert stranger.get("/api/v1/campaigns/" + c1).status == 404
    assert stranger.get("/api/v1/campaigns/%s/numbers" % c1).status == 404


def test_opt_outs_imported_from_csv_are_refused(api, peers):
    upstream, _ = peers
    up = upstream()
    cid, _, reg, _, _ = provision(api, up)
    bad = api.admin.request("POST", "/api/v1/opt-out-imports?customer_id=" + cid,
                            body=b"number,recipient\n+%s,+14155559000\n%s,not-a-number\n" % (
                                reg.encode(), reg.encode()), headers={"Content-Type": "text/csv"})
    assert bad.status == 422, bad.body
    assert [e["source"]["line"] for e in bad.json()["errors"]] == [3]
    assert bad.json()["meta"] == {"total": 1, "shown": 1}
    assert api.count("opt_outs", "customer_id = ?", cid) == 0
    good = api.admin.request("POST", "/api/v1/opt-out-imports?customer_id=" + cid,
                             body=b"number,recipient\r\n+%s,+14155559000\r\n%s,14155559001\r\n\r\n"
                             % (reg.encode(), reg.encode()), headers={"Content-Type": "text/csv"})
    assert good.status == 200, good.body
    assert good.json()["data"] == {"rows": 2, "imported": 2}
    time.sleep(0.5)
    assert_error(send_http(api, cid, reg, "14155559001", "imported"), 422, "opted_out", "/to")
    assert send_http(api, cid, reg, "14155559002", "not opted out").status == 202
    # Deleting the opt-out lets the handset receive again.
    oid = [o["id"] for o in api.admin.get("/api/v1/opt-outs?customer_id=" + cid).json()["data"]
           if o["recipient"] == "+14155559001"][0]
    assert api.admin.delete("/api/v1/opt-outs/" + oid).status in (200, 204)
    time.sleep(0.5)
    assert send_http(api, cid, reg, "14155559001", "again").status == 202


@pytest.fixture(scope="module", params=["sqlite"])
def brand_api(request, tmp_path_factory):
    """A second warp whose opt-outs stop a whole brand."""
    # Its webhook dispatcher runs, polling fast, allowed to reach loopback.
    yield from running_env(request, tmp_path_factory, roles="api,smsc",
                           env={"WARP_TENDLC_OPT_OUT_SCOPE": "brand",
                                "WARP_WEBHOOKS_ENABLED": "true", "WARP_WEBHOOKS_POLL": "20ms",
                                "WARP_WEBHOOKS_ALLOW_PRIVATE": "true"})


def test_brand_wide_stop_refuses_every_number_of_the_brand(brand_api):
    api = brand_api
    up = smppfix.UpstreamSmsc()
    rx = Receiver()
    e = None
    try:
        cid, sid, a, _, cmp = provision(api, up)
        api.admin.create("/api/v1/webhooks", {"customer_id": cid, "url": rx.url,
                                              "secret": SECRET,
                                              "event_types": ["message.opt_out",
                                                              "message.opt_in"]})
        brand = api.admin.get("/api/v1/brands/" + cmp["brand_id"]).json()["data"]
        sibling = campaign(api, cid, brand=brand)
        nid, b = number(api, cid)
        assert bind_number(api, cid, sibling["id"], nid).status == 201
        b = b[1:]
        time.sleep(0.5)
        up.wait("bind")
        e = smppfix.Esme(int(api.warp.env["WARP_SMSC_LISTEN"].rsplit(":", 1)[1]))
        e.wait("connected")
        assert e.bind(sid, "pw", "transmitter") == ROK
        handset = "14155552468"
        assert mo(up, "stop", handset, a, "STOP") == ROK
        up.wait("submit_sm", destination_addr=handset, text=STOPPED)
        # The other campaign's number of the same brand may not reach it either.
        assert status_soon(e, b, handset, "from the sibling", OPTED_OUT) == OPTED_OUT
        assert_error(send_http(api, cid, b, handset, "over http"), 422, "opted_out", "/to")
        assert submit(e, b, "14155552469", "another handset") == ROK
        # The customer is told, by a signed webhook.
        reqs = rx.wait_for(lambda rs: any(r["headers"].get("warp-event-type") ==
                                          "message.opt_out" for r in rs))
        req = [r for r in reqs if r["headers"].get("warp-event-type") == "message.opt_out"][0]
        assert valid_signature(req)
        data = json.loads(req["body"])["data"]
        assert (data["number"], data["recipient"], data["keyword"], data["scope"],
                data["brand_id"]) == ("+" + a, "+" + handset, "STOP", "brand", brand["id"])
        # START to either number undoes it for the brand.
        assert mo(up, "start", handset, b, "Start") == ROK
        assert status_soon(e, a, handset, "back again", ROK) == ROK
        rx.wait_for(lambda rs: any(r["headers"].get("warp-event-type") == "message.opt_in"
                                   for r in rs))
    finally:
        rx.close()
        for p in ([e] if e else []) + [up]:
            p.stop()
        for c in api.admin.list_all("/api/v1/smpp-connectors"):
            if c["enabled"]:
                api.admin.patch("/api/v1/smpp-connectors/" + c["id"], {"enabled": False})
