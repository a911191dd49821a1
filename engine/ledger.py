"""The token ledger: every model call with the tokens its provider reported and what it cost.

One `Ledger` per run (the LLM proposer writes to it; the loop reads it for the summary and
for `--max-cost-usd`). Costs come from the one price table, engine/prices.py.

Break-even: an evolved skill runs locally, for 0 tokens per example, but its creation cost
tokens once. A direct baseline (`skillkiln baseline`) spends tokens on every example. The
skill repays its creation after creation_tokens / baseline_tokens_per_example examples
(and, in money, creation_cost / baseline_cost_per_example).
"""
from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass
from typing import Any, Callable

from engine.errors import SkillkilnError, StopRun
from engine.prices import FREE_PROVIDERS, PRICES, PRICES_DATE, PRICES_SOURCE
from engine.records import TokenUsage


class BudgetExhausted(StopRun):
    """Raised before a model call that could take the run past its `--max-cost-usd`: a clean stop, not a failure."""

    def __init__(self, spent: float, budget: float, upcoming: float = 0.0):
        super().__init__(f"max cost reached: spent ${spent:.4f} of ${budget:.4f}"
                         + (f"; the next call could cost up to about ${upcoming:.4f}" if upcoming else ""))
        self.spent = spent
        self.budget = budget


CHARS_PER_TOKEN = 4  # about right for English prose and Python; prompts are estimated, completions are capped


def call_bound(provider: str, model: str, prompt_chars: int, max_completion: int,
               chars_per_token: float = CHARS_PER_TOKEN) -> float:
    """What one call can cost at most: its prompt (estimated from its length) and a completion of
    max_completion tokens, the most the provider will return. 0.0 for a model with no price."""
    return cost_of(provider, model, TokenUsage(math.ceil(prompt_chars / chars_per_token), max_completion)) or 0.0


def price_of(provider: str, model: str) -> tuple[float, float] | None:
    """(input, output) USD per million tokens, or None when the table has no price."""
    if provider in FREE_PROVIDERS:
        return (0.0, 0.0)
    return PRICES.get(provider, {}).get(model)


def cost_of(provider: str, model: str, usage: TokenUsage) -> float | None:
    price = price_of(provider, model)
    if price is None:
        return None
    return (usage.prompt * price[0] + usage.completion * price[1]) / 1_000_000


@dataclass(frozen=True)
class Call:
    provider: str
    model: str
    role: str  # creator, repairer, baseline
    prompt: int
    completion: int
    cost_usd: float | None  # None: no price for this model

    @property
    def key(self) -> str:
        return f"{self.provider}:{self.model}"

    @classmethod
    def of(cls, provider: str, model: str, role: str, usage: TokenUsage) -> "Call":
        """A call with the tokens its provider reported, priced from engine/prices.py."""
        return cls(provider, model, role, usage.prompt, usage.completion, cost_of(provider, model, usage))


