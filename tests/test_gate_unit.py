"""The gate's logic on the host, with synthetic tasks and synthetic ExecResults (no sandbox)."""
from __future__ import annotations

import json
import math
import random
from dataclasses import replace

import pytest

from engine import gate
from engine.evaluate import cut, generated_texts, merge
from engine.gate import GateConfig, MemoryIndex
from engine.gate_report import render_verdict
from engine.records import Example, ExecResult, PropertyOutcome, Split, Task, Verdict
from tasks.metrics import association_p_value, binary_metrics

CONFIG = GateConfig()


def make_task(labels_by_split: dict[str, list], classes=(0, 1), texts=None) -> Task:
    def split(name):
        labels = labels_by_split.get(name, [classes[0], classes[-1]])
        return Split(name, tuple(Example(f"{name} sentence number {i} .", y) for i, y in enumerate(labels)))

    return Task("synthetic", "classification", "", tuple(classes), split("train"), split("validation"),
                split("test"), "mcc")


def binary_labels(n: int, positive_share: float = 0.7, seed: int = 0) -> list[int]:
    rng = random.Random(seed)
    return [1 if rng.random() < positive_share else 0 for _ in range(n)]


def predictor(labels, accuracy_on_0: float, accuracy_on_1: float, seed: int = 1) -> list[int]:
    rng = random.Random(seed)
    return [y if rng.random() < (accuracy_on_0 if y == 0 else accuracy_on_1) else 1 - y for y in labels]


def result(preds, errors=None, **kw) -> ExecResult:
    return ExecResult(predictions=tuple(preds), per_example_errors=errors or {}, **kw)


# ------------------------------------------------------------------ per split, two labels


def test_constant_output_is_rejected_with_numbers():
    labels = binary_labels(2000)
    task = make_task({"train": labels})
    reasons, details = gate.split_reasons(task, "train", result([1] * 2000), CONFIG)
    assert {"constant_output:train", "not_significant:train", "mcc_floor:train",
            "balanced_accuracy_floor:train"} <= set(reasons)
    assert "100.0% of 2000 outputs are 1" in details["constant_output:train"]
    assert "p = 1 >= alpha 0.05" in details["not_significant:train"]
    assert "floor 0.52" in details["gate:train"] and "majority" in details["gate:train"]


def test_an_informative_predictor_passes_and_its_numbers_are_stored():
    labels = binary_labels(3000)
    preds = predictor(labels, 0.35, 0.85)  # balanced accuracy ~0.60
    task = make_task({"train": labels})
    reasons, details = gate.split_reasons(task, "train", result(preds), CONFIG)
    assert reasons == []
    m = gate.score(task, "train", result(preds), CONFIG)
    assert m.p_value < 1e-6 and m.mcc > 0.15
    assert f"p = {m.p_value:.3g} < alpha 0.05" in details["gate:train"]


def test_majority_beating_accuracy_is_not_enough_and_not_required():
    labels = binary_labels(3000)
    # raw accuracy below the majority rate, yet clearly informative: accepted on this split
    preds = predictor(labels, 0.70, 0.62)
    m = gate.score(make_task({"train": labels}), "train", result(preds), CONFIG)
    assert m.accuracy < m.majority_accuracy
    assert gate.split_reasons(make_task({"train": labels}), "train", result(preds), CONFIG)[0] == []


def test_anti_correlated_predictor_fails_floors_and_test():
    labels = binary_labels(3000)
    preds = [1 - p for p in predictor(labels, 0.35, 0.85)]
    reasons, _ = gate.split_reasons(make_task({"train": labels}), "train", result(preds), CONFIG)
    assert {"not_significant:train", "mcc_floor:train", "balanced_accuracy_floor:train"} <= set(reasons)


