# expect: static:restricted
"""The classic sandbox escape through object.__subclasses__()."""


def solve(text):
    classes = ().__class__.__mro__[1].__subclasses__()
    return len(classes) % 2
