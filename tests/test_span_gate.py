"""The span gate's logic on the host, with hand-made span tasks and ExecResults (no sandbox)."""
from __future__ import annotations

import json

import pytest

from engine import span_gate
from engine.evaluate import checks_for, train_outputs
from engine.gate import GateConfig
from engine.records import Example, ExecResult, PropertyOutcome, Split, Task
from tasks.span_metrics import capitalised_baseline, empty_baseline

CONFIG = GateConfig(permutations=500)
LABELS = ("PERSON", "EMAIL_ADDRESS")
EMAIL = "write to ann@example.org today"  # the e-mail is at 9..24
NAME = "Ann Lee met Bob"  # PERSON 0..7, PERSON 12..15


def make_task(n: int = 60, distinct: bool = True) -> Task:
    """Documents alternating between an e-mail text and a two-person text, each numbered at its end (the
    gate's bootstrap counts a repeated document once): with DISTINCT false, the two texts repeated."""
    def split(name: str) -> Split:
        examples = []
        for i in range(n):
            tail = f" #{i}" if distinct else ""
            if i % 2:
                examples.append(Example(EMAIL + tail, ((9, 24, "EMAIL_ADDRESS"),)))
            else:
                examples.append(Example(NAME + tail, ((0, 7, "PERSON"), (12, 15, "PERSON"))))
        return Split(name, tuple(examples))

    return Task("spans-x", "spans", "", LABELS, split("train"), split("validation"), split("test"), "f1")


def result(preds, errors=None, **kw) -> ExecResult:
    return ExecResult(predictions=tuple(preds), per_example_errors=errors or {}, **kw)


def gold(task: Task, split: str = "train") -> list:
    return [list(map(list, y)) for y in task.split(split).labels]


def emails_only(task: Task, split: str = "train") -> list:
    return [[[9, 24, "EMAIL_ADDRESS"]] if t.startswith(EMAIL) else [] for t in task.split(split).texts]


# ------------------------------------------------------------------ outputs


def test_span_problem_by_hand():
    assert span_gate.span_problem("abcdef", [(0, 2, "PERSON"), (2, 6, "PERSON")], LABELS) is None
    assert span_gate.span_problem("abcdef", [], LABELS) is None
    assert span_gate.span_problem("abcdef", "PERSON", LABELS)[0] == "type"
    assert span_gate.span_problem("abcdef", [(0, 2)], LABELS)[0] == "type"
    assert span_gate.span_problem("abcdef", [(0, "2", "PERSON")], LABELS)[0] == "type"
    assert span_gate.span_problem("abcdef", [(True, 2, "PERSON")], LABELS)[0] == "type"
    assert span_gate.span_problem("abcdef", [(0, 7, "PERSON")], LABELS)[0] == "invalid"  # past the end
    assert span_gate.span_problem("abcdef", [(-1, 2, "PERSON")], LABELS)[0] == "invalid"
    assert span_gate.span_problem("abcdef", [(3, 3, "PERSON")], LABELS)[0] == "invalid"  # start == end
    assert span_gate.span_problem("abcdef", [(0, 2, "EMAIL")], LABELS)[0] == "invalid"  # unknown label
    overlap = span_gate.span_problem("abcdef", [(2, 5, "PERSON"), (0, 3, "PERSON")], LABELS)
    assert overlap[0] == "invalid" and "overlap" in overlap[1]


def test_invalid_bad_and_crashing_outputs_are_reasons():
    task = make_task()
    preds = gold(task)
    preds[3] = [[0, 99, "EMAIL_ADDRESS"]]  # outside the text
    preds[4] = [[0, 3, "PERSON"], [1, 4, "PERSON"]]  # overlapping
    preds[5] = None
    preds[6] = None
    errors = {5: "type: returned str, not a list of spans", 6: "exception: ValueError: x"}
    reasons, details = span_gate.split_reasons(task, "train", result(preds, errors), CONFIG)
    assert {"invalid_spans:train", "bad_output:train", "crash:train"} <= set(reasons)
    assert details["invalid_spans:train"].startswith("2 of 60 outputs hold invalid spans")
    assert "ValueError" in details["crash:train"]
    reasons, _ = span_gate.split_reasons(task, "train", result(gold(task)), CONFIG)
    assert reasons == []


def test_whole_run_failure_is_crash_or_timeout():
    task = make_task()
    failed = ExecResult(predictions=None, failure="load: exception: SyntaxError")
    assert span_gate.split_reasons(task, "train", failed, CONFIG)[0] == ["crash:train"]
    slow = ExecResult(predictions=None, timed_out=True, failure="timeout")
    assert span_gate.split_reasons(task, "train", slow, CONFIG)[0] == ["timeout:train"]


