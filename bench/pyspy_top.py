#!/usr/bin/env python3
"""Summarise a `py-spy record -f raw` profile: seconds per process and per bundler function.

    bench/pyspy_top.py PROFILE.txt [RATE]   (RATE: the samples per second given to py-spy, default 50)

Inclusive time per function (a function counts once per sample however deep the
recursion), for frames in bundler/ and the top-level frames of child processes.
With threads, samples of all threads add up, so totals can exceed the wall time.
"""

import re
import sys
from collections import Counter


def main() -> int:
    path = sys.argv[1]
    rate = float(sys.argv[2]) if len(sys.argv) > 2 else 50.0
    procs: Counter = Counter()
    funcs: Counter = Counter()
    leaves: Counter = Counter()
    total = 0
    for line in open(path, encoding="utf-8", errors="replace"):
        stack, _, count = line.rstrip("\n").rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        proc_frames = [f for f in frames if f.startswith("process ")]
        cmd = proc_frames[-1] if proc_frames else "?"
        m = re.search(r'"(.*)"', cmd)
        cmd = m.group(1) if m else cmd
        words = cmd.split()
        short = " ".join(w.rsplit("/", 1)[-1] for w in words[:4])
        procs[short] += n
        seen = set()
        for f in frames:
            if "bundler/" in f and "(" in f:
                name = re.sub(r":\d+\)$", ")", f)
                if name not in seen:
                    seen.add(name)
                    funcs[name] += n
        leaf = re.sub(r":\d+\)$", ")", frames[-1])
        leaves[leaf] += n
    print(f"{total} samples = {total / rate:.1f} s of thread time\n")
    print("per process (seconds):")
    for k, v in procs.most_common(8):
        print(f"  {v / rate:7.1f}  {k}")
    print("\nbundler functions, inclusive (seconds):")
    for k, v in funcs.most_common(25):
        print(f"  {v / rate:7.1f}  {k}")
    print("\nleaf frames, self (seconds):")
    for k, v in leaves.most_common(15):
        print(f"  {v / rate:7.1f}  {k}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
