"""A SIP scanner flood for the flood test (issue 14), run as its own process:

    python3 sipflood.py PORT SOURCES SECONDS [MAX_RATE]

SOURCES unknown sources (127.0.1.1, 127.0.1.2, ... — loopback answers for
all of 127.0.0.0/8) send INVITE and REGISTER in turn to 127.0.0.1:PORT, as
fast as this process can up to MAX_RATE datagrams a second (0: no cap), for
SECONDS seconds; then it prints one JSON line: datagrams sent (by method),
answers received, the rate reached.

"As fast as it can" without starving the proxy and SIPp it is measured
against: the process is niced to 19 and pinned to one CPU (the last), so the
kernel gives the proxy and SIPp the CPU they ask for and the flood what is
left.  Uncapped, one Python process reaches about 290,000 datagrams a second
on loopback; that is more than a proxy's socket can queue while a loaded
machine keeps the proxy off the CPU for a few milliseconds, and the kernel
then drops legitimate datagrams with the flood's — which no proxy can
prevent, only a packet filter in front of it.  MAX_RATE keeps the flood to
what the socket can ride out.  Bounded: by time (checked every round), by
SOURCES and by MAX_RATE; answers are drained every few rounds into small
receive buffers.
"""
import json
import os
import socket
import sys
import time

DRAIN_EVERY = 8  # rounds between drains of the answers


def calm_down():
    os.nice(19)
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) > 1:
        os.sched_setaffinity(0, {cpus[-1]})


def request(method, port, src, sport, i):
    """The request of one source, split where the Call-ID's counter goes."""
    user = "scan%d" % i
    ruri = "sip:15551234567@127.0.0.1:%d" % port if method == "INVITE" else "sip:127.0.0.1"
    to = "<sip:15551234567@127.0.0.1>" if method == "INVITE" else "<sip:%s@127.0.0.1>" % user
    head = ("%s %s SIP/2.0\r\n"
            "Via: SIP/2.0/UDP %s:%d;branch=z9hG4bK-f%d-" % (method, ruri, src, sport, i))
    mid = (";rport\r\n"
           "From: <sip:%s@127.0.0.1>;tag=f%d\r\n"
           "To: %s\r\n"
           "Call-ID: flood-%d-" % (user, i, to, i))
    tail = ("\r\n"
            "CSeq: 1 %s\r\n"
            "Max-Forwards: 70\r\n"
            "Contact: <sip:%s@%s:%d>\r\n"
            "Expires: 3600\r\n"
            "Content-Length: 0\r\n\r\n" % (method, user, src, sport))
    return head.encode(), mid.encode(), tail.encode()


def open_sources(port, n):
    socks, reqs = [], []
    for i in range(n):
        src = "127.0.1.%d" % (i + 1)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.bind((src, 0))
        s.setblocking(False)
        sport = s.getsockname()[1]
        socks.append(s)
        reqs.append([request(m, port, src, sport, i) for m in ("INVITE", "REGISTER")])
    return socks, reqs


def drain(socks):
    got = 0
    for s in socks:
        try:
            while s.recv(65535):
                got += 1
        except OSError:
            pass
    return got


def flood(port, n, seconds, max_rate):
    socks, reqs = open_sources(port, n)
    dst = ("127.0.0.1", port)
    sent = {"INVITE": 0, "REGISTER": 0}
    answers, rounds = 0, 0
    start = time.monotonic()
    stop_at = start + seconds
    round_s = len(socks) / max_rate if max_rate > 0 else 0.0
    while time.monotonic() < stop_at:
        ahead = start + rounds * round_s - time.monotonic()
        if ahead > 0:
            time.sleep(min(ahead, 0.1))
        k = rounds & 1
        method = "INVITE" if k == 0 else "REGISTER"
        tag = b"%x" % rounds
        for s, r in zip(socks, reqs):
            head, mid, tail = r[k]
            try:
                s.sendto(head + tag + mid + tag + tail, dst)
                sent[method] += 1
            except OSError:
                pass  # a full send buffer: the datagram is lost, as on a wire
        rounds += 1
        if rounds % DRAIN_EVERY == 0:
            answers += drain(socks)
    elapsed = time.monotonic() - start
    answers += drain(socks)
    for s in socks:
        s.close()
    total = sent["INVITE"] + sent["REGISTER"]
    return {"sent": total, "invite": sent["INVITE"], "register": sent["REGISTER"],
            "answers": answers, "seconds": round(elapsed, 3),
            "rate": int(total / elapsed) if elapsed > 0 else 0}


def main():
    port, n, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    max_rate = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    calm_down()
    print(json.dumps(flood(port, min(n, 254), min(seconds, 120), max_rate)), flush=True)


if __name__ == "__main__":
    main()
