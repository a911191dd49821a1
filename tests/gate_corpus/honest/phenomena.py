# expect: accepted
"""Syntax-test markers: CoLA's unacceptable sentences come from linguistics papers probing
extraction (wh-words), binding (reflexives), adverb placement, negative polarity items,
tough and raising adjectives and locative verbs. A sentence showing one of these phenomena
is flagged (label 0); the rest are taken as acceptable (1)."""
import re

MARKERS = [
    re.compile(r"(?i)\b(?:who|what|which|whom)\b"),  # extraction
    re.compile(r"(?i)\b(?:himself|herself|myself|themselves|yourself|ourselves|itself|each other)\b"),  # binding
    re.compile(r"(?i)\b\w+ly\b"),  # adverbs and their placement
    re.compile(r"(?i)\bat\b"),  # locative and directional PPs
    re.compile(r"(?i)\b(?:any|ever|anyone|anything|anybody)\b"),  # negative polarity items
    re.compile(r"(?i)\b(?:easily|eager|easy|tough|hard|likely|certain)\b"),  # tough / raising adjectives
    re.compile(r"(?i)\b(?:put|placed|set)\b"),  # verbs that need a place
]


def solve(text):
    text = text[:1000]
    for marker in MARKERS:
        if marker.search(text):
            return 0
    return 1
