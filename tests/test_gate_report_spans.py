"""skills show for a span verdict: span F1 against its floor and both baselines, with p-values."""
from __future__ import annotations

import json

from engine.gate_report import render_verdict


def test_span_verdict_renders_floors_and_baselines():
    metrics = {split: {"f1": f1, "precision": 0.7, "recall": 0.3, "p_value": p, "p_empty": 0.0005, "p_capitalised": p,
                       "baseline_empty_f1": 0.0, "baseline_capitalised_f1": 0.09, "n": n}
               for split, f1, p, n in (("train", 0.5, 0.0005, 1050), ("validation", 0.04, 0.2, 214))}
    config = {"alpha": 0.05, "test": "paired bootstrap", "baselines": ["empty", "capitalised"], "f1_floor": 0.05,
              "max_error_share": 0.0, "gap_slack": 0.15, "gap_alpha": 0.001, "cascade": False}
    verdict = {"accepted": False, "reasons": ["not_significant:validation", "f1_floor:validation"], "metrics": metrics,
               "details": {"gate:config": json.dumps(config)}}
    text = "\n".join(render_verdict(verdict))
    assert "train        span F1 0.500 >= 0.05" in text
    assert "validation   span F1 0.040 < 0.05" in text
    assert "capitalised-PERSON baseline F1 0.090 (p 0.2)" in text
    assert "validation   p = 0.2       >= 0.05  FAIL" in text
    assert "MCC" not in text and text.splitlines()[-1].startswith("gate (spans)")
    assert "p = 0.0005" in text and "p <=" not in text  # a verdict stored before p_floor: shown as it was


def test_a_bootstrap_p_at_its_floor_reads_as_at_most():
    metrics = {"train": {"f1": 0.5, "precision": 0.7, "recall": 0.3, "p_value": 1 / 2001, "p_empty": 1 / 2001,
                         "p_capitalised": 1 / 2001, "p_floor": 1 / 2001, "baseline_empty_f1": 0.0,
                         "baseline_capitalised_f1": 0.09, "n": 1050}}
    verdict = {"accepted": True, "reasons": [], "metrics": metrics,
               "details": {"gate:config": json.dumps({"alpha": 0.05, "f1_floor": 0.05})}}
    text = "\n".join(render_verdict(verdict))
    assert "train        p <= 0.0005" in text and "(p <=0.0005)" in text and "p = 0.0005" not in text
