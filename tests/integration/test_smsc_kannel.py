"""Kannel (Debian's bearerbox and smsbox) as a customer's ESME: it binds to
WARP's SMPP server as a transceiver with an SMPP account's credentials, a
message sent through its HTTP sendsms interface reaches WARP, is stored, and
goes on to the upstream (the npm smpp server) with the same text.  Kannel is
started on loopback with its own configuration and stopped by its PID."""
import os
import signal
import subprocess
import time
import urllib.parse
import urllib.request
import uuid

import pytest

import smppfix
from conftest import free_port

pytest.register_assert_rewrite("apiclient")
from apiclient import running_env  # noqa: E402

pytest_plugins = ["apiclient"]

BEARERBOX, SMSBOX = "/usr/sbin/bearerbox", "/usr/sbin/smsbox"


@pytest.fixture(scope="module", params=["sqlite"])
def api(request, tmp_path_factory):
    yield from running_env(request, tmp_path_factory, roles="api,smsc")


def kannel_conf(tmp, smsc_port, system_id, ports):
    return """group = core
admin-port = {admin}
admin-password = adm
smsbox-port = {box}
box-allow-ip = 127.0.0.1
log-file = "{tmp}/bearerbox.log"
log-level = 1
store-type = file
store-location = "{tmp}/store"

group = smsc
smsc = smpp
smsc-id = warp
host = 127.0.0.1
port = {smsc}
transceiver-mode = true
smsc-username = {sid}
smsc-password = pw
system-type = ""
enquire-link-interval = 30

group = smsbox
bearerbox-host = 127.0.0.1
sendsms-port = {send}
log-file = "{tmp}/smsbox.log"
log-level = 1

group = sendsms-user
username = tester
password = secret
""".format(tmp=tmp, smsc=smsc_port, sid=system_id, **ports)


def get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read().decode(errors="replace")


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            got = pred()
            if got:
                return got
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError("no %s within %ds" % (what, timeout))


@pytest.fixture
def kannel(api, tmp_path):
    for exe in (BEARERBOX, SMSBOX):
        assert os.access(exe, os.X_OK), "%s is missing: run scripts/install-deps --test" % exe
    procs = []

    def start(system_id):
        ports = {"admin": free_port(), "box": free_port(), "send": free_port()}
        conf = tmp_path / "kannel.conf"
        smsc_port = int(api.warp.env["WARP_SMSC_LISTEN"].rsplit(":", 1)[1])
        conf.write_text(kannel_conf(tmp_path, smsc_port, system_id, ports))
        for exe in (BEARERBOX, SMSBOX):
            procs.append(subprocess.Popen([exe, str(conf)], stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL, cwd=str(tmp_path)))
            time.sleep(0.3)  # smsbox connects to the bearerbox it follows
        ports["status"] = "http://127.0.0.1:%d/status.txt?password=adm" % ports["admin"]
        return ports

    yield start
    for p in reversed(procs):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def test_kannel_binds_and_its_sendsms_reaches_the_upstream(api, kannel):
    up = smppfix.UpstreamSmsc()
    try:
        carrier = smppfix.carrier_with_connector(api, up.port)
        smppfix.route(api, "4477", [carrier])
        sid = "kan" + uuid.uuid4().hex[:8]
        api.admin.create("/api/v1/smpp-accounts", {
            "customer_id": api.customer(), "system_id": sid, "password": "pw",
            "allowed_cidrs": ["127.0.0.1/32"], "throughput": 1000})
        up.wait("bind", timeout=10)
        time.sleep(0.5)  # the smsc's account snapshot
        ports = kannel(sid)
        # Kannel reports its SMSC connection "online" once WARP accepted the bind.
        wait_for(lambda: "online" in get(ports["status"])[1], 20, "Kannel bind to WARP")
        query = urllib.parse.urlencode({"username": "tester", "password": "secret",
                                        "from": "15550100", "to": "447700900555",
                                        "text": "hello from kannel"})
        status, body = wait_for(lambda: get("http://127.0.0.1:%d/cgi-bin/sendsms?%s"
                                            % (ports["send"], query)), 10, "sendsms answer")
        assert status == 202 and "Accepted" in body, (status, body)
        got = up.wait("submit_sm", timeout=15, destination_addr="447700900555")
        assert got["text"] == "hello from kannel" and got["source_addr"] == "15550100"
        # Stored under Kannel's account; the upstream's receipt makes it final.
        rows = wait_for(lambda: [r for r in api.rows(
            "SELECT state, smpp_account_id FROM messages WHERE destination = ?", "447700900555")
            if r["state"] == "delivered"], 10, "the delivered state")
        assert len(rows) == 1, rows
    finally:
        up.stop()
