"""keep_freed_memory: a freed large block is reused without page faults."""
import platform
import subprocess
import sys

import pytest

# Allocates and frees a 64 MB array 20 times (numpy's large arrays come from malloc) and prints
# the minor page faults of the last 10 rounds.
_CHILD = """
import resource, sys
import numpy as np
if sys.argv[1] == "keep":
  from inverse3d.host_memory import keep_freed_memory
  assert keep_freed_memory()
def rounds(n):
  for _ in range(n):
    a = np.ones(16 * 2 ** 20, np.float32)
    del a
rounds(10)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
rounds(10)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(setting: str) -> int:
  out = subprocess.run([sys.executable, "-c", _CHILD, setting], check=True, capture_output=True,
                       text=True)
  return int(out.stdout)


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                    reason="keep_freed_memory configures glibc's malloc")
def test_keep_freed_memory_stops_refaulting_large_blocks():
  default, keep = _faults("default"), _faults("keep")
  # By default every round maps 64 MB afresh and faults its pages in (how many faults depends on
  # the kernel's page sizes: 5,440 here); kept, the block is reused.
  assert default > 1000
  assert keep < default / 20
