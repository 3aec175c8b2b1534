"""The endpoint's state in SQLite: the world (as snapshot files), credentials, key material, and CloudTrail.

Every change to the world is one transaction, so a crash mid-request leaves the store as it was before the
request. The world is kept in kmslaunch's snapshot format, so the state exports as a snapshot the doctor reads
(``kmslaunch serve --export DIR``). CloudTrail records are appended without rewriting the world, in batches
written every ``FLUSH_SECONDS`` (and before every world save and at shutdown): a crash can lose the records of
the last fraction of a second, never a change to the world. Loading replays the records written after the last
world save.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from kmslaunch.policy.errors import KmslaunchError
from kmslaunch.snapshot.load import load_snapshot
from kmslaunch.snapshot.save import save_snapshot
from kmslaunch.world.clock import Clock, Ids
from kmslaunch.world.world import World

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS world_files (path TEXT PRIMARY KEY, content TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS credentials (
    access_key_id TEXT PRIMARY KEY, secret TEXT NOT NULL, principal_arn TEXT NOT NULL,
    session_token TEXT, expires_at TEXT, role_arn TEXT, status TEXT NOT NULL DEFAULT 'Active', created TEXT,
    session_policy TEXT, session_policy_arns TEXT
);
CREATE TABLE IF NOT EXISTS key_material (key_arn TEXT PRIMARY KEY, material BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS trail (id INTEGER PRIMARY KEY AUTOINCREMENT, account TEXT, region TEXT, event TEXT NOT NULL);
"""


@dataclass(frozen=True)
class StoredCredential:
    access_key_id: str
    secret: str
    principal_arn: str
    session_token: str | None
    expires_at: datetime | None
    role_arn: str | None
    status: str
    created: str | None
    # What AssumeRole's Policy and PolicyArns narrowed the session to: every request with these credentials is
    # limited by them (https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies.html#policies_session).
    session_policy: str | None = None
    session_policy_arns: tuple[str, ...] = ()


FLUSH_SECONDS = 0.1

# The tables a kmslaunch state file holds; a file with any other table belongs to another application.
_TABLES = frozenset({"meta", "world_files", "credentials", "key_material", "trail", "sqlite_sequence"})
_SQLITE_MAGIC = b"SQLite format 3\x00"


class StoreError(KmslaunchError):
    """The state file is not one kmslaunch can use; it was not changed."""


def check_state_file(path: Path) -> None:
    """Refuse, without writing a byte, a file that is not a kmslaunch state: not SQLite, or another
    application's database (opening it read-write would switch it to WAL and add our tables)."""
    if not path.exists() or path.stat().st_size == 0:
        return
    if path.is_dir():
        raise StoreError(f"{path}: is a directory, not a state file")
    with path.open("rb") as f:
        if f.read(16) != _SQLITE_MAGIC:
            raise StoreError(f"{path}: not an SQLite file, so not a kmslaunch state; it is left as it is")
    try:
        db = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
        try:
            tables = {str(r[0]) for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path}: cannot be read as SQLite ({exc}); it is left as it is") from exc
    foreign = sorted(tables - _TABLES)
    if foreign or (tables and "world_files" not in tables):
        shown = ", ".join(foreign or sorted(tables))
        raise StoreError(
            f"{path}: an SQLite database of another application (tables: {shown}), not a kmslaunch state; "
            "it is left as it is: choose another file with --state"
        )


