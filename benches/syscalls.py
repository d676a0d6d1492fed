#!/usr/bin/env python3
"""System calls per request from `strace -c -f` summaries (benches/*/run.sh count).

  syscalls.py A.txt B.txt N      per request: (B - A) / N, one line per call, then the sum
  syscalls.py B.txt N            per request: B / N (strace attached for N requests only)
  --line                         one line instead: "total (call count, call count, ...)"
  --errors                       each call's failures too (EAGAIN on a full socket), per unit
"""
import sys


def load(path, errors=None):
    """Calls by name; failures by name into `errors` when given."""
    calls = {}
    for line in open(path):
        p = line.split()
        if len(p) >= 5 and p[0][0].isdigit() and p[-1] != "total":
            calls[p[-1]] = int(p[3])
            if errors is not None and len(p) >= 6:
                errors[p[-1]] = int(p[4])
    return calls


def main():
    args = sys.argv[1:]
    one_line = "--line" in args
    show_errors = "--errors" in args
    args = [a for a in args if a not in ("--line", "--errors")]
    errors = {}
    if show_errors and len(args) == 2:
        b = load(args[0], errors)
        n = int(args[1])
        for k, v in sorted(b.items(), key=lambda kv: -kv[1]):
            if v / n >= 0.01:
                print(f"  {v / n:8.2f} {k}" + (f" ({errors[k] / n:.2f} failed)" if k in errors else ""))
        print(f"  {sum(b.values()) / n:8.2f} in all")
        return
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