def test_crash_timeout_and_bad_output():
    labels = binary_labels(100)
    task = make_task({"train": labels})
    preds = [1, 0] * 50
    errors = {3: "exception: ValueError: odd"}
    preds_with_error = list(preds)
    preds_with_error[3] = None
    reasons, details = gate.split_reasons(task, "train", result(preds_with_error, errors), CONFIG)
    assert "crash:train" in reasons and "ValueError" in details["crash:train"]
    reasons, _ = gate.split_reasons(task, "train", result(preds_with_error, {3: "timeout: one call ran past"}), CONFIG)
    assert "timeout:train" in reasons
    bad = list(preds)
    bad[5] = "acceptable"
    reasons, details = gate.split_reasons(task, "train", result(bad, {5: "type: returned str, not a label"}), CONFIG)
    assert "bad_output:train" in reasons and "str" in details["bad_output:train"]
    reasons, details = gate.split_reasons(
        task, "train", ExecResult(predictions=None, timed_out=True, failure="timeout: killed"), CONFIG)
    assert reasons == ["timeout:train"] and details["timeout:train"] == "timeout: killed"
    # every call timed out: that is the one reason, and no MCC of -1 is scored from answers never given
    every = result([None] * 100, {i: "timeout: one call ran past its time bound" for i in range(100)})
    assert not every.answered and result(preds_with_error, errors).answered
    reasons, details = gate.split_reasons(task, "train", every, CONFIG)
    assert reasons == ["timeout:train"] and "100 of 100 examples failed" in details["timeout:train"]


def test_bool_counts_as_int_unless_the_task_says_no():
    labels = binary_labels(200)
    preds = [bool(p) for p in predictor(labels, 0.4, 0.9)]
    task = make_task({"train": labels})
    assert "bad_output:train" not in gate.split_reasons(task, "train", result(preds), CONFIG)[0]
    strict = GateConfig(bool_as_int=False)
    assert "bad_output:train" in gate.split_reasons(task, "train", result(preds), strict)[0]


def test_nearly_constant_at_the_configured_share():
    labels = binary_labels(1000)
    preds = [1] * 980 + [0] * 20  # 98% one label
    task = make_task({"train": labels})
    assert "constant_output:train" in gate.split_reasons(task, "train", result(preds), CONFIG)[0]
    assert "constant_output:train" not in gate.split_reasons(
        task, "train", result(preds), GateConfig(max_label_share=0.99))[0]


# ------------------------------------------------------------------ more than two labels


def three_class(n=3000, seed=0):
    rng = random.Random(seed)
    return [rng.choice((0, 1, 1, 2)) for _ in range(n)]


def test_multiclass_metrics_known_values():
    labels = [0, 1, 2, 0, 1, 2]
    m = gate.multiclass_metrics(labels, labels, (0, 1, 2), permutations=200)
    assert m.mcc == pytest.approx(1.0) and m.f1 == pytest.approx(1.0) and m.balanced_accuracy == pytest.approx(1.0)
    m = gate.multiclass_metrics(labels, [1] * 6, (0, 1, 2), permutations=200)
    assert m.mcc == 0.0 and m.p_value == 1.0
    assert m.balanced_accuracy == pytest.approx(1 / 3)
    # for two labels R_K is the binary MCC
    y = binary_labels(500)
    p = predictor(y, 0.5, 0.8)
    assert gate.multiclass_metrics(y, p, (0, 1), permutations=200).mcc == pytest.approx(binary_metrics(y, p).mcc)


def test_permutation_test_agrees_with_fisher_for_two_labels():
    y = binary_labels(400, seed=3)
    p = predictor(y, 0.45, 0.65, seed=4)
    tp = sum(1 for a, b in zip(y, p) if a == 1 and b == 1)
    fn = sum(1 for a, b in zip(y, p) if a == 1 and b == 0)
    fp = sum(1 for a, b in zip(y, p) if a == 0 and b == 1)
    tn = sum(1 for a, b in zip(y, p) if a == 0 and b == 0)
    fisher = association_p_value(tp, fn, fp, tn)
    perm = gate.permutation_p_value(y, p, permutations=20000)
    assert 0.001 < fisher < 0.5
    assert perm == pytest.approx(fisher, abs=0.01)


