#!/usr/bin/env python3
"""check_layers_selftest - tools/check-layers fails on what it must refuse.

Copies the sources it reads into a temporary folder, checks that the copy
passes, then breaks one rule at a time and checks that the tool exits 1
naming it: an io file including the wiring header server.h, an include
loop inside io, an include loop below io. Usage: REPO (ctest:
unit.check_layers_selftest).
"""
import os
import shutil
import subprocess
import sys
import tempfile


def run(tool, tree):
    p = subprocess.run([sys.executable, tool, tree], capture_output=True, text=True)
    return p.returncode, p.stdout + p.stderr


def add_include(path, header):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    i = text.index("#include")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text[:i] + f'#include "{header}"\n' + text[i:])


def main():
    repo = os.path.abspath(sys.argv[1])
    tool = os.path.join(repo, "tools", "check-layers")
    cases = [
        ("server/io/listener.c", "server.h", "includes the wiring header"),
        ("server/io/sniff.c", "http.h", "include loop: io/http, io/sniff"),
        ("server/base/buf.c", "tickpush/dict.h", None),  # same floor: allowed
    ]
    with tempfile.TemporaryDirectory() as tmp:
        def fresh():
            tree = os.path.join(tmp, "tree")
            shutil.rmtree(tree, ignore_errors=True)
            for d in ("server", "protocol", "include"):
                shutil.copytree(os.path.join(repo, d), os.path.join(tree, d))
            return tree

        rc, out = run(tool, fresh())
        if rc != 0:
            print(f"the unchanged tree fails:\n{out}")
            return 1
        for path, header, want in cases:
            tree = fresh()
            add_include(os.path.join(tree, path), header)
            rc, out = run(tool, tree)
            if want is None:
                if rc != 0:
                    print(f"{path} + {header}: refused, should pass:\n{out}")
                    return 1
                continue
            if rc != 1 or want not in out:
                print(f"{path} + {header}: expected exit 1 with '{want}', "
                      f"got {rc}:\n{out}")
                return 1
        # A loop below io: dict.c includes buf.h's module back.
        tree = fresh()
        add_include(os.path.join(tree, "server/base/dict.c"), "tickpush/buf.h")
        add_include(os.path.join(tree, "server/base/buf.c"), "tickpush/dict.h")
        rc, out = run(tool, tree)
        if rc != 1 or "include loop: base/buf, base/dict" not in out:
            print(f"base loop: expected exit 1 naming it, got {rc}:\n{out}")
            return 1
    print("check_layers_selftest: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
