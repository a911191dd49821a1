# expect: bad_output
"""A hostile object made with type(): an int subclass, returned as a label. (One that defines special methods,
such as a lying __eq__ or __bool__, is refused before it is made.)"""


def solve(text):
    liar = type('Liar', (int,), {'describe': lambda self: 'yes'})
    return liar(1 if len(text) % 2 else 0)