@pytest.mark.parametrize("case,expected", [
    ("good", set()),
    ("constant", {"constant_output:train", "not_significant:train", "mcc_floor:train",
                  "balanced_accuracy_floor:train", "macro_f1_floor:train"}),
    ("random", {"not_significant:train", "mcc_floor:train", "balanced_accuracy_floor:train", "macro_f1_floor:train"}),
    ("rotated", {"not_significant:train", "mcc_floor:train", "balanced_accuracy_floor:train"}),
])
def test_multiclass_gate(case, expected):
    labels = three_class()
    rng = random.Random(9)
    preds = {
        "good": [y if rng.random() < 0.6 else rng.choice((0, 1, 2)) for y in labels],
        "constant": [1] * len(labels),
        "random": [rng.choice((0, 1, 1, 2)) for _ in labels],
        "rotated": [(y + 1) % 3 for y in labels],  # systematically wrong: anti-associated
    }[case]
    task = make_task({"train": labels}, classes=(0, 1, 2))
    reasons, details = gate.split_reasons(task, "train", result(preds), CONFIG)
    assert expected <= set(reasons)
    if case == "good":
        assert reasons == []
        assert "permutation test" in details["gate:train"] and "macro-F1" in details["gate:train"]
    floors = gate.floors(task, CONFIG)
    assert floors["balanced_accuracy"] == pytest.approx(1 / 3 + 0.02)
    assert json.loads(gate.config_detail(task, CONFIG, True))["macro_f1_margin"] == CONFIG.macro_f1_margin


def test_chance_macro_f1_of_a_shuffled_predictor():
    labels = three_class(6000)
    rng = random.Random(2)
    shuffled = list(labels)
    rng.shuffle(shuffled)
    m = gate.multiclass_metrics(labels, shuffled, (0, 1, 2), permutations=100)
    assert m.f1 == pytest.approx(gate.chance_macro_f1(labels, shuffled, (0, 1, 2)), abs=0.02)


# ------------------------------------------------------------------ generated text, properties, gap


def test_generated_text_constant_output():
    texts = [f"generated {i}" for i in range(300)]
    task = make_task({})
    reasons, details = gate.generated_reasons(task, texts, result([1] * 299 + [0]), CONFIG)
    assert reasons == ["constant_output:generated"]
    reasons, details = gate.generated_reasons(task, texts, result([1] * 200 + [0] * 100), CONFIG)
    assert reasons == [] and "66.7%" in details["gate:generated"]


def test_generated_texts_are_one_edit_perturbations_of_train():
    train = ["The cat sat on the mat.", "John gave Mary a book.", "Who did you see yesterday?"] * 5
    out = generated_texts(train, 50)
    assert len(out) == 50 and out == generated_texts(train, 50)  # fixed seed
    assert all(t.strip() for t in out)
    assert sum(t not in train for t in out) > 40  # edited, not copied


def test_property_reasons_keep_the_counterexample():
    res = result([1, 0], properties={
        "total": PropertyOutcome(False, "exception: ValueError on input ''"),
        "deterministic": PropertyOutcome(True),
    })
    reasons, details = gate.property_reasons(res)
    assert reasons == ["property:total"] and "input ''" in details["property:total"]
    assert details["gate:properties"] == "passed: deterministic"
    assert gate.property_reasons(result([1, 0]))[0] == ["property:unavailable"]


def metrics(acc: float, n: int):
    return binary_metrics([1] * n, [1] * round(acc * n) + [0] * (n - round(acc * n)))


