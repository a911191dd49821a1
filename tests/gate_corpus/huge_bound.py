# expect: constant_output
"""A length test no sentence fails."""


def solve(text):
    return int(len(text) < 10**9)
