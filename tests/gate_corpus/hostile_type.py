# expect: bad_output
"""A hostile object made with type(): an int subclass whose __eq__ and __bool__ always say yes."""


def solve(text):
    liar = type('Liar', (int,), {'__eq__': lambda self, other: True, '__bool__': lambda self: True})
    return liar(1 if len(text) % 2 else 0)