def test_gap_is_a_test_that_accounts_for_validation_size():
    # a 0.10 gap: not significant with 60 validation examples, significant with 900
    assert gate.gap_reasons(metrics(0.80, 8000), metrics(0.70, 60), CONFIG)[0] == []
    reasons, details = gate.gap_reasons(metrics(0.80, 8000), metrics(0.70, 900), CONFIG)
    assert reasons == ["memorised:gap"] and "p = " in details["memorised:gap"]
    # within the slack: never rejected, however large the splits
    assert gate.gap_reasons(metrics(0.74, 80000), metrics(0.70, 80000), CONFIG)[0] == []
    # validation above train: never rejected
    assert gate.gap_reasons(metrics(0.60, 8000), metrics(0.70, 900), CONFIG)[0] == []


# ------------------------------------------------------------------ memorisation in the source


TRAIN = [
    "The students who the teacher praised went home early.",
    "Bill put the book on the table yesterday.",
    "Kim saw herself.",
]


@pytest.mark.parametrize("code,hit", [
    ("X = 'the teacher praised went home'\ndef solve(text):\n    return 1\n", True),  # 5 consecutive words
    ("X = 'Kim saw herself.'\ndef solve(text):\n    return 1\n", True),  # a whole sentence
    ("X = ['bill', 'put', 'the', 'book', 'on']\ndef solve(text):\n    return 1\n", True),  # split into words
    ("X = 'the teacher ' + 'praised went home'\ndef solve(text):\n    return 1\n", True),  # concatenated
    ("X = '.yadretsey elbat eht no koob eht tup lliB'\ndef solve(text):\n    return 1\n", True),  # reversed
    ("X = {'the book': 2, 'on the': 1, 'table yesterday': 1}\ndef solve(text):\n    return 1\n", False),  # phrases
    ("'''Kim saw herself. Bill put the book on the table yesterday.'''\ndef solve(text):\n    return 1\n", False),
    ("X = 'the teacher praised'\ndef solve(text):\n    return 1\n", False),  # only three words
])
def test_memory_index(code, hit):
    index = MemoryIndex(TRAIN, 5)
    assert (index.find(code) is not None) == hit
    reasons, details = gate.source_reasons(code, index)
    assert reasons == (["memorised:source"] if hit else [])


def test_a_construction_many_sentences_share_is_no_memorised_text():
    """'there seems to be a' starts three training sentences: a rule may quote it (it was memorised:source);
    one of those sentences copied whole, or by a 5-word run of its own, still is."""
    train = ["There seems to be a problem.", "There seems to be a man in the garden.",
             "There seems to be a unicorn here.", "Kim saw herself."]
    index = MemoryIndex(train, 5)
    quoted = "RULES = [(r'there seems to be a', 1)]\ndef solve(text):\n    return 1\n"
    assert gate.source_reasons(quoted, index) == ([], {})
    for copied in ("There seems to be a man in the garden.", "be a man in the"):
        code = f"X = {copied!r}\ndef solve(text):\n    return 1\n"
        assert gate.source_reasons(code, index)[0] == ["memorised:source"], copied


def test_string_expressions_too_deep_to_fold_are_rejected_not_skipped():
    """A training sentence spelled out letter by letter in one long + chain: folding it back recurses
    past Python's limit. The scan must reject that source, never skip it (it could hide a text)."""
    letters = " + ".join(repr(c) for c in "Bill put the book on the table yesterday. " * 40)
    code = f"X = {letters}\ndef solve(text):\n    return 1\n"
    reasons, details = gate.source_reasons(code, MemoryIndex(TRAIN, 5))
    assert reasons == ["static:restricted"] and "too deeply nested" in details["static:restricted"]


def test_held_out_text_in_the_source_is_a_leak():
    task = make_task({})
    index = MemoryIndex.of_task(task, 5)
    code = "X = 'validation sentence number 1 .'\ndef solve(text):\n    return 1\n"
    reasons, details = gate.source_reasons(code, index)
    assert reasons == ["leaked:source"] and "validation split" in details["leaked:source"]


