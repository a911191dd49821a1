"""The gate: no trivial, memorising or cheating skill gets in.

The majority baseline is beaten on a chance-corrected footing, on train *and* validation:
predictions must be associated with the labels beyond chance (a one-sided exact test:
Fisher's for two labels, a permutation test of agreement for more), MCC, balanced
accuracy (and, for more than two labels, macro-F1) must clear their floors, and output
must not be (nearly) constant, on train, validation or realistic generated text. Raw
accuracy is reported beside the majority accuracy, never required: on CoLA the constant
"acceptable" scores 69% accuracy and MCC 0.

Every failed check adds a reason; a verdict with no reasons is an acceptance. Every check
also writes what it measured and the floor it was held to into the verdict's details
(keys starting "gate:"), so a stored verdict says why, not only what.

The cascade's first stage (`subset_reasons`) scores a small stratified train subset and
rejects only when the full train stage cannot plausibly pass: an error or bad output there
is certain to fail the full train stage (the subset's outputs are part of it), and the
statistical checks use one-sided (1 - cascade_beta) confidence bounds, so a candidate that
would clear a floor on the full train split is stopped early with probability <= beta.
"""
from __future__ import annotations

import ast
import json
import math
import random
import re
from collections import Counter
from dataclasses import dataclass, replace
from statistics import NormalDist
from typing import Any, Sequence

from engine.records import ExecResult, Metrics, Task
from sandbox.static import parse
from tasks.metrics import INVALID, binary_metrics, majority_accuracy, p_is

WORD = re.compile(r"[a-z0-9']+")
SUBSET_SEED = 20240401  # the cascade's train subset is fixed: the same examples for every candidate
PERMUTATION_SEED = 0


@dataclass(frozen=True)
class GateConfig:
    alpha: float = 0.05  # significance level of the association test, per split
    mcc_floor: float = 0.05
    balanced_accuracy_floor: float = 0.52  # two labels; with K labels the floor is 1/K + (this - 0.5)
    macro_f1_margin: float = 0.05  # more than two labels: macro-F1 must beat its chance level by this
    max_label_share: float = 0.97  # one label on more than this share of a split is "nearly constant"
    max_error_share: float = 0.0  # share of examples a skill may crash on
    memorised_words: int = 5  # this many consecutive training words in one string literal is memorisation
    gap_slack: float = 0.05  # allowed train-minus-validation accuracy gap ...
    gap_alpha: float = 0.001  # ... a larger gap must also be significant at this level to reject
    bool_as_int: bool = True  # a bool counts as its int (True == 1); the task may say no
    permutations: int = 2000  # Monte Carlo permutations of the association test (more than two labels)
    subset_size: int = 400  # the cascade's stratified train subset
    cascade_beta: float = 0.01  # the cascade stops a candidate that would pass a floor with prob. <= this
    generated_texts: int = 300  # realistic generated texts run beside validation (constant-output check)
    # Candidates tested on the same validation split (evolve sets it to the run's budget, iters x
    # batch): the validation test is held to alpha / this (Bonferroni), so that one lucky draw among
    # a run's hundred candidates does not pass. A Monte Carlo test (permutations, the span gate's
    # bootstrap) takes enough rounds to resolve that level (resamples()).
    validation_family: int = 1


# ------------------------------------------------------------------ scoring


def predictions(task: Task, result: ExecResult, bool_as_int: bool) -> list[Any]:
    """Outputs as labels; anything that is not a label (error, wrong type, unknown value) is INVALID."""
    assert result.predictions is not None
    out = []
    for value in result.predictions:
        if type(value) is bool:
            value = int(value) if bool_as_int else INVALID
        out.append(value if value is not INVALID and value in task.labels else INVALID)
    return out