def test_degenerate_output_empty_or_constant():
    task = make_task()
    reasons, _ = span_gate.split_reasons(task, "train", result([[] for _ in range(60)]), CONFIG)
    assert "empty_output:train" in reasons and "not_significant:train" in reasons
    constant = [[[0, 3, "PERSON"]] for _ in range(60)]
    reasons, _ = span_gate.split_reasons(task, "train", result(constant), CONFIG)
    assert "constant_output:train" in reasons
    # the same spans on 2 of 60 is not degenerate; 59 of 60 (98.3%) is
    mostly = [[] for _ in range(59)] + [[[0, 3, "PERSON"]]]
    assert "empty_output:train" in span_gate.split_reasons(task, "train", result(mostly), CONFIG)[0]


# ------------------------------------------------------------------ scores and baselines


def test_metrics_and_baselines_by_hand():
    task = make_task()
    # the e-mail rule finds all 30 e-mails and no person: tp 30, fp 0, fn 60
    m = span_gate.score(task, "train", result(emails_only(task)), CONFIG)
    assert (m.precision, m.recall) == (1.0, pytest.approx(1 / 3))
    assert m.f1 == pytest.approx(2 * (1 / 3) / (1 + 1 / 3))  # 0.5
    assert m.overlap_f1 == pytest.approx(0.5) and m.n == 60 and m.predicted == 30 and m.gold == 90
    # the capitalised baseline: "Ann", "Lee", "Bob" per name text -> tp 1 (Bob), fp 2, fn 1 each;
    # nothing capitalised in the e-mail text -> fn 1 each: tp 30, fp 60, fn 60 -> F1 60 / (60 + 60 + 60)
    assert m.capitalised_f1 == pytest.approx(1 / 3)
    assert m.empty_f1 == 0.0
    assert m.p_empty < CONFIG.alpha and m.p_capitalised < CONFIG.alpha and m.p_value == max(m.p_empty, m.p_capitalised)
    d = m.to_dict()
    assert {"f1", "precision", "recall", "overlap_f1", "n", "p_value", "baseline_empty_f1",
            "baseline_capitalised_f1"} <= set(d)
    assert json.loads(json.dumps(d)) == d


def test_a_repeated_document_counts_once_in_the_bootstrap():
    """Tasks audit, for spans as for labels: two documents repeated 30 times each made the e-mail rule's lead over
    the capitalised baseline look certain (p = 1/501); over the two distinct documents it is no evidence."""
    repeated = make_task(distinct=False)
    m = span_gate.score(repeated, "train", result(emails_only(repeated)), CONFIG)
    assert m.distinct == 2 and m.n == 60 and m.f1 == pytest.approx(0.5)  # F1 still counts every row
    assert m.p_capitalised > CONFIG.alpha and m.to_dict()["distinct"] == 2
    reasons, details = span_gate.split_reasons(repeated, "train", result(emails_only(repeated)), CONFIG)
    assert reasons == ["not_significant:train"]
    assert "resampled its 2 distinct documents of 60 rows" in details["gate:train"]
    distinct = make_task()
    m = span_gate.score(distinct, "train", result(emails_only(distinct)), CONFIG)
    assert m.distinct is None and m.p_capitalised < CONFIG.alpha


def test_capitalised_and_empty_baselines_by_hand():
    assert capitalised_baseline(["Ann Lee met Bob", "no caps", "x Émile"]) == [
        [(0, 3, "PERSON"), (4, 7, "PERSON"), (12, 15, "PERSON")], [], []]  # \b[A-Z]: ASCII capitals
    assert empty_baseline(["a", "b"]) == [[], []]


def test_a_skill_no_better_than_a_baseline_is_not_significant():
    task = make_task()
    caps = [[list(s) for s in spans] for spans in capitalised_baseline(task.train.texts)]
    reasons, details = span_gate.split_reasons(task, "train", result(caps), CONFIG)
    assert reasons == ["not_significant:train"]
    assert "capitalised baseline" in details["not_significant:train"]
    assert "empty baseline" not in details["not_significant:train"]  # it does beat finding nothing
    assert details["gate:train"].startswith("vs empty baseline")


