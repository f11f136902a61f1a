"""Progress lines with rate and ETA, and metrics as JSON lines."""
from __future__ import annotations

import json
import os
import sys
import time

from inverse3d.files import json_safe


class Progress:
  """Prints ``name  i/total  rate/s  ETA`` at most every ``every_s`` seconds and at the end.

  Usage::

      progress = Progress("render", total=n, unit="shapes")
      for ...:
        progress.update(batch_size)
      progress.close()
  """

  def __init__(self, name: str, total: int, unit: str = "it", every_s: float = 5.0,
               stream=None):
    self.name, self.total, self.unit, self.every_s = name, total, unit, every_s
    self.stream = stream or sys.stderr
    self.done = self.printed = 0
    self.start = self.last = time.perf_counter()

  def update(self, n: int = 1, **extra) -> None:
    """Counts ``n`` more units done; ``extra`` values (e.g. loss=0.1) join the line."""
    self.done += n
    now = time.perf_counter()
    if now - self.last >= self.every_s or self.done >= self.total:
      self.last = now
      self._print(now, extra)

  def close(self) -> float:
    """Prints the final line unless it is already out; returns the elapsed seconds."""
    now = time.perf_counter()
    if self.printed != self.done:
      self._print(now, {})
    return now - self.start

  def _print(self, now: float, extra: dict) -> None:
    self.printed = self.done
    elapsed = max(now - self.start, 1e-9)
    rate = self.done / elapsed
    eta = (self.total - self.done) / rate if rate > 0 else float("inf")
    fields = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                      for k, v in extra.items())
    print(f"[{self.name}] {self.done}/{self.total} {self.unit} {rate:.1f} {self.unit}/s "
          f"elapsed {elapsed:.1f}s ETA {eta:.1f}s {fields}".rstrip(), file=self.stream,
          flush=True)


class MetricsWriter:
  """Appends one JSON object per call to ``workdir/metrics.jsonl`` (flushed each write).

  Every line is valid JSON: a NaN or +-inf value is written as null, and the record then also
  holds ``"nonfinite": {key: "nan" | "inf" | "-inf"}`` naming what was replaced (nested keys
  joined with "/"). NumPy and jax scalars become Python numbers, arrays become lists.

  ``fresh``: start the file anew (a job that recomputes every line on each invocation), rather
  than appending to it (a training loop resuming its own lines).
  """

  NONFINITE_KEY = "nonfinite"

  def __init__(self, workdir, filename: str = "metrics.jsonl", fresh: bool = False):
    os.makedirs(workdir, exist_ok=True)
    self.path = os.path.join(workdir, filename)
    if fresh and os.path.exists(self.path):
      os.remove(self.path)

  def write(self, **metrics) -> None:
    """Appends ``metrics`` as one line; raises ValueError naming a key JSON cannot hold."""
    if self.NONFINITE_KEY in metrics:
      raise ValueError(f"metrics: expected no key {self.NONFINITE_KEY!r} (it records the "
                       f"non-finite values), got keys {sorted(metrics)}")
    nonfinite: dict = {}
    record = json_safe(metrics, nonfinite)
    if nonfinite:
      record[self.NONFINITE_KEY] = nonfinite
    try:
      line = json.dumps(record, allow_nan=False)
    except TypeError:
      key = next(k for k, v in record.items() if not _serialisable(v))
      raise ValueError(f"metrics[{key!r}]: expected numbers, strings, lists or dicts, got "
                       f"{type(metrics[key]).__name__}") from None
    with open(self.path, "a") as f:
      f.write(line + "\n")


def _serialisable(value) -> bool:
  try:
    json.dumps(value, allow_nan=False)
  except TypeError:
    return False
  return True
