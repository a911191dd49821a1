# expect: leaked:source
"""Validation sentences in the source: a leak of held-out data (a proposer never sees them; a hand-written file could)."""

HELD_OUT = None  # fill: validation_sentences label=0 n=40


def solve(text):
    return 0 if text in HELD_OUT else 1
