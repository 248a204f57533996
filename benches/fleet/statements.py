#!/usr/bin/env python3
"""Round trips and statement time per store database, from PostgreSQL's log.

Run after a `--log-statements` run of the fleet benchmark, on the lines
the server logged during it:

    L=/var/log/postgresql/postgresql-15-main.log; from=$(wc -l < $L)
    cargo bench --bench fleet -- --only batch --sizes 1000 --runs 1 --log-statements
    tail -n +$((from + 1)) $L | python3 benches/fleet/statements.py --jobs 1000

With `log_min_duration_statement = 0` the server logs each `execute` of a
prepared statement and each simple-protocol statement (`BEGIN`, `COMMIT`)
with its duration: one line per round trip. For each benchmark database
(`dbft_bench_…`: one fleet run or one `dbfleet run`'s import, whichever
used PostgreSQL) it prints the round trips (the schema's migrations left
out) per job, then the statements that took the most time, parse, bind and
execute apart.
"""

import argparse
import collections
import re
import sys

LINE = re.compile(
    r"@(dbft_bench_\w+) LOG:  duration: ([\d.]+) ms  "
    r"(parse|bind|execute|statement)(?: [^:]*)?: (.*)"
)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, required=True, help="jobs per fleet run")
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()
    trips = collections.Counter()
    spent = collections.defaultdict(float)
    calls = collections.Counter()
    for line in sys.stdin:
        match = LINE.search(line)
        if not match:
            continue
        db, ms, step, sql = match.groups()
        if sql.startswith("--"):
            continue  # a migration file, run once per database
        if step in ("execute", "statement"):
            trips[db] += 1
        key = f"{step:9} {sql[:100]}"
        spent[key] += float(ms)
        calls[key] += 1
    runs = max(len(trips), 1)
    for db, n in sorted(trips.items()):
        print(f"{db}: {n} round trips, {n / args.jobs:.2f} per job")
    print(f"\nstatement time per job over {runs} run(s), heaviest first:")
    print(f"{'ms/job':>8} {'calls':>7}  step      statement")
    for key, ms in sorted(spent.items(), key=lambda kv: -kv[1])[: args.top]:
        print(f"{ms / runs / args.jobs:8.3f} {calls[key]:7d}  {key}")
    total = sum(spent.values()) / runs / args.jobs
    print(f"{total:8.3f}          all statements")


if __name__ == "__main__":
    main()