def multiclass_metrics(
    labels: Sequence[Any], preds: Sequence[Any], classes: Sequence[Any], permutations: int = 2000,
    seed: int = PERMUTATION_SEED, stop_above: float | None = None,
) -> Metrics:
    """Metrics for K >= 2 labels: accuracy, Gorodkin's multiclass MCC (R_K), macro-F1 (in `f1`),
    balanced accuracy (mean recall) and a one-sided permutation test of agreement (in `p_value`).

    With the marginals fixed, R_K is an increasing function of the number of correct predictions,
    so the permutation test of agreement is the permutation test of MCC. For two labels it is
    the same test as Fisher's one-sided exact test (which is its exact form)."""
    import numpy as np

    n = len(labels)
    code = {c: i for i, c in enumerate(classes)}
    y = np.array([code[v] for v in labels], dtype=np.int64)
    p = np.array([code.get(v, -1) if v is not INVALID else -1 for v in preds], dtype=np.int64)
    k = len(classes)
    correct = int((y == p).sum())
    true_counts = np.bincount(y, minlength=k)[:k]
    pred_counts = np.bincount(p[p >= 0], minlength=k)[:k]
    invalid = int((p < 0).sum())
    tp = np.bincount(y[y == p], minlength=k)[:k]
    recalls = [tp[i] / true_counts[i] for i in range(k) if true_counts[i]]
    f1s = [2 * tp[i] / (true_counts[i] + pred_counts[i]) if true_counts[i] + pred_counts[i] else 0.0 for i in range(k)]
    s = float(n)
    cov_xy = correct * s - float((pred_counts * true_counts).sum())
    cov_xx = s * s - float((pred_counts**2).sum()) - invalid**2  # INVALID acts as one more predicted category
    cov_yy = s * s - float((true_counts**2).sum())
    mcc = cov_xy / math.sqrt(cov_xx * cov_yy) if cov_xx > 0 and cov_yy > 0 else 0.0
    return Metrics(
        accuracy=correct / n if n else 0.0,
        mcc=mcc,
        f1=float(np.mean(f1s)) if f1s else 0.0,
        balanced_accuracy=float(np.mean(recalls)) if recalls else 0.0,
        n=n,
        majority_accuracy=majority_accuracy(labels),
        p_value=permutation_p_value(y, p, permutations, seed, stop_above),
        invalid=invalid,
        p_floor=1 / (permutations + 1),
    )


def permutation_p_value(y, p, permutations: int = 2000, seed: int = PERMUTATION_SEED,
                        stop_above: float | None = None) -> float:
    """One-sided Monte Carlo permutation test: P(agreement >= observed) with the predictions shuffled.

    (hits + 1) / (permutations + 1): never 0, valid at any number of permutations. With STOP_ABOVE,
    once the hits so far keep the final p above it, the test stops there and gives (hits + 1) /
    (done + 1), itself a valid p-value (of fewer permutations) and above STOP_ABOVE too."""
    import numpy as np

    y, p = np.asarray(y), np.asarray(p)
    if len(y) == 0 or len(set(p.tolist())) < 2 or len(set(y.tolist())) < 2:
        return 1.0  # constant predictions (or labels) carry no association at all
    observed = int((y == p).sum())
    rng = np.random.default_rng(seed)
    hits = done = 0
    while done < permutations:
        chunk = min(200, permutations - done)
        shuffled = rng.permuted(np.tile(p, (chunk, 1)), axis=1)
        hits += int(((shuffled == y).sum(axis=1) >= observed).sum())
        done += chunk
        if stop_above is not None and done < permutations and (hits + 1) / (permutations + 1) > stop_above:
            return (hits + 1) / (done + 1)
    return (hits + 1) / (permutations + 1)


def chance_macro_f1(labels: Sequence[Any], preds: Sequence[Any], classes: Sequence[Any]) -> float:
    """Expected macro-F1 of a predictor with these outputs shuffled (independent of the input)."""
    n = len(labels)
    if not n:
        return 0.0
    true_counts, pred_counts = Counter(labels), Counter(p for p in preds if p is not INVALID)
    out = []
    for c in classes:
        t, m = true_counts.get(c, 0), pred_counts.get(c, 0)
        out.append(2 * t * m / (n * (t + m)) if t + m else 0.0)
    return sum(out) / len(out)


