"""Freed memory goes back to the operating system in processes that run the graph.

A long backfill frees most of what each step builds (a Bronze chunk's payloads, a Silver shard's frames),
but two allocators kept it: glibc's heap, where freed pandas/numpy blocks stay mapped until the heap's
top is free, and pyarrow's default pool (mimalloc), which keeps its pages for reuse. The next step's
peak then sat on the earlier steps' garbage. Measured on the 50 × 365 organisation in 4 Silver shards
(docs/benchmark.md, "Bounded memory"): peak 873 → 776 MB, Silver steps about 840 → 620 MB, Gold steps
about 695 → 442 MB.

`release_freed_memory()` (called when the definitions load, so in every run worker, step process, code
server and in-process CLI run) therefore:
- sets glibc's mmap and trim thresholds to 128 KiB (`mallopt`): blocks that size and up are mapped on
  their own and unmapped when freed, and the heap is trimmed past 128 KiB of free top;
- makes pyarrow allocate from the system allocator, so its frees follow the same rules.

Opt out with `DEVMETRICS_MALLOC=default`. A setting already given through glibc's or Arrow's own
variables (MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_, ARROW_DEFAULT_MEMORY_POOL) is left as given.
Elsewhere than glibc (musl, macOS) only the pyarrow part applies.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

OPT_OUT_ENV = "DEVMETRICS_MALLOC"
THRESHOLD_BYTES = 128 * 1024
# glibc's malloc.h parameter numbers.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_GLIBC_ENV = {_M_MMAP_THRESHOLD: "MALLOC_MMAP_THRESHOLD_", _M_TRIM_THRESHOLD: "MALLOC_TRIM_THRESHOLD_"}

_applied: dict[str, bool] | None = None


def release_freed_memory() -> dict[str, bool]:
    """Apply the settings once per process; what was set ({"glibc": bool, "pyarrow": bool})."""
    global _applied
    if _applied is not None:
        return _applied
    if os.environ.get(OPT_OUT_ENV, "").strip().lower() == "default":
        _applied = {"glibc": False, "pyarrow": False}
        return _applied
    _applied = {"glibc": _set_glibc_thresholds(), "pyarrow": _use_system_pool()}
    return _applied


def _set_glibc_thresholds() -> bool:
    name = ctypes.util.find_library("c")
    try:
        mallopt = ctypes.CDLL(name).mallopt if name else None
    except (OSError, AttributeError):  # not glibc: no mallopt
        return False
    if mallopt is None:
        return False
    done = False
    for param, env in _GLIBC_ENV.items():
        if env not in os.environ:
            done = bool(mallopt(param, THRESHOLD_BYTES)) or done
    return done


def _use_system_pool() -> bool:
    if "ARROW_DEFAULT_MEMORY_POOL" in os.environ:
        return False
    try:
        import pyarrow as pa
    except ImportError:
        return False
    pa.set_memory_pool(pa.system_memory_pool())
    return True
