"""LLM proposers: one small `ChatModel` protocol, and `LLMProposer` on top of it.

Providers (each in its own module) speak `ChatModel`: ollama (the `ollama` SDK), anthropic
(the `anthropic` SDK) and replay (a recorded transcript). `LLMProposer` builds the prompt
(engine/prompts.py), asks the creator model, parses the answer (engine/parsing.py) and, when the
answer is unusable, gives the repairer model one round with the exact error. Every call goes
into the run's token ledger (engine/ledger.py). Per model it counts answers, parse failures
before and after repair and how many of its candidates reached the sandbox: `stats()`.
"""
from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Protocol, Sequence

from engine.errors import SkillkilnError, StopRun
from engine.ledger import CHARS_PER_TOKEN, Ledger
from engine.parsing import parse_answer
from engine.proposers.base import ProposalContext
from engine import prompts
from engine.proposers.replay import request_dict, request_hash
from engine.records import Proposal, TokenUsage

PROVIDERS = ("ollama", "anthropic")
DEFAULT_MODELS = {"ollama": "qwen2.5-coder:32b", "anthropic": "claude-opus-5-5"}
STRATEGIES = ("evolve", "best-of-n")

Say = Callable[[str], None]


LONE_SURROGATE = re.compile("[\ud800-\udfff]")  # in a str, half of a UTF-16 pair: no UTF-8 for it


@dataclass(frozen=True)
class Completion:
    text: str  # as the model wrote it (reasoning blocks included; parsing strips them)
    usage: TokenUsage  # as the provider reported it
    model: str  # as the provider reported it
    stop: str = ""  # why generation stopped: end_turn, max_tokens, stop, length, ...
    estimated: bool = False  # the server left a token count out: it was estimated (reported_usage)

    def __post_init__(self) -> None:
        # A model cut off mid-emoji can send half a UTF-16 surrogate pair (legal JSON): such a text cannot be
        # hashed, stored or recorded as UTF-8. The stray half becomes U+FFFD and the paid answer is kept.
        if LONE_SURROGATE.search(self.text):
            object.__setattr__(self, "text", LONE_SURROGATE.sub("\ufffd", self.text))


def reported_usage(prompt: Any, completion: Any, messages: list[dict[str, str]], system: str,
                   text: str) -> tuple[TokenUsage, bool]:
    """The token counts a server reported, and whether one was estimated: a count it left out (a proxy, an
    Ollama prompt served from its cache) is estimated at CHARS_PER_TOKEN from the prompt or the answer, not
    booked as 0, which a --max-cost-usd cap would never see. A count that is there must be a whole number
    (TokenUsage.counted raises ValueError)."""
    estimated = prompt is None or completion is None
    if prompt is None:
        prompt = math.ceil((len(system) + sum(len(str(m.get("content", ""))) for m in messages)) / CHARS_PER_TOKEN)
    if completion is None:
        completion = math.ceil(len(text) / CHARS_PER_TOKEN)
    return TokenUsage.counted(prompt, completion), estimated


class ChatModel(Protocol):
    provider: str
    model: str

    def complete(self, messages: list[dict[str, str]], system: str, max_tokens: int, temperature: float,
                 seed: int | None = None) -> Completion: ...


def spec(model: ChatModel) -> str:
    return f"{model.provider}:{model.model}"


def parse_spec(text: str) -> tuple[str, str]:
    """"anthropic:claude-opus-4-5" -> ("anthropic", "claude-opus-4-5"); "ollama:llama3.2:3b" keeps the
    model's own tag; a bare provider gets its default model."""
    provider, _, model = text.strip().partition(":")
    if provider not in PROVIDERS:
        raise SkillkilnError(f"unknown provider {provider!r} in {text!r}: write PROVIDER:MODEL with PROVIDER one of "
                             f"{', '.join(PROVIDERS)} (e.g. anthropic:claude-opus-4-5, ollama:llama3.2:3b)")
    return provider, model or DEFAULT_MODELS[provider]


# ---------------------------------------------------------------- retries


class TransientError(Exception):
    """A failure worth retrying: 429, 5xx, a timeout, a dropped connection."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4  # tries in all, the first included
    base_s: float = 1.0  # first back-off; doubles each time
    max_s: float = 30.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        delay = min(self.max_s, self.base_s * (2 ** attempt))
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.max_s))
        return delay


def one_line(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def error_text(body: str) -> str:
    """A server's error body for a one-line message; an HTML page (a proxy, a wrong URL) is named, not pasted."""
    head = str(body).lstrip()[:200].lower()
    if head.startswith(("<!doctype html", "<html")) or "<body" in head:
        return "an HTML page, not the API's answer (is the URL right?)"
    return str(body)


