"""Request size limits of the HTTP server, seen on the wire by a raw socket.

A body announced over [http] max_body answers 413, a chunked body too large
413, a Content-Length that is not digits 400, and a head over
[http] max_headers answers 431 (RFC 6585 §5), all with the JSON error body
of docs/openapi.yaml, an X-Request-Id and Connection: close, before the body is read
and however slowly the request arrives.  A request under the limits is
served, also as the second request on a kept-alive connection.  And an
encoded slash inside a path segment is data, not a separator.

A malformed head gets the same JSON refusal, never libevent's HTML page:
400 for a broken request line, a field line that is not "name: value"
(including a space before the colon), a control character in a value, a
folded field, a missing or repeated Host, or a target that is not a URI;
501 for a method the server does not implement; 505 for HTTP/2.0 and up.

A body framed ambiguously (RFC 9112 §6.3: two Content-Length fields with
differing values, Content-Length with Transfer-Encoding, two
Transfer-Encoding fields, identity, chunked not last) is refused with 400
and the connection closed, so nothing smuggled in its body is served as a
second request; a transfer coding other than chunked is 501.  A chunk
size that is not hex digits ("zz", "-5") or has more than 16 of them, or
chunk data not followed by CRLF, is 400 in JSON too (RFC 9112 §7.1);
chunk extensions (§7.1.1) are accepted and ignored.  Identical
repeated Content-Length fields are one length and served.
"""
import json
import select
import socket
import time

import pytest

pytest.register_assert_rewrite("apiclient")
from apiclient import ADMIN_TOKEN, API_INI  # noqa: E402
from conftest import http  # noqa: E402

MAX_BODY = 4096
MAX_HEADERS = 2048
AUTH = {"Authorization": "Bearer " + ADMIN_TOKEN}


@pytest.fixture(scope="module")
def lw(tmp_path_factory):
    """One api-only warp with small limits for every test of this file."""
    from conftest import Warp
    w = Warp(tmp_path_factory.mktemp("httplim"), extra_ini=API_INI,
             env={"WARP_ADMIN_TOKEN": ADMIN_TOKEN, "WARP_HTTP_MAX_BODY": str(MAX_BODY),
                  "WARP_HTTP_MAX_HEADERS": str(MAX_HEADERS), "WARP_HTTP_REQUEST_TIMEOUT": "3s"})
    w.start()
    yield w
    rc, _ = w.stop()
    assert rc == 0, w.stderr()[-4000:]


