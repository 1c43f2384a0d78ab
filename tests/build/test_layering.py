#!/usr/bin/env python3
"""The build keeps the module boundaries (docs/decisions/0022-module-layering.md).

Run by `meson test` with the build folder, the source folder, each module's
"module=required,..." and, after "--", each module's library in the same
order.  With the very compile command meson uses for a file of each module it
checks that the module's sources
  - find every header of their own module,
  - find the public header of a module they name (or that one's header needs),
  - do not find any other module's public header, nor any module's private one;
and, with a copy of each module's library holding one more object that calls a
function of a module the module does not name, that the build's symbol check
(scripts/module-layering symbols) refuses it and names the culprit.  Last, no
source escapes its include folders with a relative `#include "../x.h"`.
"""
import glob
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

FAILS = []


def fail(msg):
    FAILS.append(msg)
    print("FAIL " + msg)


def parse_args(argv):
    build, src = os.path.abspath(argv[0]), os.path.abspath(argv[1])
    rest = argv[2:]
    cut = rest.index("--")
    specs, libs = rest[:cut], rest[cut + 1:]
    req = {}
    for s in specs:
        name, _, r = s.partition("=")
        req[name] = [x for x in r.split(",") if x]
    return build, src, specs, req, dict(zip(req, libs))


def closure(req, m):
    seen, todo = set(), list(req[m])
    while todo:
        r = todo.pop()
        if r not in seen:
            seen.add(r)
            todo.extend(req[r])
    return seen


def module_commands(build, src, modules):
    """module: its first source's compile command (argv without -c/-o/deps)."""
    out = {}
    with open(os.path.join(build, "compile_commands.json")) as f:
        entries = json.load(f)
    for e in entries:
        path = os.path.normpath(os.path.join(e["directory"], e["file"]))
        rel = os.path.relpath(path, src).split(os.sep)
        if len(rel) != 3 or rel[0] != "src" or rel[1] not in modules or rel[1] in out:
            continue
        argv, skip = [], False
        for a in shlex.split(e["command"]):
            if skip:
                skip = False
            elif a in ("-o", "-c", "-MQ", "-MF"):
                skip = True
            elif a not in ("-MD", "-fdiagnostics-color=always", "-fcolor-diagnostics"):
                argv.append(a)
        out[rel[1]] = argv
    return out


def compiles(build, argv, text, tmp, extra):
    probe = os.path.join(tmp, "probe.c")
    with open(probe, "w") as f:
        f.write(text)
    r = subprocess.run(argv + extra + [probe], cwd=build, capture_output=True, text=True)
    return r.returncode == 0, r.stderr


def check_includes(build, src, req, cmds, tmp):
    headers = {m: sorted(os.path.basename(h) for h in glob.glob(os.path.join(src, "src", m, "*.h")))
               for m in req}
    for m, argv in cmds.items():
        own = "".join('#include "%s/%s"\n' % (m, h) for h in headers[m])
        ok, err = compiles(build, argv, own, tmp, ["-fsyntax-only"])
        if not ok:
            fail("src/%s does not find its own headers: %s" % (m, err.strip()[:300]))
        reach = closure(req, m)
        for o in req:
            if o == m:
                continue
            for h in headers[o]:
                public = h == o + ".h"
                ok, err = compiles(build, argv, '#include "%s/%s"\n' % (o, h), tmp, ["-fsyntax-only"])
                want = public and o in reach
                if ok != want:
                    fail("src/%s %s %s/%s (%s header, %s)" % (
                        m, "finds" if ok else "does not find", o, h,
                        "public" if public else "private",
                        "reachable" if o in reach else "not named"))
                elif not ok and "No such file" not in err and "file not found" not in err:
                    fail("src/%s including %s/%s failed otherwise: %s" % (m, o, h, err.strip()[:300]))
    print("includes: %d modules checked" % len(cmds))


def defined_function(nm, lib):
    out = subprocess.run([nm, "-g", "-P", "--defined-only", lib], capture_output=True,
                         text=True, check=True).stdout
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 2 and f[1] == "T" and re.match(r"^[a-z][a-z0-9_]*$", f[0]):
            return f[0]
    return None


def check_symbols(build, src, specs, req, libs, cmds, tmp):
    tool = os.path.join(src, "scripts", "module-layering")
    nm = shutil.which("nm")
    base = [sys.executable, tool, "symbols", "--nm", nm] + specs + ["--"]
    r = subprocess.run(base + list(libs.values()), capture_output=True, text=True)
    if r.returncode != 0:
        fail("the real libraries fail the symbol check: " + r.stderr.strip()[:500])
    tried = 0
    for m, argv in cmds.items():
        other = next((o for o in req if o != m and o not in req[m]
                      and defined_function(nm, libs[o])), None)
        if other is None:
            continue  # m names every other module
        sym = defined_function(nm, libs[other])
        text = ("extern int %s(void);\nint layering_probe(void);\n"
                "int layering_probe(void) { return %s(); }\n" % (sym, sym))
        obj = os.path.join(tmp, "src_%s_probe.c.o" % m)
        ok, err = compiles(build, argv, text, tmp, ["-c", "-o", obj])
        if not ok:
            fail("probe of src/%s does not compile: %s" % (m, err.strip()[:300]))
            continue
        # meson's archives are thin (they name their objects): a new one
        # holding the same objects and the probe.
        here = os.path.dirname(os.path.abspath(libs[m]))
        members = subprocess.run(["ar", "t", libs[m]], capture_output=True, text=True,
                                 check=True).stdout.split()
        lib = os.path.join(tmp, os.path.basename(libs[m]))
        subprocess.run(["ar", "qcT", lib] + [os.path.join(here, o) for o in members] + [obj],
                       check=True)
        r = subprocess.run(base + [lib if k == m else v for k, v in libs.items()],
                           capture_output=True, text=True)
        expect = "src/%s/probe.c calls %s of src/%s" % (m, sym, other)
        if r.returncode == 0 or expect not in r.stderr:
            fail("src/%s calling %s of src/%s passed the symbol check (rc %d: %s)" % (
                m, sym, other, r.returncode, r.stderr.strip()[:300]))
        os.remove(lib)
        tried += 1
    if tried == 0:
        fail("no module to probe")
    print("symbols: %d modules probed with a call into a module they do not name" % tried)


def check_relative_includes(src):
    bad = 0
    for path in glob.glob(os.path.join(src, "src", "*", "*.[ch]")) + \
            glob.glob(os.path.join(src, "tests", "*", "*.[ch]")):
        with open(path, errors="replace") as f:
            for n, line in enumerate(f, 1):
                m = re.match(r'\s*#\s*include\s*"([^"]*)"', line)
                if m and (".." in m.group(1) or m.group(1).startswith("/")):
                    fail("%s:%d includes %s past the include folders" % (
                        os.path.relpath(path, src), n, m.group(1)))
                    bad += 1
    print("relative includes: %d" % bad)


def main():
    build, src, specs, req, libs = parse_args(sys.argv[1:])
    cmds = module_commands(build, src, req)
    missing = set(req) - set(cmds)
    if missing:
        fail("no compile command for " + ", ".join(sorted(missing)))
    with tempfile.TemporaryDirectory() as tmp:
        check_includes(build, src, req, cmds, tmp)
        check_symbols(build, src, specs, req, libs, cmds, tmp)
    check_relative_includes(src)
    print("%d failures" % len(FAILS))
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
