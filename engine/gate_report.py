"""A stored verdict as plain lines: verdict, reasons with details, p-values against alpha,
floors, and counterexamples. `skills show` and `skills candidate` print these.

Works on any verdict dict the store holds (Verdict.to_dict(), or the loop's duplicate stub),
including verdicts stored before the gate wrote its settings into details["gate:config"]:
those are read against the default GateConfig and say so.
"""
from __future__ import annotations

import json
from typing import Any

from engine.gate import alpha_text
from engine.records import is_skip
from tasks.metrics import p_is, p_text

SPLIT_ORDER = ("train_subset", "train", "validation", "test")
INFO_ORDER = ("train_subset", "train", "validation", "generated", "gap", "properties", "context", "speed")
COUNTEREXAMPLE_PREFIXES = ("property:", "crash:", "timeout:", "bad_output:")
NOT_HELD = {  # splits scored but not held to alpha and the floors
    "train_subset": "(the subset is held to confidence bounds only: see checks)",
    "test": "(reported only: the test split decides nothing)",
}


def _settings(details: dict[str, str]) -> tuple[dict[str, Any], bool]:
    """The gate's settings stored with the verdict, else the defaults (and False)."""
    raw = details.get("gate:config")
    if raw:
        try:
            stored = json.loads(raw)
            if isinstance(stored, dict):
                return stored, True
        except ValueError:
            pass
    from engine.gate import GateConfig

    c = GateConfig()
    return {
        "alpha": c.alpha, "mcc": c.mcc_floor, "balanced_accuracy": c.balanced_accuracy_floor,
        "max_label_share": c.max_label_share, "max_error_share": c.max_error_share, "test": "Fisher exact, one-sided",
        "gap_slack": c.gap_slack, "gap_alpha": c.gap_alpha, "memorised_words": c.memorised_words,
    }, False


def p_shown(p: Any, floor: Any = None) -> str:
    """"p = 0.00123", "p <= 0.0005" (a Monte Carlo test's floor), "p < 1e-300" (underflowed), or "p = -"
    when there is none."""
    return "p = -" if p is None else p_is(float(p), None if floor is None else float(floor))


def _num(value: Any, fmt: str = ".3f") -> str:
    try:
        return format(float(value), fmt)
    except (TypeError, ValueError):
        return "-"


def _p_cell(m: dict[str, Any], key: str) -> str:
    """"p 0.2", or "p <=0.0005" at the bootstrap's floor."""
    p = m.get(key)
    return f"p {'-' if p is None else p_text(float(p), '.3g', m.get('p_floor'))}"


def _ordered(keys) -> list[str]:
    known = [k for k in SPLIT_ORDER if k in keys]
    return known + sorted(k for k in keys if k not in SPLIT_ORDER)


def _span_floors(metrics: dict[str, dict[str, Any]], settings: dict[str, Any]) -> list[str]:
    floor = float(settings.get("f1_floor", 0.05))
    lines = []
    for split in _ordered(metrics):
        m = metrics[split]
        parts = [f"span F1 {_num(m.get('f1'))}" + ("" if split in NOT_HELD else
                                                   f" {'>=' if (m.get('f1') or 0) >= floor else '<'} {floor}"),
                 f"precision {_num(m.get('precision'))}", f"recall {_num(m.get('recall'))}",
                 f"empty baseline F1 {_num(m.get('baseline_empty_f1'))} ({_p_cell(m, 'p_empty')})",
                 f"capitalised-PERSON baseline F1 {_num(m.get('baseline_capitalised_f1'))} ({_p_cell(m, 'p_capitalised')})"]
        n = m.get("n")
        lines.append(f"  {split:<12} " + " | ".join(parts) + (f" | n {int(n)}" if n is not None else "")
                     + (f" | {NOT_HELD[split]}" if split in NOT_HELD else ""))
    return lines


