"""Per-device digest credentials under a trunk at WARP's proxy and registrar
(decision 0048), end to end with the hashlib UDP peer of
test_sip_digest_sha256.py: a device registers the AOR of its own username
and calls as its trunk; a disabled device is refused while the trunk's own
credentials still work."""
from sipfix import sipwarp, render, sip_port  # noqa: F401

# SHA-256 is offered only when asked (decision 0053: MD5 alone as shipped).
SIPWARP_SIP_INI = "digest_sha256 = true\n"
from test_sip_digest_sha256 import Peer, registrations

TRUNK_USER, TRUNK_PASSWORD = "branch-pbx", "trunk-pass-1"
DEVICE_USER, DEVICE_PASSWORD = "desk-101", "desk-pass-101"


def provision(sw, enabled=True):
    cus = sw.customer()
    trk = sw.trunk(cus, [], username=TRUNK_USER, password=TRUNK_PASSWORD)
    dev = sw.api("POST", "/trunks/%s/devices" % trk, {
        "customer_id": cus, "username": DEVICE_USER, "password": DEVICE_PASSWORD,
        "enabled": enabled})["id"]
    sw.synced()
    return cus, trk, dev


def register(sw, ua, alg):
    code, first = ua.register()
    assert code == 401, first
    return ua.register(ua.auth(first, alg, "REGISTER", "sip:127.0.0.1:%d" % sw.port))


def test_device_registers_its_own_aor_and_calls_as_its_trunk(sipwarp, tmp_path):
    sw = sipwarp
    gport = sip_port()
    _, trk, _ = provision(sw)
    car, _ = sw.carrier("carrier-a", [gport])
    sw.route("1", [car])
    sw.synced()
    ua = Peer(sw, DEVICE_USER, DEVICE_PASSWORD)
    callee = sw.sipp("callee", render(tmp_path, "uas_reject.xml", code=486), gport).start()
    callee.wait_bound()
    try:
        code, ok = register(sw, ua, "SHA-256")
        assert code == 200, ok
        assert registrations(sw, trk) == [("%s@127.0.0.1" % DEVICE_USER,)]
        code, final = ua.call("MD5")
        assert code == 486, final
    finally:
        ua.close()
    assert callee.wait() == 0, callee.describe()
    (cdr,) = sw.cdrs()
    assert cdr["trunk_id"] == trk


def test_disabled_device_is_refused_and_the_trunk_still_registers(sipwarp):
    sw = sipwarp
    _, trk, dev = provision(sw)
    sw.api("PATCH", "/trunks/%s/devices/%s" % (trk, dev), {"enabled": False})
    sw.synced()
    ua = Peer(sw, DEVICE_USER, DEVICE_PASSWORD)
    try:
        code, text = register(sw, ua, "SHA-256")
        assert code == 403 and "bad credentials" in text, text
        assert registrations(sw, trk) == []
    finally:
        ua.close()
    pbx = Peer(sw, TRUNK_USER, TRUNK_PASSWORD)
    try:
        code, ok = register(sw, pbx, "SHA-256")
        assert code == 200, ok
        assert registrations(sw, trk) == [("%s@127.0.0.1" % TRUNK_USER,)]
    finally:
        pbx.close()


def test_deleted_device_is_refused(sipwarp):
    sw = sipwarp
    _, trk, dev = provision(sw)
    sw.api("DELETE", "/trunks/%s/devices/%s" % (trk, dev))
    sw.synced()
    ua = Peer(sw, DEVICE_USER, DEVICE_PASSWORD)
    try:
        code, text = register(sw, ua, "MD5")
        assert code == 403, text
    finally:
        ua.close()
