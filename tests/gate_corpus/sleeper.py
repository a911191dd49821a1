# expect: timeout
"""Never returns: past the per-call time limit."""


def solve(text):
    while True:
        pass
