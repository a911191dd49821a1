# expect: bad_output
"""A hostile object made with type(): an int subclass whose str() and repr() lie. (One that redefines what int
defines, such as __eq__ or __bool__, is refused as it is made.)"""


def solve(text):
    liar = type('Liar', (int,), {'__str__': lambda self: '1', '__repr__': lambda self: '1'})
    return liar(1 if len(text) % 2 else 0)
