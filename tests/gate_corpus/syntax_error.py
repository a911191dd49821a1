# expect: static:syntax
"""Unparseable: a missing colon, the research log's most common failure."""


def solve(text)
    return 1