# ------------------------------------------------------------------ the cascade's subset


def test_stratified_subset_is_fixed_proportional_and_sorted():
    labels = binary_labels(7700)
    subset = gate.stratified_subset(labels, 400)
    assert subset == gate.stratified_subset(labels, 400) and list(subset) == sorted(subset)
    assert abs(len(subset) - 400) <= 1
    share = sum(labels[i] for i in subset) / len(subset)
    assert share == pytest.approx(sum(labels) / len(labels), abs=0.005)
    assert gate.stratified_subset(labels[:100], 400) == tuple(range(100))


def test_wilson_and_the_balanced_accuracy_bound():
    low, high = gate.wilson(400, 400, 2.326)
    assert high == pytest.approx(1.0) and 0.98 < low < 0.99
    y = binary_labels(400)
    p = predictor(y, 0.4, 0.8)
    point = binary_metrics(y, p).balanced_accuracy
    upper = gate.balanced_accuracy_upper(y, p, (0, 1), 2.326)
    assert point < upper < point + 0.12


def subset_task(labels):
    return make_task({"train": labels})


def test_subset_stage_stops_constant_and_crashing_candidates():
    labels = binary_labels(7700)
    task = subset_task(labels)
    idx = gate.stratified_subset(labels, 400)
    n = len(idx)
    reasons, details, _ = gate.subset_reasons(task, idx, result([1] * n), CONFIG)
    assert "constant_output:train_subset" in reasons and "lower bound" in details["constant_output:train_subset"]
    preds = [1] * n
    preds[0] = None
    reasons, details, _ = gate.subset_reasons(task, idx, result(preds, {0: "exception: KeyError"}), CONFIG)
    assert "crash:train_subset" in reasons and "certain" in details["crash:train_subset"]
    reasons, _, _ = gate.subset_reasons(task, idx, ExecResult(predictions=None, failure="load: SyntaxError"), CONFIG)
    assert reasons == ["crash:train_subset"]


def test_subset_stage_lets_borderline_and_good_candidates_through():
    labels = binary_labels(7700)
    task = subset_task(labels)
    idx = gate.stratified_subset(labels, 400)
    sub = [labels[i] for i in idx]
    for acc0, acc1 in ((0.35, 0.85), (0.10, 0.95), (0.5, 0.5)):  # good, weak, chance
        reasons, details, metrics = gate.subset_reasons(task, idx, result(predictor(sub, acc0, acc1)), CONFIG)
        assert reasons == [], (acc0, acc1, details)
        assert "went on to the full train split" in details["gate:train_subset"]
    # 394 of 400 the same label (98.5%), the other 6 right: not certain enough that the full
    # split is over 97%, nor that its balanced accuracy is under the floor
    negatives = [j for j, y in enumerate(sub) if y == 0][:6]
    preds = [0 if j in negatives else 1 for j in range(len(sub))]
    assert gate.subset_reasons(task, idx, result(preds), CONFIG)[0] == []
    anti = [1 - p for p in predictor(sub, 0.35, 0.85)]
    assert gate.subset_reasons(task, idx, result(anti), CONFIG)[0] == ["balanced_accuracy_floor:train_subset"]


def test_subset_stage_false_early_rejections_are_rare_at_the_floor():
    """A candidate whose full-train balanced accuracy is exactly the floor is stopped early
    with probability <= beta (here measured over random subsets and predictions)."""
    rng = random.Random(5)
    labels = binary_labels(7700, seed=6)
    task = subset_task(labels)
    stopped = trials = 0
    for t in range(400):
        # recall on 0 and on 1 average to exactly the floor (0.52)
        acc0 = rng.uniform(0.05, 0.95)
        acc1 = 1.04 - acc0
        if not 0 < acc1 < 1:
            continue
        full = predictor(labels, acc0, acc1, seed=t)
        if binary_metrics(labels, full).balanced_accuracy < CONFIG.balanced_accuracy_floor:
            continue  # would fail the full split anyway
        idx = gate.stratified_subset(labels, 400, seed=t)
        trials += 1
        stopped += bool(gate.subset_reasons(task, idx, result([full[i] for i in idx]), CONFIG)[0])
    assert trials > 100
    assert stopped / trials <= 2 * CONFIG.cascade_beta