def connect(w):
    s = socket.create_connection(("127.0.0.1", w.port), timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_response(s, timeout=5.0):
    """One response: (status, {lower-case header: value}, body bytes)."""
    deadline = time.monotonic() + timeout
    data = b""
    while b"\r\n\r\n" not in data:
        assert time.monotonic() < deadline, "no response head: %r" % data
        chunk = s.recv(65536)
        assert chunk, "closed before a response head: %r" % data
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        name, value = line.split(":", 1)
        headers[name.strip().lower()] = value.strip()
    want = int(headers.get("content-length", "0"))
    while len(body) < want:
        assert time.monotonic() < deadline, "body cut short"
        chunk = s.recv(65536)
        assert chunk, "closed before the whole body"
        body += chunk
    return status, headers, body[:want]


def assert_closed(s, timeout=3.0):
    """The server closes after its answer."""
    s.settimeout(timeout)
    assert s.recv(1) == b""


def assert_json_refusal(resp, status, code):
    st, h, body = resp
    assert st == status, (st, h, body)
    assert h["content-type"].startswith("application/json"), h
    assert h.get("x-request-id"), h
    assert h.get("connection", "").lower() == "close", h
    err = json.loads(body)["errors"][0]
    assert err["code"] == code and err["title"] and err["detail"], err


def send_slowly(s, data, step, pause):
    """Sends data in pieces until done or until the server has answered."""
    for i in range(0, len(data), step):
        if select.select([s], [], [], 0)[0]:
            return
        try:
            s.sendall(data[i:i + step])
        except OSError:
            return
        time.sleep(pause)


def post_head(length, path="/api/v1/customers"):
    return ("POST %s HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer %s\r\n"
            "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
            % (path, ADMIN_TOKEN, length)).encode()


def test_content_length_over_limit_answers_413_json(lw):
    with connect(lw) as s:
        s.sendall(post_head(MAX_BODY + 1))
        assert_json_refusal(read_response(s), 413, "payload_too_large")
        assert_closed(s)


def test_slow_body_over_limit_answers_413_json_without_waiting(lw):
    t0 = time.monotonic()
    with connect(lw) as s:
        send_slowly(s, post_head(MAX_BODY * 4), 7, 0.01)
        send_slowly(s, b" " * (MAX_BODY * 4), 64, 0.05)
        assert_json_refusal(read_response(s), 413, "payload_too_large")
        assert_closed(s)
    # Answered on the head, not after the 3 s request deadline.
    assert time.monotonic() - t0 < 2.5


def test_headers_over_limit_answer_431_json(lw):
    with connect(lw) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Pad: " + b"a" * MAX_HEADERS + b"\r\n\r\n")
        assert_json_refusal(read_response(s), 431, "header_fields_too_large")
        assert_closed(s)


def test_request_line_over_limit_answers_414_json(lw):
    with connect(lw) as s:
        s.sendall(b"GET /api/v1/customers?q=" + b"x" * MAX_HEADERS + b" HTTP/1.1\r\nHost: t\r\n\r\n")
        assert_json_refusal(read_response(s), 414, "uri_too_long")
        assert_closed(s)


def test_many_small_headers_over_limit_answer_431_json(lw):
    pad = b"".join(b"X-P%d: %s\r\n" % (i, b"b" * 40) for i in range(60))
    with connect(lw) as s:
        send_slowly(s, b"GET /healthz HTTP/1.1\r\nHost: t\r\n" + pad + b"\r\n", 200, 0.01)
        assert_json_refusal(read_response(s), 431, "header_fields_too_large")


def test_request_just_under_the_limits_is_served(lw):
    name = json.dumps({"name": "Acme"}).encode()
    body = name[:-1] + b" " * (MAX_BODY - len(name)) + b"}"
    head = post_head(len(body))
    pad = MAX_HEADERS - len(head) - len(b"X-Pad: \r\n") - 16
    head = head[:-2] + b"X-Pad: " + b"p" * pad + b"\r\n\r\n"
    assert MAX_HEADERS - 32 < len(head) <= MAX_HEADERS
    with connect(lw) as s:
        s.sendall(head + body)
        st, h, resp = read_response(s)
    assert st == 201, resp
    assert json.loads(resp)["data"]["name"] == "Acme"


def chunked_head(path="/api/v1/customers"):
    return ("POST %s HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer %s\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
            % (path, ADMIN_TOKEN)).encode()


def chunks(data, size):
    return b"".join(b"%x\r\n%s\r\n" % (len(data[i:i + size]), data[i:i + size])
                    for i in range(0, len(data), size)) + b"0\r\n\r\n"


def test_chunked_body_far_over_limit_answers_413_json(lw):
    # Past 1.5 x max_body evhttp would answer with its own HTML page.
    with connect(lw) as s:
        send_slowly(s, chunked_head() + chunks(b" " * (MAX_BODY * 3), 512), 1024, 0.005)
        resp = read_response(s)
        assert_json_refusal(resp, 413, "payload_too_large")
        assert "chunked" in json.loads(resp[2])["errors"][0]["detail"]
        assert_closed(s)


def test_chunked_body_under_limit_is_served(lw):
    name = json.dumps({"name": "Chunked"}).encode()
    body = name[:-1] + b" " * (MAX_BODY - 200) + b"}"
    with connect(lw) as s:
        s.sendall(chunked_head() + chunks(body, 100))
        st, h, resp = read_response(s)
    assert st == 201, resp
    assert json.loads(resp)["data"]["name"] == "Chunked"


@pytest.mark.parametrize("value", ["12abc", "-1", "0x10", ""])
def test_content_length_not_digits_answers_400_json(lw, value):
    with connect(lw) as s:
        s.sendall(post_head(0).replace(b"Content-Length: 0", b"Content-Length: " + value.encode()))
        resp = read_response(s)
        assert_json_refusal(resp, 400, "bad_request")
        assert_closed(s)


def test_second_request_on_a_kept_alive_connection_is_checked(lw):
    with connect(lw) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        st, h, _ = read_response(s)
        assert st == 200 and h.get("connection", "").lower() != "close"
        s.sendall(post_head(MAX_BODY + 1))
        assert_json_refusal(read_response(s), 413, "payload_too_large")
        assert_closed(s)


def test_refusals_are_counted_in_metrics(lw):
    with connect(lw) as s:
        s.sendall(post_head(MAX_BODY * 2))
        read_response(s)
    text = lw.get("/metrics").body.decode()
    assert 'warp_http_requests_total{method="UNKNOWN",code="413"}' in text


def test_encoded_slash_is_not_a_path_separator(lw):
    r = http("POST", lw.base + "/api/v1/carriers", {"name": "up"}, headers=AUTH)
    assert r.status == 201, r.body
    cid = r.json()["data"]["id"]
    assert http("GET", lw.base + "/api/v1/carriers/%s/gateways" % cid, headers=AUTH).status == 200
    r = http("GET", lw.base + "/api/v1/carriers/%s%%2Fgateways" % cid, headers=AUTH)
    assert r.status == 404, r.body
    assert r.json()["errors"][0]["code"] == "not_found"


MALFORMED = [
    (b"garbage\r\n\r\n", 400, "method target version"),
    (b"GET /healthz\r\nHost: t\r\n\r\n", 400, "method target version"),
    (b"GET  /healthz HTTP/1.1\r\nHost: t\r\n\r\n", 400, "request target"),
    (b"GET /he alth HTTP/1.1\r\nHost: t\r\n\r\n", 400, "HTTP version"),
    (b"GET /healthz HTTX/1.1\r\nHost: t\r\n\r\n", 400, "HTTP version"),
    (b"GET /healthz HTTP/1.1\r\nHost: t\r\nbadline\r\n\r\n", 400, "name: value"),
    (b"GET /healthz HTTP/1.1\r\nHost : t\r\n\r\n", 400, "name: value"),
    (b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-A\x01: 1\r\n\r\n", 400, "name: value"),
    (b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-A: 1\r2\r\n\r\n", 400, "control character"),
    (b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-A: 1\r\n 2\r\n\r\n", 400, "obs-fold"),
    (b"GET /healthz HTTP/1.1\r\n\r\n", 400, "Host"),
    (b"GET /healthz HTTP/1.1\r\nHost: t\r\nHost: u\r\n\r\n", 400, "Host"),
    (b"GET http://[t/ HTTP/1.1\r\nHost: t\r\n\r\n", 400, "not a URI"),
    (b"FOO /healthz HTTP/1.1\r\nHost: t\r\n\r\n", 501, "method"),
    (b"TRACE / HTTP/1.1\r\nHost: t\r\n\r\n", 501, "method"),
    (b"GET /healthz HTTP/2.0\r\nHost: t\r\n\r\n", 505, "HTTP/1.0 and HTTP/1.1"),
]
CODES = {400: "bad_request", 501: "not_implemented", 505: "http_version_not_supported"}


@pytest.mark.parametrize("head,status,detail", MALFORMED,
                         ids=[str(i) for i in range(len(MALFORMED))])
def test_malformed_head_answers_json_not_html(lw, head, status, detail):
    with connect(lw) as s:
        s.sendall(head)
        resp = read_response(s)
        assert_json_refusal(resp, status, CODES[status])
        assert detail in json.loads(resp[2])["errors"][0]["detail"], resp
        assert_closed(s)


@pytest.mark.parametrize("head", [
    b"GET /healthz HTTP/1.0\r\n\r\n",  # no Host needed before 1.1
    b"GET /healthz HTTP/1.1\nHost: t\n\n",  # bare LF line ends
    b"\r\n\nGET /healthz HTTP/1.1\r\nHost: t\r\n\r\n",  # empty lines first (RFC 9112 2.2)
    b"GET http://t/healthz HTTP/1.1\r\nHost: t\r\n\r\n",  # absolute-form
    b"GET /healthz HTTP/1.1\r\nhOsT: t\r\nX-Tab:\tv\xe9\r\n\r\n",  # HTAB, obs-text
])
def test_well_formed_heads_are_served(lw, head):
    with connect(lw) as s:
        s.sendall(head)
        s.shutdown(socket.SHUT_WR)  # the reply then ends with the connection
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.split(b" ")[1] == b"200" and json.loads(body) == {"status": "ok"}, data


def read_all_after(s, timeout=3.0):
    """Whatever the server still sends before it closes."""
    s.settimeout(timeout)
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    return data


def two_lengths_head(first, second, path="/api/v1/customers"):
    return ("POST %s HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer %s\r\n"
            "Content-Type: application/json\r\nContent-Length: %d\r\nContent-Length: %d\r\n\r\n"
            % (path, ADMIN_TOKEN, first, second)).encode()


def test_differing_content_lengths_smuggling_an_inner_get_answer_400(lw):
    inner = b"GET /smuggled-inner HTTP/1.1\r\nHost: t\r\n\r\n"
    with connect(lw) as s:
        s.sendall(two_lengths_head(0, len(inner)) + inner)
        resp = read_response(s)
        assert_json_refusal(resp, 400, "bad_request")
        assert "differing" in json.loads(resp[2])["errors"][0]["detail"]
        # No second response: the inner GET is never served.
        assert read_all_after(s) == b""


def test_differing_content_lengths_create_nothing(lw):
    body = b'{"name":"Smug"}'
    assert len(body) == 15
    with connect(lw) as s:
        s.sendall(two_lengths_head(15, 5) + body)
        assert_json_refusal(read_response(s), 400, "bad_request")
        assert read_all_after(s) == b""
    r = http("GET", lw.base + "/api/v1/customers?limit=100", headers=AUTH)
    assert r.status == 200
    assert all(c["name"] != "Smug" for c in r.json()["data"]), r.body


def test_identical_content_lengths_are_served_once(lw):
    body = b'{"name":"Twice"}'
    with connect(lw) as s:
        s.sendall(two_lengths_head(len(body), len(body)) + body)
        st, h, resp = read_response(s)
    assert st == 201, resp
    assert json.loads(resp)["data"]["name"] == "Twice"


TE_HEADS = [
    (b"Transfer-Encoding: identity\r\n", 400, "no valid coding"),
    (b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", 400,
     "more than one Transfer-Encoding"),
    (b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", 400,
     "both Content-Length and Transfer-Encoding"),
    (b"Transfer-Encoding: chunked, identity\r\n", 400, "final"),
    (b"Transfer-Encoding: gzip, chunked\r\n", 501, "chunked"),
    (b"Transfer-Encoding: gzip\r\n", 501, "chunked"),
]


@pytest.mark.parametrize("fields,status,detail", TE_HEADS,
                         ids=[str(i) for i in range(len(TE_HEADS))])
def test_bad_transfer_encoding_answers_json(lw, fields, status, detail):
    head = (b"POST /api/v1/customers HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer "
            + ADMIN_TOKEN.encode() + b"\r\nContent-Type: application/json\r\n" + fields + b"\r\n")
    inner = b"GET /smuggled-inner HTTP/1.1\r\nHost: t\r\n\r\n"
    with connect(lw) as s:
        s.sendall(head + b"5\r\n{\"a\":\r\n0\r\n\r\n" + inner)
        resp = read_response(s)
        assert_json_refusal(resp, status, CODES[status])
        assert detail in json.loads(resp[2])["errors"][0]["detail"], resp
        assert read_all_after(s) == b""


@pytest.mark.parametrize("framing", [b"zz\r\n", b"-5\r\nhello\r\n0\r\n\r\n",
                                     b"1" * 20 + b"\r\n", b"3\r\nabcX\r\n0\r\n\r\n",
                                     b";e\r\n"],
                         ids=["zz", "minus5", "20digits", "no-crlf", "no-digits"])
def test_bad_chunk_framing_answers_400_json(lw, framing):
    inner = b"GET /smuggled-inner HTTP/1.1\r\nHost: t\r\n\r\n"
    with connect(lw) as s:
        s.sendall(chunked_head() + framing + inner)
        resp = read_response(s)
        assert_json_refusal(resp, 400, "bad_request")
        assert "chunk" in json.loads(resp[2])["errors"][0]["detail"], resp
        assert read_all_after(s) == b""



@pytest.mark.parametrize("step", [0, 1, 5])
def test_chunk_extensions_are_accepted(lw, step):
    body = json.dumps({"name": "Ext"}).encode()
    framed = (b"%x;foo=bar\r\n%s\r\n" % (len(body) - 3, body[:-3]) +
              b"3\t;a=\"b c\"\r\n%s\r\n0;last\r\n\r\n" % body[-3:])
    with connect(lw) as s:
        if step:
            s.sendall(chunked_head())
            send_slowly(s, framed, step, 0.002)
        else:
            s.sendall(chunked_head() + framed)
        st, h, resp = read_response(s)
    assert st == 201, resp
    assert json.loads(resp)["data"]["name"] == "Ext"