def transient(status: int) -> bool:
    """HTTP statuses worth a retry: timeouts, conflicts, rate limits and server errors, but not
    501 Not Implemented or 505, which say the server will never answer this request."""
    return status in (408, 409, 429) or (status >= 500 and status not in (501, 505))


class ProviderBase:
    """Retries with exponential back-off around one provider call (`_once`)."""

    provider = ""
    model = ""
    where = ""  # host or base URL, for messages

    def __init__(self, retry: RetryPolicy = RetryPolicy(), say: Say | None = None, sleep: Callable[[float], None] = time.sleep):
        self.retry = retry
        self.say = say
        self.sleep = sleep
        self.retries = 0
        self.estimated = 0  # answers whose token counts were (partly) estimated

    def _once(self, messages: list[dict[str, str]], system: str, max_tokens: int, temperature: float,
              seed: int | None) -> Completion:
        raise NotImplementedError

    def complete(self, messages: list[dict[str, str]], system: str, max_tokens: int, temperature: float,
                 seed: int | None = None) -> Completion:
        last: TransientError | None = None
        for attempt in range(self.retry.attempts):
            try:
                done = self._once(messages, system, max_tokens, temperature, seed)
            except TransientError as exc:
                last = exc
                if attempt + 1 >= self.retry.attempts:
                    break
                delay = self.retry.delay(attempt, exc.retry_after)
                self.retries += 1
                if self.say:
                    self.say(f"warning: {self.provider}:{self.model}: {one_line(exc, 160)}; retry {attempt + 1} in {delay:.1f} s")
                self.sleep(delay)
                continue
            if done.estimated:
                self.estimated += 1
                if self.estimated == 1 and self.say:
                    self.say(f"warning: {self.provider}:{self.model} at {self.where} sent an answer without its token "
                             f"counts; estimated at {CHARS_PER_TOKEN} characters a token (the summary counts such answers)")
            return done
        tries = ("no retries: --llm-retries 0" if self.retry.attempts == 1 else
                 f"gave up after {self.retry.attempts} attempts")
        raise SkillkilnError(one_line(f"{self.provider}:{self.model} at {self.where}: {last} ({tries})"))


# ---------------------------------------------------------------- the proposer


@dataclass
class ModelStats:
    answers: int = 0  # every answer this model gave (creations and repairs)
    created: int = 0  # proposals it created
    first_failures: int = 0  # created answers that failed to parse
    failed_after_repair: int = 0  # ... and were still unusable after the repair round
    repairs: int = 0  # repair answers it gave (as repairer)
    repaired: int = 0  # ... that made a usable candidate
    reached_sandbox: int = 0  # of its created candidates: how many the sandbox ran
    thought: int = 0  # answers with a <think> block stripped
    kinds: dict[str, int] = field(default_factory=dict)  # first-answer failure kinds
    edits: int = 0  # usable answers given as SEARCH/REPLACE edits
    estimated: int = 0  # answers whose token counts the server left out (estimated, reported_usage)

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["kinds"] = dict(sorted(self.kinds.items()))
        d["sandbox_share"] = round(self.reached_sandbox / self.created, 4) if self.created else None
        return d


# details of gate reasons that may reach a prompt: none that quote a validation or test text
_SAFE_DETAIL_PREFIXES = ("constant_output", "not_significant", "mcc_floor", "balanced_accuracy_floor", "memorised:gap")


def _safe_detail(reason: str) -> bool:
    split = reason.rsplit(":", 1)[-1]
    if split in ("validation", "test"):
        return reason.startswith(_SAFE_DETAIL_PREFIXES)
    return True


