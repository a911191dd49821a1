# expect: crash
"""Allocates far past the memory limit."""


def solve(text):
    block = [0] * (10**10)
    return len(block) % 2