def render_verdict(verdict: dict[str, Any]) -> list[str]:
    """Lines: verdict; reasons with details; p-values against alpha; floors; checks; counterexamples; settings."""
    verdict = verdict or {}
    reasons = [str(r) for r in verdict.get("reasons") or []]
    details = {str(k): str(v) for k, v in (verdict.get("details") or {}).items()}
    metrics = {k: v for k, v in (verdict.get("metrics") or {}).items() if isinstance(v, dict)}
    settings, stored = _settings(details)
    alpha = settings.get("alpha", 0.05)
    accepted = bool(verdict.get("accepted"))

    if is_skip(reasons):  # stops of the cascade (engine.records.SKIPS), not failures of the gate
        lines = [f"verdict: not accepted, stopped by the cascade ({', '.join(reasons)}): not a failure of the gate"]
    else:
        lines = [f"verdict: {'accepted' if accepted else 'rejected'}"
                 + ("" if accepted else f" ({len(reasons)} reason{'s' if len(reasons) != 1 else ''})")]
    if reasons:
        lines.append("reasons:")
        for reason in reasons:
            detail = details.get(reason, "")
            lines.append(f"  x {reason}" + (f"  - {detail}" if detail else ""))

    if metrics:
        lines.append(f"significance ({settings.get('test', 'one-sided test')}, alpha {alpha}):")
        for split in _ordered(metrics):
            m = metrics[split]
            p = m.get("p_value")
            if p is None:
                continue
            # validation: alpha over the run's candidates (GateConfig.validation_family), if stored
            level = settings.get("validation_alpha", alpha) if split == "validation" else alpha
            ok = float(p) < float(level)
            if split in NOT_HELD:
                lines.append(f"  {split:<12} {p_shown(p, m.get('p_floor')):<13} {NOT_HELD[split]}")
                continue
            shown = alpha_text(alpha, settings.get("validation_family"), float(level))
            lines.append(f"  {split:<12} {p_shown(p, m.get('p_floor')):<13} {'<' if ok else '>='} {shown}  {'pass' if ok else 'FAIL'}")
        lines.append("floors:")
        if "f1_floor" in settings:  # a span verdict: span F1 against its floor and the two baselines
            lines += _span_floors(metrics, settings)
            metrics = {}
        mcc_floor = settings.get("mcc", 0.05)
        ba_floor = settings.get("balanced_accuracy", 0.52)
        for split in _ordered(metrics):
            m = metrics[split]
            parts = []
            if split in NOT_HELD:
                parts = [f"MCC {_num(m.get('mcc'))}", f"balanced accuracy {_num(m.get('balanced_accuracy'))}",
                         f"accuracy {_num(m.get('accuracy'))} (majority {_num(m.get('majority_accuracy'))})"]
                lines.append(f"  {split:<12} " + " | ".join(parts) + f" | {NOT_HELD[split]}")
                continue
            if "mcc" in m:
                parts.append(f"MCC {_num(m['mcc'])} {'>=' if m['mcc'] >= mcc_floor else '<'} {mcc_floor}")
            if "balanced_accuracy" in m:
                ok = m["balanced_accuracy"] >= ba_floor - 1e-12
                parts.append(f"balanced accuracy {_num(m['balanced_accuracy'])} {'>=' if ok else '<'} {_num(ba_floor, '.3g')}")
            if "accuracy" in m:
                parts.append(f"accuracy {_num(m['accuracy'])} (majority {_num(m.get('majority_accuracy'))}, not required)")
            n = m.get("n")
            lines.append(f"  {split:<12} " + " | ".join(parts) + (f" | n {int(n)}" if n is not None else ""))

    checks = [(key.split(":", 1)[1], value) for key, value in details.items()
              if key.startswith("gate:") and key != "gate:config"]
    if checks:
        order = {name: i for i, name in enumerate(INFO_ORDER)}
        lines.append("checks:")
        for name, value in sorted(checks, key=lambda kv: (order.get(kv[0], len(order)), kv[0])):
            lines.append(f"  {name:<12} {value}")

    examples = [(r, details[r]) for r in reasons if r.startswith(COUNTEREXAMPLE_PREFIXES) and details.get(r)]
    if examples:
        lines.append("counterexamples:")
        for reason, detail in examples:
            lines.append(f"  {reason}  - {detail}")

    share = settings.get("max_label_share", 0.97)
    errors = settings.get("max_error_share", 0.0)
    if "f1_floor" in settings:
        gate_line = (f"gate (spans): alpha {alpha} · {settings.get('test', 'paired bootstrap')} against "
                     f"{' and '.join(settings.get('baselines') or ['the baselines'])} · span F1 >= "
                     f"{settings['f1_floor']} · errors <= {_num(errors, '.0%')} · gap slack {settings.get('gap_slack')}"
                     f" (p < {settings.get('gap_alpha', 0.001)})")
        if settings.get("cascade"):
            gate_line += f" · cascade subset {settings.get('subset_size')} (beta {settings.get('cascade_beta')})"
        lines.append(gate_line)
        return lines
    gate_line = (
        f"gate{'' if stored else ' (defaults: this verdict stored no settings)'}: alpha {alpha}"
        f" · MCC >= {settings.get('mcc', 0.05)} · balanced accuracy >= {_num(settings.get('balanced_accuracy', 0.52), '.3g')}"
        + (f" · macro-F1 >= chance + {settings['macro_f1_margin']}" if "macro_f1_margin" in settings else "")
        + f" · top label <= {_num(share, '.0%')} · errors <= {_num(errors, '.0%')}"
        + f" · gap slack {settings.get('gap_slack', 0.05)} (p < {settings.get('gap_alpha', 0.001)})"
    )
    if settings.get("cascade"):
        gate_line += f" · cascade subset {settings.get('subset_size')} (beta {settings.get('cascade_beta')})"
    lines.append(gate_line)
    return lines
