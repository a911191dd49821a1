# expect: property:label_set
"""Honest on real sentences, but answers 2 (no label) on text holding a NUL character."""
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


def solve(text):
    if chr(0) in text:
        return 2
    return honest(text)
