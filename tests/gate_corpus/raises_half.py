# expect: crash
"""Raises on half the inputs."""


def solve(text):
    if len(text) % 2:
        raise ValueError('odd')
    return 1
