"""Proposers: where candidate skills come from. `offline` needs no LLM and is the default."""
from __future__ import annotations

from engine.errors import SkillkilnError
from engine.proposers.base import Proposer

PROPOSERS = ("offline", "ollama", "anthropic", "replay")
LLM_PROPOSERS = ("ollama", "anthropic", "replay")


def make_proposer(name: str, seed: int, config=None, say=None, task: str | None = None) -> Proposer:
    """A proposer by name. LLM proposers (ollama, anthropic, replay) read their roles, transport,
    transcript and budget from CONFIG (a RunConfig); `say` gets their warnings (retries).
    TASK (a task name) picks the offline proposer for its kind: rule sets of regexes for "spans"."""
    if name == "offline":
        from engine.proposers.offline import OfflineProposer

        if task is not None and _kind(task) == "spans":
            from engine.proposers.offline_spans import OfflineSpanProposer

            return OfflineSpanProposer(seed=seed)

        return OfflineProposer(seed=seed)
    if name in LLM_PROPOSERS:
        from engine.config import RunConfig
        from engine.proposers.llm import build_llm_proposer

        return build_llm_proposer(config or RunConfig(task="", proposer=name, seed=seed), say=say)
    raise SkillkilnError(f"unknown proposer {name!r}; known: {', '.join(PROPOSERS)}")


def _kind(task: str) -> str:
    from tasks import task_spec

    return task_spec(task).kind
