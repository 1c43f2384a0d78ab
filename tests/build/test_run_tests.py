#!/usr/bin/env python3
"""scripts/run-tests never passes by finding nothing (issue 8 §2): a phase
that ran no test is a broken phase and the exit code is non-zero, even when
every other phase passed; an integration test skipped for a missing test
dependency counts as failed (a fake JUnit report here); a cmocka program of the source that meson did not
run (a fake suite here) fails the unit phase; and the unit tests cannot
silently vanish, because cmocka is a required build dependency installed with
the build packages: without it the configure fails (simulated with a
pkg-config that has no cmocka.pc), and succeeds in the same folder once it
is installed.

Run by `meson test` as run_tests_guard, with the source folder."""
import importlib.machinery
import importlib.util
import os
import re
import subprocess
import sys
import tempfile

ROOT = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__))))
FAILS = []


def check(cond, msg):
    if not cond:
        FAILS.append(msg)


def load_runner():
    path = os.path.join(ROOT, "scripts", "run-tests")
    loader = importlib.machinery.SourceFileLoader("run_tests", path)
    spec = importlib.util.spec_from_loader("run_tests", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


def fake_suite(rt):
    """A source tree with two cmocka programs whose build ran only the build
    checks (as a build configured without cmocka did): both are reported
    as not run, the unit phase fails and so does the run."""
    with tempfile.TemporaryDirectory() as root:
        os.makedirs(os.path.join(root, "tests", "unit"))
        for name in ("test_alpha_one.c", "test_beta_two.c", "helper.c"):
            open(os.path.join(root, "tests", "unit", name), "w").close()
        ran = {"build_layering", "run_tests_guard"}
        missing = rt.unit_missing(root, ran)
        check(missing == ["test_alpha_one", "test_beta_two"], "unit tests not run are not found: %r" % missing)
        check(rt.unit_missing(root, ran | set(missing)) == [], "a full run is said to miss tests")
        totals, broken = [0, 0], []
        rt.phase_done("unit", (len(ran), len(missing), True), totals, broken)
        rt.phase_done("integration", (120, 0, True), totals, broken)
        check(rt.exit_code(totals, broken) != 0, "unit tests that did not run still exit 0")


JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">
<testcase classname="tests.integration.test_a" name="test_relays" time="0.1"/>
<testcase classname="tests.integration.test_b" name="test_interop" time="0.0">
<skipped type="pytest.skip" message="rtpengine not installed">skip</skipped></testcase>
<testcase classname="tests.integration.test_c" name="test_capture" time="0.0">
<skipped type="pytest.skip" message="tshark not installed">skip</skipped></testcase>
</testsuite></testsuites>"""


def skipped_suite(rt):
    """An integration run where two tests skipped for a missing peer (as on
    a machine where install-deps --test did not finish): both count as
    failed, with their reason, and the run exits non-zero; only
    WARP_TEST_ALLOW_SKIP=1 lets them pass as skipped."""
    with tempfile.TemporaryDirectory() as tmp:
        xml = os.path.join(tmp, "pytest.xml")
        with open(xml, "w") as f:
            f.write(JUNIT)
        skips = rt.pytest_skips(xml)
        check(sorted(skips.values()) == ["rtpengine not installed", "tshark not installed"],
              "skipped tests are not found: %r" % skips)
        check(rt.pytest_results(xml) == {"tests/integration/test_a.py::test_relays": None},
              "the passed test is not counted alone")
        before = len(rt.FAILED)
        failed = rt.skips_failed("build", skips, {})
        check(failed == 2 and any("tshark not installed" in f for f in rt.FAILED[before:]),
              "skipped tests are not failures: %r" % rt.FAILED[before:])
        totals, broken = [0, 0], []
        rt.phase_done("integration", (1, failed, True), totals, broken)
        check(rt.exit_code(totals, broken) != 0, "an integration run with skipped tests exits 0")
        check(rt.skips_failed("build", skips, {"WARP_TEST_ALLOW_SKIP": "1"}) == 0,
              "WARP_TEST_ALLOW_SKIP=1 still fails skipped tests")


def meson_setup(build, src, pcdir, native):
    env = dict(os.environ, PKG_CONFIG_LIBDIR=pcdir, PKG_CONFIG_PATH="")
    return subprocess.run(["meson", "setup", "--native-file", native, build, src], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)


def dependency_appears_later():
    """tests/unit/meson.build's cmocka line in a project of its own, on a
    machine without cmocka (pkg-config sees no cmocka.pc; no CMake): the
    configure fails and leaves no build.ninja, so `make` sets the folder up
    again next time; once cmocka is installed that configure succeeds in
    the same folder."""
    with open(os.path.join(ROOT, "tests", "unit", "meson.build")) as f:
        line = next(l for l in f if "dependency('cmocka'" in l)
    cmocka_pc = subprocess.run(["pkg-config", "--variable", "pcfiledir", "cmocka"], stdout=subprocess.PIPE,
                               text=True).stdout.strip()
    check(cmocka_pc != "", "cmocka is not installed here (scripts/install-deps)")
    if not cmocka_pc:
        return
    with tempfile.TemporaryDirectory() as tmp:
        src, pc, build = (os.path.join(tmp, d) for d in ("src", "pc", "build"))
        os.makedirs(src)
        os.makedirs(pc)
        with open(os.path.join(src, "meson.build"), "w") as f:
            f.write("project('cmocka_probe', 'c')\n" + line)
        native = os.path.join(tmp, "native.ini")
        with open(native, "w") as f:
            f.write("[binaries]\ncmake = '/bin/false'\n")
        r = meson_setup(build, src, pc, native)
        check(r.returncode != 0 and "cmocka" in r.stdout, "a build without cmocka configures: %s" % r.stdout[-300:])
        check(not os.path.exists(os.path.join(build, "build.ninja")), "a failed configure leaves build.ninja")
        os.symlink(os.path.join(cmocka_pc, "cmocka.pc"), os.path.join(pc, "cmocka.pc"))
        r = meson_setup(build, src, pc, native)
        check(r.returncode == 0, "cmocka installed later, the configure still fails: %s" % r.stdout[-300:])


def main():
    rt = load_runner()
    # `make run` then `make test` as it used to end: 0 unit tests, the rest green.
    totals, broken = [0, 0], []
    rt.phase_done("unit", (0, 0, True), totals, broken)
    rt.phase_done("integration", (120, 0, True), totals, broken)
    check(broken == ["unit ran no tests"], "a phase with no tests is not reported: %r" % broken)
    check(rt.exit_code(totals, broken) != 0, "0 unit tests still exits 0")
    # Every phase with tests, all passed: exit 0.
    totals, broken = [0, 0], []
    rt.phase_done("unit", (40, 0, True), totals, broken)
    rt.phase_done("integration", (120, 0, True), totals, broken)
    check(broken == [] and rt.exit_code(totals, broken) == 0, "a green run does not exit 0")
    # A phase that could not run, and a failed test, are failures too.
    totals, broken = [0, 0], []
    rt.phase_done("fuzz", (0, 0, False), totals, broken)
    check(rt.exit_code(totals, broken) != 0, "a phase that did not run exits 0")
    totals, broken = [0, 0], []
    rt.phase_done("unit", (40, 1, True), totals, broken)
    check(rt.exit_code(totals, broken) != 0, "a failed test exits 0")

    # cmocka: required by the unit tests' meson.build and installed with the
    # build packages, so whichever README command comes first configures them.
    with open(os.path.join(ROOT, "tests", "unit", "meson.build")) as f:
        unit_meson = f.read()
    dep = re.search(r"dependency\('cmocka'([^)]*)\)", unit_meson)
    check(dep and "required" not in dep.group(1), "cmocka is optional in tests/unit/meson.build")
    with open(os.path.join(ROOT, "scripts", "install-deps")) as f:
        deps = f.read()
    build_pkgs = re.search(r"build_pkgs=\((.*?)\)", deps, re.S).group(1)
    check("libcmocka-dev" in build_pkgs.split(), "libcmocka-dev is not a build package")

    fake_suite(rt)
    skipped_suite(rt)
    dependency_appears_later()

    for msg in FAILS:
        print("FAIL: " + msg)
    print("run-tests guard: %d checks failed" % len(FAILS))
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
