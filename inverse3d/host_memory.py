"""Keep freed heap memory in the process, so that training steps stop page-faulting.

XLA:CPU allocates a step's temporaries afresh on every call (about 270 MB for the conv voxel
model's fine-tuning step) and frees them at its end. glibc's malloc serves blocks over its mmap
threshold with fresh ``mmap`` pages and trims the heap top back to the OS, so the next step
touches new pages: about 14,000 minor page faults per step for the conv voxel decoder alone,
a third of its time (benchmarks/train_step.py measures both settings). PyTorch's CPU allocator
goes through the same malloc and pays the same cost.

:func:`keep_freed_memory` makes malloc keep what it frees (no mmap for large blocks, no trim,
one arena, a generous top pad). It is process-wide, so only entry points call it (the launcher
for configs that set ``keep_freed_memory``, the benchmark), never a library import. It suits
jobs that allocate the same buffers step after step; a job whose large arrays come in many sizes
fragments the kept heap (Table 2's closed-form job: peak RSS 7.8 against 5.1 GB). The memory a step frees stays mapped for the next one,
so the resident memory stays near its peak, and the peak grows a little: 3.28 against 3.17 GB
in a conv Fig. 9 job, 1.1-1.4 against 1.0 GB in the train-step benchmark (RESULTS.md).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools

# mallopt parameters (glibc malloc.h).
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_MAX, _M_ARENA_MAX = -1, -2, -4, -8
_SETTINGS = ((_M_MMAP_MAX, 0), (_M_TRIM_THRESHOLD, 2 ** 31 - 1), (_M_TOP_PAD, 512 * 2 ** 20),
             (_M_ARENA_MAX, 1))


@functools.cache
def keep_freed_memory() -> bool:
  """Configures glibc's malloc for this process as described above; call it before the first
  large allocation (before building models). Returns False, changing nothing, where the C
  library is not glibc (macOS, musl)."""
  name = ctypes.util.find_library("c")
  try:
    libc = ctypes.CDLL(name)
    mallopt = libc.mallopt
    libc.gnu_get_libc_version  # glibc only
  except (OSError, AttributeError, TypeError):
    return False
  mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
  return all(mallopt(param, value) == 1 for param, value in _SETTINGS)
