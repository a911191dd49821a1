import math

import pytest

from tasks.metrics import INVALID, association_p_value, binary_metrics, confusion, majority_accuracy


def test_hand_computed_confusion_and_scores():
    labels = [1, 1, 1, 0, 0, 1, 0, 1]
    preds = [1, 0, 1, 0, 1, 1, 0, 1]
    assert confusion(labels, preds) == (4, 1, 1, 2)  # tp, fn, fp, tn
    m = binary_metrics(labels, preds)
    assert m.accuracy == pytest.approx(6 / 8)
    assert m.mcc == pytest.approx((4 * 2 - 1 * 1) / math.sqrt(5 * 5 * 3 * 3))
    assert m.f1 == pytest.approx(2 * 0.8 * 0.8 / 1.6)
    assert m.balanced_accuracy == pytest.approx((4 / 5 + 2 / 3) / 2)
    assert m.majority_accuracy == pytest.approx(5 / 8)


def test_constant_predictor_has_mcc_zero_and_no_significance():
    labels = [1] * 70 + [0] * 30
    m = binary_metrics(labels, [1] * 100)
    assert m.accuracy == pytest.approx(0.7)
    assert m.mcc == 0.0
    assert m.p_value == pytest.approx(1.0)
    assert m.balanced_accuracy == pytest.approx(0.5)


def test_fisher_one_sided_direction():
    # strongly associated: tiny p; anti-associated: p near 1
    assert association_p_value(40, 10, 10, 40) < 1e-6
    assert association_p_value(10, 40, 40, 10) > 0.99


def test_invalid_predictions_count_as_wrong():
    labels = [1, 0, 1, 0]
    m = binary_metrics(labels, [INVALID, INVALID, 1, 0])
    assert m.accuracy == pytest.approx(0.5)
    assert majority_accuracy([]) == 0.0


def test_a_p_value_that_underflowed_is_shown_as_below_1e_300_not_0():
    from tasks.metrics import p_is, p_text

    assert p_is(0.0) == "p < 1e-300" and p_is(0.0123) == "p = 0.0123"
    assert p_text(0.0, ".2g") == "<1e-300" and p_text(0.00456, ".2g") == "0.0046"


def test_outputs_that_are_no_label_are_counted():
    """An all-invalid skill scores MCC -1 (every answer wrong); the count says why (user audit: it read as a skill to invert)."""
    from engine.gate import GateConfig, multiclass_metrics
    from tasks.metrics import INVALID, binary_metrics

    labels = [0, 1, 1, 0, 1]
    m = binary_metrics(labels, [INVALID] * 5)
    assert m.mcc == -1.0 and m.invalid == 5 and m.to_dict()["invalid"] == 5
    assert binary_metrics(labels, [0, 1, INVALID, 0, 1]).invalid == 1
    assert binary_metrics(labels, labels).invalid == 0
    assert multiclass_metrics([0, 1, 2, 2], [0, INVALID, 2, INVALID], (0, 1, 2), GateConfig().permutations).invalid == 2


def test_a_p_value_at_a_monte_carlo_tests_floor_is_shown_as_at_most():
    """No permutation as extreme gives p = 1 / (rounds + 1), the smallest the test can say: shown as '<=', since the
    true p may be far smaller (it read as an exact p)."""
    from engine.gate import multiclass_metrics
    from tasks.metrics import p_is, p_text

    labels = [0, 1, 2] * 30
    m = multiclass_metrics(labels, labels, (0, 1, 2), permutations=999)
    assert m.p_value == m.p_floor == 1 / 1000 and m.to_dict()["p_floor"] == 1 / 1000
    assert p_is(m.p_value, m.p_floor) == "p <= 0.001" and p_text(m.p_value, ".2g", m.p_floor) == "<=0.001"
    assert p_is(0.002, m.p_floor) == "p = 0.002" and p_text(0.002, ".2g", m.p_floor) == "0.002"
    noisy = multiclass_metrics(labels, labels[1:] + labels[:1], (0, 1, 2), permutations=999)
    assert noisy.p_value > noisy.p_floor and p_is(noisy.p_value, noisy.p_floor).startswith("p = ")