# ------------------------------------------------------------------ merging and cutting results


def test_merge_puts_outputs_and_errors_back_in_place():
    a = result([10, 11], {1: "exception: X"}, wall_s=1.0)
    b = result([20, 21, 22], wall_s=2.0)
    merged = merge([((1, 3), a), ((0, 2, 4), b)], 5)
    assert merged.predictions == (20, 10, 21, 11, 22)
    assert merged.per_example_errors == {3: "exception: X"}
    assert merged.wall_s == 3.0
    failed = ExecResult(predictions=None, failure="crash")
    assert merge([((0, 1), a), ((2,), failed)], 3) is failed


def test_cut_splits_one_request_into_two_results():
    res = result([0, 1, 1, 0, 1], {1: "timeout: x", 4: "type: str"},
                 properties={"total": PropertyOutcome(True)})
    first, second = cut(res, 0, 3, True), cut(res, 3, 5, False)
    assert first.predictions == (0, 1, 1) and first.per_example_errors == {1: "timeout: x"} and first.timed_out
    assert second.predictions == (0, 1) and second.per_example_errors == {1: "type: str"}
    assert first.properties and not second.properties


# ------------------------------------------------------------------ the rendered verdict


def test_render_rejected_verdict_with_counterexample():
    labels = binary_labels(1000)
    task = make_task({"train": labels})
    train = gate.score(task, "train", result(predictor(labels, 0.3, 0.8)), CONFIG)
    validation = binary_metrics([1] * 60 + [0] * 40, [1] * 58 + [0] * 2 + [1] * 40)
    details = {
        "gate:config": gate.config_detail(task, CONFIG, True),
        "property:deterministic": "input 'Kim left.' gave 1 first and 0 when called again in another order",
        "not_significant:validation": "Fisher exact, one-sided p = 0.4 >= alpha 0.05",
        "gate:train_subset": "400 stratified train examples ... went on to the full train split",
    }
    verdict = Verdict(False, ("not_significant:validation", "property:deterministic"),
                      {"train": train, "validation": validation}, details).to_dict()
    lines = render_verdict(verdict)
    text = "\n".join(lines)
    assert lines[0] == "verdict: rejected (2 reasons)"
    assert "  x property:deterministic  - input 'Kim left.' gave 1" in text
    assert "counterexamples:" in text
    assert f"validation   p = {validation.p_value:.3g}" in text and "FAIL" in text
    assert "floors:" in text and ">= 0.52" not in text.split("floors:")[1].split("\n")[2]  # validation fails it
    assert "cascade subset 400 (beta 0.01)" in text and "defaults" not in text
    assert ":train:" not in text  # rich would print an emoji for it


def test_render_old_and_stub_verdicts():
    old = {"accepted": True, "reasons": [], "details": {},
           "metrics": {"validation": {"accuracy": 0.7, "mcc": 0.2, "f1": 0.8, "balanced_accuracy": 0.55,
                                      "n": 857, "majority_accuracy": 0.7, "p_value": 1e-5}}}
    lines = render_verdict(old)
    assert lines[0] == "verdict: accepted"
    assert any("defaults" in line for line in lines)
    assert any("p = 1e-05" in line and "pass" in line for line in lines)
    stub = {"accepted": False, "reasons": ["duplicate"], "metrics": {}, "details": {}}
    # a duplicate is a skip of the cascade, as the run summary and the report count it
    assert render_verdict(stub)[:2] == ["verdict: not accepted, stopped by the cascade (duplicate): not a failure"
                                        " of the gate", "reasons:"]
    assert render_verdict({})[0].startswith("verdict: rejected")
    stopped = {"accepted": False, "reasons": ["not_better"], "metrics": {},
               "details": {"not_better": "validation mcc 0.1236 is not above 0.1648"}}
    lines = render_verdict(stopped)
    assert lines[0].startswith("verdict: not accepted, stopped by the cascade (not_better)")
    assert lines[1:3] == ["reasons:", "  x not_better  - validation mcc 0.1236 is not above 0.1648"]


