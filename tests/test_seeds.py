"""launch.seeds reads train-job results.json rows and compares each run with the closed form at
its labeled fraction."""
import json

import pytest

from launch.seeds import main, spread


def write_results(workdir, deep, lowdim, direct):
  workdir.mkdir()
  rows = [{"dataset": "d", "name": "main", "kind": "deep", "labeled_fraction": 1.0, "rmse": deep}]
  rows += [{"dataset": "d", "name": name, "kind": "closed_form", "labeled_fraction": fraction,
            "rmse": rmse * scale} for fraction, scale in ((0.5, 2.0), (1.0, 1.0))
           for name, rmse in (("lowdim", lowdim), ("direct", direct))]
  rows.append({"dataset": "d", "name": "oracle_retrieval", "kind": "baseline", "rmse": 0.01})
  (workdir / "results.json").write_text(json.dumps({"datasets": {"d": {}}, "rows": rows}))
  return str(workdir)


def test_margin_is_against_the_better_closed_form(tmp_path, capsys):
  a = write_results(tmp_path / "a", 0.09, 0.10, 0.12)
  b = write_results(tmp_path / "b", 0.11, 0.12, 0.10)
  rows = spread([a, b])["main"]
  assert [r[0] for r in rows] == [a, b]
  assert rows[0][-1] == pytest.approx(-0.1) and rows[1][-1] == pytest.approx(0.1)
  main([a, b])
  mean_line = [line for line in capsys.readouterr().out.splitlines() if line.startswith("mean")]
  deep, lowdim, direct, margin = mean_line[0].split()[1:]
  assert (deep, lowdim, direct) == ("0.10000", "0.11000", "0.11000")
  assert float(margin.rstrip("%")) == pytest.approx(0.0)


def test_missing_results_are_named(tmp_path):
  with pytest.raises(FileNotFoundError, match="results.json"):
    spread([str(tmp_path)])
