from pathlib import Path

import pytest

from sandbox.static import check_source


@pytest.mark.parametrize(
    "code,reason",
    [
        ("def solve(text):\n    return 1\n", ""),
        ("def solve(text:\n", "syntax"),
        ("def predict(text):\n    return 1\n", "no_solve"),
        ("def solve(a, b):\n    return 1\n", "no_solve"),
        ("def solve():\n    return 1\n", "no_solve"),
        ("def solve(*, text):\n    return 1\n", "no_solve"),
        ("def solve(*args):\n    return len(args[0]) % 2\n", ""),  # called as solve(text), it takes one
        ("def solve(text='', *rest):\n    return len(text) % 2\n", ""),
        ("import os\ndef solve(text):\n    return 1\n", "import"),
        ("from subprocess import run\ndef solve(text):\n    return 1\n", "import"),
        ("def solve(text):\n    return ().__class__.__mro__[1].__subclasses__()\n", "restricted"),
        ("def solve(text):\n    return eval('1')\n", "restricted"),
        ("def solve(text):\n    _x = 1\n    return _x\n", "restricted"),
        ("X = '" + "a" * 30_000 + "'\ndef solve(text):\n    return 1\n", "too_large"),
        # under the size cap, yet too deep to build a syntax tree of, or for RestrictedPython's compiler
        ("def solve(text):\n    return " + "-" * 5000 + "1\n", "syntax"),
        ("def solve(text):\n    return " + "+".join(["1"] * 4000) + "\n", "syntax"),
        ("def solve(text):\n    return " + "not " * 600 + "1\n", "restricted"),
        ("def solve(text):\n    return 1\x00\n", "syntax"),
    ],
)
def test_static_gate_reasons(code, reason):
    result = check_source(code)
    assert result.ok == (reason == "")
    assert result.reason == reason


def test_an_unnamed_stored_skill_import_says_how_to_name_it():
    result = check_source("from skills import cola_rules\ndef solve(text):\n    return cola_rules.solve(text)\n")
    assert result.reason == "import" and "--library" in result.detail
    assert "--library" not in check_source("import os\ndef solve(text):\n    return 1\n").detail


def test_allowed_imports_pass():
    code = "import re, math\nfrom collections import Counter\ndef solve(text):\n    return len(Counter(re.findall('a', text))) % 2\n"
    assert check_source(code).ok


def test_a_library_import_scan_of_too_deep_code_finds_nothing_and_does_not_raise():
    from engine.libraries import imported_names

    assert imported_names("from skills import a\nX = " + "-" * 5000 + "1\n") == set()


def test_parsing_from_many_threads_at_once_never_corrupts_the_ast_counter():
    """CPython 3.11 shares one AST recursion counter between threads (python/cpython#106905): with
    the GIL changing hands mid-build (finalisers of cyclic garbage, a tiny switch interval), plain
    ast.parse from four threads fails within a few hundred parses here. Through parse() it never does."""
    import sys
    import threading

    from sandbox.static import parse

    code = (Path(__file__).parent / "skills" / "honest_rules.py").read_text()
    errors: list[str] = []

    class Cycle:
        def __del__(self):
            [i for i in range(50)]

    def work() -> None:
        for _ in range(300):
            for _ in range(20):
                a, b = Cycle(), Cycle()
                a.other, b.other = b, a
            try:
                parse(code)
            except SystemError as exc:
                errors.append(str(exc))
                return

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    assert errors == []


def test_encoded_tables_are_refused_and_readable_rules_are_not():
    import base64
    import random

    rng = random.Random(7)
    packed = base64.b64encode(bytes(rng.randrange(256) for _ in range(3000))).decode()  # 2,849 fingerprints' worth
    lines = "\n".join(f"    {packed[i:i + 96]!r}" for i in range(0, len(packed), 96))
    table = f"TABLE = (\n{lines}\n)\n\n\ndef solve(text):\n    return 0 if str(len(text)) in TABLE else 1\n"
    result = check_source(table)
    assert (result.ok, result.reason) == (False, "opaque") and "base64 or hex" in result.detail
    raw = f"TABLE = {bytes(rng.randrange(256) for _ in range(2500))!r}\n\n\ndef solve(text):\n    return len(text) % 2\n"
    assert check_source(raw).reason == "opaque"
    ints = ", ".join(str(rng.randrange(1 << 20, 1 << 24)) for _ in range(100))
    big = f"SEEN = {{{ints}}}\n\n\ndef solve(text):\n    return 0 if sum(map(ord, text)) * 7919 in SEEN else 1\n"
    assert check_source(big).reason == "opaque"
    # long patterns, long words, many small weights and a few big numbers are rules, not data
    words = ", ".join(f"'{w}': {i % 5 - 2}" for i, w in enumerate(
        ["internationalization", "counterrevolutionaries", "uncharacteristically"] * 200))
    honest = (f"import re\n\nWEIGHTS = {{{words}}}\nPATTERN = re.compile(r'\\b(?:himself|herself|themselves)\\b')\n"
              "LIMITS = (100000, 250000, 1000000)\n\n\ndef solve(text):\n"
              "    score = sum(WEIGHTS.get(w, 0) for w in text.lower().split())\n"
              "    return 0 if score > 1 or PATTERN.search(text) else 1\n")
    assert check_source(honest).ok, check_source(honest)
