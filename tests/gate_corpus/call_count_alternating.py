# expect: balanced_accuracy_floor
"""Output from the number of calls so far, not from the text."""

COUNT = [0]


def solve(text):
    COUNT[0] = COUNT[0] + 1
    return COUNT[0] % 2
