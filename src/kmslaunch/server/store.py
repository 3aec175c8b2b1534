"""The endpoint's state in SQLite: the world (one row per entity), credentials, key material, and CloudTrail.

Each request is one SQLite transaction (``begin`` … ``commit``), opened before its handler runs: what the
request changed in the world, the credentials and key material it made, and its CloudTrail record are committed
together before the response is sent, or not at all. A write costs what it changed: the world is kept as the
rows of its snapshot files (``server/rows.py``: one row per key file, volume, instance, user…); a commit
serializes again only the entities the request reached (``tracking.py``, ``delta.py``) and writes the rows whose
JSON differs from the committed ones; CloudTrail records are appended rows, never rewritten. The state exports
as a snapshot the doctor reads (``kmslaunch serve --export DIR``).

Durability: SQLite's write-ahead log with ``synchronous=NORMAL``: a committed request survives the server being
killed (``kill -9``); a crash of the machine itself (power loss) may lose the last commits, never leaving a
half-made change (https://www.sqlite.org/pragma.html#pragma_synchronous).
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from kmslaunch.policy.errors import KmslaunchError
from kmslaunch.snapshot import layout as L
from kmslaunch.snapshot.load import load_snapshot
from kmslaunch.snapshot.save import lookup_event, snapshot_files
from kmslaunch.world.clock import Clock, Ids
from kmslaunch.world.world import World

from .delta import META, delta
from .rows import Committed, by_path, encode, from_rows, to_rows
from .tracking import Tracker

# 2: the world as entity rows (``entities``) and CloudTrail as the whole ``trail`` table. 1 (no ``schema`` in
# ``meta``): the world as whole snapshot files (``world_files``), read once and converted.
SCHEMA_VERSION = 2
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entities (
    path TEXT NOT NULL, list TEXT NOT NULL, id TEXT NOT NULL, content TEXT NOT NULL, PRIMARY KEY (path, list, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS credentials (
    access_key_id TEXT PRIMARY KEY, secret TEXT NOT NULL, principal_arn TEXT NOT NULL,
    session_token TEXT, expires_at TEXT, role_arn TEXT, status TEXT NOT NULL DEFAULT 'Active', created TEXT,
    session_policy TEXT, session_policy_arns TEXT
);
CREATE TABLE IF NOT EXISTS key_material (key_arn TEXT PRIMARY KEY, material BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS trail (id INTEGER PRIMARY KEY AUTOINCREMENT, account TEXT, region TEXT, event TEXT NOT NULL);
"""

Event = tuple[str, str, dict[str, Any]]  # (account, region, CloudTrail record)


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


# The tables a kmslaunch state file holds (``world_files`` in files of schema 1); a file with any other table
# belongs to another application.
_TABLES = frozenset({"meta", "world_files", "entities", "credentials", "key_material", "trail", "sqlite_sequence"})
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
            schema = None
            if "meta" in tables:
                row = db.execute("SELECT v FROM meta WHERE k = 'schema'").fetchone()
                schema = str(row[0]) if row else None
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path}: cannot be read as SQLite ({exc}); it is left as it is") from exc
    foreign = sorted(tables - _TABLES)
    if foreign or (tables and not tables & {"world_files", "entities"}):
        shown = ", ".join(foreign or sorted(tables))
        raise StoreError(
            f"{path}: an SQLite database of another application (tables: {shown}), not a kmslaunch state; "
            "it is left as it is: choose another file with --state"
        )
    if schema is not None and (not schema.isdigit() or int(schema) > SCHEMA_VERSION):
        raise StoreError(
            f"{path}: a state of schema {schema}, written by a newer kmslaunch (this one reads schemas 1 to "
            f"{SCHEMA_VERSION}); it is left as it is: open it with that version, or choose another file with --state"
        )


