#!/usr/bin/env python3
"""Issue 16's ratio tables from one interleaved run of the shared harness (benches/http/run.sh).

  ratios.py HARNESS_DIR results.jsonl

For each pair (ours ÷ peer) and each scenario: the ratio of the medians over the rounds of
the main figure (req/s, MiB/s for d and u), then both p99 latencies (ms). Medians and the
figures come from the harness's own lib/report.py, so the numbers match its tables.
"""
import sys
from collections import defaultdict

# (ours, peer, what the issue asks): a pair is printed when both ran.
PAIRS = [
    ("mpmd-event", "nginx", "event ≥ 1.0× nginx (a: mpmd reads hello.txt, nginx answers from memory)"),
    ("mpmd-event-mmap", "nginx", "event ≥ 1.0× nginx, MMapFile hello.txt: memory on both sides for a"),
    ("embedded", "hyper-hello", "embedded (bench_peer, event) ≥ 1.0× hyper"),
    ("mpmd-prefork", "apache-prefork-default", "prefork ≥ 2× Apache prefork (default sizing)"),
    ("mpmd-worker", "apache-worker-default", "worker ≥ 2× Apache worker (default sizing)"),
    ("mpmd-event", "apache-event-default", "event against Apache event (default sizing), for reference"),
]


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    sys.path.insert(0, sys.argv[1] + "/lib")
    import report  # the harness's: derive() and med()

    cells = defaultdict(list)  # (target, scenario) -> derived records
    scens = []
    for rec in report.load([sys.argv[2]]):
        cells[(rec["target"], rec["scenario"])].append(report.derive(rec))
        if rec["scenario"] not in scens:
            scens.append(rec["scenario"])

    def fig(target, s):
        ds = cells.get((target, s))
        if not ds:
            return None
        return (report.med([d["main"] for d in ds]), report.med([d["p99_ms"] for d in ds]),
                sum(d["errors"] for d in ds), sum(d["err_status"] for d in ds))

    print("#### ours ÷ peer: median of the rounds (req/s; MiB/s for d, u); p99 ms ours / peer; errors ours / peer\n")
    print("| pair | " + " | ".join(scens) + " |")
    print("|---|" + "---|" * len(scens))
    for ours, peer, what in PAIRS:
        row = []
        for s in scens:
            a, b = fig(ours, s), fig(peer, s)
            if not a or not b or not b[0]:
                row.append("–")
                continue
            if a[3] or b[3]:
                # one side does not serve it (hyper-hello has no /hello.txt): no ratio
                row.append(f"– (non-2xx {a[3]}/{b[3]})")
                continue
            err = f", errors {a[2]}/{b[2]}" if a[2] or b[2] else ""
            row.append(f"×{a[0] / b[0]:.2f} (p99 {a[1]:.1f}/{b[1]:.1f}{err})")
        if any(c != "–" for c in row):
            print(f"| {ours} ÷ {peer} | " + " | ".join(row) + " |")
    print()
    for ours, peer, what in PAIRS:
        print(f"* {ours} ÷ {peer}: {what}")


if __name__ == "__main__":
    main()
