# expect: balanced_accuracy_floor
"""Random-looking output from the address of a fresh object."""

KEEP = []


def solve(text):
    KEEP.append(object())
    return (id(KEEP[-1]) >> 4) % 2