class LLMProposer:
    def __init__(self, creator: ChatModel, repairer: ChatModel | None = None, *, name: str,
                 ledger: Ledger | None = None, strategy: str = "evolve", examples: Sequence[str] | None = None,
                 max_tokens: int = 4096, temperature: float = 0.8, repair_temperature: float = 0.2):
        if strategy not in STRATEGIES:
            raise SkillkilnError(f"unknown strategy {strategy!r}; known: {', '.join(STRATEGIES)}")
        self.name = name
        self.creator = creator
        self.repairer = repairer or creator
        self.model = creator.model
        self.ledger = ledger if ledger is not None else Ledger()
        self.strategy = strategy
        self.examples = list(examples) if examples else None
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.repair_temperature = repair_temperature
        self._stats: dict[str, ModelStats] = {}
        self._details: dict[str, str] = {}
        self._details_iteration = -1
        self._creator_of: dict[str, str] = {}  # proposal code -> creator spec, for observe()
        # resumed: answers paid for in the iteration being redone, by (role, request hash), oldest first
        self._answered: dict[tuple[str, str], list[Completion]] = {}

    # ------------------------------------------------------------ helpers

    def _model_stats(self, model: ChatModel) -> ModelStats:
        return self._stats.setdefault(spec(model), ModelStats())

    def holds_answers(self) -> bool:
        """Resumed: answers paid for before the interruption wait to be taken (they cost nothing more)."""
        return any(self._answered.values())

    def _ask(self, model: ChatModel, role: str, system: str, user: str, temperature: float,
             seed: int) -> Completion:
        messages = [{"role": "user", "content": user}]
        asked = request_hash(request_dict(messages, system, self.max_tokens, temperature, seed))
        kept = self._answered.get((role, asked))
        if kept:  # resumed: this very request was paid for before the interruption (booked, counted, in the ledger),
            return kept.pop(0)  # so no budget stops it: that money is spent whether the answer is used or not
        # stop the run (BudgetExhausted) before a call that could take it past --max-cost-usd
        chars = len(system) + len(user)
        self.ledger.check_budget(self.ledger.bound(model.provider, model.model, chars, self.max_tokens))
        done = model.complete(messages, system, self.max_tokens, temperature, seed)
        self.ledger.record(model.provider, model.model, role, done.usage, asked,
                           {"text": done.text, "model": done.model, "stop": done.stop, "estimated": done.estimated,
                            "prompt_chars": chars},
                           prompt_chars=None if done.estimated else chars)
        self._model_stats(model).answers += 1
        self._model_stats(model).estimated += done.estimated
        return done

    def restore_density(self, rows: Sequence[Any]) -> None:
        """How dense the prompts of a resumed run's booked calls were (the cost cap's bound goes on from it)."""
        for row in rows:
            try:
                answer = json.loads(row["answer"] or "null")
                if not answer.get("estimated"):
                    self.ledger.learn_density(row["provider"], row["model"], int(answer["prompt_chars"]),
                                              int(row["prompt_tokens"] or 0))
            except (TypeError, KeyError, ValueError, AttributeError):  # none kept (an older run), or damaged
                continue

    def restore_answers(self, rows: Sequence[Any]) -> None:
        """Calls a resumed run booked in the iteration it redoes (rows of the store's calls table): a request
        it asks again gets the answer paid for, in the order they came, and is neither asked nor booked again."""
        for row in rows:
            try:
                answer = json.loads(row["answer"] or "null")
                done = Completion(str(answer["text"]), TokenUsage.counted(row["prompt_tokens"], row["completion_tokens"]),
                                  str(answer.get("model") or row["model"]), str(answer.get("stop") or ""),
                                  bool(answer.get("estimated")))
            except (TypeError, KeyError, ValueError, AttributeError):  # none kept, or damaged: asked again
                continue
            if row["request_sha256"]:
                self._answered.setdefault((row["role"], row["request_sha256"]), []).append(done)

    def adopt(self, proposal: Proposal) -> None:
        """A resumed run judges PROPOSAL, which this run's creator made before the interruption."""
        self._creator_of[proposal.code] = spec(self.creator)

    # ------------------------------------------------------------ Proposer

    def propose(self, ctx: ProposalContext) -> Proposal:
        counted = {key: replace(stats, kinds=dict(stats.kinds)) for key, stats in self._stats.items()}
        try:
            return self._propose(ctx)
        except KeyboardInterrupt:  # asked again on resume (its paid answers kept): counted then, not now; its
            for key, stats in self._stats.items():  # answers stay, one per booked call, as the ledger has them
                before = counted.setdefault(key, ModelStats())
                before.answers, before.estimated = stats.answers, stats.estimated
            self._stats = counted
            raise

    def _propose(self, ctx: ProposalContext) -> Proposal:
        details = self._details if self._details_iteration == ctx.iteration - 1 else {}
        prompt = prompts.proposal_prompt(ctx, self.strategy, self.examples, details)
        stats = self._model_stats(self.creator)
        first = self._ask(self.creator, "creator", prompt.system, prompt.user, self.temperature, ctx.seed)
        stats.created += 1  # an answer came (a call that failed or was interrupted proposed nothing)
        parsed = parse_answer(first.text, prompt.parent_code)
        stats.thought += parsed.thought
        usage = first.usage
        raw = [first.text]
        outcome = f"{parsed.mode} ok"
        if not parsed.ok:
            stats.first_failures += 1
            stats.kinds[parsed.kind] = stats.kinds.get(parsed.kind, 0) + 1
            code = parsed.code if parsed.mode != "none" else None
            text = prompts.repair_prompt(ctx.task, parsed.error, first.text, code, prompt.parent_code)
            try:
                second = self._ask(self.repairer, "repairer", prompts.SYSTEM, text, self.repair_temperature, ctx.seed + 1)
            except (SkillkilnError, StopRun) as exc:  # no repair: the creator's answer was paid for, keep it
                stats.failed_after_repair += 1
                why = "repair call failed" if isinstance(exc, SkillkilnError) else "no repair: the run stopped"
                exc.partial = Proposal(  # type: ignore[attr-defined] - the loop stores it, then fails or stops the run
                    code=parsed.code, proposer=self.name, model=self.creator.model, usage=usage, raw_text=first.text,
                    parent_ids=tuple(p.id for p in prompt.parents),
                    note=one_line(f"{self.strategy} · {spec(self.creator)} · {parsed.kind} "
                                  f"({one_line(parsed.error, 120)}), {why} · "
                                  f"{usage.prompt}+{usage.completion} tokens", 400))
                raise
            usage = TokenUsage(usage.prompt + second.usage.prompt, usage.completion + second.usage.completion)
            raw.append(second.text)
            repaired = parse_answer(second.text, prompt.parent_code)
            rstats = self._model_stats(self.repairer)
            rstats.repairs += 1
            rstats.thought += repaired.thought
            if repaired.ok:
                rstats.repaired += 1
                outcome = f"{parsed.kind} ({one_line(parsed.error, 120)}), repaired by {spec(self.repairer)}"
                parsed = repaired
            else:
                stats.failed_after_repair += 1
                outcome = (f"{parsed.kind} ({one_line(parsed.error, 120)}), repair by {spec(self.repairer)} "
                           f"failed: {repaired.kind}")
                # keep whichever failed answer got further: its code goes to the gate and fails there
                parsed = repaired if repaired.mode != "none" or parsed.mode == "none" else parsed
        elif parsed.mode == "edits":
            stats.edits += 1
        self._creator_of[parsed.code] = spec(self.creator)
        shown = ",".join(str(i + 1) for i in range(len(prompt.parents))) or "none"
        note = one_line(f"{self.strategy} · {spec(self.creator)} · parents {shown} · {outcome} · "
                        f"{usage.prompt}+{usage.completion} tokens", 400)
        return Proposal(
            code=parsed.code, proposer=self.name, model=self.creator.model, usage=usage,
            raw_text="\n\n----- repair -----\n\n".join(raw),
            parent_ids=tuple(p.id for p in prompt.parents), note=note,
        )

    def observe(self, iteration: int, proposal: Proposal, evaluation: Any) -> None:
        """The loop reports each candidate's fate: counts for stats(), gate details for the next prompt."""
        creator = self._creator_of.pop(proposal.code, None)
        if creator and evaluation is not None and getattr(evaluation, "stage", "static") != "static":
            self._stats.setdefault(creator, ModelStats()).reached_sandbox += 1  # resumed: maybe nothing restored
        if evaluation is not None:
            self.restore_feedback(iteration, [evaluation.verdict.details])
        elif iteration != self._details_iteration:
            self._details, self._details_iteration = {}, iteration

    def restore_feedback(self, iteration: int, details: list[dict[str, str]]) -> None:
        """Gate details of ITERATION's candidates, in slot order, for the next iteration's prompt (observe
        gives them live; a resumed run gives those it stored)."""
        if iteration != self._details_iteration:
            self._details, self._details_iteration = {}, iteration
        for one in details:
            for reason, detail in one.items():
                if _safe_detail(reason):
                    self._details[reason] = detail

    def restore_calls(self, calls: list[Any]) -> None:
        """A resumed run's earlier calls: a replayed transcript goes on after them (it started over, so
        the resumed part got the first answers again and paid their tokens twice)."""
        for role, model in (("creator", self.creator), ("repairer", self.repairer)):
            transcript = getattr(model, "transcript", None)
            if transcript is not None:
                transcript.skip(role, sum(1 for call in calls if call.role == role))

    def restore_stats(self, models: dict[str, dict[str, Any]]) -> None:
        """Per-model counts a resumed run stored before: its summary counts the whole run."""
        known = set(ModelStats.__dataclass_fields__)
        for key, counts in models.items():
            stats = self._stats.setdefault(key, ModelStats())
            for name, value in counts.items():
                if name == "kinds":
                    for kind, n in value.items():
                        stats.kinds[kind] = stats.kinds.get(kind, 0) + n
                elif name in known:
                    setattr(stats, name, getattr(stats, name) + value)

    def stats(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "creator": spec(self.creator),
            "repairer": spec(self.repairer),
            "models": {k: v.to_dict() for k, v in self._stats.items()},
            "retries": sum(getattr(m, "retries", 0) for m in self._providers()),
            **({"replay": self.replay_stats()} if hasattr(self.creator, "transcript") else {}),
        }

    def replay_stats(self) -> dict[str, Any]:
        t = self.creator.transcript  # type: ignore[attr-defined]
        return {"transcript": t.path.name, "calls": t.position, "recorded": len(t.calls),
                "prompt_mismatches": t.mismatches, "out_of_order": t.out_of_order}

    def _providers(self) -> list[Any]:
        """The distinct underlying chat models (a recorder wraps its model as `inner`)."""
        found: dict[int, Any] = {}
        for model in (self.creator, self.repairer):
            inner = getattr(model, "inner", model)
            found[id(inner)] = inner
        return list(found.values())

    def preflight(self) -> None:
        """Fail fast, before the task loads: the server is reachable, the model is there, a key is set."""
        for model in self._providers():
            check = getattr(model, "preflight", None)
            if check:
                check()

    def close(self) -> None:
        for model in (self.creator, self.repairer, *self._providers()):
            closer = getattr(model, "close", None)
            if closer:
                closer()


