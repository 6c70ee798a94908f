"""Every committed run's prefix check, written down so that two versions of the package can be compared (the
redesign issue; not part of the tests).

    python benchmarks/store_prefixes.py --out before.csv [--samples 1000] [--only 'mnist-*']
    python benchmarks/store_prefixes.py --out after.csv --compare before.csv

For each run of the results store (``results/runs``, or ``--only`` shell-style patterns on run names) it
re-trains the first ``--samples`` training samples with ``aevb.experiments.store.check_prefix`` (the run's seed
and stored step size) and writes one row per stored curve value up to there: run, samples, column, the stored
value, the re-trained one, their difference (``repr`` floats, so that equal means bit for bit). With
``--compare`` it then lists every row, of the runs re-trained here, whose re-trained value differs from the earlier
file's (bit for bit) and exits 1 if there is one. A run whose check raises is written with its error and counts
as differing only if the earlier file had a value there.
"""
from __future__ import annotations

import argparse
import csv
import fnmatch
import math
import sys
import time

from aevb.experiments.store import RESULTS_DIR, check_prefix

COLUMNS = ["run", "samples", "column", "stored", "rerun", "difference", "error"]


def runs(patterns: list[str]) -> list[str]:
    names = sorted(p.name for p in (RESULTS_DIR / "runs").iterdir() if (p / "curve.csv").exists())
    return [n for n in names if not patterns or any(fnmatch.fnmatch(n, p) for p in patterns)]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--samples", type=int, default=1000)
    p.add_argument("--only", default="", help="comma-separated shell-style patterns on run names")
    p.add_argument("--compare", default=None, help="an earlier --out file to compare the re-trained values with")
    a = p.parse_args()
    with open(a.out, "w", newline="") as f:
        w = csv.DictWriter(f, COLUMNS)
        w.writeheader()
        for name in runs([s for s in a.only.split(",") if s]):
            t = time.perf_counter()
            try:
                rows = check_prefix(name, a.samples, math.inf)
                for r in rows:
                    w.writerow({"run": name, **{k: repr(v) if isinstance(v, float) else v for k, v in r.items()},
                                "error": ""})
                worst = max(abs(r["difference"]) for r in rows)
                print(f"{name}: {len(rows)} values, largest difference {worst:.3e} ({time.perf_counter() - t:.0f} s)",
                      flush=True)
            except Exception as e:  # noqa: BLE001 (written down, compared below)
                w.writerow({"run": name, "error": f"{type(e).__name__}: {e}".replace("\n", " ")})
                print(f"{name}: {type(e).__name__}: {e}", flush=True)
            f.flush()
    if a.compare is None:
        return 0
    key = lambda r: (r["run"], r["samples"], r["column"])  # noqa: E731
    before = {key(r): r for r in csv.DictReader(open(a.compare))}
    after = {key(r): r for r in csv.DictReader(open(a.out))}
    checked = {r for r, _, _ in after}  # with --only, the runs this file re-trained
    differ = [k for k in before if k[0] in checked and k[2]
              and (k not in after or after[k]["rerun"] != before[k]["rerun"])]
    for k in differ:
        print(f"DIFFERS {k}: before {before[k]['rerun']}, after {after.get(k, {}).get('rerun', 'missing')}")
    print(f"{sum(k[0] in checked for k in before)} rows before, {len(after)} after (runs re-trained here), "
          f"{len(differ)} re-trained values differ")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
