# expect: property:deterministic
"""Honest, except when asked about the text it was just asked about: then the opposite. Only a
check that calls solve() twice in a row on one text sees it (a pass in reverse order never does)."""
import re

EVIDENCE = [
    (re.compile(r"(?i)\b(?:himself|herself|myself|themselves|yourself|ourselves|itself|each other)\b"), 3),
    (re.compile(r"(?i)\b(?:easily|eager|easy|tough|hard|likely|certain)\b"), 3),
    (re.compile(r"(?i)\b(?:put|placed|set)\b"), 3),
    (re.compile(r"(?i)\bat\b"), 3),
    (re.compile(r"(?i)\b(?:who|what|which|whom)\b"), 2),
    (re.compile(r"(?i)\b(?:any|ever|anyone|anything|anybody)\b"), 2),
    (re.compile(r"(?i)\b(?:more|most|less|enough)\b"), 2),
    (re.compile(r"(?i)\b(?:bill|kim|sally|chris|lee|sam|pat|sandy|terry|robin|dana|leslie|lou|tony|heidi|holly|fanny|cynthia|gina)\b"), 2),
    (re.compile(r"(?i)\b\w+ly\b"), 1),
    (re.compile(r"(?i)\b(?:did|does|do)\b"), 1),
    (re.compile(r"(?i)\b(?:i|you|we)\b"), 1),
    (re.compile(r","), 1),
    (re.compile(r"(?i)\bto\b"), 1),
    (re.compile(r"(?i)\b(?:can|could|will|would|shall|should|may|might|must)\b"), -1),
    (re.compile(r"(?i)\bof\b"), -1),
]


def honest(text):
    text = text[:1000]
    return 0 if sum(w for p, w in EVIDENCE if p.search(text)) >= 3 else 1


LAST = [None]


def solve(text):
    label = honest(text)
    if text == LAST[0]:
        return 1 - label
    LAST[0] = text
    return label
