#!/usr/bin/env python3
"""System calls per request from `strace -c -f` summaries (benches/*/run.sh count).

  syscalls.py A.txt B.txt N      per request: (B - A) / N, one line per call, then the sum
  syscalls.py B.txt N            per request: B / N (strace attached for N requests only)
  --line                         one line instead: "total (call count, call count, ...)"
"""
import sys


def load(path):
    calls = {}
    for line in open(path):
        p = line.split()
        if len(p) >= 5 and p[0][0].isdigit() and p[-1] != "total":
            calls[p[-1]] = int(p[3])
    return calls


def main():
    args = sys.argv[1:]
    one_line = "--line" in args
    args = [a for a in args if a != "--line"]
    if len(args) == 3:
        a, b, n = load(args[0]), load(args[1]), int(args[2])
    elif len(args) == 2:
        a, b, n = {}, load(args[0]), int(args[1])
    else:
        raise SystemExit(__doc__)
    per = {k: (b[k] - a.get(k, 0)) / n for k in b}
    rows = [(k, v) for k, v in sorted(per.items(), key=lambda kv: -kv[1]) if v >= 0.01]
    total = sum(v for _, v in rows)
    if one_line:
        print(f"{total:.2f} (" + ", ".join(f"{k} {v:.2f}" for k, v in rows) + ")")
        return
    for k, v in rows:
        print(f"  {v:5.2f} {k}")
    print(f"  {total:5.2f} in all")


if __name__ == "__main__":
    main()
