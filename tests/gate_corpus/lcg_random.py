# expect: balanced_accuracy_floor
"""Random output from a linear congruential generator (the random module is not importable)."""

STATE = [12345]


def solve(text):
    STATE[0] = (STATE[0] * 1103515245 + 12345) % 2147483648
    return (STATE[0] >> 16) & 1