class Ledger:
    def __init__(self, budget_usd: float | None = None):
        self.budget_usd = budget_usd
        self.calls: list[Call] = []
        self._lock = threading.Lock()
        # books each new call elsewhere too (a run: its store), with its request's hash and its answer
        self.sink: Callable[..., None] | None = None
        # per model, the fewest prompt characters a reported token has held yet (bound() estimates with it)
        self._densest: dict[str, float] = {}

    # ------------------------------------------------------------ writing

    def record(self, provider: str, model: str, role: str, usage: TokenUsage, request_sha256: str | None = None,
               answer: dict[str, Any] | None = None, prompt_chars: int | None = None) -> Call:
        """PROMPT_CHARS: the length of a prompt whose tokens the server reported (not estimated)."""
        call = Call.of(provider, model, role, usage)
        with self._lock:
            self.calls.append(call)
        if prompt_chars:
            self.learn_density(provider, model, prompt_chars, usage.prompt)
        if self.sink is not None:
            self.sink(call, request_sha256, answer)
        return call

    def restore(self, calls: list[Call]) -> None:
        """Calls a run made before it was resumed: its budget and its totals go on from there."""
        with self._lock:
            self.calls[:0] = calls

    @staticmethod
    def earlier_calls(summary: dict[str, Any], candidates: list[dict[str, Any]], booked: list[Any] = ()) -> list[Call]:
        """A stored run's calls: those booked in the store as they returned (BOOKED, rows of its calls
        table); for a run begun before the store booked calls, its summary's ledger, or (killed before it
        wrote one) each stored candidate's tokens as one call of the model that made it."""
        if booked:
            return [Call(r["provider"], r["model"], r["role"], r["prompt_tokens"], r["completion_tokens"], r["cost_usd"])
                    for r in booked]
        per_call = (summary.get("ledger") or {}).get("per_call")
        if per_call:
            out = []
            for role, key, prompt, completion, cost in per_call:
                provider, _, model = key.partition(":")
                out.append(Call(provider, model, role, int(prompt), int(completion), cost))
            return out
        usages = [(c, TokenUsage(int(c["prompt_tokens"] or 0), int(c["completion_tokens"] or 0))) for c in candidates]
        return [Call.of(c["proposer"], c["model"], "creator", u) for c, u in usages if u.prompt + u.completion > 0]

    def require_prices(self, models: list[tuple[str, str]]) -> None:
        """With a budget, every model must have a price, else the budget could never be checked."""
        if self.budget_usd is None:
            return
        for provider, model in models:
            if price_of(provider, model) is None:
                raise SkillkilnError(
                    f"--max-cost-usd needs a price for {provider}:{model}, and engine/prices.py has none "
                    f"(add it there, or drop --max-cost-usd)"
                )

    def learn_density(self, provider: str, model: str, prompt_chars: int, prompt_tokens: int) -> None:
        """A prompt of PROMPT_CHARS characters that the server counted as PROMPT_TOKENS tokens (for bound())."""
        if prompt_chars > 0 and prompt_tokens > 0:
            key = f"{provider}:{model}"
            with self._lock:
                self._densest[key] = min(self._densest.get(key, CHARS_PER_TOKEN), prompt_chars / prompt_tokens)

    def bound(self, provider: str, model: str, prompt_chars: int, max_completion: int) -> float:
        """call_bound, its prompt estimated at CHARS_PER_TOKEN or at the densest prompt this model's server
        has reported, whichever gives more tokens: code and JSON hold fewer characters a token than prose,
        and an estimate too low let a call take the run past its --max-cost-usd."""
        with self._lock:
            per_token = min(CHARS_PER_TOKEN, self._densest.get(f"{provider}:{model}", CHARS_PER_TOKEN))
        return call_bound(provider, model, prompt_chars, max_completion, per_token)

    def check_budget(self, upcoming: float = 0.0) -> None:
        """Stop (BudgetExhausted) once the budget is spent, or when a call that could cost UPCOMING
        (call_bound) would take the run past it: --max-cost-usd is a cap, not a trigger."""
        if self.budget_usd is None:
            return
        if self.cost_usd >= self.budget_usd:
            raise BudgetExhausted(self.cost_usd, self.budget_usd)
        if self.cost_usd + upcoming > self.budget_usd:
            raise BudgetExhausted(self.cost_usd, self.budget_usd, upcoming)

    # ------------------------------------------------------------ reading

    @property
    def prompt(self) -> int:
        return sum(c.prompt for c in self.calls)

    @property
    def completion(self) -> int:
        return sum(c.completion for c in self.calls)

    @property
    def total(self) -> int:
        return self.prompt + self.completion

    @property
    def cost_usd(self) -> float:
        return sum(c.cost_usd or 0.0 for c in self.calls)

    @property
    def priced(self) -> bool:
        return all(c.cost_usd is not None for c in self.calls)

    def summary(self) -> dict[str, Any]:
        by_model: dict[str, dict[str, Any]] = {}
        for c in self.calls:
            m = by_model.setdefault(c.key, {"calls": 0, "prompt": 0, "completion": 0, "cost_usd": 0.0,
                                            "priced": True, "roles": {}})
            m["calls"] += 1
            m["prompt"] += c.prompt
            m["completion"] += c.completion
            m["roles"][c.role] = m["roles"].get(c.role, 0) + 1
            if c.cost_usd is None:
                m["priced"] = False
            else:
                m["cost_usd"] += c.cost_usd
        for m in by_model.values():
            m["cost_usd"] = round(m["cost_usd"], 6)
        return {
            "calls": len(self.calls),
            "prompt": self.prompt,
            "completion": self.completion,
            "total": self.total,
            "cost_usd": round(self.cost_usd, 6),
            "priced": self.priced,
            "budget_usd": self.budget_usd,
            "by_model": by_model,
            "prices": {"date": PRICES_DATE, "source": PRICES_SOURCE},
            # every call as [role, provider:model, prompt tokens, completion tokens, USD or null], in order
            "per_call": [[c.role, c.key, c.prompt, c.completion, None if c.cost_usd is None else round(c.cost_usd, 6)]
                         for c in self.calls],
        }


