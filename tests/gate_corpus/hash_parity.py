# expect: balanced_accuracy_floor
"""The hash of the text mod 2: depends on the input, not on its grammar."""


def solve(text):
    return hash(text) % 2
