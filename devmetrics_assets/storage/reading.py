"""`reading(storage)`: a burst of reads on one connection where the backend supports it (DuckDB).

Silver and Gold open the warehouse for each read (a read-only connection, then the table's columns),
which costs ~30 ms a time on a year-sized file and adds up to seconds per run. Around a burst of reads
that follow each other with no computing in between, `reading` holds one connection for the burst
(`Warehouse.reading`); other backends (MongoDB) and objects without it read as before. Keep the burst
short: other processes cannot write the DuckDB file while it is held.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any


def reading(storage: Any) -> AbstractContextManager[None]:
    """storage.reading() when the backend has one (DuckDB warehouses and their shard views), else nothing."""
    hold = getattr(storage, "reading", None)
    return hold() if callable(hold) else nullcontext()
