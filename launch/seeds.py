"""Seed spread of train-job workdirs: each run's test RMSE beside the best closed form.

    python -m launch.seeds workdirs/ict_s0 workdirs/ict_s1 workdirs/ict_s2

Reads the rows of every workdir's results.json (written by :mod:`inverse3d.jobs.train`, see
:mod:`inverse3d.mapping.scores`) and prints, per deep run, one row per workdir (deep RMSE,
low-dim LS and direct LS at the run's labeled fraction, margin of the deep run over the better
closed form, negative when the deep run is better) and then the mean and sample standard
deviation over the workdirs.
"""
from __future__ import annotations

import json
import os
import statistics
import sys


def spread(workdirs: list[str]) -> dict:
  """{run: [(workdir, deep, lowdim, direct, margin), ...]} from each workdir's results.json."""
  rows = {}
  for workdir in workdirs:
    path = os.path.join(workdir, "results.json")
    if not os.path.isfile(path):
      raise FileNotFoundError(f"workdirs: expected a finished train job's {path}, found none")
    with open(path) as f:
      results = json.load(f)
    for run in (r for r in results["rows"] if r["kind"] == "deep"):
      closed = {r["name"]: r["rmse"] for r in results["rows"] if r["kind"] == "closed_form"
                and (r["dataset"], r["labeled_fraction"]) == (run["dataset"],
                                                              run["labeled_fraction"])}
      lowdim, direct, deep = closed["lowdim"], closed["direct"], run["rmse"]
      rows.setdefault(run["name"], []).append(
          (workdir, deep, lowdim, direct, deep / min(lowdim, direct) - 1.0))
  return rows


def main(workdirs: list[str]) -> None:
  if not workdirs:
    raise SystemExit(__doc__)
  for name, rows in spread(workdirs).items():
    print(f"run {name}\n{'workdir':<40}{'deep':>10}{'low-dim':>10}{'direct':>10}{'margin':>9}")
    for workdir, *values, margin in rows:
      print(f"{workdir:<40}" + "".join(f"{v:>10.5f}" for v in values) + f"{margin:>+9.1%}")
    columns = list(zip(*[row[1:] for row in rows]))
    std = [statistics.stdev(c) if len(c) > 1 else float("nan") for c in columns]
    print(f"{'mean':<40}" + "".join(f"{statistics.fmean(c):>10.5f}" for c in columns[:3])
          + f"{statistics.fmean(columns[3]):>+9.1%}")
    print(f"{'std':<40}" + "".join(f"{s:>10.5f}" for s in std[:3]) + f"{std[3]:>9.1%}\n")


if __name__ == "__main__":
  main(sys.argv[1:])
