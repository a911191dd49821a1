# expect: bad_output
"""A subclass of int: only exact built-in types pass the harness."""


class Label(int):
    pass


def solve(text):
    return Label(len(text) % 2)