# ---------------------------------------------------------------- baselines and break-even


def baseline_from_flag(tokens_per_example: float) -> dict[str, Any]:
    return {"source": "--baseline-tokens-per-example", "tokens_per_example": float(tokens_per_example),
            "cost_per_example_usd": None, "model": None, "split": None, "accuracy": None, "mcc": None, "n": None}


def stored_ledger(store: Any, run_id: str, summary: dict[str, Any]) -> dict[str, Any] | None:
    """RUN's ledger as its summary holds it, or (killed before it wrote one) rebuilt from the calls it
    booked in the store as they returned; None for a run that made no model call."""
    if summary.get("ledger"):
        return summary["ledger"]
    booked = store.calls(run_id)
    if not booked:
        return None
    ledger = Ledger()
    ledger.restore(Ledger.earlier_calls({}, [], booked))
    return ledger.summary()


def find_baseline(store: Any, task: str, prefer: str | None = None) -> dict[str, Any] | None:
    """The latest finished `skillkiln baseline` run for TASK in the store, preferring model PREFER
    ("provider:model"); None when there is none."""
    found: list[dict[str, Any]] = []
    for row in store.runs():  # newest first
        if row["task"] != task or row["status"] != "finished":
            continue
        try:
            config = json.loads(row["config"] or "{}")
            summary = json.loads(row["summary"] or "{}")
        except ValueError:
            continue
        if config.get("kind") != "baseline" or not summary.get("tokens_per_example"):
            continue
        if summary.get("n") and summary.get("unparsed") == summary.get("n"):  # stored before such runs failed
            continue
        found.append({**summary, "source": f"baseline run {row['id']}"})
    if not found:
        return None
    if prefer:
        for b in found:
            if b.get("model") == prefer:
                return b
    return found[0]


def break_even(ledger_summary: dict[str, Any], baseline: dict[str, Any] | None,
               creator: str | None = None) -> dict[str, Any] | None:
    """How many examples the skill must serve before its creation is repaid, in tokens and in USD (none in USD
    when its creation cost nothing). With CREATOR ("provider:model"), a baseline of another model says so."""
    try:
        per_example = float((baseline or {}).get("tokens_per_example") or 0)
    except (TypeError, ValueError):
        return None
    if not (math.isfinite(per_example) and per_example > 0):  # nothing to divide by (NaN, 0, negative)
        return None
    tokens = ledger_summary["total"]
    result: dict[str, Any] = {
        "creation_tokens": tokens,
        "creation_cost_usd": ledger_summary["cost_usd"] if ledger_summary.get("priced", True) else None,
        "baseline": {k: baseline.get(k) for k in ("source", "model", "split", "n", "tokens_per_example",
                                                  "cost_per_example_usd", "accuracy", "mcc")},
        "examples_by_tokens": math.ceil(tokens / per_example),
        "examples_by_cost": None,
        "other_model": creator if creator and baseline.get("model") and baseline["model"] != creator else None,
    }
    per_example_cost = baseline.get("cost_per_example_usd")
    cost = result["creation_cost_usd"]
    if isinstance(per_example_cost, (int, float)) and math.isfinite(per_example_cost) and per_example_cost > 0 \
            and cost:
        result["examples_by_cost"] = math.ceil(cost / per_example_cost)
    return result
