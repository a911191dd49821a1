"""LLM proposers on a span task (pii): the prompt asks for spans and shows span examples, and a model's
span skill is judged by the span gate, end to end through the real Anthropic SDK and the fake server."""
from __future__ import annotations

import json
import os
import subprocess

from engine.prompts import proposal_prompt
from engine.proposers.base import ParentInfo, ProposalContext, TaskCard
from fake_servers import anthropic_message, approx_tokens
from llm_helpers import BIN, server  # noqa: F401 - fixtures
from tasks import load_task



def test_a_span_task_gets_a_span_prompt():
    card = TaskCard.of(load_task("pii", os.environ.get("SKILLKILN_DATA_DIR")))
    first = proposal_prompt(ProposalContext(card, 0, ())).user
    assert "return spans   # a list of (start, end, LABEL) tuples" in first and "return LABEL" not in first
    assert "paired bootstrap" in first and "Fisher" not in first and "majority label" not in first
    assert "spans.append((start, end, label))" in first  # span few-shots, not classifiers
    assert "Both labels must occur" not in first and "Its spans must not overlap" in first
    none_found = tuple([] for _ in card.train.labels)
    parent = ParentInfo("c", "def solve(text):\n    return []\n", none_found, 0.0, 0.0)
    later = proposal_prompt(ProposalContext(card, 1, (parent,), ("bad_output:train",), seed=1)).user
    assert "train F1 0.000" in later and "train MCC" not in later
    assert "\n  gold: " in later and "\n  parent 1: none" in later
    assert "bad_output:train: returned something that is not a list of (start, end, label) tuples" in later


def test_an_llm_span_skill_is_judged_by_the_span_gate(server, tmp_path):
    """The model's answer: the offline span proposer's first skill (regex rules and mined word lists)."""
    from engine.proposers.offline_spans import OfflineSpanProposer

    card = TaskCard.of(load_task("pii", os.environ.get("SKILLKILN_DATA_DIR")))
    skill = "```python\n" + OfflineSpanProposer(seed=0).propose(ProposalContext(card, 0, ())).code + "```"

    def answer(_api, body):
        prompt = body["messages"][-1]["content"]
        return anthropic_message(skill, "claude-opus-5-5", approx_tokens(prompt), approx_tokens(skill))

    server.responder = answer
    done = subprocess.run([str(BIN / "evolve"), "--task", "pii", "--iters", "1", "--proposer", "anthropic",
                           "--store", str(tmp_path / "s.sqlite"), "--sandbox", "local", "--json"],
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "ANTHROPIC_API_KEY": "sk-ant-fake", "ANTHROPIC_BASE_URL": server.url})
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["accepted_count"] == 1, summary["rejections"]
    assert summary["best"]["metrics"]["validation"]["f1"] > 0.05