def score_labels(task: Task, labels: Sequence[Any], preds: Sequence[Any], config: GateConfig,
                 level: float | None = None, texts: Sequence[str] | None = None) -> Metrics:
    """The task's metrics; a permutation test (more than two labels) with the rounds LEVEL (default
    alpha) needs, stopped early once it cannot fall below it. With TEXTS, the test of association
    counts each distinct text once (its first row): a table that repeats its rows (upsampled, exported
    twice) made 4 texts of validation 32 rows, and a skill fitted to pure noise passed at p = 0.001."""
    def measure(ys: Sequence[Any], ps: Sequence[Any]) -> Metrics:
        if len(task.labels) <= 2:
            return binary_metrics(ys, ps, positive=task.labels[-1])
        at = config.alpha if level is None else level
        return multiclass_metrics(ys, ps, task.labels, resamples(at, config), stop_above=at)

    metrics = measure(labels, preds)
    first = first_rows(texts) if texts is not None else None
    if first is None or len(first) == len(labels):
        return metrics
    once = measure([labels[i] for i in first], [preds[i] for i in first])
    return replace(metrics, p_value=once.p_value, p_floor=once.p_floor, distinct=len(first))


def first_rows(texts: Sequence[str]) -> list[int]:
    """The index of each distinct text's first row."""
    seen: dict[str, int] = {}
    for i, text in enumerate(texts):
        seen.setdefault(text, i)
    return sorted(seen.values())


def score(task: Task, split: str, result: ExecResult, config: GateConfig) -> Metrics:
    preds = predictions(task, result, config.bool_as_int)
    data = task.split(split)
    return score_labels(task, data.labels, preds, config, split_alpha(task, split, config), data.texts)


def association_test(task: Task) -> str:
    return "Fisher exact, one-sided" if len(task.labels) <= 2 else "permutation test of agreement, one-sided"


def split_alpha(task: Task, split: str, config: GateConfig) -> float:
    """The significance level a split's association test is held to (see validation_family)."""
    if split == "validation":
        return config.alpha / max(1, config.validation_family)
    return config.alpha


def resamples(level: float, config: GateConfig) -> int:
    """Rounds of a Monte Carlo test (permutations, bootstrap resamples) held to LEVEL: its smallest
    p-value is 1 / (rounds + 1), so a level divided over a run's candidates needs more than the
    default; 10 / level leaves a clear skill's p a tenth of the level."""
    return max(config.permutations, math.ceil(10 / level))


def alpha_text(alpha: float, family: Any, level: float) -> str:
    """The level a test was held to, as shown: "0.05", or "0.05/100 = 0.0005" over a family."""
    return f"{alpha}/{family} = {level:.3g}" if level != alpha else f"{alpha}"


def floors(task: Task, config: GateConfig) -> dict[str, float]:
    """The floors a split is held to, for this task's number of labels."""
    k = max(len(task.labels), 2)
    out = {
        "alpha": config.alpha,
        "mcc": config.mcc_floor,
        "balanced_accuracy": 1 / k + (config.balanced_accuracy_floor - 0.5),
        "max_label_share": config.max_label_share,
        "max_error_share": config.max_error_share,
    }
    if k > 2:
        out["macro_f1_margin"] = config.macro_f1_margin
    return out


def config_detail(task: Task, config: GateConfig, cascade: bool) -> str:
    """The gate's settings as JSON, stored with every verdict (details["gate:config"])."""
    return json.dumps({
        **floors(task, config),
        "test": association_test(task),
        "labels": len(task.labels),
        "validation_alpha": split_alpha(task, "validation", config),
        "validation_family": config.validation_family,
        "gap_slack": config.gap_slack,
        "gap_alpha": config.gap_alpha,
        "memorised_words": config.memorised_words,
        "cascade": cascade,
        "subset_size": config.subset_size if cascade else None,
        "cascade_beta": config.cascade_beta if cascade else None,
    }, sort_keys=True)


# ------------------------------------------------------------------ per split


def run_failure(split: str, result: ExecResult, note: str = "") -> tuple[list[str], dict[str, str]]:
    """The reason and detail for a run that failed as a whole (no outputs at all): crash or timeout."""
    code = "timeout" if result.timed_out else "crash"
    return [f"{code}:{split}"], {f"{code}:{split}": (result.failure or "the run failed as a whole") + note}


