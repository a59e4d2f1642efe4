"""The hub's one SQLite file: transcript records, bodies, parties, sessions, webhooks, pending work.

One connection and one lock: every write is serialised (SQLite allows one writer anyway) and every
read sees committed data. WAL journal with `synchronous=NORMAL`: a killed hub process loses nothing
that was committed (the OS has it); only a power cut can lose the last transactions. Without a folder
the database lives in memory and goes with the process (the embedded self-test, unit tests).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from harness.core.errors import ConfigError

FILENAME = "hub.sqlite"
SCHEMA_VERSION = "1"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records (chain TEXT NOT NULL, seq INTEGER NOT NULL, hash TEXT NOT NULL,
                                    data BLOB NOT NULL, PRIMARY KEY (chain, seq));
CREATE TABLE IF NOT EXISTS bodies (sha256 TEXT PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS refs (chain TEXT NOT NULL, sha256 TEXT NOT NULL, PRIMARY KEY (chain, sha256));
CREATE TABLE IF NOT EXISTS parties (scope TEXT NOT NULL, dip_id TEXT NOT NULL, data TEXT NOT NULL,
                                    PRIMARY KEY (scope, dip_id));
CREATE TABLE IF NOT EXISTS webhooks (scope TEXT NOT NULL, dip_id TEXT NOT NULL, interface TEXT NOT NULL,
                                     config TEXT NOT NULL, PRIMARY KEY (scope, dip_id, interface));
CREATE TABLE IF NOT EXISTS sessions (sid TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS surs (scope TEXT NOT NULL, dip_id TEXT NOT NULL, sur TEXT NOT NULL,
                                 PRIMARY KEY (scope, dip_id, sur));
CREATE TABLE IF NOT EXISTS inbox (id INTEGER PRIMARY KEY AUTOINCREMENT, scope TEXT NOT NULL, dip_id TEXT NOT NULL,
                                  interface TEXT NOT NULL, event TEXT NOT NULL, transaction_id TEXT NOT NULL,
                                  item TEXT NOT NULL, stored_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS inbox_recipient ON inbox (scope, dip_id, interface);
CREATE TABLE IF NOT EXISTS pending (id INTEGER PRIMARY KEY AUTOINCREMENT, job TEXT NOT NULL,
                                    in_flight INTEGER NOT NULL DEFAULT 0);
"""


class Database:
    """The hub's SQLite database (thread-safe through one lock)."""

    def __init__(self, folder: Path | str | None = None) -> None:
        self.path: Path | None = None
        target = ":memory:"
        if folder is not None:
            self.path = Path(folder) / FILENAME
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigError(f"{folder}: cannot create the hub's state folder ({exc.strerror})") from None
            target = str(self.path)
        try:
            self._db = sqlite3.connect(target, check_same_thread=False, isolation_level=None, timeout=10)
            if self.path is not None:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            found = self._db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        except sqlite3.DatabaseError as exc:
            raise ConfigError(f"{self.path or 'hub state'}: not a usable hub database ({exc})") from None
        if found is None:
            self._db.execute("INSERT INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
        elif found[0] != SCHEMA_VERSION:
            raise ConfigError(f"{self.path}: hub database schema {found[0]}, this dipcert reads {SCHEMA_VERSION}")
        self.lock = threading.RLock()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Everything inside commits together, or not at all (under the database lock)."""
        with self.lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple]:
        with self.lock:
            return self._db.execute(sql, params).fetchall()

    def close(self) -> None:
        with self.lock:
            self._db.close()
