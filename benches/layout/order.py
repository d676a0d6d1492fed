#!/usr/bin/env python3
"""mpmd's function order for the linker (server-bin/layout/mpmd.order), from callgrind.

  order.py order DIR...           # the order, from DIR/cg.<pid>.out of each run, on stdout
  order.py check EXE ORDER        # how many of ORDER's names EXE defines (nm), one line

Each DIR holds the profiles (valgrind --tool=callgrind --demangle=no) of one mpmd run: the
master's (the lowest pid) and its children's. Only the executable's own functions count
(not libc's). The order: every function a child ran, by its instructions summed over the
runs, most first (the serving path, TLS, HTTP/2: what every child maps); then the ones
only the master ran (start-up, configuration, the maintenance loop), likewise. The
names are the linker's (legacy-mangled, with their hashes), so they hold for one
toolchain and one Cargo.lock: `check` says how many a build still has.
"""
import collections, glob, os, re, subprocess, sys

REF = re.compile(r"\((\d+)\)(?: (.*))?$")


def self_costs(path, exe_suffix="/mpmd"):
    """Self instructions per function of the executable in one callgrind out file."""
    names, objs, costs = {}, {}, collections.Counter()
    obj = fn = None
    after_calls = False

    def ref(text, table):
        m = REF.match(text)
        if not m:
            return text
        if m.group(2) is not None:
            table[m.group(1)] = m.group(2)
        return table.get(m.group(1))

    with open(path, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("ob="):
                obj = ref(line[3:], objs)
            elif line.startswith("fn="):
                fn = ref(line[3:], names)
            elif line.startswith("cob="):
                ref(line[4:], objs)
            elif line.startswith("cfn="):
                ref(line[4:], names)
            elif line.startswith("calls="):
                after_calls = True  # the next cost line is the call's, not this function's
            elif line[:1].isdigit() or line[:1] in "+-*":
                if after_calls:
                    after_calls = False
                    continue
                parts = line.split()
                if len(parts) >= 2 and obj and obj.endswith(exe_suffix) and fn:
                    costs[fn] += int(parts[1])
    return costs


def linker_name(fn):
    # callgrind marks recursion depth with 'N; addresses and "(below main)" are not symbols
    fn = re.sub(r"'\d+$", "", fn)
    if fn.startswith("0x") or " " in fn or fn.startswith("("):
        return None
    return fn


def order(dirs):
    child, master = collections.Counter(), collections.Counter()
    for d in dirs:
        files = sorted(glob.glob(os.path.join(d, "cg.*.out")), key=lambda p: int(p.rsplit(".", 2)[-2]))
        if not files:
            sys.exit(f"order.py: no cg.*.out in {d}")
        for i, path in enumerate(files):
            for fn, ir in self_costs(path).items():
                name = linker_name(fn)
                if name:
                    (master if i == 0 else child)[name] += ir
    if not child:
        sys.exit("order.py: no child ran any of the executable's functions")
    names = [n for n, _ in child.most_common()]
    seen = set(names)
    names += [n for n, _ in master.most_common() if n not in seen]
    return names


def defined(exe):
    out = subprocess.run(["nm", "--defined-only", exe], capture_output=True, text=True, check=True).stdout
    return {line.split()[-1] for line in out.splitlines() if len(line.split()) >= 3}


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "order":
        print("\n".join(order(sys.argv[2:])))
    elif len(sys.argv) == 4 and sys.argv[1] == "check":
        names = [l.strip() for l in open(sys.argv[3]) if l.strip() and not l.startswith("#")]
        have = defined(sys.argv[2])
        found = sum(n in have for n in names)
        print(f"layout: {found} of the {len(names)} functions of {sys.argv[3]} are in {sys.argv[2]}"
              + ("" if found * 10 >= len(names) * 9 else " (stale: run benches/layout/order.sh)"))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
