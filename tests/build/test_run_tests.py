#!/usr/bin/env python3
"""scripts/run-tests never passes by finding nothing (issue 8 §2): a phase
that ran no test is a broken phase and the exit code is non-zero, even when
every other phase passed; and the unit tests cannot silently vanish, because
cmocka is a required build dependency installed with the build packages.

Run by `meson test` as run_tests_guard, with the source folder."""
import importlib.machinery
import importlib.util
import os
import re
import sys

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

    for msg in FAILS:
        print("FAIL: " + msg)
    print("run-tests guard: %d checks failed" % len(FAILS))
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
