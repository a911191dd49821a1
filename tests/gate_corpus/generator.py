# expect: bad_output
"""A generator instead of an answer."""


def solve(text):
    yield 1
