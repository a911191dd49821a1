"""Transcripts: record a live run's model calls, replay them later, exactly.

A transcript is JSONL. The first line is a header (format, version, roles, and the run settings
that make its prompts repeat: task, seed, strategy, batch); every further line is one call:

    {"kind": "call", "seq": 0, "role": "creator", "provider": "anthropic", "model": "claude-opus-4-5",
     "request": {"system": ..., "messages": [...], "max_tokens": ..., "temperature": ..., "seed": ...},
     "request_sha256": "...",
     "response": {"text": ..., "model": ..., "stop": ..., "usage": {"prompt": ..., "completion": ...}}}

`--record FILE` writes one (each call is flushed as it happens, so a crashed run keeps its calls);
`--proposer replay --transcript FILE` answers every call from it, in order per role (creator,
repairer), with the recorded text, model and token counts, so the ledger and the run repeat. It
counts prompts that differ from the recorded ones (templates or the gate changed since the
recording) and calls served out of the recorded order; either way a replay is deterministic.
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, IO

from engine.errors import SkillkilnError, StopRun
from engine.records import TokenUsage

FORMAT = "skillkiln-transcript"
VERSION = 1
SETTINGS = ("task", "seed", "strategy", "batch", "iters", "parents")


def request_dict(messages: list[dict[str, str]], system: str, max_tokens: int, temperature: float,
                 seed: int | None) -> dict[str, Any]:
    return {"system": system, "messages": messages, "max_tokens": max_tokens, "temperature": temperature, "seed": seed}


def request_hash(request: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(request, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


# ---------------------------------------------------------------- recording


ROLES = ("creator", "repairer")


class TranscriptWriter:
    """Writes a transcript: the file is opened (and an existing one replaced) at the first call, so a
    run refused at its start (a bad key, a server down) leaves the file as it was. A write that fails
    (a full disk) stops the recording with a warning; the run, and its ledger, go on."""

    def __init__(self, path: Path, header: dict[str, Any], say: Any = None):
        self.path = path
        self._header = header
        self._handle: IO[str] | None = None
        self._lock = threading.Lock()
        self._say = say
        self.failed = ""  # why the recording stopped, if it did
        self.seq = 0

    @classmethod
    def open(cls, path: str | Path, config: Any, creator: str, repairer: str, say: Any = None) -> "TranscriptWriter":
        path = Path(path).expanduser()
        target = path.resolve()
        store = getattr(config, "store_path", None)
        if store is not None:
            db = Path(store).expanduser().resolve()
            if target in {db.with_name(db.name + suffix) for suffix in ("", "-wal", "-shm", "-journal")}:
                raise SkillkilnError(f"--record {path} is the store's own file; name another file for the transcript")
        if getattr(config, "transcript", None) and target == Path(config.transcript).expanduser().resolve():
            raise SkillkilnError(f"--record {path} is the transcript being replayed; name another file")
        if target.is_dir():
            raise SkillkilnError(f"cannot write the transcript {path}: it is a folder")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SkillkilnError(f"cannot write the transcript {path}: {exc.strerror or exc}") from None
        if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
            raise SkillkilnError(f"cannot write the transcript {path}: permission denied")
        header = {"kind": "header", "format": FORMAT, "version": VERSION,
                  "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                  "creator": creator, "repairer": repairer,
                  "settings": {k: getattr(config, k, None) for k in SETTINGS}}
        return cls(path, header, say)

    def _write(self, row: dict[str, Any]) -> None:
        with self._lock:
            if self.failed:
                return
            try:
                if self._handle is None:
                    self._handle = self.path.open("w", encoding="utf-8")
                    self._handle.write(json.dumps(self._header, ensure_ascii=False) + "\n")
                self._handle.write(json.dumps(row, ensure_ascii=False) + "\n")
                self._handle.flush()
            except OSError as exc:
                self.failed = exc.strerror or str(exc)
                if self._say:
                    self._say(f"warning: the transcript {self.path} could not be written ({self.failed}); recording "
                              f"stopped after {row.get('seq', 0)} calls, and the run goes on")

    def call(self, role: str, provider: str, model: str, request: dict[str, Any], completion: Any) -> None:
        with self._lock:
            seq = self.seq
            self.seq += 1
        self._write({
            "kind": "call", "seq": seq, "role": role, "provider": provider, "model": model,
            "request": request, "request_sha256": request_hash(request),
            "response": {"text": completion.text, "model": completion.model, "stop": completion.stop,
                         "usage": {"prompt": completion.usage.prompt, "completion": completion.usage.completion},
                         **({"estimated": True} if getattr(completion, "estimated", False) else {})},
        })

    def close(self) -> None:
        with self._lock:
            if self._handle is not None and not self._handle.closed:
                try:
                    self._handle.close()
                except OSError:
                    pass


class RecordingModel:
    """A ChatModel that passes each call to INNER and writes it to the transcript."""

    def __init__(self, inner: Any, role: str, writer: TranscriptWriter):
        self.inner = inner
        self.role = role
        self.writer = writer
        self.provider = inner.provider
        self.model = inner.model

    def complete(self, messages, system, max_tokens, temperature, seed=None):
        done = self.inner.complete(messages, system, max_tokens, temperature, seed)
        self.writer.call(self.role, self.provider, self.model,
                         request_dict(messages, system, max_tokens, temperature, seed), done)
        return done

    def close(self) -> None:
        self.writer.close()


# ---------------------------------------------------------------- replaying


@dataclass
class Transcript:
    path: Path
    header: dict[str, Any]
    calls: list[dict[str, Any]]
    position: int = 0  # calls served
    mismatches: int = 0  # prompts that differ from the recorded ones
    out_of_order: int = 0  # calls served in another order than recorded
    cursors: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def load(cls, path: str | Path) -> "Transcript":
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
            lines = text.splitlines()
        except OSError as exc:
            raise SkillkilnError(f"cannot read the transcript {path}: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise SkillkilnError(f"{path} is not a skillkiln transcript (not UTF-8 text)") from None
        rows = []
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except ValueError:
                if n == len(lines) and not text.endswith("\n"):  # a recording killed mid-line: keep what is whole
                    continue
                raise SkillkilnError(f"transcript {path} line {n} is not JSON") from None
        if not all(isinstance(r, dict) for r in rows):
            raise SkillkilnError(f"{path} is not a skillkiln transcript (a line is JSON but not an object)")
        if not rows or rows[0].get("kind") != "header" or rows[0].get("format") != FORMAT:
            raise SkillkilnError(f"{path} is not a skillkiln transcript (no header line)")
        if rows[0].get("version") != VERSION:
            raise SkillkilnError(f"transcript {path} has version {rows[0].get('version')}, this skillkiln reads {VERSION}")
        calls = [r for r in rows[1:] if r.get("kind") == "call"]
        for r in calls:
            where = f"transcript {path}: call {r.get('seq')}"
            if not {"role", "provider", "model", "response"} <= set(r) or not isinstance(r["response"], dict) \
                    or "text" not in r["response"]:
                raise SkillkilnError(f"{where} lacks role, provider, model or response")
            if r["role"] not in ROLES:
                raise SkillkilnError(f"{where} has role {r['role']!r}; a call's role is {' or '.join(ROLES)}")
            if not isinstance(r["response"]["text"], str):
                raise SkillkilnError(f"{where}: its response's text is not a string")
            usage = r["response"].get("usage") or {}
            try:
                if not isinstance(usage, dict):
                    raise ValueError("usage is not an object")
                TokenUsage.counted(usage.get("prompt"), usage.get("completion"))
            except ValueError as exc:
                raise SkillkilnError(f"{where}: {exc}") from None
        if not any(r["role"] == "creator" for r in calls):
            raise SkillkilnError(f"transcript {path} holds no creator call: there is nothing to replay")
        if not isinstance(rows[0].get("settings", {}), dict):
            raise SkillkilnError(f"transcript {path}: its header's settings are not an object")
        return cls(path, rows[0], calls)

    def role_spec(self, role: str) -> tuple[str, str]:
        provider, _, model = str(self.header.get(role) or self.header.get("creator", "")).partition(":")
        return provider or "replay", model or "unknown"

    def differences(self, config: Any) -> list[str]:
        """Settings of this run that differ from the recorded one (its prompts will then differ too)."""
        recorded = self.header.get("settings", {})
        out = []
        for key in SETTINGS:
            if key in recorded and recorded[key] is not None and getattr(config, key, None) != recorded[key]:
                out.append(f"replaying {self.path.name}, recorded with {key}={recorded[key]!r}, in a run with "
                           f"{key}={getattr(config, key, None)!r}: prompts will differ from the recording")
        return out

    def skip(self, role: str, n: int) -> None:
        """Pass over ROLE's first N calls: a resumed run's earlier part made them already."""
        with self._lock:
            self.cursors[role] = self.cursors.get(role, 0) + n
            self.position += n

    def next(self, role: str, request: dict[str, Any]) -> dict[str, Any]:
        """The next recorded call of ROLE. Each role keeps its own place, so a replay whose run took
        another turn (a gate that changed since the recording) still answers deterministically;
        such calls are counted as out of order."""
        with self._lock:
            mine = [c for c in self.calls if c["role"] == role]
            at = self.cursors.get(role, 0)
            if at >= len(mine):
                raise StopRun(f"transcript {self.path.name} has no more {role} calls (it recorded {len(mine)})")
            call = mine[at]
            self.cursors[role] = at + 1
            if call.get("seq") is not None and call["seq"] != self.position:
                self.out_of_order += 1
            self.position += 1
            if call.get("request_sha256") and call["request_sha256"] != request_hash(request):
                self.mismatches += 1
            return call


class ReplayModel:
    def __init__(self, transcript: Transcript, role: str):
        self.transcript = transcript
        self.role = role
        self.provider, self.model = transcript.role_spec(role)

    def complete(self, messages, system, max_tokens, temperature, seed=None):
        from engine.proposers.llm import Completion, reported_usage

        call = self.transcript.next(self.role, request_dict(messages, system, max_tokens, temperature, seed))
        response = call["response"]
        usage = response.get("usage") or {}
        # a count the transcript leaves out is estimated as a live server's would be, not booked as 0
        counts, left_out = reported_usage(usage.get("prompt"), usage.get("completion"), messages, system,
                                          response["text"])
        return Completion(response["text"], counts, response.get("model") or self.model, response.get("stop", ""),
                          response.get("estimated") is True or left_out)  # the server sent no counts: estimated