def output_reasons(
    task: Task, split: str, texts: Sequence[str], result: ExecResult, config: GateConfig
) -> tuple[list[str], dict[str, str], list[Any] | None]:
    """Crash, timeout, bad output and (nearly) constant output: the checks that need no labels.

    Returns reasons, details and the outputs as labels (None when the run failed as a whole)."""
    reasons: list[str] = []
    details: dict[str, str] = {}
    if result.predictions is None:
        return *run_failure(split, result), None
    n = len(result.predictions)
    errors = result.per_example_errors
    crashes = {i: m for i, m in errors.items() if not m.startswith("type:")}
    if crashes and len(crashes) > config.max_error_share * n:
        timeouts = [m for m in crashes.values() if m.startswith("timeout")]
        code = "timeout" if len(timeouts) == len(crashes) else "crash"
        first = min(crashes)
        reasons.append(f"{code}:{split}")
        details[f"{code}:{split}"] = f"{len(crashes)} of {n} examples failed; first: {crashes[first]} on {texts[first][:100]!r}"
    preds = predictions(task, result, config.bool_as_int)
    bad = [i for i, p in enumerate(preds) if p is INVALID and i not in crashes]
    if bad:
        reasons.append(f"bad_output:{split}")
        first = errors.get(bad[0], f"returned {result.predictions[bad[0]]!r}, not one of {list(task.labels)}")
        details[f"bad_output:{split}"] = f"{len(bad)} of {n} outputs are not labels; first: {first} on {texts[bad[0]][:100]!r}"
    valid = [p for p in preds if p is not INVALID]
    if valid and n:
        label, count = Counter(valid).most_common(1)[0]
        share = count / n
        if share > config.max_label_share:
            reasons.append(f"constant_output:{split}")
            details[f"constant_output:{split}"] = (
                f"{share:.1%} of {n} outputs are {label!r} (limit {config.max_label_share:.0%})"
            )
    return reasons, details, preds


def top_share(preds: Sequence[Any]) -> tuple[Any, float]:
    valid = [p for p in preds if p is not INVALID]
    if not valid:
        return None, 0.0
    label, count = Counter(valid).most_common(1)[0]
    return label, count / len(preds)


def statistical_reasons(
    task: Task, split: str, labels: Sequence[Any], preds: Sequence[Any], metrics: Metrics, config: GateConfig
) -> tuple[list[str], dict[str, str]]:
    """Association beyond chance and the floors, for one labelled split."""
    reasons: list[str] = []
    details: dict[str, str] = {}
    f = floors(task, config)
    checks = []
    alpha = split_alpha(task, split, config)
    level = "alpha " + alpha_text(config.alpha, config.validation_family, alpha)
    ok = metrics.p_value < alpha
    once = (f" (over its {metrics.distinct:,} distinct texts of {metrics.n:,} rows: a repeated text counts once)"
            if metrics.distinct is not None else "")
    checks.append(f"{association_test(task)} {p_is(metrics.p_value, metrics.p_floor)} {'<' if ok else '>='} {level}{once}")
    if not ok:
        reasons.append(f"not_significant:{split}")
        details[f"not_significant:{split}"] = (
            f"{association_test(task)} {p_is(metrics.p_value, metrics.p_floor)} >= {level}{once}: "
            "no association with the labels beyond chance"
            + (" strong enough for a split this run reuses for every candidate" if alpha != config.alpha else "")
        )
    ok = metrics.mcc >= f["mcc"]
    checks.append(f"MCC {metrics.mcc:.3f} {'>=' if ok else '<'} floor {f['mcc']}")
    if not ok:
        reasons.append(f"mcc_floor:{split}")
        details[f"mcc_floor:{split}"] = f"MCC {metrics.mcc:.3f} < floor {f['mcc']}"
    ok = metrics.balanced_accuracy >= f["balanced_accuracy"] - 1e-12
    checks.append(f"balanced accuracy {metrics.balanced_accuracy:.3f} {'>=' if ok else '<'} floor {f['balanced_accuracy']:.3g}")
    if not ok:
        reasons.append(f"balanced_accuracy_floor:{split}")
        details[f"balanced_accuracy_floor:{split}"] = (
            f"balanced accuracy {metrics.balanced_accuracy:.3f} < floor {f['balanced_accuracy']:.3g}"
        )
    if len(task.labels) > 2:
        chance = chance_macro_f1(labels, preds, task.labels)
        floor = chance + config.macro_f1_margin
        ok = metrics.f1 >= floor
        checks.append(f"macro-F1 {metrics.f1:.3f} {'>=' if ok else '<'} floor {floor:.3f} (chance {chance:.3f} + {config.macro_f1_margin})")
        if not ok:
            reasons.append(f"macro_f1_floor:{split}")
            details[f"macro_f1_floor:{split}"] = (
                f"macro-F1 {metrics.f1:.3f} < floor {floor:.3f} (chance {chance:.3f} + margin {config.macro_f1_margin})"
            )
    label, share = top_share(preds)
    checks.append(f"top label {label!r} on {share:.1%} (limit {config.max_label_share:.0%})")
    checks.append(f"accuracy {metrics.accuracy:.3f} vs majority {metrics.majority_accuracy:.3f} (reported, not required)")
    details[f"gate:{split}"] = "; ".join(checks)
    return reasons, details