class Store:
    """One SQLite file. Every use holds the store's lock; CloudTrail records wait in memory for the flusher."""

    def __init__(self, path: Path) -> None:
        self.path = path
        check_state_file(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        # A state file written before credentials carried session policies gains the columns, empty.
        have = {row[1] for row in self.db.execute("PRAGMA table_info(credentials)")}
        for column in ("session_policy", "session_policy_arns"):
            if column not in have:
                self.db.execute(f"ALTER TABLE credentials ADD COLUMN {column} TEXT")
        self.lock = threading.RLock()
        self._pending: list[tuple[str, str, dict[str, Any]]] = []
        self._stop = threading.Event()
        self._flusher = threading.Thread(target=self._flush_loop, name="kmslaunch-trail", daemon=True)
        self._flusher.start()

    def close(self) -> None:
        self._stop.set()
        self._flusher.join(5)
        with self.lock:
            self.flush()
            self.db.close()

    def _flush_loop(self) -> None:
        while not self._stop.wait(FLUSH_SECONDS):
            with self.lock:
                self.flush()

    def flush(self) -> None:
        """Write the CloudTrail records waiting in memory, in one transaction."""
        with self.lock:
            if not self._pending:
                return
            pending, self._pending = self._pending, []
            rows = [(a, r, json.dumps(e, default=str, separators=(",", ":"))) for a, r, e in pending]
            self.db.execute("BEGIN")
            self.db.executemany("INSERT INTO trail (account, region, event) VALUES (?, ?, ?)", rows)
            self.db.execute("COMMIT")

    # The world ---------------------------------------------------------------------------------------------

    def load_world(self, clock: Clock, ids: Ids) -> World | None:
        with self.lock:
            rows = self.db.execute("SELECT path, content FROM world_files").fetchall()
            if not rows:
                return None
            with tempfile.TemporaryDirectory(prefix="kmslaunch-state-") as tmp:
                root = Path(tmp)
                for rel, content in rows:
                    target = root / rel
                    if not target.resolve().is_relative_to(root.resolve()):
                        continue
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_text(content, encoding="utf-8")
                world = load_snapshot(root, clock=clock, ids=ids).world
                # The endpoint's state is the whole world: what it lacks does not exist (InvalidAMIID.NotFound).
                world.partial = False
            last = int(self.get_meta("last_event_id") or 0)
            for account, region, event in self.db.execute(
                "SELECT account, region, event FROM trail WHERE id > ? ORDER BY id", (last,)
            ):
                world.account(account).region(region).trail.events.append(json.loads(event))
            return world

    def save_world(self, world: World, extra_meta: dict[str, str] | None = None) -> None:
        with self.lock:
            with tempfile.TemporaryDirectory(prefix="kmslaunch-state-") as tmp:
                root = Path(tmp) / "snap"
                save_snapshot(world, root, meta={"source": "kmslaunch serve"})
                files = [
                    (str(p.relative_to(root)), p.read_text(encoding="utf-8"))
                    for p in sorted(root.rglob("*"))
                    if p.is_file()
                ]
            self.flush()  # the records so far belong before this save: last_event_id counts them
            cur = self.db.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                cur.execute("DELETE FROM world_files")
                cur.executemany("INSERT INTO world_files (path, content) VALUES (?, ?)", files)
                last = cur.execute("SELECT COALESCE(MAX(id), 0) FROM trail").fetchone()[0]
                cur.execute("INSERT OR REPLACE INTO meta (k, v) VALUES ('last_event_id', ?)", (str(last),))
                for k, v in (extra_meta or {}).items():
                    cur.execute("INSERT OR REPLACE INTO meta (k, v) VALUES (?, ?)", (k, v))
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise

    def append_events(self, events: list[tuple[str, str, dict[str, Any]]]) -> None:
        """Queue records for the flusher; they are encoded there, off the request's path."""
        with self.lock:
            self._pending.extend(events)

    # Credentials and key material ---------------------------------------------------------------------------

    def put_credential(self, c: StoredCredential) -> None:
        with self.lock:
            self.db.execute(
                "INSERT OR REPLACE INTO credentials (access_key_id, secret, principal_arn, session_token, expires_at, "
                "role_arn, status, created, session_policy, session_policy_arns) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    c.access_key_id,
                    c.secret,
                    c.principal_arn,
                    c.session_token,
                    c.expires_at.isoformat() if c.expires_at else None,
                    c.role_arn,
                    c.status,
                    c.created,
                    c.session_policy,
                    json.dumps(list(c.session_policy_arns)) if c.session_policy_arns else None,
                ),
            )

    def delete_credential(self, access_key_id: str) -> None:
        with self.lock:
            self.db.execute("DELETE FROM credentials WHERE access_key_id = ?", (access_key_id,))

    def credentials(self) -> list[StoredCredential]:
        with self.lock:
            out = []
            columns = (
                "access_key_id, secret, principal_arn, session_token, expires_at, role_arn, status, created, "
                "session_policy, session_policy_arns"
            )
            for row in self.db.execute(f"SELECT {columns} FROM credentials"):
                out.append(
                    StoredCredential(
                        row[0],
                        row[1],
                        row[2],
                        row[3],
                        datetime.fromisoformat(row[4]) if row[4] else None,
                        row[5],
                        row[6],
                        row[7],
                        row[8],
                        tuple(json.loads(row[9])) if row[9] else (),
                    )
                )
            return out

    def put_material(self, key_arn: str, material: bytes) -> None:
        with self.lock:
            self.db.execute("INSERT OR REPLACE INTO key_material VALUES (?, ?)", (key_arn, material))

    def materials(self) -> dict[str, bytes]:
        with self.lock:
            return {k: bytes(m) for k, m in self.db.execute("SELECT key_arn, material FROM key_material")}

    def get_meta(self, k: str) -> str | None:
        with self.lock:
            row = self.db.execute("SELECT v FROM meta WHERE k = ?", (k,)).fetchone()
            return str(row[0]) if row else None
