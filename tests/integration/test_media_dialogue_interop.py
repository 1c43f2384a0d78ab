"""Deleting one dialogue of a forked call (test_media_relay.py) asked of
WARP's relay and of Debian's rtpengine alike: the same replies.  Apart
from test_media_relay.py because test_media_interop.py imports from it.

Skipped when rtpengine is not installed (scripts/install-deps --test)."""
import shutil

import pytest

from test_media_interop import rtpengine  # noqa: F401 (fixture)
from test_media_ng import media  # noqa: F401 (fixture)
from test_media_relay import delete, fork_call, udp

pytestmark = pytest.mark.skipif(not shutil.which("rtpengine"), reason="rtpengine not installed")


@pytest.mark.parametrize("engine", ["warp", "rtpengine"])
def test_forked_dialogue_deletes_answer_as_rtpengine_does(engine, request):
    ng = request.getfixturevalue("media")().ng if engine == "warp" else \
        request.getfixturevalue("rtpengine")
    a, b1, b2 = udp(), udp(), udp()
    fork_call(ng, "fork-ie", a, b1, b2)
    tags = {"from-tag": "ft-fork-ie"}
    nomatch = "Call-ID not found or tags didn't match"
    assert delete(ng, "fork-ie", **tags, **{"to-tag": "nobody"}) == {
        "result": "ok", "warning": nomatch}
    assert delete(ng, "fork-ie", **tags, **{"to-tag": "nobody", "flags": ["fatal"]}) == {
        "result": "error", "error-reason": nomatch}
    assert delete(ng, "fork-ie", **{"from-tag": "nobody"}) == {"result": "ok", "warning": nomatch}
    assert delete(ng, "fork-ie", **tags, **{"to-tag": "tt1-fork-ie"})["result"] == "ok"
    # Media is not compared: in this exchange rtpengine does not relay the
    # second answerer's RTP sent to the offer's port (it keeps each forked
    # answerer in a monologue of its own), where WARP relays the newest
    # answerer on the offer's ports (decision 0013).
    assert ng.call({"command": "query", "call-id": "fork-ie"})["result"] == "ok"
    assert delete(ng, "fork-ie", **tags, **{"to-tag": "tt2-fork-ie"})["result"] == "ok"
    assert ng.call({"command": "query", "call-id": "fork-ie"}) == {
        "result": "error", "error-reason": "Unknown call-id"}
    assert delete(ng, "nobody", **{"from-tag": "x", "flags": ["fatal"]}) == {
        "result": "error", "error-reason": nomatch}
