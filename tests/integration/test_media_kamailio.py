"""Debian's Kamailio, with its rtpengine module, driving WARP's media relay
over ng: SIPp caller -> Kamailio -> SIPp callee on loopback, RTP played by the
caller to the address the relayed SDP names and echoed by the callee.

Kamailio runs a minimal configuration written by the test: record-route,
rtpengine_manage() on requests and replies (offer on the INVITE, answer on
the 200 OK, delete on the BYE), stateless forwarding to the callee.  It is
started in the foreground with its own runtime folder, in a session of its
own, and stopped by its PID (its process group, so that no worker lingers).

Skipped when kamailio is not installed (scripts/install-deps --test)."""
import os
import re
import shutil
import signal
import socket
import subprocess
import time

import pytest

from conftest import rtp_ports
from sipfix import Sipp, scenario, shared_scenario, sip_port, sipp_media_port
from test_media_ng import media  # noqa: F401 (fixture)

KAMAILIO = shutil.which("kamailio") or "/usr/sbin/kamailio"
MODULES = "/usr/lib/x86_64-linux-gnu/kamailio/modules"

pytestmark = pytest.mark.skipif(
    not os.path.exists(KAMAILIO) or not os.path.exists(os.path.join(MODULES, "rtpengine.so")),
    reason="kamailio with its rtpengine module not installed")

CFG = """#!KAMAILIO
debug=2
log_stderror=yes
children=1
auto_aliases=no
listen=udp:127.0.0.1:{port}
mpath="{modules}"

loadmodule "pv.so"
loadmodule "textops.so"
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "rr.so"
loadmodule "rtpengine.so"
modparam("rtpengine", "rtpengine_sock", "udp:127.0.0.1:{ng}")

request_route {{
    if (is_method("INVITE|ACK|BYE|CANCEL")) {{
        rtpengine_manage();
    }}
    if (loose_route()) {{
        forward();
        exit;
    }}
    record_route();
    $du = "sip:127.0.0.1:{uas}";
    forward();
}}

onreply_route {{
    if (status =~ "^(18[03]|2[0-9][0-9])$") {{
        rtpengine_manage();
    }}
}}
"""


class Kamailio:
    def __init__(self, tmp, ng_port, uas_port):
        self.dir = tmp / "kamailio"
        self.dir.mkdir(exist_ok=True)
        self.port = sip_port()
        self.cfg = self.dir / "kamailio.cfg"
        self.cfg.write_text(CFG.format(port=self.port, modules=MODULES, ng=ng_port, uas=uas_port))
        self.err = self.dir / "stderr"
        self.proc = None

    def start(self):
        check = subprocess.run([KAMAILIO, "-c", "-f", str(self.cfg)], capture_output=True,
                               text=True, timeout=20)
        assert check.returncode == 0, check.stdout + check.stderr
        self.proc = subprocess.Popen(
            [KAMAILIO, "-DD", "-E", "-f", str(self.cfg), "-Y", str(self.dir),
             "-P", str(self.dir / "kamailio.pid"), "-w", str(self.dir)],
            stdout=subprocess.DEVNULL, stderr=open(self.err, "wb"), stdin=subprocess.DEVNULL,
            start_new_session=True)
        self._wait_listening()
        return self

    def _wait_listening(self, timeout=10):
        """Kamailio binds its socket before it forks the workers that read it;
        a moment after the port is taken they are up."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("kamailio exited: %s" % self.stderr())
            if self._bound():
                time.sleep(0.3)
                return
            time.sleep(0.1)
        raise AssertionError("kamailio did not start: %s" % self.stderr())

    def _bound(self):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind(("127.0.0.1", self.port))
                return False
            except OSError:
                return True

    def stderr(self):
        return self.err.read_text(errors="replace")[-4000:]

    def stop(self):
        """Kamailio's workers are its children in a session of its own
        (start_new_session): the whole group is stopped, so that no worker
        outlives its main process on a slow machine."""
        if not self.proc:
            return
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if self.proc.poll() is None:
            self.proc.wait()


def metric(text, name, **labels):
    """The value of one sample of the Prometheus text, 0 when absent."""
    want = ",".join('%s="%s"' % kv for kv in sorted(labels.items()))
    for line in text.splitlines():
        m = re.match(r"^%s(?:\{([^}]*)\})? (\S+)$" % re.escape(name), line)
        if m and ",".join(sorted((m.group(1) or "").split(","))) == want:
            return float(m.group(2))
    return 0.0


@pytest.fixture
def call_through_kamailio(media, tmp_path):  # noqa: F811 (fixture)
    lo, hi = rtp_ports(100)
    w = media(port_min=lo, port_max=hi)
    uas_port = sip_port()
    k = Kamailio(tmp_path, w.ng.addr[1], uas_port).start()
    uas = Sipp(tmp_path, "uas", shared_scenario("uas_rr.xml"), uas_port,
               extra=["-rtp_echo", "-mp", str(sipp_media_port())]).start()
    uac = Sipp(tmp_path, "uac", scenario("media_uac.xml"), sip_port(),
               remote="127.0.0.1:%d" % k.port, service="15551234567",
               extra=["-mp", str(sipp_media_port())]).start()
    try:
        rc_uac = uac.wait(timeout=30)
        rc_uas = uas.wait(timeout=30)
        yield {"warp": w, "lo": lo, "uac": uac, "uas": uas, "rc": (rc_uac, rc_uas),
               "kamailio": k}
    finally:
        uac.stop()
        uas.stop()
        k.stop()


def test_sipp_call_through_kamailio_completes(call_through_kamailio):
    c = call_through_kamailio
    assert c["rc"] == (0, 0), "%s\n%s\n%s" % (
        c["uac"].describe(), c["uas"].describe(), c["kamailio"].stderr())


def test_kamailio_drove_offer_answer_delete_over_ng(call_through_kamailio):
    text = call_through_kamailio["warp"].get("/metrics").body.decode()
    for cmd in ("offer", "answer", "delete"):
        assert metric(text, "warp_media_ng_commands_total", command=cmd, result="ok") >= 1, \
            (cmd, [ln for ln in text.splitlines() if "ng_commands" in ln])


def test_rtp_relayed_end_to_end(call_through_kamailio):
    text = call_through_kamailio["warp"].get("/metrics").body.decode()
    got_in = metric(text, "warp_media_packets_total", dir="in")
    got_out = metric(text, "warp_media_packets_total", dir="out")
    # The caller's audio reaches the callee, which echoes it back through the relay.
    assert got_in > 20 and got_out > 20, (got_in, got_out)


def test_callee_sees_relay_address_and_port(call_through_kamailio):
    c = call_through_kamailio
    invites = [m for m in c["uas"].messages(True) if m.startswith("INVITE ")]
    assert invites, c["uas"].describe()
    body = invites[0]
    assert "c=IN IP4 127.0.0.1" in body
    port = int(re.search(r"^m=audio (\d+) ", body, re.M).group(1))
    assert c["lo"] <= port <= c["lo"] + 99, body
    ok = [m for m in c["uac"].messages(True) if m.startswith("SIP/2.0 200") and "m=audio" in m]
    assert ok, c["uac"].describe()
    port = int(re.search(r"^m=audio (\d+) ", ok[0], re.M).group(1))
    assert c["lo"] <= port <= c["lo"] + 99, ok[0]