def split_reasons(task: Task, split: str, result: ExecResult, config: GateConfig) -> tuple[list[str], dict[str, str]]:
    """Reasons to reject from one split's run, and details worth storing with them."""
    data = task.split(split)
    reasons, details, preds = output_reasons(task, split, data.texts, result, config)
    if preds is None or not result.answered:  # no output at all: the reasons above say why; nothing to score
        return reasons, details
    metrics = score_labels(task, data.labels, preds, config, split_alpha(task, split, config), data.texts)
    more, more_details = statistical_reasons(task, split, data.labels, preds, metrics, config)
    return reasons + more, {**details, **more_details}


def generated_reasons(
    task: Task, texts: Sequence[str], result: ExecResult, config: GateConfig
) -> tuple[list[str], dict[str, str]]:
    """Realistic generated text (no labels): the skill must run on it and not be (nearly) constant."""
    reasons, details, preds = output_reasons(task, "generated", texts, result, config)
    if preds is not None:
        label, share = top_share(preds)
        details["gate:generated"] = (
            f"{len(preds)} generated texts (one-edit perturbations of train sentences): "
            f"top label {label!r} on {share:.1%} (limit {config.max_label_share:.0%})"
        )
    return reasons, details


def property_reasons(result: ExecResult) -> tuple[list[str], dict[str, str]]:
    reasons, details = [], {}
    if result.predictions is None:
        return reasons, details
    if not result.properties:
        reasons.append("property:unavailable")
        details["property:unavailable"] = "the sandbox ran no property tests"
    for name, outcome in sorted(result.properties.items()):
        if not outcome.passed:
            reasons.append(f"property:{name}")
            details[f"property:{name}"] = outcome.detail
    passed = sorted(name for name, o in result.properties.items() if o.passed)
    if passed:
        details["gate:properties"] = "passed: " + ", ".join(passed)
    return reasons, details


def gap_reasons(train: Metrics, validation: Metrics, config: GateConfig) -> tuple[list[str], dict[str, str]]:
    """Memorisation by behaviour: train accuracy above validation by more than the slack, significantly.

    A one-sided two-proportion z-test of H0: gap <= gap_slack, with the standard error of both
    splits (validation dominates: it is the smaller one). Reject when p < gap_alpha."""
    def var(acc: float, n: int) -> float:
        acc = min(max(acc, 0.01), 0.99)
        return acc * (1 - acc) / max(n, 1)

    gap = train.accuracy - validation.accuracy  # a repeated text is one piece of evidence here too
    se = math.sqrt(var(train.accuracy, train.distinct or train.n) + var(validation.accuracy, validation.distinct or validation.n))
    return gap_verdict(f"train accuracy {train.accuracy:.3f} - validation {validation.accuracy:.3f}", gap, se,
                       config.gap_slack, config.gap_alpha)


