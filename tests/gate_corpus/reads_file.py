# expect: static:restricted
"""Reads a file: there is no open() in the sandbox, and the static gate refuses the name (before that
check, crash)."""


def solve(text):
    return len(open('/etc/passwd').read()) % 2
