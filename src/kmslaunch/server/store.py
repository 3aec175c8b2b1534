"""The endpoint's state in SQLite: the world (as snapshot files), credentials, key material, and CloudTrail.

Every change is one transaction, so a crash mid-request leaves the store as it was before the request. The world
is kept in kmslaunch's snapshot format, so the state exports as a snapshot the doctor reads
(``kmslaunch serve --export DIR``). CloudTrail records of read-only calls are appended without rewriting the
world; loading replays those written after the last world save.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from kmslaunch.snapshot.load import load_snapshot
from kmslaunch.snapshot.save import save_snapshot
from kmslaunch.world.clock import Clock, Ids
from kmslaunch.world.world import World

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS world_files (path TEXT PRIMARY KEY, content TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS credentials (
    access_key_id TEXT PRIMARY KEY, secret TEXT NOT NULL, principal_arn TEXT NOT NULL,
    session_token TEXT, expires_at TEXT, role_arn TEXT, status TEXT NOT NULL DEFAULT 'Active', created TEXT
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


class Store:
    """One SQLite file; the endpoint holds its lock around every use."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    # The world ---------------------------------------------------------------------------------------------

    def load_world(self, clock: Clock, ids: Ids) -> World | None:
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
        last = int(self.get_meta("last_event_id") or 0)
        for account, region, event in self.db.execute(
            "SELECT account, region, event FROM trail WHERE id > ? ORDER BY id", (last,)
        ):
            world.account(account).region(region).trail.events.append(json.loads(event))
        return world

    def save_world(self, world: World, extra_meta: dict[str, str] | None = None) -> None:
        with tempfile.TemporaryDirectory(prefix="kmslaunch-state-") as tmp:
            root = Path(tmp) / "snap"
            save_snapshot(world, root, meta={"source": "kmslaunch serve"})
            files = [
                (str(p.relative_to(root)), p.read_text(encoding="utf-8"))
                for p in sorted(root.rglob("*"))
                if p.is_file()
            ]
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
        if not events:
            return
        self.db.executemany(
            "INSERT INTO trail (account, region, event) VALUES (?, ?, ?)",
            [(a, r, json.dumps(e, default=str)) for a, r, e in events],
        )

    # Credentials and key material ---------------------------------------------------------------------------

    def put_credential(self, c: StoredCredential) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO credentials VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                c.access_key_id,
                c.secret,
                c.principal_arn,
                c.session_token,
                c.expires_at.isoformat() if c.expires_at else None,
                c.role_arn,
                c.status,
                c.created,
            ),
        )

    def delete_credential(self, access_key_id: str) -> None:
        self.db.execute("DELETE FROM credentials WHERE access_key_id = ?", (access_key_id,))

    def credentials(self) -> list[StoredCredential]:
        out = []
        for row in self.db.execute("SELECT * FROM credentials"):
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
                )
            )
        return out

    def put_material(self, key_arn: str, material: bytes) -> None:
        self.db.execute("INSERT OR REPLACE INTO key_material VALUES (?, ?)", (key_arn, material))

    def materials(self) -> dict[str, bytes]:
        return {k: bytes(m) for k, m in self.db.execute("SELECT key_arn, material FROM key_material")}

    def get_meta(self, k: str) -> str | None:
        row = self.db.execute("SELECT v FROM meta WHERE k = ?", (k,)).fetchone()
        return str(row[0]) if row else None
