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


@pytest.mark.parametrize("code,refused", [
    ("def solve(text):\n    try:\n        globals()\n    except NameError:\n        return 1\n    return 0\n", "'globals'"),
    ("CHECK = open\ndef solve(text):\n    return 1\n", "'open'"),
    ("def solve(text, f=vars):\n    return 1\n", "'vars'"),  # a default is evaluated in the enclosing scope
    ("def solve(text):\n    return hash(text) % 2\n", "hash"),
    ("def solve(text):\n    return id(text) % 2\n", "id"),
    ("def solve(text):\n    g = lambda: input\n    return 1\n", "'input'"),  # the lambda binds no input
    # the skill's own names: a parameter, a local, a nested function's own local
    ("def solve(input):\n    return len(input) % 2\n", ""),
    ("def solve(text):\n    open = text.split()\n    return len(open) % 2\n", ""),
    ("def solve(text):\n    def inner(id):\n        return id * 2\n    return inner(len(text)) % 2\n", ""),
    ("def solve(text):\n    return sum(1 for hash in text.split()) % 2\n", ""),
    ("X = 1\ndef open_words(text):\n    return text\ndef solve(text):\n    return len(open_words(text)) % 2\n", ""),
])
def test_builtins_the_sandbox_leaves_out_are_refused_by_name(code, refused):
    """Gate audit: `try: globals() except NameError:` told a skill it was in the sandbox; the export then ran the
    real builtins. hash() and id() answer otherwise in every process, so a skill built on them is not portable."""
    result = check_source(code)
    if refused:
        assert result.reason == "restricted" and refused in result.detail, result
    else:
        assert result.ok, result


@pytest.mark.parametrize("table,says", [
    # fingerprints under 65536 (the big-integer bound's floor), as a set of plain integers
    ("FLIP = {" + ", ".join(str(1000 + 97 * i) for i in range(300)) + "}", "distinct integer literals"),
    # the same table as letters: base 26, and one character of another script an entry
    ("NOTES = '" + "".join(chr(97 + (i * 7) % 26) for i in range(700)) + "'", "runs of letters"),
    ("NOTES = '" + "".join(chr(0x4E00 + (i * 131) % 20000) for i in range(700)) + "'", "runs of letters"),
])
def test_fingerprint_tables_in_small_integers_or_letters_are_opaque(table, says):
    """Gate audit: tables of validation and test fingerprints as integers under 65536, base-26 letters or one Unicode
    character an entry passed static:opaque, and a table of every split passes the gap test too."""
    result = check_source(table + "\n\ndef solve(text):\n    return 1\n")
    assert result.reason == "opaque" and says in result.detail, result


def test_word_lists_and_weights_are_not_opaque():
    words = " ".join(f"word{i} w{i}rd" for i in range(300))
    weights = "W = {" + ", ".join(f"'w{i}': {i % 61 - 30}" for i in range(700)) + "}"
    code = f"WORDS = {words!r}.split()\n{weights}\nTHRESHOLD = 1500\n\ndef solve(text):\n    return 1\n"
    assert check_source(code).ok
