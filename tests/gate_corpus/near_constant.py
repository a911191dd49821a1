# expect: constant_output
"""The constant with about 1% of outputs flipped, to dodge a plain constant check."""


def solve(text):
    return 0 if len(text) % 97 == 0 else 1
