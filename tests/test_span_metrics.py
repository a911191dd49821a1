"""Span metrics against hand-computed cases."""
import pytest

from tasks.span_metrics import corpus_counts, document_counts, paired_bootstrap_p, per_label, span_scores


def test_exact_and_overlap_matching_by_hand():
    gold = [(0, 5, "PERSON"), (10, 20, "GPE")]
    pred = [(0, 5, "PERSON"), (12, 25, "GPE"), (30, 31, "AGE")]
    exact = document_counts(gold, pred)
    assert (exact.tp, exact.fp, exact.fn) == (1, 2, 1)
    assert exact.precision == pytest.approx(1 / 3) and exact.recall == pytest.approx(1 / 2)
    assert exact.f1 == pytest.approx(2 * (1 / 3) * (1 / 2) / (1 / 3 + 1 / 2))
    loose = document_counts(gold, pred, overlap=True)
    assert (loose.tp, loose.fp, loose.fn) == (2, 1, 0)


def test_overlap_needs_the_same_label_and_matches_each_gold_once():
    gold = [(0, 10, "PERSON")]
    assert document_counts(gold, [(2, 4, "GPE")], overlap=True).tp == 0
    both = document_counts(gold, [(0, 3, "PERSON"), (4, 9, "PERSON")], overlap=True)
    assert (both.tp, both.fp) == (1, 1)
    assert document_counts(gold, [(10, 12, "PERSON")], overlap=True).tp == 0  # end is exclusive


def test_failed_prediction_and_duplicates():
    gold = [(0, 5, "PERSON")]
    assert document_counts(gold, None).fn == 1
    assert document_counts(gold, [(0, 5, "PERSON"), (0, 5, "PERSON")]).fp == 0


def test_corpus_per_label_and_scores():
    golds = [[(0, 5, "PERSON")], [(0, 3, "AGE"), (5, 9, "PERSON")], []]
    preds = [[(0, 5, "PERSON")], [(0, 3, "AGE")], [(1, 2, "AGE")]]
    total = corpus_counts(golds, preds)
    assert (total.tp, total.fp, total.fn) == (2, 1, 1)
    labels = per_label(golds, preds)
    assert (labels["PERSON"].tp, labels["PERSON"].fn) == (1, 1)
    assert (labels["AGE"].tp, labels["AGE"].fp) == (1, 1)
    scores = span_scores(golds, preds)
    assert scores["f1"] == pytest.approx(2 / 3) and scores["n"] == 3


def test_bootstrap_prefers_a_real_skill_over_the_empty_baseline():
    golds = [[(0, 4, "PERSON")] for _ in range(60)]
    good = [[(0, 4, "PERSON")] if i % 4 else [] for i in range(60)]
    empty = [[] for _ in range(60)]
    assert paired_bootstrap_p(golds, good, empty, rounds=300) < 0.01
    assert paired_bootstrap_p(golds, empty, good, rounds=300) > 0.9
