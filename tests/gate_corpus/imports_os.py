# expect: static:import
"""Reaches for the operating system."""
import os


def solve(text):
    return int(os.path.exists('/data'))
