# expect: balanced_accuracy_floor
"""The parity of the length."""


def solve(text):
    return len(text) % 2