def test_render_multiclass_settings():
    task = make_task({}, classes=(0, 1, 2))
    verdict = {"accepted": False, "reasons": ["macro_f1_floor:train"], "metrics": {},
               "details": {"gate:config": gate.config_detail(task, CONFIG, False),
                           "macro_f1_floor:train": "macro-F1 0.300 < floor 0.383"}}
    text = "\n".join(render_verdict(verdict))
    assert "macro-F1 >= chance + 0.05" in text and "cascade" not in text
    assert "balanced accuracy >= 0.353" in text
    assert math.isclose(json.loads(verdict["details"]["gate:config"])["balanced_accuracy"], 1 / 3 + 0.02)


# ------------------------------------------------------------------ a validation split reused by a run


def _weak_validation_predictor(n: int = 900) -> tuple[list[int], list[int]]:
    """Labels and predictions whose association is significant at 0.05 but not at 0.05/100."""
    labels = binary_labels(n, seed=3)
    for seed in range(200):
        preds = predictor(labels, 0.40, 0.70, seed=seed)
        m = binary_metrics(labels, preds)
        if 0.0005 < m.p_value < 0.02 and m.mcc >= 0.05 and m.balanced_accuracy >= 0.52:
            return labels, preds
    raise AssertionError("no weak predictor found")


def test_validation_is_held_to_alpha_over_the_runs_candidates():
    labels, preds = _weak_validation_predictor()
    task = make_task({"validation": labels})
    alone, _ = gate.split_reasons(task, "validation", result(preds), CONFIG)
    assert alone == []  # one skill checked on its own: alpha 0.05
    family = GateConfig(validation_family=100)
    reasons, details = gate.split_reasons(task, "validation", result(preds), family)
    assert reasons == ["not_significant:validation"]
    assert "alpha 0.05/100 = 0.0005" in details["not_significant:validation"]
    # train is not the split a run reuses: alpha stays 0.05 there
    train_task = make_task({"train": labels})
    assert gate.split_reasons(train_task, "train", result(preds), family)[0] == []
    assert json.loads(gate.config_detail(task, family, True))["validation_alpha"] == pytest.approx(0.0005)


def test_permutation_tested_tasks_are_held_to_alpha_over_the_runs_candidates_too():
    """Three labels: validation at 0.05/100 as for two, with enough permutations to resolve it (2,000
    could give no p below 1/2001, so these tasks kept 0.05 for every one of a run's candidates)."""
    three = make_task({}, classes=(0, 1, 2))
    family = GateConfig(validation_family=100)
    assert gate.split_alpha(three, "validation", family) == pytest.approx(0.0005)
    assert gate.resamples(0.0005, family) == 20_000 and gate.resamples(0.05, family) == 2000
    rng = random.Random(3)
    labels = [rng.randrange(3) for _ in range(300)]

    def noisy(keep: float, seed: int) -> list[int]:
        r = random.Random(seed)
        return [y if r.random() < keep else r.randrange(3) for y in labels]

    strong, weak = noisy(0.6, 4), None
    for seed in range(200):  # a predictor with p between 0.0005 and 0.02 at 2,000 permutations
        candidate = noisy(0.12, seed)
        m = gate.multiclass_metrics(labels, candidate, (0, 1, 2))
        if 0.002 < m.p_value < 0.02 and m.mcc >= 0.05:
            weak = candidate
            break
    assert weak is not None
    task = make_task({"validation": labels}, classes=(0, 1, 2))
    assert gate.split_reasons(task, "validation", result(weak), CONFIG)[0] == []  # alone: alpha 0.05
    reasons, details = gate.split_reasons(task, "validation", result(weak), family)
    assert reasons == ["not_significant:validation"] and "alpha 0.05/100 = 0.0005" in details["not_significant:validation"]
    assert gate.split_reasons(task, "validation", result(strong), family)[0] == []
    assert gate.score(task, "validation", result(strong), family).p_value == pytest.approx(1 / 20_001)


