"""The sip role's transport and stateless answers, against the real binary:
UDP, TCP and IPv6 listeners, RFC 3581 received/rport on the answers, 403
for sources the policy does not know, 400 with a Warning for a request
that cannot be parsed, and the parse-error metric."""
import socket
import time

import pytest

from conftest import http
from sipfix import sip_port, wait_sip_listening

OPTIONS = ("OPTIONS sip:{host}:{port} SIP/2.0\r\n"
           "Via: SIP/2.0/{tp} {host}:5999;branch=z9hG4bK{branch};rport\r\n"
           "From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\n"
           "Call-ID: {branch}@test\r\nCSeq: {cseq} OPTIONS\r\nMax-Forwards: 70\r\n"
           "Content-Length: 0\r\n\r\n")


@pytest.fixture
def sipwarp(warp_factory):
    port = sip_port()
    w = warp_factory(extra_ini="\n[sip]\nlisten = 127.0.0.1:%d\nlisten_also = [::1]:%d\nthreads = 2\n"
                     % (port, port), args=["--roles", "api,sip"])
    w.sip_port = port
    w.start()
    # /healthz answers before the sip role has bound its sockets: a datagram
    # sent then is lost (the ASan build is slow enough to show it).
    wait_sip_listening(port)
    yield w
    rc, _ = w.stop()
    assert rc == 0, "warp exited %s on SIGTERM: %s" % (rc, w.stderr()[-3000:])


def udp_ask(msg, port, fam=socket.AF_INET, host="127.0.0.1"):
    with socket.socket(fam, socket.SOCK_DGRAM) as s:
        s.settimeout(3)
        s.bind((host, 0))
        s.sendto(msg.encode(), (host, port))
        data = s.recv(65535).decode()
        return data, s.getsockname()[1]


def status(resp):
    return int(resp.split(" ", 2)[1])


def header(resp, name):
    for line in resp.split("\r\n")[1:]:
        if line.lower().startswith(name.lower() + ":"):
            return line.split(":", 1)[1].strip()
    return None


def test_udp_unknown_source_gets_403_with_reason_and_rport(sipwarp):
    msg = OPTIONS.format(host="127.0.0.1", port=sipwarp.sip_port, tp="UDP", branch="u1", cseq=1)
    resp, myport = udp_ask(msg, sipwarp.sip_port)
    assert status(resp) == 403
    assert "unknown source" in header(resp, "Reason")
    via = header(resp, "Via")
    assert "received=127.0.0.1" in via and "rport=%d" % myport in via


def test_ipv6_listener_answers(sipwarp):
    msg = OPTIONS.format(host="[::1]", port=sipwarp.sip_port, tp="UDP", branch="v6", cseq=1)
    resp, _ = udp_ask(msg, sipwarp.sip_port, socket.AF_INET6, "::1")
    assert status(resp) == 403
    assert "received=::1" in header(resp, "Via")


def test_tcp_listener_frames_by_content_length(sipwarp):
    msg = OPTIONS.format(host="127.0.0.1", port=sipwarp.sip_port, tp="TCP", branch="t1", cseq=1)
    with socket.create_connection(("127.0.0.1", sipwarp.sip_port), timeout=3) as s:
        # Two messages in one write, then a keep-alive: each framed alone.
        s.sendall((msg + msg.replace("branch=z9hG4bKt1", "branch=z9hG4bKt2") + "\r\n\r\n").encode())
        data = b""
        while data.count(b"SIP/2.0 403") < 2:
            chunk = s.recv(65535)
            assert chunk, "connection closed early"
            data += chunk
    assert data.count(b"SIP/2.0 403") == 2


def test_tcp_double_crlf_ping_gets_a_crlf_pong(sipwarp):
    """RFC 5626 §3.5.1: a client's double-CRLF keep-alive is answered with a
    single CRLF, also when the ping arrives in two writes; a lone CRLF (a
    pong) gets nothing."""
    with socket.create_connection(("127.0.0.1", sipwarp.sip_port), timeout=3) as s:
        s.sendall(b"\r\n\r\n")
        assert s.recv(16) == b"\r\n"
        s.sendall(b"\r\n")
        time.sleep(0.1)
        s.sendall(b"\r\n")
        assert s.recv(16) == b"\r\n"
        s.sendall(b"\r\n")
        s.settimeout(0.3)
        with pytest.raises(socket.timeout):
            s.recv(16)


def test_malformed_request_gets_400_with_warning(sipwarp):
    msg = OPTIONS.format(host="127.0.0.1", port=sipwarp.sip_port, tp="UDP", branch="m1", cseq="x")
    resp, _ = udp_ask(msg, sipwarp.sip_port)
    assert status(resp) == 400
    assert header(resp, "Warning").startswith("399 warp")
    metrics = http("GET", sipwarp.base + "/metrics").body.decode()
    assert "warp_sip_parse_errors_total 1" in metrics


def test_unparseable_garbage_is_dropped_and_counted(sipwarp):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.5)
        s.sendto(b"this is not SIP\r\n\r\n", ("127.0.0.1", sipwarp.sip_port))
        with pytest.raises(socket.timeout):
            s.recv(100)
    metrics = http("GET", sipwarp.base + "/metrics").body.decode()
    assert "warp_sip_parse_errors_total 1" in metrics


def test_requests_counted_by_method(sipwarp):
    msg = OPTIONS.format(host="127.0.0.1", port=sipwarp.sip_port, tp="UDP", branch="c1", cseq=1)
    udp_ask(msg, sipwarp.sip_port)
    metrics = http("GET", sipwarp.base + "/metrics").body.decode()
    assert 'warp_sip_requests_total{method="OPTIONS"} 1' in metrics
    assert 'warp_sip_responses_total{code="403"} 1' in metrics
