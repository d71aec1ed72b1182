"""process_memory: frees of large blocks go back to the OS once the definitions load (each case in a
fresh interpreter, since the settings are per process and glibc's thresholds move as a process runs)."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

# glibc raises its mmap threshold each time an mmapped block is freed (up to 32 MiB), so after a long
# run's first big frees, blocks of a few MiB come from the heap and stay resident when freed in its
# middle (what long backfills grew on). A fixed threshold keeps them mapped on their own: the probe
# frees an 8 MiB block, then asks where a 1 MiB block comes from (above the heap's break: mapped).
PROBE = r"""
import ctypes, ctypes.util, json, sys
from devmetrics_assets.process_memory import release_freed_memory
applied = release_freed_memory() if sys.argv[1] == "apply" else None
libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.malloc.restype = libc.sbrk.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
libc.free(libc.malloc(8 * 2**20))
block = libc.malloc(2**20)
mapped = block > libc.sbrk(0)
libc.free(block)
import pyarrow as pa
print(json.dumps({"applied": applied, "mapped": mapped, "pool": pa.default_memory_pool().backend_name}))
"""


def _probe(mode: str, **env: str) -> dict:
    environ = {k: v for k, v in os.environ.items()
               if k not in ("DEVMETRICS_MALLOC", "ARROW_DEFAULT_MEMORY_POOL", "MALLOC_MMAP_THRESHOLD_",
                            "MALLOC_TRIM_THRESHOLD_")}
    out = subprocess.run([sys.executable, "-c", PROBE, mode], env={**environ, **env}, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                    reason="glibc's mallopt thresholds")
def test_large_blocks_stay_mapped_on_their_own_once_applied():
    untouched, applied = _probe("leave"), _probe("apply")
    assert untouched["mapped"] is False  # glibc's dynamic threshold moved: the heap serves 1 MiB
    assert applied["applied"] == {"glibc": True, "pyarrow": True}
    assert applied["mapped"] is True
    assert applied["pool"] == "system"


def test_opt_out_and_allocator_variables_are_left_as_given():
    assert _probe("apply", DEVMETRICS_MALLOC="default")["applied"] == {"glibc": False, "pyarrow": False}
    given = _probe("apply", ARROW_DEFAULT_MEMORY_POOL="system", MALLOC_MMAP_THRESHOLD_="65536",
                   MALLOC_TRIM_THRESHOLD_="65536")
    assert given["applied"] == {"glibc": False, "pyarrow": False}
    assert given["pool"] == "system"