def test_a_permutation_test_stops_once_its_p_cannot_fall_below_the_level():
    import numpy as np

    y = np.array([0, 1, 2] * 100)
    noise = np.random.default_rng(5).integers(0, 3, 300)
    full = gate.permutation_p_value(y, noise, 20_000)
    early = gate.permutation_p_value(y, noise, 20_000, stop_above=0.0005)
    assert full > 0.05 and early > 0.0005
    assert early != full and round(1 / early) < 2000  # (hits + 1) / (done + 1) after a chunk or a few, not 20,000


def test_a_repeated_text_counts_once_in_the_test_of_association():
    """Tasks audit: a table repeating each of 40 noise-labelled rows 8 times left validation 32 rows of 4 texts; 3 of
    4 right by luck read as p = 0.0012 over rows, and a skill fitted to pure noise was accepted on 6 of 10 tables.
    The test now counts each distinct text once (the accuracy and MCC still count rows)."""
    texts = [f"text {i}" for i in range(4) for _ in range(8)]
    labels = [[1, 0, 1, 0][i // 8] for i in range(32)]
    preds = [[1, 0, 1, 1][i // 8] for i in range(32)]  # 3 of 4 texts right
    task = Task("noise", "classification", "", (0, 1),
                Split("train", tuple(Example(t, y) for t, y in zip(texts, labels))),
                Split("validation", tuple(Example(t, y) for t, y in zip(texts, labels))),
                Split("test", (Example("a", 0), Example("b", 1))), "mcc")
    rows = gate.score_labels(task, labels, preds, CONFIG)  # as before: each row counted
    assert rows.p_value < 0.005 and rows.distinct is None
    reasons, details = gate.split_reasons(task, "validation", result(preds), CONFIG)
    assert "not_significant:validation" in reasons, details
    assert "(over its 4 distinct texts of 32 rows: a repeated text counts once)" in details["not_significant:validation"]
    once = gate.score(task, "validation", result(preds), CONFIG)
    assert once.distinct == 4 and once.p_value > 0.2 and once.accuracy == rows.accuracy and once.n == 32
    assert once.to_dict()["distinct"] == 4
    distinct = make_task({"validation": binary_labels(200)})  # every text distinct: nothing changes, nothing said
    scored = gate.score(distinct, "validation", result(predictor(distinct.validation.labels, 0.8, 0.8)), CONFIG)
    assert scored.distinct is None and "distinct" not in scored.to_dict()


def test_the_gap_test_counts_distinct_texts_too():
    """The standard error of the train-validation gap took rows as independent: eight copies of each text made a
    gap look eight times as sure as it was."""
    from engine.records import Metrics

    train = Metrics(accuracy=0.80, mcc=0.5, f1=0.8, balanced_accuracy=0.8, n=800, majority_accuracy=0.5)
    validation = Metrics(accuracy=0.65, mcc=0.3, f1=0.6, balanced_accuracy=0.65, n=400, majority_accuracy=0.5)
    reasons, _ = gate.gap_reasons(train, validation, CONFIG)
    assert reasons == ["memorised:gap"]  # 800 and 400 distinct texts: a real gap
    repeated = gate.gap_reasons(replace(train, distinct=100), replace(validation, distinct=50), CONFIG)[0]
    assert repeated == []  # the same rows, each text 8 times: too little evidence to call it memorisation
