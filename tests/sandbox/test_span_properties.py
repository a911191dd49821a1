"""The sandbox's span_valid property (kind "spans"): every output the property tests see must be
spans inside the text with start < end, labels from the label set and no two overlapping; a
failure carries the shrunk counterexample. Classification requests get no span_valid."""
from __future__ import annotations

import pytest

from sandbox.backend import RunRequest

LABELS = ("PERSON", "EMAIL")
PROBES = {"probe_texts": ["Ann met Bob", "mail ann@example.com now", "nothing here"]}
TEXTS = ("Ann met Bob", "nothing here", "")

GOOD = (
    "import re\n\n\ndef solve(text):\n"
    "    return [(m.start(), m.end(), 'PERSON') for m in re.finditer(r'\\b[A-Z][a-z]+\\b', text)]\n"
)
OVERLAPPING = (  # two spans over the same word as soon as a text has a capitalised word
    "import re\n\n\ndef solve(text):\n    spans = []\n"
    "    for m in re.finditer(r'\\b[A-Z][a-z]+\\b', text):\n"
    "        spans += [(m.start(), m.end(), 'PERSON'), (m.start(), m.end(), 'EMAIL')]\n    return spans\n"
)
OUT_OF_RANGE = "def solve(text):\n    return [(0, len(text) + 1, 'PERSON')] if 'x' in text else []\n"
UNKNOWN_LABEL = "def solve(text):\n    return [(0, 1, 'PHONE')] if 'm' in text else []\n"


@pytest.fixture(params=["docker", "local"])
def backend(request):
    return request.getfixturevalue(f"{request.param}_backend")


def run(backend, code: str):
    result = backend.run(RunRequest(code, TEXTS, kind="spans", labels=LABELS, properties=PROBES))
    assert result.failure == "" and not result.per_example_errors, result
    return result.properties


def test_valid_spans_pass(backend):
    props = run(backend, GOOD)
    assert props["span_valid"].passed, props["span_valid"]
    assert props["total"].passed and props["deterministic"].passed and props["sensitive"].passed


def test_overlapping_spans_fail_span_valid(backend):
    outcome = run(backend, OVERLAPPING)["span_valid"]
    assert not outcome.passed
    assert "overlap" in outcome.detail and " on input " in outcome.detail, outcome.detail


def test_out_of_range_span_fails_with_the_shrunk_counterexample(backend):
    outcome = run(backend, OUT_OF_RANGE)["span_valid"]
    assert not outcome.passed
    # hypothesis shrinks any text holding an x to the text "x" itself, and the detail shows that call's output
    assert outcome.detail == ("returned [[0, 2, 'PERSON']]: span (0, 2, 'PERSON') is not inside the text "
                              "(length 1) with start < end on input 'x'"), outcome.detail


def test_a_label_outside_the_set_fails_span_valid(backend):
    outcome = run(backend, UNKNOWN_LABEL)["span_valid"]
    assert not outcome.passed and "label outside the label set" in outcome.detail and outcome.detail.endswith("on input 'm'")


def test_an_invalid_span_on_the_requests_own_texts_fails_span_valid(local_backend):
    code = "def solve(text):\n    return [(5, 2, 'PERSON')] if text == 'Ann met Bob' else []\n"
    outcome = run(local_backend, code)["span_valid"]
    assert not outcome.passed and outcome.detail.endswith("on input 'Ann met Bob'"), outcome.detail


def test_classification_gets_no_span_valid(local_backend):
    code = "def solve(text):\n    return len(text) % 2\n"
    result = local_backend.run(RunRequest(code, TEXTS, labels=(0, 1), properties=PROBES))
    assert "span_valid" not in result.properties and result.properties["label_set"].passed
