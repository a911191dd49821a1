"""The versioned skill store: SQLite in WAL mode, one transaction per write.

Tables: runs, candidates (every candidate with its verdict and reasons), skills and
skill_versions (accepted skills; versions are immutable and content-addressed).
A new accepted skill of an existing name becomes version N+1 only if it beats
version N on validation.
"""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from engine.errors import SkillkilnError
from engine.records import SkillVersion

SCHEMA_VERSION = 1
STORE_ENV = "SKILLKILN_STORE"

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    task TEXT NOT NULL,
    config TEXT NOT NULL,
    sandbox TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    status TEXT NOT NULL,
    summary TEXT
);
CREATE TABLE IF NOT EXISTS candidates (
    id TEXT PRIMARY KEY,
    run_id TEXT NOT NULL REFERENCES runs(id),
    iteration INTEGER NOT NULL,
    code TEXT NOT NULL,
    code_sha256 TEXT NOT NULL,
    parent_ids TEXT NOT NULL,
    proposer TEXT NOT NULL,
    model TEXT NOT NULL,
    note TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    stage TEXT NOT NULL,
    accepted INTEGER NOT NULL,
    reasons TEXT NOT NULL,
    verdict TEXT NOT NULL,
    sandbox_s REAL NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS candidates_run ON candidates(run_id, iteration);
CREATE TABLE IF NOT EXISTS skills (
    name TEXT PRIMARY KEY,
    task TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS skill_versions (
    name TEXT NOT NULL REFERENCES skills(name),
    version INTEGER NOT NULL,
    task TEXT NOT NULL,
    code TEXT NOT NULL,
    code_sha256 TEXT NOT NULL,
    metrics TEXT NOT NULL,
    verdict TEXT NOT NULL,
    parents TEXT NOT NULL,
    provenance TEXT NOT NULL,
    candidate_id TEXT,
    created_at TEXT NOT NULL,
    PRIMARY KEY (name, version)
);
"""


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def sha256(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def default_store_path() -> Path:
    from platformdirs import user_data_dir

    return Path(os.environ.get(STORE_ENV) or Path(user_data_dir("skillkiln")) / "store.sqlite")


def parse_ref(ref: str) -> tuple[str, int | None]:
    """'name' or 'name@3' -> (name, version or None)."""
    name, _, version = ref.partition("@")
    if not name:
        raise SkillkilnError(f"bad skill reference {ref!r}: use NAME or NAME@VERSION")
    if not version:
        return name, None
    if not version.isdigit():
        raise SkillkilnError(f"bad skill version in {ref!r}: it must be a whole number")
    return name, int(version)


class Store:
    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.RLock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise SkillkilnError(f"store {self.path} is unreadable or corrupt ({exc}); nothing was changed") from None
        except OSError as exc:
            raise SkillkilnError(f"store {self.path} cannot be opened ({exc.strerror})") from None

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise SkillkilnError(f"store {self.path} has schema {version}, newer than this skillkiln ({SCHEMA_VERSION})")
        if version == 0:
            tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if tables and "skill_versions" not in tables:
                raise SkillkilnError(f"{self.path} is an SQLite file but not a skillkiln store; nothing was changed")
            with self._lock:  # one script, one transaction: a half-made schema never lands
                self._db.executescript(f"BEGIN IMMEDIATE;{SCHEMA}PRAGMA user_version={SCHEMA_VERSION};COMMIT;")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def close(self) -> None:
        self._db.close()

    # ------------------------------------------------------------ runs and candidates

    def start_run(self, run_id: str, task: str, config: dict[str, Any], sandbox: str) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO runs (id, task, config, sandbox, started_at, status) VALUES (?, ?, ?, ?, ?, 'running')",
                (run_id, task, json.dumps(config, default=str), sandbox, now()),
            )

    def finish_run(self, run_id: str, status: str, summary: dict[str, Any]) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE runs SET finished_at = ?, status = ?, summary = ? WHERE id = ?",
                (now(), status, json.dumps(summary, default=str), run_id),
            )

    def add_candidate(self, row: dict[str, Any]) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO candidates (id, run_id, iteration, code, code_sha256, parent_ids, proposer, model, note,"
                " prompt_tokens, completion_tokens, stage, accepted, reasons, verdict, sandbox_s, created_at)"
                " VALUES (:id, :run_id, :iteration, :code, :code_sha256, :parent_ids, :proposer, :model, :note,"
                " :prompt_tokens, :completion_tokens, :stage, :accepted, :reasons, :verdict, :sandbox_s, :created_at)",
                {**row, "parent_ids": json.dumps(list(row["parent_ids"])), "reasons": json.dumps(list(row["reasons"])),
                 "verdict": json.dumps(row["verdict"]), "created_at": now()},
            )

    def runs(self) -> list[sqlite3.Row]:
        return self._db.execute("SELECT * FROM runs ORDER BY started_at DESC").fetchall()

    def candidates(self, run_id: str) -> list[sqlite3.Row]:
        return self._db.execute("SELECT * FROM candidates WHERE run_id = ? ORDER BY iteration, id", (run_id,)).fetchall()

    # ------------------------------------------------------------ skills

    def offer_version(
        self, name: str, task: str, code: str, metrics: dict[str, dict[str, float]], verdict: dict[str, Any],
        parents: tuple[str, ...], provenance: dict[str, Any], candidate_id: str | None, key: str = "mcc",
    ) -> SkillVersion | None:
        """Store as the next version of `name` if it beats the latest on validation; else None."""
        new_score = metrics.get("validation", {}).get(key)
        if new_score is None:
            raise SkillkilnError("a skill version needs validation metrics")
        with self.transaction() as db:
            skill = db.execute("SELECT task FROM skills WHERE name = ?", (name,)).fetchone()
            if skill is not None and skill["task"] != task:
                raise SkillkilnError(f"skill {name!r} belongs to task {skill['task']!r}, not {task!r}")
            latest = db.execute(
                "SELECT version, metrics FROM skill_versions WHERE name = ? ORDER BY version DESC LIMIT 1", (name,)
            ).fetchone()
            if latest is not None:
                old_score = json.loads(latest["metrics"]).get("validation", {}).get(key, float("-inf"))
                if new_score <= old_score:
                    return None
            if skill is None:
                db.execute("INSERT INTO skills (name, task, created_at) VALUES (?, ?, ?)", (name, task, now()))
            version = SkillVersion(
                name=name, version=(latest["version"] + 1) if latest else 1, task=task, code=code,
                code_sha256=sha256(code), metrics=metrics, verdict=verdict, parents=tuple(parents),
                provenance=provenance, created_at=now(),
            )
            db.execute(
                "INSERT INTO skill_versions (name, version, task, code, code_sha256, metrics, verdict, parents,"
                " provenance, candidate_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (name, version.version, task, code, version.code_sha256, json.dumps(metrics), json.dumps(verdict),
                 json.dumps(list(parents)), json.dumps(provenance, default=str), candidate_id, version.created_at),
            )
            return version

    @staticmethod
    def _version(row: sqlite3.Row) -> SkillVersion:
        return SkillVersion(
            name=row["name"], version=row["version"], task=row["task"], code=row["code"],
            code_sha256=row["code_sha256"], metrics=json.loads(row["metrics"]), verdict=json.loads(row["verdict"]),
            parents=tuple(json.loads(row["parents"])), provenance=json.loads(row["provenance"]),
            created_at=row["created_at"],
        )

    def get(self, ref: str) -> SkillVersion:
        name, version = parse_ref(ref)
        if version is None:
            row = self._db.execute(
                "SELECT * FROM skill_versions WHERE name = ? ORDER BY version DESC LIMIT 1", (name,)
            ).fetchone()
        else:
            row = self._db.execute(
                "SELECT * FROM skill_versions WHERE name = ? AND version = ?", (name, version)
            ).fetchone()
        if row is None:
            known = self._db.execute("SELECT COUNT(*) FROM skill_versions WHERE name = ?", (name,)).fetchone()[0]
            what = f"version {version} of skill {name!r}" if known else f"skill {name!r}"
            raise SkillkilnError(f"no {what} in the store {self.path}")
        return self._version(row)

    def latest_versions(self, task: str | None = None) -> list[SkillVersion]:
        rows = self._db.execute(
            "SELECT v.* FROM skill_versions v JOIN (SELECT name, MAX(version) AS version FROM skill_versions"
            " GROUP BY name) m ON v.name = m.name AND v.version = m.version ORDER BY v.name"
        ).fetchall()
        return [self._version(r) for r in rows if task is None or r["task"] == task]

    def versions(self, name: str) -> list[SkillVersion]:
        rows = self._db.execute("SELECT * FROM skill_versions WHERE name = ? ORDER BY version", (name,)).fetchall()
        return [self._version(r) for r in rows]
