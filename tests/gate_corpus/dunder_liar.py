# expect: static:restricted
"""A hostile object whose __eq__ and __bool__ lie: dunder names are refused before any run."""


class Liar:
    def __eq__(self, other):
        return True

    def __bool__(self):
        return True


def solve(text):
    return Liar()
