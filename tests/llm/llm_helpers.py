"""Shared pieces of the tests/llm suite: the fake server fixture, env for the SDKs, a toy task card.

(A helper module, not a conftest.py, so `from conftest import ...` elsewhere keeps meaning tests/conftest.py.)
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.proposers.base import ParentInfo, ProposalContext, TaskCard
from engine.proposers.llm import RetryPolicy
from engine.records import Example, Split
from fake_servers import FakeLLMServer

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
BIN = Path(sys.executable).parent
TRANSCRIPT = HERE / "transcripts" / "cola_small.jsonl"
FAST = RetryPolicy(attempts=3, base_s=0.01, max_s=0.05)


@pytest.fixture
def server():
    with FakeLLMServer() as s:
        yield s


@pytest.fixture
def anthropic_env(server, monkeypatch):
    """The real Anthropic SDK pointed at the fake server (never at anything outside 127.0.0.1)."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-fake-for-tests")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
    return server


def toy_card(n: int = 40) -> TaskCard:
    words = ["cat", "dog", "sat", "the", "on", "mat", "ran", "far", "big", "red"]
    examples = []
    for i in range(n):
        text = " ".join(words[(i * k) % len(words)] for k in range(1, 3 + i % 9)).capitalize() + "."
        examples.append(Example(text, i % 3 != 0))
    examples = [Example(e.text, int(e.label)) for e in examples]
    return TaskCard("toy", "classification", "Toy task: 1 for good sentences, 0 for bad ones.", (0, 1),
                    Split("train", tuple(examples)))


PARENT_CODE = '''import re

RULES = [
    (r"(?i)\\bthe the\\b", 1),
]
THRESHOLD = 1


def solve(text):
    score = sum(w for p, w in RULES if re.search(p, text))
    return 0 if score >= THRESHOLD else 1
'''


def toy_context(card: TaskCard, with_parent: bool = True, reasons: tuple[str, ...] = (), seed: int = 7) -> ProposalContext:
    parents = ()
    if with_parent:
        preds = tuple(1 for _ in card.train.examples)  # wrong on every label-0 example
        parents = (ParentInfo("p1", PARENT_CODE, preds, 0.12, 0.10),
                   ParentInfo("p2", "def solve(text):\n    return 1 if len(text) > 9 else 0\n", preds, 0.05, None))
    return ProposalContext(card, 3, parents, reasons, seed)


def run_cli(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / args[0]), *args[1:]], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "COLUMNS": "200", **(env or {})})


def one_line_error(done: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    return lines[0]
