"""The direct baseline: the same model classifies a split itself, one call per example (or a few
per call), and we count what that costs per example.

It answers the question an evolved skill has to answer: is it cheaper than asking the model?
The result is stored as a run of kind "baseline" in the store's run table (config
{"kind": "baseline", ...}, summary holding accuracy, MCC and tokens per example), where an
`evolve` summary finds the latest one for its task (preferring the creator's model) and prints
the break-even point: creation tokens / baseline tokens per example.
"""
from __future__ import annotations

import random
import re
import time
from collections import Counter
from typing import Any, Callable, Sequence

from engine.errors import SkillkilnError
from engine.gate import GateConfig, score_labels
from engine.ledger import BudgetExhausted, Ledger
from engine.parsing import strip_think
from engine.prompts import baseline_prompt
from engine.proposers.llm import ChatModel, spec
from engine.records import Example, Task
from tasks.metrics import INVALID

_ANSWER = re.compile(r"^\W*(\d+)\s*[:.)\]-]\s*['\"]?([\w-]+)", re.M)


def sample(examples: Sequence[Example], limit: int | None, seed: int) -> list[Example]:
    """All examples, or a seeded sample of LIMIT keeping the label shares."""
    if limit is None or limit >= len(examples):
        return list(examples)
    rng = random.Random(seed)
    by_label: dict[Any, list[Example]] = {}
    for ex in examples:
        by_label.setdefault(ex.label, []).append(ex)
    order = sorted(by_label, key=repr)
    first = 1 if limit >= len(order) else 0  # every label once when there is room, then by share
    left, rest = limit - first * len(order), len(examples) - first * len(order)
    shares = {label: left * (len(by_label[label]) - first) / rest for label in order}
    take = {label: first + int(shares[label]) for label in order}  # then the places the largest remainders leave:
    for label in sorted(order, key=lambda lab: int(shares[lab]) - shares[lab])[:limit - sum(take.values())]:
        take[label] += 1  # rounding each share gave 3 of 4 asked on three equal labels
    chosen: list[Example] = []
    for label in order:
        chosen += rng.sample(by_label[label], take[label])
    rng.shuffle(chosen)
    return chosen


def parse_labels(text: str, n: int, labels: Sequence[Any]) -> list[Any]:
    """Labels for texts 1..n from `N: LABEL` lines; INVALID where none was given."""
    body, _ = strip_think(text)
    by_name = {str(lab).lower(): lab for lab in labels}
    out: list[Any] = [INVALID] * n
    found = _ANSWER.findall(body)
    if not found and n == 1:  # a lone answer without its number
        word = re.search(r"[\w-]+", body)
        found = [("1", word.group(0))] if word else []
    for number, word in found:
        i = int(number) - 1
        if 0 <= i < n and out[i] is INVALID and word.lower() in by_name:
            out[i] = by_name[word.lower()]
    return out


def check_task(task: Any) -> None:
    """The baseline asks the model for one label per text: a span task is not that. TASK: a Task, or the
    registry's TaskSpec (name and kind), checked before the data loads."""
    if task.kind != "classification":
        raise SkillkilnError(f"baseline classifies texts with the model; {task.name} is a {task.kind} task "
                             "(spans are not a label per text)")


def run_baseline(task: Task, split: str, model: ChatModel, ledger: Ledger, *, limit: int | None = None,
                 batch_size: int = 1, seed: int = 0, max_tokens: int = 256,
                 progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    check_task(task)
    examples = sample(task.split(split).examples, limit, seed)
    started = time.perf_counter()
    preds: list[Any] = []
    stopped = error = None
    interrupted = ""
    for start in range(0, len(examples), batch_size):
        chunk = examples[start:start + batch_size]
        system, user = baseline_prompt(task.description, task.labels, [e.text for e in chunk])
        cap = max_tokens + 16 * len(chunk)
        try:
            ledger.check_budget(ledger.bound(model.provider, model.model, len(system) + len(user), cap))
        except BudgetExhausted as exc:
            stopped = str(exc)
            break
        try:
            done = model.complete([{"role": "user", "content": user}], system, cap, 0.0, seed)
        except SkillkilnError as exc:  # the calls before it were paid for: the result keeps their answers
            error = str(exc)
            break
        except KeyboardInterrupt as exc:  # the same: kept, and the caller stores them as an interrupted run
            interrupted = type(exc).__name__  # KeyboardInterrupt, or the CLI's Terminated (SIGTERM)
            break
        except Exception as exc:  # noqa: BLE001 - anything else a provider raises: kept as well
            error = f"unexpected {type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
            break
        ledger.record(model.provider, model.model, "baseline", done.usage,
                      prompt_chars=None if done.estimated else len(system) + len(user))
        preds += parse_labels(done.text, len(chunk), task.labels)
        if progress:
            progress(len(preds), len(examples))
    scored = examples[:len(preds)]
    labels = [e.label for e in scored]
    metrics = score_labels(task, labels, preds, GateConfig()) if scored else None  # the gate's own metric
    n = len(scored)
    ledger_summary = ledger.summary()
    return {
        "kind": "baseline",
        "task": task.name,
        "split": split,
        "model": spec(model),
        "n": n,
        "batch_size": batch_size,
        "unparsed": sum(1 for p in preds if p is INVALID),
        "answers": dict(Counter(repr(p) for p in preds if p is not INVALID)),
        "accuracy": metrics.accuracy if metrics else None,
        "mcc": metrics.mcc if metrics else None,
        "balanced_accuracy": metrics.balanced_accuracy if metrics else None,
        "majority_accuracy": metrics.majority_accuracy if metrics else None,
        "calls": ledger_summary["calls"],
        "tokens": {"prompt": ledger_summary["prompt"], "completion": ledger_summary["completion"],
                   "total": ledger_summary["total"]},
        "tokens_per_example": round(ledger_summary["total"] / n, 3) if n else None,
        "cost_usd": ledger_summary["cost_usd"] if ledger_summary["priced"] else None,
        "cost_per_example_usd": (ledger_summary["cost_usd"] / n) if n and ledger_summary["priced"] else None,
        "stop_reason": stopped,
        "error": error,  # the provider failure that ended it early, if one did
        "interrupted": interrupted,  # Ctrl-C (or SIGTERM) ended it early
        "wall_s": round(time.perf_counter() - started, 2),
    }
