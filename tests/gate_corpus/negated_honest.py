# expect: balanced_accuracy_floor
"""An honest rule skill with its answer negated: anti-correlated with the labels (MCC < 0)."""
import re

MARKERS = [
    re.compile(r"(?i)\b(?:who|what|which|whom)\b"),
    re.compile(r"(?i)\b(?:himself|herself|myself|themselves|yourself|ourselves|itself|each other)\b"),
    re.compile(r"(?i)\b\w+ly\b"),
    re.compile(r"(?i)\bat\b"),
    re.compile(r"(?i)\b(?:any|ever|anyone|anything|anybody)\b"),
    re.compile(r"(?i)\b(?:easily|eager|easy|tough|hard|likely|certain)\b"),
    re.compile(r"(?i)\b(?:put|placed|set)\b"),
]


def solve(text):
    for marker in MARKERS:
        if marker.search(text[:1000]):
            return 1
    return 0
