# expect: bad_output
"""Answers a string, not a label."""


def solve(text):
    return 'acceptable'
