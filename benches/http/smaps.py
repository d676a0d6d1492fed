#!/usr/bin/env python3
"""Where a server's memory is: /proc/PID/smaps of the processes named, summed by kind.

  benches/http/smaps.py PID...     # e.g. a master and its children: $M $(pgrep -P $M)

One row per kind of mapping, in KiB, summed over the processes (a process that is gone by
the time it is read is skipped): maps, virtual size, Rss, Pss, Private_Dirty,
Private_Clean, Shared_Clean, Shared_Dirty, Anonymous. Kinds: the executable's own mappings
by permission ("exe text" r-x, "exe rodata" r-- with the relocated read-only data, "exe
data" rw-), [heap] (the main malloc arena), [stack], "anon rw-" (thread stacks, the other
malloc arenas; "anon rw- >=8M" for Apache's 8 MiB thread stacks), "shared ..." (the
scoreboard and other shared memory), and each library by permission. The PSS of a page
shared by n processes is 1/n in each, so a sum over every process of a server counts each
page once: the executable's text is counted once however many children run it, while
libc's pages are shared with every other program on the machine as well.
"""
import os, re, sys
from collections import defaultdict
FIELDS = ("Rss", "Pss", "Private_Dirty", "Private_Clean", "Shared_Clean", "Shared_Dirty", "Anonymous")
def kinds(pid):
    exe = os.path.realpath(f"/proc/{pid}/exe")
    out = defaultdict(lambda: defaultdict(int))
    cur = None
    hdr = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) (\S{4}) \S+ \S+ \d+\s*(.*)$")
    for line in open(f"/proc/{pid}/smaps"):
        m = hdr.match(line)
        if m:
            lo, hi, perm, path = int(m[1], 16), int(m[2], 16), m[3], m[4].strip()
            if path == exe or path.endswith("(deleted)") and path.startswith(exe):
                k = "exe " + {"r-x": "text", "r--": "rodata", "rw-": "data"}.get(perm[:3], perm)
            elif path in ("[heap]", "[stack]", "[vdso]", "[vvar]"):
                k = path
            elif path == "":
                k = "anon " + perm[:3] + (" >=8M" if hi - lo >= 8 << 20 else "")
            elif path.startswith("/dev/zero") or path.startswith("/SYSV") or "memfd" in path or perm[3] == "s":
                k = "shared " + os.path.basename(path)
            else:
                k = os.path.basename(path) + " " + perm[:3]
            cur = out[k]
            cur["maps"] += 1
            cur["size"] += (hi - lo) >> 10
            continue
        f = line.split(":")[0]
        if cur is not None and f in FIELDS:
            cur[f] += int(line.split()[1])
    return out
def show(pids):
    tot = defaultdict(lambda: defaultdict(int))
    for p in pids:
        try:
            got = kinds(p)
        except OSError:
            continue  # gone meanwhile
        for k, v in got.items():
            for f, n in v.items():
                tot[k][f] += n
    cols = ("maps", "size") + FIELDS
    print(f"{'kind':28}" + "".join(f"{c[:13]:>14}" for c in cols))
    s = defaultdict(int)
    for k in sorted(tot, key=lambda k: -tot[k]["Pss"]):
        v = tot[k]
        if v["Rss"] == 0: continue
        print(f"{k[:28]:28}" + "".join(f"{v[c]:>14}" for c in cols))
        for c in cols: s[c] += v[c]
    print(f"{'total':28}" + "".join(f"{s[c]:>14}" for c in cols))
if __name__ == "__main__":
    show([int(p) for p in sys.argv[1:]])
