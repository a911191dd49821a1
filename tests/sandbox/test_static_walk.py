"""The static gate's attribute-walk rule (sandbox/static.py): what reaches past an allowed module
is rejected before execution; honest uses of the same modules pass."""
from __future__ import annotations

import pytest

from sandbox.static import check_source

SOLVE = "\n\ndef solve(text):\n    return {}\n"


@pytest.mark.parametrize("head, body, found", [
    ("import re", "re.enum.sys.modules['os'].getuid()", "from the module re into the module enum"),
    ("import re as regex", "regex.functools.reduce", "from the module re into the module functools"),
    ("import re", "re.copyreg", "into the module copyreg"),
    ("from re import enum", "enum.sys", "enum is another module"),
    ("import string", "string.Formatter().get_field('0.x', [1], {})", "'Formatter'"),
    ("from string import Formatter", "Formatter", "Formatter does a real getattr"),
    ("import functools", "functools.update_wrapper(solve, len)", "'update_wrapper'"),
    ("import functools", "functools.wraps(len)", "'wraps'"),
    ("from functools import singledispatch", "singledispatch", "singledispatch does a real getattr"),
    ("import functools\nF = functools", "F.singledispatchmethod", "'singledispatchmethod'"),  # any name bound to it
])
def test_walks_out_of_an_allowed_module_are_rejected(head, body, found):
    verdict = check_source(head + SOLVE.format(body))
    assert (verdict.ok, verdict.reason) == (False, "restricted") and found in verdict.detail, verdict


@pytest.mark.parametrize("head, body", [
    ("import re", "re.IGNORECASE | len(re.findall(r'a', text))"),
    ("import collections.abc", "isinstance(text, collections.abc.Sized)"),
    ("import collections.abc as cabc", "isinstance(text, cabc.Sized)"),
    ("from collections import abc, Counter", "len(Counter(text)) + isinstance(text, abc.Sized)"),
    ("import string", "sum(c in string.ascii_letters for c in text)"),
    ("import functools", "functools.reduce(lambda a, b: a + b, [1, 2], 0) + len(functools.partial(len)(text))"),
    ("import math, unicodedata, itertools", "math.floor(len(list(itertools.islice(text, 3)))) + len(unicodedata.name('a'))"),
])
def test_honest_uses_of_the_same_modules_pass(head, body):
    verdict = check_source(head + SOLVE.format(body))
    assert verdict.ok, verdict
