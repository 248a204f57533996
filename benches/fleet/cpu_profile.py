#!/usr/bin/env python3
"""CPU seconds by server and by benchmark phase, sampled from /proc.

Run beside `cargo bench --bench fleet -- --only batch …`:

    python3 benches/fleet/cpu_profile.py --out /tmp/cpu.tsv &
    cargo bench --bench fleet -- --only batch --sizes 1000 --runs 1
    kill %1; python3 benches/fleet/cpu_profile.py --report /tmp/cpu.tsv

Every 0.2 s it writes, per group, the CPU seconds used so far: the live
processes' own time plus what their parents collected from children that
exited (a PostgreSQL backend per connection, the benchmark's child
processes), so short-lived processes count too. The phase of a sample is
the `--phase` of the benchmark child processes running then (`worker`: a
fleet run). The report prints each phase's CPU seconds per group and the
machine's total over the same samples.
"""

import argparse
import os
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")
GROUPS = {
    "postgres": "postgres",
    "mariadbd": "mariadb",
    "mysqld": "mariadb",
    "beam.smp": "rabbitmq",
    "erl_child_setup": "rabbitmq",
    "fleet": "bench",
}


def processes():
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().split(b"\0")
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        own = int(fields[11]) + int(fields[12])
        children = int(fields[13]) + int(fields[14])
        yield int(pid), comm, [c.decode(errors="replace") for c in cmd], own, children


def sample():
    totals, phase = {}, None
    for _pid, comm, cmd, own, children in processes():
        name = comm if comm in GROUPS else os.path.basename(cmd[0]) if cmd and cmd[0] else comm
        group = next((g for prefix, g in GROUPS.items() if name.startswith(prefix)), None)
        if "--phase" in cmd:
            phase = cmd[cmd.index("--phase") + 1]
        if group:
            totals[group] = totals.get(group, 0) + own + children
    with open("/proc/stat") as f:
        cpu = f.readline().split()[1:]
    busy = sum(int(v) for i, v in enumerate(cpu) if i not in (3, 4))
    totals["machine"] = busy
    return phase or "-", totals


def record(out):
    with open(out, "w") as f:
        while True:
            phase, totals = sample()
            cells = "\t".join(f"{k}={v}" for k, v in sorted(totals.items()))
            f.write(f"{time.time():.2f}\t{phase}\t{cells}\n")
            f.flush()
            time.sleep(0.2)


def report(path):
    rows = []
    for line in open(path):
        stamp, phase, *cells = line.rstrip("\n").split("\t")
        rows.append((float(stamp), phase, dict(c.split("=") for c in cells)))
    spans, start = [], 0
    for i in range(1, len(rows) + 1):
        if i == len(rows) or rows[i][1] != rows[start][1]:
            spans.append((rows[start], rows[i - 1]))
            start = i
    groups = ["bench", "postgres", "mariadb", "rabbitmq", "machine"]
    print("phase\tseconds\t" + "\t".join(f"{g} cpu s" for g in groups))
    for first, last in spans:
        if first[1] == "-" or last[0] - first[0] < 0.5:
            continue
        used = [
            (int(last[2].get(g, 0)) - int(first[2].get(g, 0))) / TICK for g in groups
        ]
        print(
            f"{first[1]}\t{last[0] - first[0]:.1f}\t"
            + "\t".join(f"{u:.2f}" for u in used)
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out")
    parser.add_argument("--report")
    args = parser.parse_args()
    if args.report:
        report(args.report)
    elif args.out:
        record(args.out)
    else:
        sys.exit("give --out FILE to record or --report FILE to read one")
