"""The end-of-run summary as a rich table (people) or one JSON object (scripts)."""
from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from engine.records import SKIPS
from tasks.metrics import p_text

SPLITS = ("train", "validation", "test")


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def span_scores_table(summary: dict[str, Any]) -> Table:
    """Span tasks: the best skill's precision, recall and span F1 per split beside both trivial baselines
    (empty: no spans; caps: every capitalised token as PERSON) and the paired bootstrap p-values."""
    best = summary.get("best")
    scores = Table(title=f"skillkiln run {summary['run_id']} · task {summary['task']}",
                   title_justify="left",
                   caption="baselines: empty = no spans, caps = every capitalised token as PERSON; "
                           "p: paired bootstrap over documents, one-sided", caption_justify="left")
    scores.add_column("best skill")
    for split in SPLITS:
        scores.add_column(split, justify="right")
    rows = (("precision", "precision", _fmt), ("recall", "recall", _fmt), ("span F1 (exact)", "f1", _fmt),
            ("span F1 (overlap)", "overlap_f1", _fmt), ("empty baseline F1", "baseline_empty_f1", _fmt),
            ("caps baseline F1", "baseline_capitalised_f1", _fmt), ("p vs empty", "p_empty", _p),
            ("p vs caps", "p_capitalised", _p))
    per_split = [(best or {}).get("metrics", {}).get(split, {}) for split in SPLITS]
    for label, key, fmt in rows:
        scores.add_row(label, *(fmt(m.get(key), m.get("p_floor")) if fmt is _p else fmt(m.get(key)) for m in per_split))
    return scores


def _p(value: float | None, floor: float | None = None) -> str:
    return "-" if value is None else p_text(value, ".2g", floor)


def is_spans(summary: dict[str, Any]) -> bool:
    if summary.get("metric") == "f1":
        return True
    best = summary.get("best") or {}
    return "overlap_f1" in (best.get("metrics") or {}).get("validation", {})


def print_summary(summary: dict[str, Any], console: Console) -> None:
    best = summary.get("best")
    if is_spans(summary):
        console.print(span_scores_table(summary))
        print_facts(summary, console)
        return
    scores = Table(title=f"skillkiln run {summary['run_id']} · task {summary['task']}", title_justify="left")
    scores.add_column("split")
    scores.add_column("best skill accuracy", justify="right")
    scores.add_column("best skill MCC", justify="right")
    scores.add_column("majority accuracy", justify="right")
    scores.add_column("majority MCC", justify="right")
    for split in SPLITS:
        m = (best or {}).get("metrics", {}).get(split, {})
        scores.add_row(split, _fmt(m.get("accuracy")), _fmt(m.get("mcc")),
                       _fmt(summary["majority_accuracy"][split]), "0.000")
    console.print(scores)
    print_facts(summary, console)


STOP_LABELS = {
    "duplicate": "duplicate",
    "static": "static gate",
    "train_subset": "train subset",
    "validation, early": "validation before the rest of train",
    "not_better": "not above the run's best on validation (rest not run)",
    "train": "train",
    "validation": "validation",
    "test": "accepted (every stage)",
}


def stored_note(accepted: int, stored: int | None) -> str:
    """How many accepted candidates became versions: only one whose validation beats the last version's is kept."""
    if not accepted or stored is None:
        return ""
    return f" ({stored} stored as a new version)" if stored == 1 else f" ({stored} stored as new versions)"


def candidates_line(summary: dict[str, Any]) -> str:
    """How many candidates were accepted, rejected by the gate and skipped by the cascade."""
    parts = [f"{summary['accepted_count']} accepted" + stored_note(summary['accepted_count'], summary.get("stored_count"))]
    if "rejected_count" in summary:  # summaries stored before the split have no counts
        parts += [f"{summary['rejected_count']} rejected by the gate", f"{summary['skipped_count']} skipped"]
    return f"{summary['candidates']} proposed: " + ", ".join(parts) + f"; {summary['parse_failures']} unparseable at the gate (syntax, no solve)"


def rejections_line(summary: dict[str, Any]) -> str:
    """The gate's reasons with the candidates failing each; a candidate may fail several, so say so when they
    add up to more than the candidates rejected."""
    reasons = summary["rejections"]
    line = ", ".join(f"{r} {n}" for r, n in reasons.items()) or "none"
    rejected = summary.get("rejected_count")
    if rejected is not None and sum(reasons.values()) > rejected:
        line += f" (candidates per reason: {rejected} rejected, some for more than one)"
    return line


def skipped_line(skipped: dict[str, int]) -> str:
    """The cascade's skips, each with what it means (they are not failures of the gate)."""
    return " · ".join(f"{n} {reason}: {SKIPS.get(reason, reason)}" for reason, n in skipped.items())


