# expect: bad_output
"""Falls off the end on most inputs."""


def solve(text):
    if text.endswith('?'):
        return 0