def gap_verdict(measured: str, gap: float, se: float, slack: float, alpha: float) -> tuple[list[str], dict[str, str]]:
    """Both sides of the train-validation gap, each a one-sided z-test against the slack.

    Train far above validation is memorisation of train. Validation far above train is the mirror
    image, and no honest skill shows it (validation is drawn like train; the rules were made on
    train): the skill knows held-out answers, a table of validation fingerprints in any disguise."""
    p = 1 - NormalDist().cdf((gap - slack) / se)
    p_held = 1 - NormalDist().cdf((-gap - slack) / se)
    summary = f"{measured} = gap {gap:+.3f}; H0 gap <= slack {slack}: one-sided {p_is(p)} (reject below {alpha})"
    details = {"gate:gap": f"{summary}; H0 -gap <= slack: one-sided {p_is(p_held)}"}
    if p < alpha:
        details["memorised:gap"] = summary
        return ["memorised:gap"], details
    if p_held < alpha:
        details["leaked:gap"] = (f"{measured} = gap {gap:+.3f}: validation is above train by more than the slack "
                                 f"{slack}, one-sided {p_is(p_held)} (reject below {alpha}); a skill made on train "
                                 "that knows held-out answers better than train's holds held-out data")
        return ["leaked:gap"], details
    return [], details


# ------------------------------------------------------------------ the cascade's train subset


def stratified_subset(labels: Sequence[Any], size: int, seed: int = SUBSET_SEED) -> tuple[int, ...]:
    """Indices of a fixed, label-stratified sample (proportional allocation), in split order."""
    n = len(labels)
    if size >= n:
        return tuple(range(n))
    rng = random.Random(seed)
    by_label: dict[Any, list[int]] = {}
    for i, y in enumerate(labels):
        by_label.setdefault(y, []).append(i)
    chosen: list[int] = []
    for y in sorted(by_label, key=repr):
        idx = by_label[y]
        take = max(1, round(size * len(idx) / n))
        chosen += rng.sample(idx, min(take, len(idx)))
    return tuple(sorted(chosen))


def wilson(x: int, n: int, z: float) -> tuple[float, float]:
    """Wilson score interval for x successes in n trials (one side each at the normal quantile z)."""
    if n == 0:
        return 0.0, 1.0
    p = x / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def balanced_accuracy_upper(labels: Sequence[Any], preds: Sequence[Any], classes: Sequence[Any], z: float) -> float:
    """Upper confidence bound of balanced accuracy (mean recall over the classes).

    The recalls are independent binomial proportions (one per label stratum); their mean is
    bounded by MOVER (Zou & Donner's square-and-add of Wilson limits), which for two labels
    is Newcombe's hybrid score interval for Youden's J = TPR - FPR."""
    tally: dict[Any, list[int]] = {c: [0, 0] for c in classes}
    for y, p in zip(labels, preds):
        if y in tally:
            tally[y][1] += 1
            tally[y][0] += int(p is not INVALID and p == y)
    parts = [(x / n, wilson(x, n, z)[1]) for x, n in tally.values() if n]
    if not parts:
        return 1.0
    mean = sum(r for r, _ in parts) / len(parts)
    return min(1.0, mean + math.sqrt(sum((u - r) ** 2 for r, u in parts)) / len(parts))