# ---------------------------------------------------------------- building one from the run's settings


def make_chat_model(provider: str, model: str, *, ollama_host: str | None = None, timeout_s: float = 300.0,
                    retry: RetryPolicy = RetryPolicy(), say: Say | None = None) -> ChatModel:
    if provider == "ollama":
        from engine.proposers.ollama_provider import OllamaModel

        return OllamaModel(model, host=ollama_host, timeout_s=timeout_s, retry=retry, say=say)
    if provider == "anthropic":
        from engine.proposers.anthropic_provider import AnthropicModel

        return AnthropicModel(model, timeout_s=timeout_s, retry=retry, say=say)
    raise SkillkilnError(f"unknown provider {provider!r}; known: {', '.join(PROVIDERS)}")


def build_llm_proposer(config: Any, say: Say | None = None, retry: RetryPolicy | None = None) -> LLMProposer:
    """An LLMProposer from a RunConfig: providers, roles, recording or replay, ledger and budget."""
    ledger = Ledger(budget_usd=config.max_cost_usd)
    retry = retry or RetryPolicy(attempts=max(1, config.llm_retries + 1))
    if config.proposer == "replay":
        from engine.proposers.replay import Transcript, ReplayModel

        if not config.transcript:
            raise SkillkilnError("--proposer replay needs --transcript FILE (a JSONL transcript written by --record)")
        transcript = Transcript.load(config.transcript)
        creator = ReplayModel(transcript, "creator")
        repairer = ReplayModel(transcript, "repairer")
        if say:
            for warning in transcript.differences(config):
                say(f"warning: {warning}")
    else:
        c_provider, c_model = parse_spec(config.creator or config.proposer)
        r_provider, r_model = parse_spec(config.repairer) if config.repairer else (c_provider, c_model)
        kw = dict(ollama_host=config.ollama_host, timeout_s=config.llm_timeout_s, retry=retry, say=say)
        creator = make_chat_model(c_provider, c_model, **kw)
        repairer = creator if (r_provider, r_model) == (c_provider, c_model) else make_chat_model(r_provider, r_model, **kw)
        if config.record:
            from engine.proposers.replay import RecordingModel, TranscriptWriter

            writer = TranscriptWriter.open(config.record, config, spec(creator), spec(repairer), say)
            creator, repairer = RecordingModel(creator, "creator", writer), RecordingModel(repairer, "repairer", writer)
    ledger.require_prices([(creator.provider, creator.model), (repairer.provider, repairer.model)])
    return LLMProposer(creator, repairer, name=config.proposer, ledger=ledger, strategy=config.strategy)
