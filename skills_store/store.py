"""The versioned skill store: SQLite in WAL mode, one transaction per write.

Tables: runs, candidates (every candidate with its verdict and reasons), iterations (each
iteration's failure-cluster statistics), skills and skill_versions (accepted skills; versions
are immutable and content-addressed), events and dependencies.
A new accepted skill of an existing name becomes version N+1 only if it beats
version N on validation.
"""
from __future__ import annotations

import json
import re
import os
import sqlite3
import threading
import time
import zlib
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from engine.errors import SkillkilnError
from engine.records import Proposal, SkillVersion, sha256
from skills_store import owner

SCHEMA_VERSION = 7
TABLES = ("runs", "candidates", "skills", "skill_versions", "events", "dependencies", "iterations", "calls",
          "pending")
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


# Each step takes the store from version i to i+1, in one transaction.
MIGRATIONS = {
    1: SCHEMA,
    2: """
ALTER TABLE skills ADD COLUMN pinned_version INTEGER;
ALTER TABLE skills ADD COLUMN retired INTEGER NOT NULL DEFAULT 0;
ALTER TABLE skill_versions ADD COLUMN description TEXT NOT NULL DEFAULT '';
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    name TEXT NOT NULL,
    version INTEGER,
    action TEXT NOT NULL,
    actor TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS dependencies (
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    dep_name TEXT NOT NULL,
    dep_version INTEGER NOT NULL,
    PRIMARY KEY (name, version, dep_name)
);
""",
    3: """
ALTER TABLE candidates ADD COLUMN train_predictions BLOB;
ALTER TABLE candidates ADD COLUMN skill_version INTEGER;
""",
    4: """
CREATE TABLE IF NOT EXISTS iterations (
    run_id TEXT NOT NULL REFERENCES runs(id),
    iteration INTEGER NOT NULL,
    evidence TEXT NOT NULL,
    PRIMARY KEY (run_id, iteration)
);
""",
    # 1 when train_predictions holds the proposer's expected outputs (checked on the train subset)
    # because validation stopped the candidate (rejected, or not_better) before the rest of train ran
    5: """
ALTER TABLE candidates ADD COLUMN train_expected INTEGER NOT NULL DEFAULT 0;
""",
    # the process that runs a run (skills_store/owner.py): host, pid and its start time, as JSON
    6: """
ALTER TABLE runs ADD COLUMN owner TEXT;
""",
    # every model call a run paid for, booked as it returns with its request's hash and its answer (a run
    # killed before its summary keeps its ledger: roles, models, prices; a resume asked the same request
    # takes the answer paid for), and the proposals of the iteration under way, stored as they are made,
    # so a resumed run judges an answer it paid for instead of asking the model again
    7: """
CREATE TABLE IF NOT EXISTS calls (
    run_id TEXT NOT NULL REFERENCES runs(id),
    seq INTEGER NOT NULL,
    iteration INTEGER NOT NULL,
    role TEXT NOT NULL,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    cost_usd REAL,
    created_at TEXT NOT NULL,
    request_sha256 TEXT,
    answer TEXT,
    PRIMARY KEY (run_id, seq)
);
CREATE TABLE IF NOT EXISTS pending (
    run_id TEXT NOT NULL REFERENCES runs(id),
    iteration INTEGER NOT NULL,
    slot INTEGER NOT NULL,
    proposal TEXT NOT NULL,
    PRIMARY KEY (run_id, iteration, slot)
);
""",
}


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def default_store_path() -> Path:
    from platformdirs import user_data_dir

    return Path(os.environ.get(STORE_ENV) or Path(user_data_dir("skillkiln")) / "store.sqlite")


def library_name(name: str) -> str:
    """How a stored skill is imported inside the sandbox: `from skills import cola_offline`."""
    return re.sub(r"\W", "_", name)


NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def check_name(name: str) -> str:
    """A skill name as the store takes it: letters, digits, '.', '_' and '-', at most 100, starting
    with a letter or digit (so NAME@VERSION always parses and `from skills import ...` works)."""
    if not NAME_RE.fullmatch(name):
        raise SkillkilnError(f"bad skill name {name!r}: use letters, digits, '.', '_' and '-' "
                             "(at most 100, starting with a letter or digit)")
    return name