class Store:
    """One SQLite file, used under the store's lock. ``begin`` … ``commit`` (or ``rollback``) brackets a request;
    the other writes join the open transaction, or commit on their own outside one."""

    def __init__(self, path: Path) -> None:
        self.path = path
        check_state_file(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.lock = threading.RLock()
        # The entity rows as last committed: a commit writes the rows whose JSON differs from these, for the
        # entities the request reached in the tracked world.
        self._committed = Committed()
        self._tracker: Tracker | None = None
        self.verify = os.environ.get("KMSLAUNCH_STORE_VERIFY") == "1"
        self._open = False
        self._stray: list[Event] = []
        # Creating the tables, adding columns and converting an earlier schema is one transaction: a state that
        # cannot be converted is left as it was.
        self.begin()
        try:
            tables = {str(r[0]) for r in self.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    self.db.execute(statement)
            # A state file written before credentials carried session policies gains the columns, empty.
            have = {row[1] for row in self.db.execute("PRAGMA table_info(credentials)")}
            for column in ("session_policy", "session_policy_arns"):
                if column not in have:
                    self.db.execute(f"ALTER TABLE credentials ADD COLUMN {column} TEXT")
            if "world_files" in tables:
                self._migrate_v1()
            self.db.execute("INSERT OR REPLACE INTO meta (k, v) VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
            self.db.execute("COMMIT")
            self._open = False
        except BaseException:
            self.rollback()
            self.db.close()
            raise

    def close(self) -> None:
        with self.lock:
            if self._open:
                self.rollback()
            self.db.close()

    # Transactions ------------------------------------------------------------------------------------------

    def begin(self) -> None:
        """Open the request's transaction; IMMEDIATE takes the write lock now, so the commit cannot be refused.
        From here on the tracked world notes the entities the request reaches."""
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")
            self._open = True
            if self._tracker is not None:
                self._tracker.reset()

    def commit(self, world: World | None, events: Iterable[Event]) -> None:
        """Write what changed in ``world`` (None: the request changed nothing in it) and append ``events``, then
        commit. On any error the transaction is still open: the caller rolls back."""
        with self.lock:
            if world is not None:
                self._write_world(world)
            self._append(events)
            self.db.execute("COMMIT")
            self._open = False

    def rollback(self) -> None:
        """Undo the open transaction. The committed rows are read again: the commit may have taken some of the
        request's rows in before it failed. The world in memory is the caller's to read again (``load_world``)."""
        with self.lock:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            self._open = False
            self._committed = Committed(self.db.execute("SELECT path, list, id, content FROM entities"))
            self._tracker = None

    def _write_world(self, world: World) -> None:
        tracker = self._tracker
        if tracker is None or tracker.world is not world:
            # A world not read from this store (a fresh one, a snapshot's): every row, then track it.
            files, _ = snapshot_files(world, meta=META, trail=False)
            rows = to_rows(files)
            for account_id in world.accounts:
                rows.setdefault((account_id, "", ""), "null")
            new = by_path(rows)
            writes, deletes = self._committed.apply(new, [p for p in self._committed.by_path if p not in new])
            self._tracker = Tracker(world)
        else:
            d = delta(world, tracker)
            changed = by_path(to_rows(d.files))
            for account_id in d.accounts:
                changed.setdefault(account_id, {("", ""): "null"})
            writes, deletes = self._committed.apply(changed, d.gone, d.items)
        if deletes:
            self.db.executemany("DELETE FROM entities WHERE path = ? AND list = ? AND id = ?", deletes)
        if writes:
            self.db.executemany("INSERT OR REPLACE INTO entities (path, list, id, content) VALUES (?, ?, ?, ?)", writes)
        if self.verify:
            self._verify(world)

    def _verify(self, world: World) -> None:
        """Check that the rows kept equal a whole pass over ``world`` (KMSLAUNCH_STORE_VERIFY=1, for tests)."""
        files, _ = snapshot_files(world, meta=META, trail=False)
        rows = to_rows(files)
        for account_id in world.accounts:
            rows.setdefault((account_id, "", ""), "null")
        kept = self._committed.rows()
        if kept != rows:
            wrong = sorted({k for k in rows.keys() | kept.keys() if rows.get(k) != kept.get(k)})
            raise AssertionError(f"the rows written differ from a whole pass at {wrong[:5]}")

    def _append(self, events: Iterable[Event]) -> None:
        rows = [(a, r, encode(e)) for a, r, e in events]
        if rows:
            self.db.executemany("INSERT INTO trail (account, region, event) VALUES (?, ?, ?)", rows)

    # The world ---------------------------------------------------------------------------------------------

    def load_world(self, clock: Clock, ids: Ids) -> World | None:
        """The committed world, or None in a state that holds none yet."""
        with self.lock:
            rows = self.db.execute("SELECT path, list, id, content FROM entities").fetchall()
            self._committed = Committed()
            self._tracker = None
            if not rows:
                return None
            files: dict[str, Any] = from_rows(rows)
            trails: dict[tuple[str, str], list[dict[str, Any]]] = {}
            for account, region, text in self.db.execute("SELECT account, region, event FROM trail ORDER BY id"):
                trails.setdefault((str(account), str(region)), []).append(json.loads(text))
            world = _world_from_files(files, trails, clock, ids)
            self._committed = Committed((str(p), str(n), str(i), str(c)) for p, n, i, c in rows)
            self._tracker = Tracker(world)
            return world

    def save_world(self, world: World, extra_meta: dict[str, str] | None = None) -> None:
        """Replace the stored world, CloudTrail included, with ``world`` (a fresh state, or one seeded from a
        snapshot), in one transaction."""
        with self.lock:
            own = not self._open
            if own:
                self.begin()
            try:
                self._tracker = None  # every row of ``world``
                self._write_world(world)
                self.db.execute("DELETE FROM trail")
                self._append(
                    (a.account_id, r.name, e)
                    for a in world.accounts.values()
                    for r in a.regions.values()
                    for e in r.trail.events
                )
                for k, v in (extra_meta or {}).items():
                    self.db.execute("INSERT OR REPLACE INTO meta (k, v) VALUES (?, ?)", (k, v))
                if own:
                    self.db.execute("COMMIT")
                    self._open = False
            except BaseException:
                if own:
                    self.rollback()
                raise

    def _migrate_v1(self) -> None:
        """Convert a state of schema 1 (the world as whole snapshot files, the CloudTrail records made since the
        last save in ``trail``), inside the opening transaction; one whose world cannot be read is refused."""
        try:
            world = self._load_v1()
        except (KmslaunchError, ValueError, OSError) as exc:
            raise StoreError(
                f"{self.path}: a state of an earlier kmslaunch (schema 1) whose world cannot be read ({exc}); "
                "it is left as it is"
            ) from exc
        self.save_world(world)
        self._append(self._stray)
        self.db.execute("DROP TABLE world_files")
        self.db.execute("DELETE FROM meta WHERE k = 'last_event_id'")

    def _load_v1(self) -> World:
        files = {str(p): json.loads(c) for p, c in self.db.execute("SELECT path, content FROM world_files")}
        last = int(self.get_meta("last_event_id") or 0)
        world = _world_from_files(files, {}, Clock(), Ids())
        for account, region, event in self.db.execute(
            "SELECT account, region, event FROM trail WHERE id > ? ORDER BY id", (last,)
        ):
            if L.ACCOUNT_RE.match(account or "") and L.REGION_RE.match(region or ""):
                world.account(account).region(region).trail.events.append(json.loads(event))
            else:
                # A record of a call signed for a region that does not exist (which schema 1 let into the world,
                # and could then save nothing): kept in CloudTrail's table, not made a region of the world.
                self._stray.append((str(account), str(region), json.loads(event)))
        return world

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


def _world_from_files(
    files: dict[str, Any], trails: dict[tuple[str, str], list[dict[str, Any]]], clock: Clock, ids: Ids
) -> World:
    """Load the snapshot made of ``files`` (by path) and each region's CloudTrail records (oldest first)."""
    with tempfile.TemporaryDirectory(prefix="kmslaunch-state-") as tmp:
        root = Path(tmp)
        for (account, region), events in trails.items():
            if L.ACCOUNT_RE.match(account) and L.REGION_RE.match(region):
                rel = f"{account}/{region}/{L.TRAIL_EVENTS}"
                files[rel] = {"Events": [lookup_event(e) for e in reversed(events)]}
        for rel, value in files.items():
            target = root / rel
            if not target.resolve().is_relative_to(root.resolve()):
                continue
            if value is None and "/" not in rel:  # an account with no files
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            # ASCII JSON: a string the world holds is written back as it was read, whatever it holds.
            target.write_text(json.dumps(value), encoding="ascii")
        world = load_snapshot(root, clock=clock, ids=ids).world
    # The endpoint's state is the whole world: what it lacks does not exist (InvalidAMIID.NotFound).
    world.partial = False
    return world
