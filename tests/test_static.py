import pytest

from sandbox.static import check_source


@pytest.mark.parametrize(
    "code,reason",
    [
        ("def solve(text):\n    return 1\n", ""),
        ("def solve(text:\n", "syntax"),
        ("def predict(text):\n    return 1\n", "no_solve"),
        ("def solve(a, b):\n    return 1\n", "no_solve"),
        ("import os\ndef solve(text):\n    return 1\n", "import"),
        ("from subprocess import run\ndef solve(text):\n    return 1\n", "import"),
        ("def solve(text):\n    return ().__class__.__mro__[1].__subclasses__()\n", "restricted"),
        ("def solve(text):\n    return eval('1')\n", "restricted"),
        ("def solve(text):\n    _x = 1\n    return _x\n", "restricted"),
        ("X = '" + "a" * 30_000 + "'\ndef solve(text):\n    return 1\n", "too_large"),
    ],
)
def test_static_gate_reasons(code, reason):
    result = check_source(code)
    assert result.ok == (reason == "")
    assert result.reason == reason


def test_allowed_imports_pass():
    code = "import re, math\nfrom collections import Counter\ndef solve(text):\n    return len(Counter(re.findall('a', text))) % 2\n"
    assert check_source(code).ok
