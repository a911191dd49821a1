# expect: static:restricted
"""Random-looking output from the address of a fresh object. The static gate refuses id(): an address
changes between Python processes (before that check, balanced_accuracy_floor)."""

KEEP = []


def solve(text):
    KEEP.append(object())
    return (id(KEEP[-1]) >> 4) % 2
