"""Progress lines with rate and ETA, and metrics as JSON lines."""
from __future__ import annotations

import json
import os
import sys
import time


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

  ``fresh``: start the file anew (a job that recomputes every line on each invocation), rather
  than appending to it (a training loop resuming its own lines).
  """

  def __init__(self, workdir, filename: str = "metrics.jsonl", fresh: bool = False):
    os.makedirs(workdir, exist_ok=True)
    self.path = os.path.join(workdir, filename)
    if fresh and os.path.exists(self.path):
      os.remove(self.path)

  def write(self, **metrics) -> None:
    record = {k: (float(v) if hasattr(v, "__float__") and not isinstance(v, (int, str)) else v)
              for k, v in metrics.items()}
    with open(self.path, "a") as f:
      f.write(json.dumps(record) + "\n")