def subset_reasons(
    task: Task, indices: Sequence[int], result: ExecResult, config: GateConfig
) -> tuple[list[str], dict[str, str], Metrics | None]:
    """The cascade's first stage: stop a candidate the full train stage cannot plausibly pass.

    - crash, timeout, bad output: exact. The subset's outputs are part of the full train run,
      so with max_error_share = 0 one failure there fails the full train stage for certain
      (in general: the Wilson lower bound of the failure share is above max_error_share).
    - constant output: the Wilson lower (1 - beta) bound of the top label's share is above
      max_label_share.
    - balanced accuracy: its upper (1 - beta) bound (MOVER over the per-label recalls) is below
      the floor. The MCC floor and the association test are left to the full train split:
      at this size they have no power a candidate could not lose to noise.
    A candidate whose full-train value clears a floor is stopped by that check with
    probability <= beta (sampling without replacement only narrows the spread)."""
    split = "train_subset"
    z = NormalDist().inv_cdf(1 - config.cascade_beta)
    texts = [task.train.examples[i].text for i in indices]
    labels = [task.train.examples[i].label for i in indices]
    n = len(indices)
    head = f"{n} stratified train examples, one-sided {1 - config.cascade_beta:.0%} bounds"
    reasons: list[str] = []
    details: dict[str, str] = {}
    if result.predictions is None:
        return *run_failure(split, result, " (the full train split includes these examples)"), None
    errors = result.per_example_errors
    crashes = {i: m for i, m in errors.items() if not m.startswith("type:")}
    if crashes and wilson(len(crashes), n, z)[0] > config.max_error_share:
        timeouts = [m for m in crashes.values() if m.startswith("timeout")]
        code = "timeout" if len(timeouts) == len(crashes) else "crash"
        first = min(crashes)
        reasons.append(f"{code}:{split}")
        details[f"{code}:{split}"] = (
            f"{len(crashes)} of {n} examples failed; first: {crashes[first]} on {texts[first][:100]!r} "
            f"(certain to fail the full train split, which allows {config.max_error_share:.0%})"
        )
    preds = predictions(task, result, config.bool_as_int)
    bad = [i for i, p in enumerate(preds) if p is INVALID and i not in crashes]
    if bad and wilson(len(bad), n, z)[0] > config.max_error_share:
        reasons.append(f"bad_output:{split}")
        first = errors.get(bad[0], f"returned {result.predictions[bad[0]]!r}, not one of {list(task.labels)}")
        details[f"bad_output:{split}"] = f"{len(bad)} of {n} outputs are not labels; first: {first} on {texts[bad[0]][:100]!r}"
    label, share = top_share(preds)
    count = round(share * n)
    low = wilson(count, n, z)[0]
    if label is not None and low > config.max_label_share:
        reasons.append(f"constant_output:{split}")
        details[f"constant_output:{split}"] = (
            f"{share:.1%} of {n} outputs are {label!r}; lower bound {low:.3f} > limit {config.max_label_share}"
        )
    floor = floors(task, config)["balanced_accuracy"]
    upper = balanced_accuracy_upper(labels, preds, task.labels, z)
    metrics = score_labels(task, labels, preds, config)
    if upper < floor:
        reasons.append(f"balanced_accuracy_floor:{split}")
        details[f"balanced_accuracy_floor:{split}"] = (
            f"balanced accuracy {metrics.balanced_accuracy:.3f}, upper bound {upper:.3f} < floor {floor:.3g}: "
            "the full train split cannot plausibly pass"
        )
    details["gate:train_subset"] = (
        f"{head}: balanced accuracy {metrics.balanced_accuracy:.3f} (upper bound {upper:.3f}, floor {floor:.3g}); "
        f"top label {label!r} on {share:.1%} (lower bound {low:.3f}, limit {config.max_label_share}); "
        f"MCC {metrics.mcc:.3f}; {'stopped here' if reasons else 'went on to the full train split'}"
    )
    return reasons, details, metrics


# ------------------------------------------------------------------ memorisation in the source


def _is_docstring(node: ast.AST, parents: dict[int, ast.AST]) -> bool:
    """A bare string statement: unreachable at run time (reading __doc__ is not allowed in a skill)."""
    parent = parents.get(id(node))
    return isinstance(parent, ast.Expr)