def parse_ref(ref: str) -> tuple[str, int | None]:
    """'name' or 'name@3' -> (name, version or None)."""
    name, _, version = ref.rpartition("@") if ref.count("@") > 1 else ref.partition("@")
    if not name:
        raise SkillkilnError(f"bad skill reference {ref!r}: use NAME or NAME@VERSION")
    if not version:
        if ref.endswith("@"):
            raise SkillkilnError(f"bad skill reference {ref!r}: use NAME or NAME@VERSION")
        return name, None
    if not (version.isascii() and version.isdigit()) or len(version) > 9:  # '²' and '١' are digits to isdigit()
        raise SkillkilnError(f"bad skill version in {ref!r}: it must be a whole number (0-9, at most 9 digits)")
    return name, int(version)


READ_ONLY_WORDS = ("readonly database", "unable to open database file")  # SQLite on a file or folder it may not write


class Store:
    def __init__(self, path: Path, read_only_ok: bool = False):
        """The store at PATH, made or migrated as needed. READ_ONLY_OK (the browsing commands): a store whose
        file or folder may not be written is opened as it is, read-only (`read_only`), instead of refused."""
        self.path = Path(path)
        self._lock = threading.RLock()
        self.read_only = False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None)
            self._db.row_factory = sqlite3.Row
            self._enable_wal()
            self._db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            if any(words in str(exc) for words in READ_ONLY_WORDS):
                if read_only_ok and self.path.is_file():
                    self._open_read_only()
                    return
                raise SkillkilnError(f"store {self.path} is read-only (its file or folder may not be written: {exc}); "
                                     "nothing was changed") from None
            raise SkillkilnError(f"store {self.path} is unreadable or corrupt ({exc}); nothing was changed") from None
        except OSError as exc:
            raise SkillkilnError(f"store {self.path} cannot be opened ({exc.strerror})") from None

    def _open_read_only(self) -> None:
        """SQLite cannot open a WAL store read-only where it may not make the -shm file; `immutable` reads the file
        as it is (nothing can write it here either). An older schema cannot be migrated so: refused."""
        try:
            self._db.close()
            self._db = sqlite3.connect(f"{self.path.resolve().as_uri()}?immutable=1", uri=True, check_same_thread=False,
                                       isolation_level=None)
            self._db.row_factory = sqlite3.Row
            version = self.schema_version
        except sqlite3.DatabaseError as exc:
            raise SkillkilnError(f"store {self.path} is read-only and unreadable ({exc})") from None
        if version != SCHEMA_VERSION:
            raise SkillkilnError(f"store {self.path} is read-only and has schema {version}, not {SCHEMA_VERSION}: "
                                 "it cannot be migrated where it is; copy it somewhere writable")
        self.read_only = True

    def _enable_wal(self, wait_s: float = 30.0) -> None:
        """Switch to WAL. On a store another process is creating at this very moment SQLite answers
        "database is locked" at once, without waiting on the busy timeout, so wait here instead."""
        deadline = time.monotonic() + wait_s
        delay = 0.01
        while True:
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.5)

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise SkillkilnError(f"store {self.path} has schema {version}, newer than this skillkiln ({SCHEMA_VERSION})")
        if version == 0:
            tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if tables and "skill_versions" not in tables:
                raise SkillkilnError(f"{self.path} is an SQLite file but not a skillkiln store; nothing was changed")
        for step in range(version + 1, SCHEMA_VERSION + 1):
            with self.transaction() as db:  # one step, one transaction: a half-made schema never lands
                if db.execute("PRAGMA user_version").fetchone()[0] >= step:
                    continue  # another process migrated it while we waited for the lock
                for statement in MIGRATIONS[step].split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA user_version={step}")

    @property
    def schema_version(self) -> int:
        return self._db.execute("PRAGMA user_version").fetchone()[0]

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
                "INSERT INTO runs (id, task, config, sandbox, started_at, status, owner)"
                " VALUES (?, ?, ?, ?, ?, 'running', ?)",
                (run_id, task, json.dumps(config, default=str), sandbox, now(), json.dumps(owner.identity())),
            )

    def mark_run(self, run_id: str, status: str) -> None:
        with self.transaction() as db:
            db.execute("UPDATE runs SET status = ?, finished_at = NULL, owner = ? WHERE id = ?",
                       (status, json.dumps(owner.identity()), run_id))

    def set_run_config(self, run_id: str, config: dict[str, Any]) -> None:
        """Replace RUN's stored settings (a resume given a new server, timeout or cost cap keeps them)."""
        with self.transaction() as db:
            db.execute("UPDATE runs SET config = ? WHERE id = ?", (json.dumps(config, default=str), run_id))

    def claim_run(self, run_id: str) -> int | None:
        """Make this process RUN's owner, unless another live process owns it: then its pid. One transaction
        reads and writes, so of two processes that resume a run at once exactly one gets it."""
        with self.transaction() as db:
            row = db.execute("SELECT owner FROM runs WHERE id = ?", (run_id,)).fetchone()
            if row is not None and owner.alive(row["owner"]):
                return json.loads(row["owner"])["pid"]
            db.execute("UPDATE runs SET owner = ? WHERE id = ?", (json.dumps(owner.identity()), run_id))
        return None

    def finish_run(self, run_id: str, status: str, summary: dict[str, Any]) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE runs SET finished_at = ?, status = ?, summary = ? WHERE id = ?",
                (now(), status, json.dumps(summary, default=str), run_id),
            )
        self.checkpoint()

    def checkpoint(self) -> None:
        """Copy what the write-ahead log holds into the store's file (SQLite's passive checkpoint: it waits for
        no reader or writer). Done after each iteration and run, so a copy of the file alone, or a -wal file
        lost, misses at most the iteration under way (fault audit: a run of 24 candidates lived only in the
        -wal until the process closed the store)."""
        if self.read_only:
            return
        try:
            with self._lock:
                self._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error:  # best effort: the log keeps everything until the next one
            pass

    def add_iteration(self, run_id: str, iteration: int, evidence: dict[str, Any]) -> None:
        """What the run knew before proposing an iteration (failure clusters); a rerun replaces it."""
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO iterations (run_id, iteration, evidence) VALUES (?, ?, ?)",
                       (run_id, iteration, json.dumps(evidence, default=str)))

    def add_call(self, run_id: str, iteration: int, role: str, provider: str, model: str, prompt: int,
                 completion: int, cost_usd: float | None, request_sha256: str | None = None,
                 answer: dict[str, Any] | None = None) -> None:
        """Book one model call of RUN as it returns (its ledger survives a kill -9), with its request's hash
        and its answer (a resume that asks the same takes it rather than paying again)."""
        with self.transaction() as db:
            db.execute("INSERT INTO calls (run_id, seq, iteration, role, provider, model, prompt_tokens, "
                       "completion_tokens, cost_usd, created_at, request_sha256, answer) "
                       "SELECT ?, COALESCE(MAX(seq) + 1, 0), ?, ?, ?, ?, ?, ?, ?, ?, ?, ? FROM calls WHERE run_id = ?",
                       (run_id, iteration, role, provider, model, prompt, completion, cost_usd, now(), request_sha256,
                        None if answer is None else json.dumps(answer), run_id))

    def calls(self, run_id: str) -> list[sqlite3.Row]:
        """RUN's model calls in the order they returned."""
        return self._db.execute("SELECT * FROM calls WHERE run_id = ? ORDER BY seq", (run_id,)).fetchall()

    def put_pending(self, run_id: str, iteration: int, slot: int, proposal: Proposal) -> None:
        """A proposal of the iteration under way, paid for and not judged yet."""
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO pending (run_id, iteration, slot, proposal) VALUES (?, ?, ?, ?)",
                       (run_id, iteration, slot, json.dumps(proposal.to_dict())))

    @staticmethod
    def pending_proposal(text: str) -> Proposal | None:
        """A pending row's proposal, or None when the row is damaged (a resume asks for it again)."""
        try:
            return Proposal.from_dict(json.loads(text))
        except (AttributeError, KeyError, TypeError, ValueError):  # not JSON, or JSON but not a proposal's
            return None

    def pending(self, run_id: str, iteration: int) -> dict[int, Proposal]:
        """ITERATION's stored proposals, by slot: a resumed run judges them rather than asking again."""
        rows = self._db.execute("SELECT slot, proposal FROM pending WHERE run_id = ? AND iteration = ?",
                                (run_id, iteration)).fetchall()
        return {row["slot"]: proposal for row in rows if (proposal := self.pending_proposal(row["proposal"]))}

    def clear_pending(self, run_id: str) -> None:
        """RUN's iteration is judged and stored: its proposals are candidates now."""
        with self.transaction() as db:
            db.execute("DELETE FROM pending WHERE run_id = ?", (run_id,))

    def iterations(self, run_id: str) -> list[dict[str, Any]]:
        rows = self._db.execute("SELECT iteration, evidence FROM iterations WHERE run_id = ? ORDER BY iteration",
                                (run_id,)).fetchall()
        return [{"iteration": r["iteration"], **json.loads(r["evidence"])} for r in rows]

    def add_candidate(self, row: dict[str, Any], offer: dict[str, Any] | None = None) -> SkillVersion | None:
        """One candidate with its verdict and, when accepted, its offer as a skill version: one transaction,
        so a killed run never leaves a version without its candidate or the other way round."""
        preds = row.get("train_predictions")
        with self.transaction() as db:
            stored = self._offer(db, **offer) if offer else None
            row = {**row, "skill_version": stored.version if stored else None}
            db.execute(
                "INSERT INTO candidates (id, run_id, iteration, code, code_sha256, parent_ids, proposer, model, note,"
                " prompt_tokens, completion_tokens, stage, accepted, reasons, verdict, sandbox_s, created_at,"
                " train_predictions, skill_version, train_expected)"
                " VALUES (:id, :run_id, :iteration, :code, :code_sha256, :parent_ids, :proposer, :model, :note,"
                " :prompt_tokens, :completion_tokens, :stage, :accepted, :reasons, :verdict, :sandbox_s, :created_at,"
                " :train_predictions, :skill_version, :train_expected)",
                {**row, "parent_ids": json.dumps(list(row["parent_ids"])), "reasons": json.dumps(list(row["reasons"])),
                 "verdict": json.dumps(row["verdict"]), "created_at": now(),
                 "train_predictions": None if preds is None else zlib.compress(json.dumps(list(preds)).encode()),
                 "skill_version": row.get("skill_version"), "train_expected": int(row.get("train_expected") or 0)},
            )
            return stored

    def runs(self) -> list[sqlite3.Row]:
        return self._db.execute("SELECT * FROM runs ORDER BY started_at DESC").fetchall()

    def run_counts(self) -> dict[str, tuple[int, int]]:
        """(candidates stored, candidates accepted) per run, counted from the candidates themselves."""
        rows = self._db.execute("SELECT run_id, COUNT(*), COALESCE(SUM(accepted), 0) FROM candidates GROUP BY run_id")
        return {r[0]: (r[1], r[2]) for r in rows}

    def candidates(self, run_id: str) -> list[sqlite3.Row]:
        """A run's candidates in the order the run made them: by iteration, then slot (RUN-001-10 after
        RUN-001-9: ids of one run differ only in their slot number, so the shorter id is the lower slot)."""
        return self._db.execute("SELECT * FROM candidates WHERE run_id = ? ORDER BY iteration, length(id), id",
                                (run_id,)).fetchall()

    @staticmethod
    def train_predictions(row: sqlite3.Row) -> tuple[Any, ...] | None:
        blob = row["train_predictions"]
        return None if blob is None else tuple(json.loads(zlib.decompress(blob)))

    DAMAGED_HINT = ": `skills verify` lists every damaged record"  # ends the errors of decoded() and run_json()

    def decoded(self, row: sqlite3.Row) -> dict[str, Any]:
        """A candidate's row with its JSON and compressed columns read; a damaged one is one line naming it."""
        try:
            verdict = json.loads(row["verdict"])
            if not isinstance(verdict, dict):
                raise ValueError(f"its verdict is a JSON {type(verdict).__name__}, not an object")
            return {**dict(row), "reasons": tuple(json.loads(row["reasons"])), "verdict": verdict,
                    "parent_ids": tuple(json.loads(row["parent_ids"] or "[]")),
                    "train_predictions": self.train_predictions(row)}
        except (ValueError, TypeError, zlib.error) as exc:
            raise SkillkilnError(f"candidate {row['id']} in the store {self.path} is damaged "
                                 f"({type(exc).__name__}: {' '.join(str(exc).split())[:80]}){self.DAMAGED_HINT}") from None

    def run_json(self, row: sqlite3.Row, column: str) -> dict[str, Any]:
        """A run's config or summary (an empty summary: {}); a damaged one is one line naming it."""
        try:
            value = json.loads(row[column] or "{}")
            if not isinstance(value, dict):
                raise ValueError(f"a JSON {type(value).__name__}, not an object")
            return value
        except (ValueError, TypeError) as exc:
            raise SkillkilnError(f"run {row['id']}'s {column} in the store {self.path} is damaged ({exc})"
                                 f"{self.DAMAGED_HINT}") from None

    @staticmethod
    def process(row: sqlite3.Row) -> str | None:
        """For a run whose status is 'running': 'alive', 'gone' (it died without a word: resume it) or
        'unknown' (recorded on another host, or before owners were recorded). None for any other status."""
        if row["status"] != "running":
            return None
        return {True: "alive", False: "gone", None: "unknown"}[owner.alive(row["owner"])]

    def has_run(self, run_id: str) -> bool:
        """Whether RUN is stored (False too when the store cannot be read)."""
        try:
            return self._db.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone() is not None
        except sqlite3.Error:
            return False

    def run(self, run_id: str) -> sqlite3.Row:
        row = self._db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise SkillkilnError(f"no run {run_id!r} in the store {self.path}")
        return row

    def candidate(self, candidate_id: str) -> sqlite3.Row:
        row = self._db.execute("SELECT * FROM candidates WHERE id = ?", (candidate_id,)).fetchone()
        if row is None:
            raise SkillkilnError(f"no candidate {candidate_id!r} in the store {self.path}")
        return row

    # ------------------------------------------------------------ skills

    def offer_version(
        self, name: str, task: str, code: str, metrics: dict[str, dict[str, float]], verdict: dict[str, Any],
        parents: tuple[str, ...], provenance: dict[str, Any], candidate_id: str | None, key: str = "mcc",
        description: str = "", dependencies: dict[str, int] | None = None, actor: str = "evolve",
    ) -> SkillVersion | None:
        """Store as the next version of `name` if it beats the latest on validation; else None."""
        with self.transaction() as db:
            return self._offer(db, name, task, code, metrics, verdict, parents, provenance, candidate_id, key,
                               description, dependencies, actor)

    def _offer(
        self, db: sqlite3.Connection, name: str, task: str, code: str, metrics: dict[str, dict[str, float]],
        verdict: dict[str, Any], parents: tuple[str, ...], provenance: dict[str, Any], candidate_id: str | None,
        key: str = "mcc", description: str = "", dependencies: dict[str, int] | None = None, actor: str = "evolve",
    ) -> SkillVersion | None:
        new_score = metrics.get("validation", {}).get(key)
        if new_score is None:
            raise SkillkilnError("a skill version needs validation metrics")
        dependencies = dict(dependencies or {})
        skill = db.execute("SELECT task FROM skills WHERE name = ?", (name,)).fetchone()
        if skill is not None and skill["task"] != task:
            raise SkillkilnError(f"skill {name!r} belongs to task {skill['task']!r}, not {task!r}")
        latest = db.execute(
            "SELECT * FROM skill_versions WHERE name = ? ORDER BY version DESC LIMIT 1",
            (name,)).fetchone()
        old_score = None
        if latest is not None:
            old_score = self._version(latest).metrics.get("validation", {}).get(key, float("-inf"))
            if new_score <= old_score:
                return None
            held, new_data = self._data_of_row(latest), provenance.get("data_sha256")
            if held and new_data and held != new_data:  # scores on two datasets: not comparable
                return None  # evolve moves its name aside before the run (engine.cli.name_apart_from_other_data)
        if skill is None:
            check_name(name)
            db.execute("INSERT INTO skills (name, task, created_at) VALUES (?, ?, ?)", (name, task, now()))
        version = SkillVersion(
            name=name, version=(latest["version"] + 1) if latest else 1, task=task, code=code,
            code_sha256=sha256(code), metrics=metrics, verdict=verdict, parents=tuple(parents),
            provenance=provenance, created_at=now(), description=description, dependencies=dependencies,
        )
        db.execute(
            "INSERT INTO skill_versions (name, version, task, code, code_sha256, metrics, verdict, parents,"
            " provenance, candidate_id, created_at, description) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (name, version.version, task, code, version.code_sha256, json.dumps(metrics), json.dumps(verdict),
             json.dumps(list(parents)), json.dumps(provenance, default=str), candidate_id, version.created_at,
             description),
        )
        for dep_name, dep_version in dependencies.items():
            db.execute("INSERT INTO dependencies (name, version, dep_name, dep_version) VALUES (?, ?, ?, ?)",
                       (name, version.version, dep_name, dep_version))
        self._event(db, name, version.version, "created", actor,
                    f"validation {key} {new_score:.4f}" + (f" (was {old_score:.4f})" if old_score is not None else ""))
        return version

    @staticmethod
    def _event(db: sqlite3.Connection, name: str, version: int | None, action: str, actor: str, detail: str) -> None:
        db.execute("INSERT INTO events (at, name, version, action, actor, detail) VALUES (?, ?, ?, ?, ?, ?)",
                   (now(), name, version, action, actor, detail))

    def version_fields(self, row: sqlite3.Row) -> dict[str, Any]:
        """A skill version row's JSON columns read; a damaged one is one line naming it."""
        try:
            fields = {column: json.loads(row[column]) for column in ("metrics", "verdict", "parents", "provenance")}
            for column in ("metrics", "verdict", "provenance"):
                if not isinstance(fields[column], dict):
                    raise ValueError(f"its {column} is a JSON {type(fields[column]).__name__}, not an object")
            return {**fields, "parents": tuple(fields["parents"])}
        except (ValueError, TypeError) as exc:
            raise SkillkilnError(f"skill version {row['name']}@{row['version']} in the store {self.path} is damaged "
                                 f"({type(exc).__name__}: {' '.join(str(exc).split())[:80]}){self.DAMAGED_HINT}") from None

    def _version(self, row: sqlite3.Row) -> SkillVersion:
        deps = self._db.execute(
            "SELECT dep_name, dep_version FROM dependencies WHERE name = ? AND version = ? ORDER BY dep_name",
            (row["name"], row["version"]),
        ).fetchall()
        fields = self.version_fields(row)
        return SkillVersion(
            name=row["name"], version=row["version"], task=row["task"], code=row["code"],
            code_sha256=row["code_sha256"], metrics=fields["metrics"], verdict=fields["verdict"],
            parents=fields["parents"], provenance=fields["provenance"],
            created_at=row["created_at"], description=row["description"],
            dependencies={d["dep_name"]: d["dep_version"] for d in deps},
        )

    def run_best(self, run_id: str) -> dict[str, Any] | None:
        """RUN's best as its summary has it; for a run with no summary yet (killed, or running now), the last
        version its candidates stored (a run stores a version only when it beats the one before)."""
        row = self.run(run_id)
        best = self.run_json(row, "summary").get("best")
        if best or row["summary"]:
            return best
        latest = self._db.execute(
            "SELECT * FROM skill_versions WHERE candidate_id IN (SELECT id FROM candidates WHERE run_id = ?) "
            "ORDER BY created_at DESC, version DESC LIMIT 1", (run_id,)).fetchone()
        if latest is None:
            return None
        version = self._version(latest)
        return {"name": version.name, "version": version.version, "candidate_id": latest["candidate_id"],
                "metrics": version.metrics, "note": self.candidate(latest["candidate_id"])["note"]}

    def find_skill(self, name: str) -> sqlite3.Row | None:
        """The skills row of NAME (task, pinned version, retired), or None when no such skill exists."""
        return self._db.execute("SELECT * FROM skills WHERE name = ?", (name,)).fetchone()

    def _skill(self, name: str) -> sqlite3.Row:
        row = self.find_skill(name)
        if row is None:
            base, at, version = name.rpartition("@")
            if at and base and self.find_skill(base) is not None:  # history, unpin, retire take a NAME
                raise SkillkilnError(f"this command takes a skill NAME, not NAME@VERSION: write {base!r}")
            raise SkillkilnError(f"no skill {name!r} in the store {self.path}")
        return row

    def current_version(self, name: str) -> int:
        """The pinned version if a user pinned one, else the latest."""
        skill = self._skill(name)
        if skill["pinned_version"] is not None:
            return skill["pinned_version"]
        return self.latest_version(name)

    def _data_of_row(self, row: sqlite3.Row) -> str | None:
        """The data fingerprint (Task.fingerprint) a version row was judged on: its provenance's, else its run's
        config's (versions stored before provenance carried it), else None (unknown, or unreadable)."""
        try:
            provenance = json.loads(row["provenance"]) or {}
        except (ValueError, TypeError):
            provenance = {}
        if not isinstance(provenance, dict):
            return None
        if provenance.get("data_sha256"):
            return str(provenance["data_sha256"])
        run = self._db.execute("SELECT id, config FROM runs WHERE id = ?", (provenance.get("run_id"),)).fetchone()
        try:
            return self.run_json(run, "config").get("data_sha256") if run else None
        except SkillkilnError:
            return None

    def data_of(self, name: str, version: int) -> str | None:
        """The data fingerprint NAME@VERSION was judged on, or None (unknown)."""
        row = self._db.execute("SELECT version, provenance FROM skill_versions WHERE name = ? AND version = ?",
                               (name, version)).fetchone()
        return None if row is None else self._data_of_row(row)

    def latest_data(self, name: str) -> tuple[int, str | None] | None:
        """(NAME's latest version, the data it was judged on), or None when NAME has no version."""
        row = self._db.execute("SELECT version, provenance FROM skill_versions WHERE name = ? ORDER BY version DESC "
                               "LIMIT 1", (name,)).fetchone()
        return None if row is None else (row["version"], self._data_of_row(row))

    def latest_version(self, name: str) -> int | None:
        """NAME's highest version number, pinned or not (None when it has none)."""
        return self._db.execute("SELECT MAX(version) FROM skill_versions WHERE name = ?", (name,)).fetchone()[0]

    def get(self, ref: str) -> SkillVersion:
        """NAME (its current version) or NAME@VERSION."""
        return self._get(*parse_ref(ref))

    def _get(self, name: str, version: int | None) -> SkillVersion:
        if version is None:
            version = self.current_version(name)
        row = self._db.execute(
            "SELECT * FROM skill_versions WHERE name = ? AND version = ?", (name, version)
        ).fetchone()
        if row is None:
            self._skill(name)
            held = [r[0] for r in self._db.execute("SELECT version FROM skill_versions WHERE name = ? ORDER BY version",
                                                   (name,))]
            have = f"versions {held[0]} to {held[-1]}" if len(held) > 1 else f"version {held[0]}" if held else "no version"
            raise SkillkilnError(f"no version {version} of skill {name!r} in the store {self.path} (it has {have})")
        return self._version(row)

    def latest_versions(self, task: str | None = None, include_retired: bool = False) -> list[SkillVersion]:
        """The current version of every skill, by name."""
        rows = self._db.execute("SELECT name, task, retired FROM skills ORDER BY name").fetchall()
        return [  # by name, not by a NAME@V string: a store made before names were checked may hold an '@'
            self._get(r["name"], None) for r in rows
            if (task is None or r["task"] == task) and (include_retired or not r["retired"])
        ]

    def versions(self, name: str) -> list[SkillVersion]:
        self._skill(name)
        rows = self._db.execute("SELECT * FROM skill_versions WHERE name = ? ORDER BY version", (name,)).fetchall()
        return [self._version(r) for r in rows]

    def is_retired(self, name: str) -> bool:
        return bool(self._skill(name)["retired"])

    def pinned(self, name: str) -> int | None:
        return self._skill(name)["pinned_version"]

    def pin(self, ref: str, actor: str) -> SkillVersion | None:
        """Pin NAME@VERSION; None (and no event) when it was pinned already."""
        version = self.get(ref)
        if self._skill(version.name)["pinned_version"] == version.version:
            return None
        with self.transaction() as db:
            db.execute("UPDATE skills SET pinned_version = ? WHERE name = ?", (version.version, version.name))
            self._event(db, version.name, version.version, "pinned", actor, "")
        return version

    def unpin(self, name: str, actor: str) -> bool:
        """Unpin NAME; False (and no event) when it was not pinned."""
        if self._skill(name)["pinned_version"] is None:
            return False
        with self.transaction() as db:
            db.execute("UPDATE skills SET pinned_version = NULL WHERE name = ?", (name,))
            self._event(db, name, None, "unpinned", actor, "")
        return True

    def retire(self, name: str, actor: str, retired: bool = True) -> bool:
        """Retire (or restore) NAME; False (and no event) when it already was."""
        if bool(self._skill(name)["retired"]) == retired:
            return False
        with self.transaction() as db:
            db.execute("UPDATE skills SET retired = ? WHERE name = ?", (int(retired), name))
            self._event(db, name, None, "retired" if retired else "restored", actor, "")
        return True

    def events(self, name: str) -> list[sqlite3.Row]:
        return self._db.execute("SELECT * FROM events WHERE name = ? ORDER BY id", (name,)).fetchall()

    def check_writable(self) -> None:
        """Refuse to add to a store SQLite finds damaged (PRAGMA quick_check: every page and index
        entry readable; a fraction of a second for tens of MB): writing more could lose what is left."""
        if self.read_only:
            raise SkillkilnError(f"store {self.path} is read-only (its file or folder may not be written); nothing "
                                 "was changed")
        try:
            found = [r[0] for r in self._db.execute("PRAGMA quick_check").fetchall()]
        except sqlite3.DatabaseError as exc:
            found = [str(exc)]
        if found != ["ok"]:
            first = " ".join(found[0].split())[:200]  # SQLite's first finding, on one line
            raise SkillkilnError(f"store {self.path} is damaged ({first}); nothing was written to it:"
                                 " `skills verify` lists the problems; copy out what you need before repairing it")

    def verify(self) -> list[str]:
        """Problems found: integrity, schema, hashes, unreadable records. Empty means healthy."""
        problems: list[str] = []
        try:
            check = self._db.execute("PRAGMA integrity_check").fetchall()
            if [r[0] for r in check] != ["ok"]:
                problems += [f"sqlite: {r[0]}" for r in check][:20]
            if self.schema_version != SCHEMA_VERSION:
                problems.append(f"schema version {self.schema_version}, expected {SCHEMA_VERSION}")
            for row in self._db.execute("SELECT name, version, code, code_sha256, metrics, verdict, parents,"
                                        " provenance FROM skill_versions"):
                where = f"{row['name']}@{row['version']}"
                if sha256(row["code"]) != row["code_sha256"]:
                    problems.append(f"{where}: code does not match its sha256 (changed after it was stored)")
                try:  # read as browsing reads it (Store._version), so verify flags exactly what browsing refuses
                    self.version_fields(row)
                except SkillkilnError as exc:
                    problems.append(str(exc).removesuffix(self.DAMAGED_HINT))
            tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            problems += [f"table {t} is missing" for t in TABLES if t not in tables]
            if "candidates" in tables:
                for row in self._db.execute("SELECT * FROM candidates"):
                    if sha256(row["code"]) != row["code_sha256"]:
                        problems.append(f"candidate {row['id']}: code does not match its sha256")
                    try:
                        self.decoded(row)
                    except SkillkilnError as exc:
                        problems.append(str(exc).removesuffix(self.DAMAGED_HINT))
            if "runs" in tables:
                for row in self._db.execute("SELECT * FROM runs"):
                    for column in ("config", "summary"):
                        try:
                            self.run_json(row, column)
                        except SkillkilnError as exc:
                            problems.append(str(exc).removesuffix(self.DAMAGED_HINT))
            if "pending" in tables:  # a damaged one is asked for again on resume: paid twice
                for row in self._db.execute("SELECT run_id, iteration, slot, proposal FROM pending"):
                    if self.pending_proposal(row["proposal"]) is None:
                        problems.append(f"run {row['run_id']}: the proposal pending in iteration {row['iteration']} "
                                        f"slot {row['slot']} is unreadable (a resume asks for it again)")
            if "calls" in tables:
                for row in self._db.execute("SELECT run_id, seq, answer FROM calls WHERE answer IS NOT NULL"):
                    try:
                        ok = isinstance(json.loads(row["answer"]), dict)
                    except (TypeError, ValueError):
                        ok = False
                    if not ok:
                        problems.append(f"run {row['run_id']}: the answer of model call {row['seq']} is unreadable")
        except sqlite3.DatabaseError as exc:
            problems.append(f"sqlite: {exc}")
        return problems