def test_validation_is_held_to_alpha_over_the_runs_candidates():
    """As for labels: a run's candidates share validation, so its test is at alpha / the run's budget,
    with enough bootstrap resamples to resolve that (at 2,000 the smallest p was 1/2001)."""
    task = make_task()
    family = GateConfig(permutations=500, validation_family=100)
    good = gold(task, "validation")
    reasons, details = span_gate.split_reasons(task, "validation", result(good), family)
    assert reasons == [] and "alpha 0.05/100 = 0.0005" in details["gate:validation"]
    assert span_gate.score(task, "validation", result(good), family).p_value == pytest.approx(1 / 20_001)
    # a skill barely ahead of the capitalised baseline passes alone and fails among a run's hundred
    barely = [[list(s) for s in spans] for spans in capitalised_baseline(task.validation.texts)]
    barely = [spans + ([[9, 24, "EMAIL_ADDRESS"]] if i in (1, 3, 5, 7) else []) for i, spans in enumerate(barely)]
    alone = span_gate.score(task, "validation", result(barely), CONFIG)
    assert 0.0005 < alone.p_capitalised < 0.05, alone.p_capitalised
    assert span_gate.split_reasons(task, "validation", result(barely), CONFIG)[0] == []
    assert span_gate.split_reasons(task, "validation", result(barely), family)[0] == ["not_significant:validation"]
    detail = json.loads(span_gate.config_detail(task, family, True))
    assert detail["validation_alpha"] == pytest.approx(0.0005) and detail["validation_resamples"] == 20_000


def test_f1_floor():
    task = make_task(400)
    one = [[] for _ in range(400)]
    for i in (1, 3, 5, 7, 9):
        one[i] = [[9, 24, "EMAIL_ADDRESS"]]
    reasons, details = span_gate.split_reasons(task, "train", result(one), CONFIG)
    assert "f1_floor:train" in reasons  # tp 5 of 600 gold: F1 0.0165
    assert "floor 0.05" in details["f1_floor:train"]


def test_gap_by_hand():
    task = make_task()
    m = span_gate.score(task, "train", result(gold(task)), CONFIG)
    worse = span_gate.score(task, "validation", result(emails_only(task, "validation")), CONFIG)
    # F1 1.0 vs 0.5: gap 0.5 far above the 0.15 slack, with tiny standard errors
    reasons, details = span_gate.gap_reasons(m, worse, CONFIG)
    assert reasons == ["memorised:gap"] and "gap +0.500" in details["gate:gap"]
    assert span_gate.gap_reasons(m, m, CONFIG)[0] == []


def test_properties_from_the_sandbox_count():
    props = {"total": PropertyOutcome(True), "deterministic": PropertyOutcome(True),
             "span_valid": PropertyOutcome(False, "spans (0, 2, 'PERSON') and (1, 3, 'PERSON') overlap")}
    reasons, details = span_gate.property_reasons(result([[]], properties=props))
    assert reasons == ["property:span_valid"] and "overlap" in details["property:span_valid"]


def test_subset_stops_only_hopeless_candidates():
    task = make_task(600)
    idx = span_gate.subset_indices(task, 400)
    assert len(idx) == 400 and idx == span_gate.subset_indices(task, 400)
    texts = [task.train.texts[i] for i in idx]
    empty = result([[] for _ in idx])
    reasons, details, m = span_gate.subset_reasons(task, idx, empty, CONFIG)
    # 400 of 400 empty: the 99% Wilson lower bound of that share is 0.987 > 0.97
    assert "empty_output:train_subset" in reasons and "below_baseline:train_subset" in reasons
    small = span_gate.subset_indices(task, 100)  # 100 of 100: lower bound 0.949, not enough to stop
    assert "empty_output:train_subset" not in span_gate.subset_reasons(task, small, result([[]] * 100), CONFIG)[0]
    good = result([[list(s) for s in task.train.labels[i]] for i in idx])
    reasons, details, m = span_gate.subset_reasons(task, idx, good, CONFIG)
    assert reasons == [] and m.f1 == 1.0 and "went on" in details["gate:train_subset"]
    emails = result([[[9, 24, "EMAIL_ADDRESS"]] if t.startswith(EMAIL) else [] for t in texts])
    assert span_gate.subset_reasons(task, idx, emails, CONFIG)[0] == []  # ahead of both baselines


def test_kind_dispatch_and_hashable_train_outputs():
    task = make_task()
    assert checks_for(task) is span_gate
    outs = train_outputs(task, ([[3, 5, "PERSON"], [0, 2, "PERSON"]], None, "junk"))
    assert outs == (((0, 2, "PERSON"), (3, 5, "PERSON")), None, None)
    hash(outs)
    assert outs[0] == tuple(sorted(((3, 5, "PERSON"), (0, 2, "PERSON"))))


def test_config_detail_names_the_baselines():
    detail = json.loads(span_gate.config_detail(make_task(), CONFIG, True))
    assert detail["baselines"] == ["empty", "capitalised"] and detail["alpha"] == CONFIG.alpha
    assert detail["f1_floor"] == span_gate.SPAN_F1_FLOOR
