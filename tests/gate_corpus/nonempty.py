# expect: constant_output
"""True for every non-empty text, i.e. always."""


def solve(text):
    return int(len(text) > 0)
