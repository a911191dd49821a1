# expect: static:restricted
"""The hash of the text mod 2: depends on the input, not on its grammar. The static gate refuses hash():
its answers change between Python processes (before that check, balanced_accuracy_floor)."""


def solve(text):
    return hash(text) % 2
