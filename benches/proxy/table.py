#!/usr/bin/env python3
"""The proxy benchmark's table: medians over rounds of req/s and p99 per proxy, and the
ratios mpmd/nginx and mpmd/apache, from the shared harness's results.jsonl. The PHP
benchmark (benches/php/run.sh) prints its table with it too, under its own title.

  table.py results.jsonl [TITLE]
"""
import json
import statistics
import sys


def main(path, title=None):
    runs = {}
    order = []
    with open(path) as f:
        for line in f:
            rec = json.loads(line)
            w = rec.get("wrk") or {}
            dur = (w.get("duration_us") or 0) / 1e6
            rps = w.get("requests", 0) / dur if dur else 0.0
            errs = sum(w.get(k, 0) for k in ("err_connect", "err_read", "err_write", "err_status", "err_timeout"))
            key = (rec["scenario"], rec["target"])
            if rec["target"] not in order:
                order.append(rec["target"])
            srv = rec.get("server") or {}
            # CPU time of the proxy's processes per request (not the backend's): steadier
            # than req/s on a busy machine.
            cpu_us = srv.get("server_cpu_s", 0) / w["requests"] * 1e6 if w.get("requests") else 0.0
            runs.setdefault(key, []).append((rps, w.get("lat_p99_us", 0) / 1000, errs, cpu_us))
    for scen in sorted({s for s, _ in runs}):
        med = {}
        for t in order:
            rs = runs.get((scen, t), [])
            if rs:
                med[t] = (statistics.median(r[0] for r in rs), statistics.median(r[1] for r in rs),
                          sum(r[2] for r in rs), len(rs), min(r[0] for r in rs), max(r[0] for r in rs),
                          statistics.median(r[3] for r in rs))
        rounds = max(m[3] for m in med.values())
        if title:
            print(f"#### {title} {scen}: medians of {rounds} round(s); servers and php-fpm on one CPU, wrk on another")
        else:
            print(f"#### proxy, scenario {scen}: medians of {rounds} round(s); "
                  "proxies and backend nginx on one CPU, wrk on another")
        print()
        print("| proxy | req/s (min–max) | p99 ms | errors | proxy CPU µs/req | mpmd ÷ this (req/s) |")
        print("|---|---|---|---|---|---|")
        ref = med.get("mpmd")
        for t, (rps, p99, errs, _, lo, hi, cpu) in med.items():
            ratio = f"{ref[0] / rps:.2f}" if ref and rps else "–"
            print(f"| {t} | {rps:,.0f} ({lo:,.0f}–{hi:,.0f}) | {p99:.2f} | {errs} | {cpu:.1f} | {ratio} |")
        print()
        if ref:
            for t in ("nginx", "apache"):
                if t in med and med[t][0]:
                    print(f"mpmd ÷ {t}: req/s ×{ref[0] / med[t][0]:.2f}, p99 {ref[1]:.2f} ms vs {med[t][1]:.2f} ms,"
                          f" CPU per request ×{ref[6] / med[t][6]:.2f}" if med[t][6] else "")
        print()


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    main(*sys.argv[1:])
