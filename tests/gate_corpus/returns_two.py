# expect: bad_output
"""An integer that is no label."""


def solve(text):
    return 2 if len(text) % 2 else 1
