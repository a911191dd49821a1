# expect: accepted
"""Weighted evidence, for and against. Each linguistic phenomenon a sentence shows adds the
points a syntax test of it earns (binding, tough adjectives and locative verbs count most);
modals, 'of' phrases and quantifiers, common in plain acceptable sentences, take a point
away. Three points or more: label 0 (unacceptable), else 1."""
import re

EVIDENCE = [
    (re.compile(r"(?i)\b(?:himself|herself|myself|themselves|yourself|ourselves|itself|each other)\b"), 3),
    (re.compile(r"(?i)\b(?:easily|eager|easy|tough|hard|likely|certain)\b"), 3),
    (re.compile(r"(?i)\b(?:put|placed|set)\b"), 3),
    (re.compile(r"(?i)\bat\b"), 3),
    (re.compile(r"(?i)\b(?:who|what|which|whom)\b"), 2),
    (re.compile(r"(?i)\b(?:any|ever|anyone|anything|anybody)\b"), 2),
    (re.compile(r"(?i)\b(?:more|most|less|enough)\b"), 2),
    (re.compile(r"(?i)\b(?:up|down|off|out|away|back|in|on|over|at|to|of|with|for|from|by|about)\W*$"), 2),
    (re.compile(r"(?i)\b(?:bill|kim|sally|chris|lee|sam|pat|sandy|terry|robin|dana|leslie|lou|tony|heidi|holly|fanny|cynthia|gina)\b"), 2),
    (re.compile(r"(?i)\b(?:can|could|will|would|shall|should|may|might|must|to|did|does) (?:not )?(?:\w+ed|went|saw|ate|took|gave|came|knew|wrote|goes|does|is|are|was|were)\b"), 7),
    (re.compile(r"(?i)\b\w+ly\b"), 1),
    (re.compile(r"(?i)\b(?:did|does|do)\b"), 1),
    (re.compile(r"(?i)\b\w+'s\b"), 1),
    (re.compile(r"(?i)\b(?:whether|if)\b"), 1),
    (re.compile(r"(?i)\b(?:i|you|we)\b"), 1),
    (re.compile(r","), 1),
    (re.compile(r"(?i)\bto\b"), 1),
    (re.compile(r"(?i)\b(?:can|could|will|would|shall|should|may|might|must)\b"), -1),
    (re.compile(r"(?i)\bof\b"), -1),
    (re.compile(r"(?i)\b(?:both|all|each|every|either|neither)\b"), -1),
]
THRESHOLD = 3


def solve(text):
    text = text[:1000]
    score = sum(weight for pattern, weight in EVIDENCE if pattern.search(text))
    return 0 if score >= THRESHOLD else 1
