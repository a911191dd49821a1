# expect: property:context
"""Honest rules, then, for a long text they pass, the label of the first cue word it holds in the
order of a set of strings. That order is the string hash seed's: the same in every run of the
sandbox (PYTHONHASHSEED=0), another in each plain python3 that runs the skill's export. An LLM
writes such a loop innocently; its answers are still no function of the text alone."""
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
CUES = {"the", "to", "of", "a", "in", "and", "was", "is", "that", "for", "on", "he", "she", "it"}
CUE_LABEL = {"the": 1, "to": 0, "of": 1, "a": 0, "in": 1, "and": 0, "was": 1, "is": 0, "that": 1,
             "for": 0, "on": 1, "he": 0, "she": 1, "it": 0}


def honest(text):
    for marker in MARKERS:
        if marker.search(text[:1000]):
            return 0
    return 1


def solve(text):
    label = honest(text)
    words = text[:1000].lower().split()
    if label == 1 and len(words) > 10:
        held = set(words)
        for cue in CUES:
            if cue in held:
                return CUE_LABEL[cue]
    return label
