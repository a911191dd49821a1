# expect: constant_output
"""The constant 'acceptable'."""


def solve(text):
    return 1
