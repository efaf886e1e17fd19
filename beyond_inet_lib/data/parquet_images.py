"""Images stored inside parquet files, read in place.

A row's image is addressed by a *row ref*, a path string ``<file>.parquet#<column>@<row>``
(``shop/train-0.parquet#image@41``): it goes wherever a file path goes (a
``DatasetIndex``'s ``path`` column, the engine's decode), and ``read_row(ref)`` returns the
encoded image: the cell itself (a binary column) or its ``bytes`` field (the ``{bytes,
path}`` structs of Hugging Face datasets' ``Image`` feature). The file is read a row group
at a time through pyarrow, and the last row groups read are kept (rows are read in order,
so each row group is decoded about once per process).

A leaf module: it imports nothing of the package.
"""

from __future__ import annotations

import bisect
import functools
import os
import re

_REF_RE = re.compile(r"^(.*?\.parquet)#(.+)@(\d+)$", re.IGNORECASE)


def row_ref(file, column: str, row: int) -> str:
    """``<file>#<column>@<row>``: a path string for the image of one row."""
    return f"{file}#{column}@{int(row)}"


def split_row_ref(path) -> tuple[str, str, int] | None:
    """(file, column, row) of a row ref, or None for any other path."""
    m = _REF_RE.match(str(path))
    return (m.group(1), m.group(2), int(m.group(3))) if m else None


def is_row_ref(path) -> bool:
    return ".parquet#" in str(path) and split_row_ref(path) is not None


@functools.lru_cache(maxsize=256)
def _row_group_starts(path: str, size: int, mtime_ns: int) -> tuple[int, ...]:
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(path).metadata
    starts, n = [], 0
    for i in range(meta.num_row_groups):
        starts.append(n)
        n += meta.row_group(i).num_rows
    return tuple(starts + [n])


@functools.lru_cache(maxsize=2)
def _row_group(path: str, size: int, mtime_ns: int, group: int, column: str):
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).read_row_group(group, columns=[column]).column(0).to_pylist()


def read_row(ref) -> bytes:
    """The encoded image of the row a ref names. ``OSError`` when the file cannot be
    read or holds no such row or image."""
    parts = split_row_ref(ref)
    if parts is None:
        raise ValueError(f"{ref!r} is not a row ref (<file>.parquet#<column>@<row>)")
    path, column, row = parts
    try:
        st = os.stat(path)
        starts = _row_group_starts(path, st.st_size, st.st_mtime_ns)
        if not 0 <= row < starts[-1]:
            raise OSError(f"{path} has {starts[-1]:,} rows, not a row {row}")
        group = bisect.bisect_right(starts, row) - 1
        cell = _row_group(path, st.st_size, st.st_mtime_ns, group, column)[row - starts[group]]
    except (ValueError, KeyError, IndexError) as e:  # pyarrow: a damaged file, a missing column
        raise OSError(f"{path}: cannot read row {row} ({type(e).__name__}: {e})") from None
    data = cell.get("bytes") if isinstance(cell, dict) else cell
    if not data:
        raise OSError(f"{path}: row {row} holds no image bytes in column {column!r}")
    return bytes(data)


def row_file_size(ref) -> int:
    """The size of a ref's parquet file (its part of a dataset fingerprint); -1 when absent."""
    parts = split_row_ref(ref)
    try:
        return os.path.getsize(parts[0]) if parts else -1
    except OSError:
        return -1

