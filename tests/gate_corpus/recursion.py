# expect: crash
"""Recurses without end."""


def solve(text):
    return solve(text + 'x')