def population_line(stats: dict[str, Any] | None) -> str | None:
    """The search's population when the run ended (engine/population.py); None for summaries without one."""
    if not stats:
        return None
    islands = " and ".join(str(n) for n in stats.get("islands", []))
    dup = stats.get("duplicates") or {}
    twins = dup.get("behaviour", 0) + dup.get("ast", 0)
    line = (f"{stats['members']} distinct members (islands of {islands}, {stats['specialists']} kept as specialists) · "
            f"{stats['adds']} added · {plural(stats.get('migrations', 0), 'migration')}")
    return line + (f" · {twins} behaving like a member and not kept" if twins else "")


def best_text(best: dict[str, Any] | None) -> str:
    """A run's best as one line (runs show, the report): NAME@V and its candidate, or why it has no version."""
    if not best:
        return "none accepted"
    if best.get("version"):
        return f"{best['name']}@{best['version']} (candidate {best['candidate_id']})"
    return f"candidate {best['candidate_id']} (not stored: {best['name']} already held a version at least as good)"


def print_facts(summary: dict[str, Any], console: Console) -> None:
    best = summary.get("best")
    facts = Table(show_header=False, box=None, pad_edge=False)
    facts.add_column(style="bold")
    facts.add_column()
    if best:
        version = f"@{best['version']}" if best.get("version") else " (not stored: the stored version is at least as good)"
        facts.add_row("best skill", f"{best['name']}{version}  (candidate {best['candidate_id']})")
        if best.get("note"):  # how the proposer made it: the global fit, a mutation, an LLM's answer
            note = best["note"]
            facts.add_row("made by", note if len(note) <= 100 else note[:99] + "…")
        if best.get("test"):  # its test row is empty: why
            facts.add_row("test", Text(best["test"], style="yellow"))
    else:
        facts.add_row("best skill", Text.assemble(("none accepted", "red"), ": every candidate was rejected (reasons below)"))
    facts.add_row("candidates", candidates_line(summary))
    facts.add_row("rejections", rejections_line(summary))
    if summary.get("skipped"):
        facts.add_row("skipped", skipped_line(summary["skipped"]))
    if population := population_line(summary.get("population")):
        facts.add_row("population", population)
    if summary.get("stages"):
        facts.add_row("stopped at", " · ".join(f"{STOP_LABELS.get(s, s)} {n}" for s, n in summary["stages"].items()))
    sandbox = summary["sandbox_label"]
    restarts = summary.get("sandbox_restarts") or 0
    if restarts:  # a worker lost under a request ran it again on a fresh one: the run went on, but say so
        sandbox += f" · {plural(restarts, 'worker')} lost and replaced"
    facts.add_row("sandbox", Text(sandbox, style="" if summary["sandbox"] == "docker" else "yellow"))
    facts.add_row("tokens", tokens_line(summary))
    for warning in summary.get("warnings") or ():
        facts.add_row("warning", Text(warning, style="yellow"))
    for label, text in llm_rows(summary):  # plain text, never read as markup (an error may hold brackets)
        facts.add_row(label, Text(text, style=ROW_STYLES.get(label, "")))
    facts.add_row("wall time", f"{summary['wall_s']:.1f} s ({summary['sandbox_s']:.1f} s in the sandbox)")
    facts.add_row("store", summary["store"])
    if summary.get("report"):
        facts.add_row("report", summary["report"])
    facts.add_row("note", summary["test_note"])
    console.print(facts)


def tokens_line(summary: dict[str, Any]) -> str:
    """The stored candidates' tokens, and what the ledger counts beyond them (answers that never became a
    candidate: a call that failed, or one a Ctrl-C cut off before its candidate was stored)."""
    tokens = summary["tokens"]
    line = f"{tokens['total']:,} on the stored candidates ({tokens['prompt']:,} prompt, {tokens['completion']:,} completion)"
    ledger = summary.get("ledger") or {}
    extra = (ledger.get("total") or 0) - tokens["total"] if ledger.get("calls") else 0
    if extra > 0:
        line += f" · {extra:,} more in the ledger, on answers that never became a candidate (a failed or cut-off call)"
    return line + f" · proposer {summary['proposer']} {summary['model']}"


# ---------------------------------------------------------------- LLM runs: ledger, answers, break-even


ROW_STYLES = {"stopped": "yellow", "error": "red"}  # how the terminal shows these rows of llm_rows


def plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def _usd(value: float | None) -> str:
    return "unknown (no price)" if value is None else f"${value:.4f}"


def ledger_text(ledger: dict[str, Any]) -> str:
    """A ledger's summary in one line: cost (of the cap), tokens and calls, per model, the prices' date."""
    cost = _usd(ledger["cost_usd"]) if ledger.get("priced", True) else f"{_usd(ledger['cost_usd'])} + unpriced models"
    parts = [f"{m} {plural(v['calls'], 'call')} {v['prompt'] + v['completion']:,} tokens "
             + ("$0 (local)" if m.startswith("ollama:") else _usd(v["cost_usd"]) if v["priced"] else _usd(None))
             for m, v in ledger["by_model"].items()]
    budget = f" of ${ledger['budget_usd']:.4f} allowed" if ledger.get("budget_usd") else ""
    return (f"{cost}{budget} · {ledger['total']:,} tokens in {plural(ledger['calls'], 'call')} "
            f"({'; '.join(parts)}) · prices of {ledger['prices']['date']} (engine/prices.py)")


