# expect: crash
"""Reads a file: there is no open() in the sandbox."""


def solve(text):
    return len(open('/etc/passwd').read()) % 2
