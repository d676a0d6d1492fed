#!/usr/bin/env python3
"""The tables of benches/h2/run.sh: medians of h2load's rounds with the
ratios to nginx and Apache, and the idle connections' memory.

usage: report.py RESULTS.tsv N ROUNDS IDLE [target=held|before|after ...]
"""
import statistics
import sys

TARGETS = ["mpmd", "nginx", "apache"]


def main():
    path, n, rounds, idle = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    mem = dict(arg.split("=", 1) for arg in sys.argv[5:])
    by = {}
    try:
        for line in open(path):
            if line.strip():
                _, p, t, rps, p99, ok, p50 = (line.rstrip("\n").split("\t") + ["0"])[:7]
                by.setdefault((p, t), []).append((float(rps), float(p99), int(ok), float(p50)))
    except FileNotFoundError:
        pass
    print(f"#### h2load -n {n} -c 10 -m 10 over TLS, median of {rounds} round(s); "
          "server CPU 0, h2load CPU 1\n")
    print("| path | target | req/s | ×nginx | ×apache | p50 ms | p99 ms | ok (min) |")
    print("|---|---|---|---|---|---|---|---|")
    for p in ["/hello", "/static/4k.bin"]:
        med = {t: statistics.median(x[0] for x in by[(p, t)]) for t in TARGETS if (p, t) in by}
        for t in TARGETS:
            if (p, t) not in by:
                continue
            runs = by[(p, t)]
            p99 = statistics.median(x[1] for x in runs)
            p50 = statistics.median(x[3] for x in runs)
            ok = min(x[2] for x in runs)
            rn = f"×{med[t] / med['nginx']:.2f}" if med.get("nginx") else "-"
            ra = f"×{med[t] / med['apache']:.2f}" if med.get("apache") else "-"
            print(f"| {p} | {t} | {med[t]:.0f} | {rn} | {ra} | {p50:.2f} | {p99:.2f} | {ok} |")
    if mem:
        print(f"\n#### {idle} idle HTTP/2 connections (TLS, one request each): "
              "PSS of the server's processes\n")
        print("| target | holder said | PSS before KiB | PSS with them KiB | per connection |")
        print("|---|---|---|---|---|")
        for t, v in mem.items():
            try:
                held, before, after = v.split("|")
                count = int(held.split()[1])
                per = (int(after) - int(before)) / count if count else 0
                print(f"| {t} | {held} | {before} | {after} | {per:.2f} KiB |")
            except (ValueError, IndexError):
                print(f"| {t} | {v} | | | |")


if __name__ == "__main__":
    main()
