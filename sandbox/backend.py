"""What every sandbox backend speaks: a request in, an ExecResult out. Labels never go in."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from engine.records import ExecResult, PropertyOutcome

ALLOWED_IMPORTS = ("re", "math", "string", "collections", "itertools", "functools", "unicodedata")


@dataclass(frozen=True)
class Limits:
    wall_s: float = 120.0  # one request, all texts
    cpu_s: int = 120
    mem_mb: int = 512
    call_s: float = 2.0  # one call of solve()
    result_bytes: int = 32 * 1024 * 1024
    load_s: float = 10.0  # the skill's module body (imports, tables, compiled patterns)


@dataclass(frozen=True)
class RunRequest:
    code: str
    texts: tuple[str, ...]
    kind: str = "classification"
    labels: tuple[Any, ...] = ()
    properties: dict[str, Any] | None = None  # None: no property tests in this run
    allowed_imports: tuple[str, ...] = ALLOWED_IMPORTS
    libraries: dict[str, str] = field(default_factory=dict)  # name -> code of stored skills it may import
    # Tests only (the adversarial suite's "container alone" mode): the harness gives the skill
    # full builtins and unrestricted imports, so that only the container stops it. Never set
    # by the engine; on the wire only when true.
    trusted_builtins: bool = False
    # The string hash seed of the process the skill runs in: 0 (every worker's, PYTHONHASHSEED=0), or
    # another, for a worker started with that seed (the gate's out-of-context run: a skill whose answers
    # follow the order of a set of strings answers otherwise under another seed, as its export will in
    # a plain python3). Chooses the worker; never on the wire.
    hash_seed: int = 0

    def to_wire(self, limits: Limits) -> dict[str, Any]:
        wire = {
            "op": "run",
            "code": self.code,
            "texts": list(self.texts),
            "kind": self.kind,
            "labels": list(self.labels),
            "properties": self.properties,
            "allowed_imports": list(self.allowed_imports),
            "libraries": dict(self.libraries),
            "limits": asdict(limits),
        }
        if self.trusted_builtins:
            wire["trusted_builtins"] = True
        return wire


class Backend(Protocol):
    name: str  # "docker" or "local"
    weaker: bool  # True when isolation is weaker than a container's

    def run(self, request: RunRequest, limits: Limits = Limits()) -> ExecResult: ...

    def close(self) -> None: ...


def decode_result(resp: dict[str, Any], n_texts: int) -> ExecResult:
    """Turn the harness's answer into an ExecResult, trusting nothing about its shape."""
    wall = float(resp.get("wall_s") or 0.0)
    failure = str(resp.get("failure") or "")
    outputs = resp.get("outputs")
    if not resp.get("ok") or not isinstance(outputs, list) or len(outputs) != n_texts:
        return ExecResult(
            predictions=None,
            timed_out=bool(resp.get("timed_out")) or failure.startswith("timeout"),
            wall_s=wall,
            failure=failure or "crash: the sandbox returned no usable outputs",
        )
    errors = {}
    for key, msg in (resp.get("errors") or {}).items():
        try:
            errors[int(key)] = str(msg)
        except (TypeError, ValueError):
            continue
    props = {}
    for name, outcome in (resp.get("properties") or {}).items():
        if isinstance(outcome, dict):
            props[str(name)] = PropertyOutcome(bool(outcome.get("passed")), str(outcome.get("detail", "")))
    return ExecResult(
        predictions=tuple(outputs),
        per_example_errors=errors,
        timed_out=any(m.startswith("timeout") for m in errors.values()),
        wall_s=wall,
        properties=props,
        failure=failure,
    )
