"""The content-hash cache of batch bakes (``texgs bake-dir``): one SQLite file in the
output folder remembers which output was baked from which inputs and settings.

A job is skipped when its key (a SHA-256 over every input file's bytes, the map kinds and
weights, the bake settings and the texgs and format versions) matches the row recorded for
its output and the output file on disk still has the recorded SHA-256. The row is written
only after the output has been renamed into place, so a run killed at any point leaves
either a finished output with its row, or a job that the next run bakes again.

Standard library only.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from dataclasses import asdict
from pathlib import Path

from . import __version__
from . import format as fmt
from .errors import OutputError

CACHE_NAME = ".texgs-cache.sqlite"

#: BakeConfig fields that do not change the bytes of the asset (see docs/PIPELINE.md).
_SETTINGS_IGNORED = ("threads", "device")


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(chunk)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def job_key(sources: list, cfg) -> str:
    """The cache key of baking ``sources`` (MapSource list) with ``cfg`` (BakeConfig).

    Raises OSError when an input cannot be read (the caller reports it as the job's error).
    """
    settings = {k: v for k, v in sorted(asdict(cfg).items()) if k not in _SETTINGS_IGNORED}
    doc = {
        "texgs": __version__,
        "format": fmt.VERSION,
        "settings": settings,
        "maps": [{"kind": s.kind, "weight": s.weight, "sha256": file_sha256(s.path)}
                 for s in sources],
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


class BakeCache:
    """Rows ``output -> (key, output sha256, size, summary JSON)`` in ``folder/CACHE_NAME``."""

    def __init__(self, folder: str | Path):
        self.path = Path(folder) / CACHE_NAME
        try:
            self._db = sqlite3.connect(self.path)
            self._db.execute("CREATE TABLE IF NOT EXISTS bakes (output TEXT PRIMARY KEY, "
                             "key TEXT NOT NULL, sha256 TEXT NOT NULL, size INTEGER NOT NULL, "
                             "summary TEXT NOT NULL, finished REAL NOT NULL)")
            self._db.commit()
        except sqlite3.DatabaseError as e:
            raise OutputError(f"{self.path}: cannot use the bake cache ({e}); delete it to "
                              "start afresh") from None

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "BakeCache":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def lookup(self, output: str | Path, key: str) -> dict | None:
        """The recorded summary when ``output`` was baked with ``key`` and is unchanged on
        disk; else None."""
        row = self._db.execute("SELECT key, sha256, size, summary FROM bakes WHERE output=?",
                               (str(output),)).fetchone()
        if row is None or row[0] != key:
            return None
        p = Path(output)
        try:
            if p.stat().st_size != row[2] or file_sha256(p) != row[1]:
                return None
        except OSError:
            return None
        return json.loads(row[3])

    def record(self, output: str | Path, key: str, data: bytes, summary: dict) -> None:
        """Remember that ``output`` (already on disk, holding ``data``) was baked with ``key``."""
        self._db.execute("INSERT OR REPLACE INTO bakes VALUES (?, ?, ?, ?, ?, ?)",
                         (str(output), key, hashlib.sha256(data).hexdigest(), len(data),
                          json.dumps(summary), time.time()))
        self._db.commit()

    def count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM bakes").fetchone()[0])
