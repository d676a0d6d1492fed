#!/usr/bin/env python3
"""Issue 16's ratio tables from one interleaved run of the shared harness (benches/http/run.sh).

  ratios.py HARNESS_DIR results.jsonl

For each pair (ours ÷ peer) and each scenario, three tables:

* the ratio of the medians over the rounds of the main figure (req/s, MiB/s for d and u),
  then both p99 latencies (ms);
* the same figure per CPU-second the server used (req/s ÷ the server's CPUs busy, each
  round's, then the median): what each side would do if it, not wrk, were the bound. Where
  wrk's one thread is saturated (b: a new connection per request) the first table shows
  wrk's ceiling for both sides and only this one tells the servers apart;
* peak PSS, ours ÷ peer (summed over the server's processes, the largest seen in the
  scenario), with both sides' processes: below 1 is less memory; then the same ratio round
  by round, since what one scenario leaves in a server's heap (the TLS ones, t and u, run
  only on ours) is carried into the next round's figures.

Medians and the figures come from the harness's own lib/report.py, so the numbers match its
tables.
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
    rounds = defaultdict(dict)  # (target, scenario) -> {round: derived record}
    scens = []
    for rec in report.load([sys.argv[2]]):
        derived = report.derive(rec)
        cells[(rec["target"], rec["scenario"])].append(derived)
        rounds[(rec["target"], rec["scenario"])][rec["round"]] = derived
        if rec["scenario"] not in scens:
            scens.append(rec["scenario"])

    def med_of(target, s, f):
        ds = cells.get((target, s))
        vals = [f(d) for d in ds or [] if f(d) is not None]
        return report.med(vals) if vals else None

    def fig(target, s):
        ds = cells.get((target, s))
        if not ds:
            return None
        return (report.med([d["main"] for d in ds]), report.med([d["p99_ms"] for d in ds]),
                sum(d["errors"] for d in ds), sum(d["err_status"] for d in ds))

    def table(title, cell):
        """A table of `cell(ours, peer, scenario)` (None: no figure) for every pair that has one."""
        print(title + "\n")
        print("| pair | " + " | ".join(scens) + " |")
        print("|---|" + "---|" * len(scens))
        for ours, peer, _ in PAIRS:
            row = [cell(ours, peer, s) or "–" for s in scens]
            if any(c != "–" for c in row):
                print(f"| {ours} ÷ {peer} | " + " | ".join(row) + " |")

    def served(target, s):
        """Whether `target` answered `s` with 2xx (hyper-hello has no /hello.txt)."""
        return not (fig(target, s) or (0, 0, 0, 0))[3]

    def throughput(ours, peer, s):
        a, b = fig(ours, s), fig(peer, s)
        if not a or not b or not b[0]:
            return None
        if a[3] or b[3]:
            # one side does not serve it: no ratio
            return f"– (non-2xx {a[3]}/{b[3]})"
        err = f", errors {a[2]}/{b[2]}" if a[2] or b[2] else ""
        return f"×{a[0] / b[0]:.2f} (p99 {a[1]:.1f}/{b[1]:.1f}{err})"

    def per_cpu_fig(d):
        return d["main"] / d["srv_cpu"] if d["srv_cpu"] > 0.05 and d["main"] else None

    def per_cpu(ours, peer, s):
        a, b = med_of(ours, s, per_cpu_fig), med_of(peer, s, per_cpu_fig)
        if not a or not b or not served(ours, s) or not served(peer, s):
            return None
        ca, cb = (med_of(t, s, lambda d: d["srv_cpu"]) for t in (ours, peer))
        return f"×{a / b:.2f} (cpu {ca:.2f}/{cb:.2f})"

    def pss(ours, peer, s):
        a, b = (med_of(t, s, lambda d: d["pss_mib"] or None) for t in (ours, peer))
        if not a or not b:
            return None
        pa, pb = (med_of(t, s, lambda d: d["procs"] or None) for t in (ours, peer))
        return f"×{a / b:.2f} ({a:.1f}/{b:.1f}, {pa:.0f}/{pb:.0f} procs)"

    table("#### ours ÷ peer: median of the rounds (req/s; MiB/s for d, u); p99 ms ours / peer; errors ours / peer",
          throughput)
    print()
    for ours, peer, what in PAIRS:
        print(f"* {ours} ÷ {peer}: {what}")
    print()
    table("#### ours ÷ peer per CPU-second of the server: median of the rounds' (req/s ÷ server CPUs busy); "
          "server CPUs ours / peer", per_cpu)
    print()
    table("#### peak PSS ours ÷ peer (median of the rounds; below 1 is less memory); MiB and processes ours / peer",
          pss)
    print()

    def pss_rounds(ours, peer, s):
        by_round = [{r: d["pss_mib"] for r, d in rounds.get((t, s), {}).items() if d["pss_mib"]}
                    for t in (ours, peer)]
        both = sorted(set(by_round[0]) & set(by_round[1]))
        if not both:
            return None
        return " · ".join(f"×{by_round[0][r] / by_round[1][r]:.2f}" for r in both)

    table("#### peak PSS ours ÷ peer, round by round (round 1 · 2 · ...)", pss_rounds)

if __name__ == "__main__":
    main()
