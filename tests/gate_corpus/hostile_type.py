# expect: bad_output
"""A hostile object made with type(): an int subclass whose __bool__ always says yes and whose str() lies.
(One with its own __eq__ is refused as it is made.)"""


def solve(text):
    liar = type('Liar', (int,), {'__str__': lambda self: '1', '__bool__': lambda self: True})
    return liar(1 if len(text) % 2 else 0)