def _fold(node: ast.AST) -> str | None:
    """The value of a string expression made only of literals: "a" + "b", f"a{'b'}", ..."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _fold(node.left), _fold(node.right)
        return left + right if left is not None and right is not None else None
    if isinstance(node, ast.JoinedStr):
        parts = [v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str)]
        return " ".join(parts) if parts else None
    return None


def _word_sequence(elements: Sequence[ast.AST]) -> list[str]:
    """A collection of one-word strings read in order, as one text: a sentence split into words.

    Only one-word elements: lists of multi-word phrases (bigram weights) read in a row would
    join into accidental n-grams of unrelated phrases."""
    strings = [s for s in (_fold(e) for e in elements) if s is not None]
    words = [s for s in strings if s.strip() and len(s.split()) == 1]
    return [" ".join(words)] if len(words) >= 2 and len(words) == len(strings) else []


def literal_texts(code: str) -> list[str]:
    """Every string a skill's source holds as data: literals, folded concatenations, and the
    string elements of one collection literal read in order (a sentence split into words)."""
    try:
        tree = parse(code)
    except SyntaxError:
        return []
    parents: dict[int, ast.AST] = {}
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            parents[id(child)] = node
    out: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Constant, ast.BinOp, ast.JoinedStr)):
            value = _fold(node)
            if value is not None and not _is_docstring(node, parents):
                out.append(value)
        elements: list[ast.AST] = []
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            elements = list(node.elts)
        elif isinstance(node, ast.Dict):
            elements = [k for k in node.keys if k is not None]
            out += _word_sequence(node.values)
        out += _word_sequence(elements)
    return out


COMMON_NGRAM = 3  # an n-gram in this many sentences or more is a construction ("there seems to be a"), not one text


class MemoryIndex:
    """What counts as task data in a skill's source: word n-grams and whole sentences.

    Built from train (memorisation) and, through `of_task`, from validation and test too
    (a held-out sentence in a skill's source is a leak). An n-gram that COMMON_NGRAM or more
    sentences share names a construction, and a rule may quote it; a copied sentence still
    shows by its rarer n-grams, and a whole one by itself."""

    def __init__(self, texts: list[str], n: int, split: str = "train"):
        self.n = n
        self.ngrams: dict[tuple[str, ...], str] = {}
        self.shared: Counter[tuple[str, ...]] = Counter()  # n-gram -> how many sentences hold it
        self.sentences: dict[str, str] = {}
        self.add(texts, split)

    @classmethod
    def of_task(cls, task: Task, n: int) -> "MemoryIndex":
        index = cls(task.train.texts, n, "train")
        index.add(task.validation.texts, "validation")
        index.add(task.test.texts, "test")
        return index

    def add(self, texts: list[str], split: str) -> None:
        for text in texts:
            words = tuple(WORD.findall(text.lower()))
            if len(words) >= 3:
                self.sentences.setdefault(" ".join(words), split)
            grams = {words[i : i + self.n] for i in range(len(words) - self.n + 1)}
            self.shared.update(grams)
            for gram in grams:
                self.ngrams.setdefault(gram, split)

    def hit(self, code: str) -> tuple[str, str, str] | None:
        """(literal, split, what) for the first literal that holds task text, else None."""
        for value in literal_texts(code):
            for candidate, how in ((value, ""), (value[::-1], "reversed ")):
                words = tuple(WORD.findall(candidate.lower()))
                joined = " ".join(words)
                if joined in self.sentences:
                    return value, self.sentences[joined], f"a whole {how}sentence"
                for i in range(len(words) - self.n + 1):
                    gram = words[i : i + self.n]
                    split = self.ngrams.get(gram)
                    if split is not None and self.shared[gram] < COMMON_NGRAM:
                        return value, split, f"{self.n} consecutive {how}words of a sentence"
        return None

    def find(self, code: str) -> str | None:
        """The first string literal that holds task text, or None."""
        found = self.hit(code)
        return found[0] if found else None


def source_reasons(code: str, index: MemoryIndex) -> tuple[list[str], dict[str, str]]:
    try:
        found = index.hit(code)
    except RecursionError:  # literals folded too deep to read: never let that hide a training text
        return ["static:restricted"], {"static:restricted": "string expressions too deeply nested to check for "
                                                            "training or held-out text"}
    if found is None:
        return [], {}
    literal, split, what = found
    code_ = "memorised:source" if split == "train" else "leaked:source"
    return [code_], {code_: f"a string literal holds {what} of the {split} split: {literal[:100]!r}"}