def llm_rows(summary: dict[str, Any]) -> list[tuple[str, str]]:
    """Rows for the ledger, per-model answer counts, the break-even point, an early stop and an error
    (plain text: the terminal styles them by ROW_STYLES, the HTML report escapes them)."""
    rows: list[tuple[str, str]] = []
    if summary.get("strategy") and summary["strategy"] != "evolve":
        rows.append(("strategy", f"{summary['strategy']}: independent samples of the first prompt, no parents, no feedback"))
    ledger = summary.get("ledger") or {}
    if ledger.get("calls"):
        rows.append(("ledger", ledger_text(ledger)))
    llm = summary.get("llm") or {}
    for key, m in (llm.get("models") or {}).items():
        bits = []
        if m.get("created"):
            share = f" ({m['sandbox_share']:.0%})" if m.get("sandbox_share") is not None else ""
            kinds = ", ".join(f"{k} {n}" for k, n in (m.get("kinds") or {}).items())
            bits.append(f"{plural(m['created'], 'proposal')}, {m['first_failures']} unparseable first answers"
                        + (f" ({kinds})" if kinds else "") + f", {m['failed_after_repair']} still unusable after repair, "
                        f"{m['reached_sandbox']}/{m['created']} reached the sandbox{share}")
        if m.get("repairs"):
            bits.append(f"{m['repairs']} repairs, {m['repaired']} usable")
        if m.get("thought"):
            bits.append(f"{m['thought']} <think> blocks stripped")
        if m.get("estimated"):
            bits.append(f"{m['estimated']} without token counts from the server (estimated at 4 characters a token)")
        rows.append(("answers", f"{key}: " + "; ".join(bits)))
    replay = llm.get("replay")
    if replay:
        rows.append(("replay", f"{replay['calls']} of {replay['recorded']} recorded calls from {replay['transcript']}, "
                               f"{replay['prompt_mismatches']} prompts differ from the recording, "
                               f"{replay.get('out_of_order', 0)} calls out of the recorded order"))
    be = summary.get("break_even")
    if be and "error" not in be:
        base = be["baseline"]
        who = f"{base['model']} on {base['split']} ({base['n']} examples, MCC {_fmt(base.get('mcc'))})" if base.get("model") else base["source"]
        if be.get("other_model"):  # the store had no baseline of the creator's own model
            who += f", not the creator's model {be['other_model']}"
        text = (f"the skill must serve {be['examples_by_tokens']:,} examples to repay its {be['creation_tokens']:,} "
                f"creation tokens (direct baseline {who}: {base['tokens_per_example']:.1f} tokens/example)")
        if be.get("creation_cost_usd") == 0:  # local models: no money to repay
            text += "; its creation cost no money (its models have no price per token)"
        elif be.get("examples_by_cost") is not None:
            text += f"; {be['examples_by_cost']:,} examples to repay its {_usd(be['creation_cost_usd'])}"
        rows.append(("break-even", text))
    elif ledger.get("calls") and summary.get("best"):  # no skill accepted: nothing to repay
        rows.append(("break-even", "no baseline: run `skillkiln baseline --task TASK --proposer ...` "
                                   "or pass --baseline-tokens-per-example"))
    if summary.get("stop_reason"):
        rows.append(("stopped", summary["stop_reason"]))
    if summary.get("error"):
        rows.append(("error", summary["error"]))
    return rows


def print_baseline(result: dict[str, Any], console: Console) -> None:
    facts = Table(title=f"baseline {result.get('run_id', '')} · {result['model']} · {result['task']} {result['split']}",
                  title_justify="left", show_header=False)
    facts.add_column(style="bold")
    facts.add_column()
    facts.add_row("examples", f"{result['n']} ({result['batch_size']} per call, {result['unparsed']} unparsed answers)")
    facts.add_row("accuracy", f"{_fmt(result['accuracy'])} (majority {_fmt(result['majority_accuracy'])})")
    facts.add_row("MCC", _fmt(result["mcc"]))
    facts.add_row("tokens", f"{result['tokens']['total']:,} in {result['calls']} calls · "
                            f"{_fmt(result['tokens_per_example'], 1)} per example")
    per_example = ("no example classified" if not result["n"] else
                   f"{_usd(result['cost_per_example_usd'])} per example")
    facts.add_row("cost", f"{_usd(result['cost_usd'])} · {per_example}")
    if result.get("stop_reason"):
        facts.add_row("stopped", result["stop_reason"])
    console.print(facts)
