# expect: bad_output
"""Answers a float, not a label."""


def solve(text):
    return 1.0 if len(text) % 3 else 0.0
