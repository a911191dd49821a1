"""An export runs its skill under the sandbox's guards (skills_store/export_guards.py).

Second sandbox audit, F01: the sandbox's copy of `re` has no `enum`, so `hasattr(re, 'enum')` told a
skill it ran outside the sandbox; behind that test, `getattr(getattr(getattr(re, 'enum'), 'sys'),
'modules')['os']` reached the real `os`. Such a skill passed the whole gate, and its export, which ran
the stored code as the module's own body, ran `os.system`.
"""
from __future__ import annotations

import ast
import builtins
import subprocess
import sys
from pathlib import Path

import pytest

from engine.records import SkillVersion
from skills_store import export_legacy as legacy
from skills_store.export import (GUARDS_START, code_literal, embedded_libraries, export_format, skill_source,
                                 standalone, wrapper_problem)
from skills_store.export_guards import guard_code
from skills_store.store import sha256

HONEST = (Path(__file__).parent / "skills" / "honest_rules.py").read_text()
SENTENCES = ["The cat sat on the mat.", "Who did you see John?", "She put the book."]


def dormant(marker: Path) -> str:
    """HONEST, plus a payload that stays dormant in the sandbox and writes MARKER anywhere else."""
    return HONEST + (
        "\n\nOUTSIDE = hasattr(re, 'enum')  # False for the sandbox's copy of re\n"
        "if OUTSIDE:\n"
        "    HOST = getattr(getattr(getattr(re, 'enum'), 'sys'), 'modules')['os']\n"
        f"    HOST.system('touch {marker}')\n"
    )


def version(code: str, name: str = "cola-rules", number: int = 1, task: str = "cola") -> SkillVersion:
    return SkillVersion(name, number, task, code, sha256(code), {"validation": {"mcc": 0.2}}, {"accepted": True},
                        (), {}, "2026-12-07T00:00:00", "a test skill")


def run_file(path: Path, *texts: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-I", str(path), *texts], capture_output=True, text=True, timeout=60)


def test_a_dormant_payload_stays_dormant_in_an_export(tmp_path):
    marker = tmp_path / "marker"
    code = dormant(marker)
    # as the module's own body (what an export was before), the payload runs
    plain = tmp_path / "plain.py"
    plain.write_text(code + legacy.MAIN)
    assert run_file(plain, SENTENCES[0]).returncode == 0 and marker.exists()
    marker.unlink()
    exported = tmp_path / "exported.py"
    exported.write_text(standalone(version(code), []))
    done = run_file(exported, *SENTENCES)
    assert done.returncode == 0, done.stderr
    assert not marker.exists()
    # and it answers as the honest skill does
    honest = tmp_path / "honest.py"
    honest.write_text(HONEST + legacy.MAIN)
    assert done.stdout == run_file(honest, *SENTENCES).stdout and len(done.stdout.split()) == 3


def test_a_library_runs_under_the_guards_too(tmp_path):
    """A stored skill the exported skill imports (`from skills import NAME`) was exec'd as plain Python."""
    marker = tmp_path / "marker"
    library = version(dormant(marker), "cola-lib", 3)
    composed = version("from skills import cola_lib\n\n\ndef solve(text):\n    return cola_lib.solve(text)\n",
                       "cola-composed")
    exported = tmp_path / "exported.py"
    exported.write_text(standalone(composed, [library]))
    done = run_file(exported, *SENTENCES)
    assert done.returncode == 0, done.stderr
    assert not marker.exists() and len(done.stdout.split()) == 3
    text = exported.read_text()
    assert embedded_libraries(text) == {"cola_lib": ("cola-lib@3", library.code)}
    assert wrapper_problem(text, embedded_libraries(text)) == ""


def test_the_guards_refuse_in_an_export_what_the_sandbox_refuses(tmp_path):
    """The export's guards are the harness's: the same refusals, outside any container."""
    exported = tmp_path / "exported.py"
    for code, refusal in (
        ("import os\n\ndef solve(text):\n    return 1\n", "ImportError: import of 'os' is not allowed in a skill"),
        ("def solve(text):\n    return open('/etc/passwd').read()\n", "NameError: name 'open' is not defined"),
        ("def solve(text):\n    return text.__class__\n", "attribute '__class__' is not allowed in a skill"),
        ("def solve(text):\n    return getattr(text, '__class__')\n", "attribute '__class__' is not allowed in a skill"),
        ("import re\n\ndef solve(text):\n    return re.enum.sys.modules['os']\n",
         "AttributeError: module 're' has no attribute 'enum'"),
        ("def solve(text):\n    try:\n        globals()\n    except NameError:\n        return 0\n    return 1\n", None),
    ):
        exported.write_text(standalone(version(code), []))
        done = run_file(exported, "a text")
        if refusal is None:  # `globals` is no builtin there, as in the sandbox: the honest answer
            assert done.returncode == 0 and done.stdout == "0\n", done.stderr
        else:
            assert done.returncode != 0 and refusal in done.stderr, done.stderr


def test_the_guards_an_export_carries_are_complete_and_the_harness_own():
    """Every name the copied guards use is defined among them (or a builtin), and they are the harness's code."""
    tree = ast.parse(guard_code())
    defined = set(dir(builtins))
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            defined.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            defined.add(node.name)
        elif isinstance(node, ast.arg):
            defined.add(node.arg)
        elif isinstance(node, ast.alias):
            defined.add(node.asname or node.name)
    used = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    assert used <= defined, used - defined
    from sandbox import harness

    namespace: dict = {}
    exec(compile(tree, "<guards>", "exec"), namespace)
    assert namespace["UNSAFE_BUILTINS"] == harness.UNSAFE_BUILTINS
    assert namespace["HIDDEN_MODULE_ATTRIBUTES"] == harness.HIDDEN_MODULE_ATTRIBUTES
    loaded = namespace["load_code"](HONEST, {}, namespace["ALLOWED_IMPORTS"])
    assert [loaded["solve"](t) for t in SENTENCES] == [harness.load_skill(
        {"code": HONEST, "allowed_imports": list(namespace["ALLOWED_IMPORTS"])}, dict(harness.DEFAULT_LIMITS))(t)
        for t in SENTENCES]


@pytest.mark.parametrize("code", [
    HONEST,
    "def solve(text):\n    return '''x''' + r\"\\d\"\n",
    "def solve(text):\n    return '''a''' + \"\"\"b\"\"\"\n",
    "x = 'ends in a backslash \\\\'\ndef solve(text):\n    return 1\n",
    "s = 'a\\r\\nb\\x00'\r\ndef solve(text):\r\n    return 1\r\n",
    "def solve(text):\n    return 'é ✓ \\u2028'\n",
])
def test_the_skill_string_holds_the_code_exactly(code):
    literal = code_literal(code)
    assert ast.literal_eval(literal) == "\n" + code
    text = standalone(version(code), [])
    assert skill_source(text) == (code.rstrip("\n") + "\n", True)


def test_the_skill_string_is_readable_where_it_can_be():
    assert code_literal(HONEST).startswith("r'''\n\"\"\"Rule skill")
    assert code_literal("a = '''x'''\n").startswith('r"""')


def test_check_refuses_an_export_changed_outside_the_skill(tmp_path):
    text = standalone(version(HONEST), [])
    assert export_format(text) == "guarded" and wrapper_problem(text, embedded_libraries(text)) == ""
    edited_guards = text.replace("return name.startswith('_')", "return name.startswith('__')")
    assert edited_guards != text
    assert "the sandbox's guards it carries are not this skillkiln's" in wrapper_problem(edited_guards, {})
    before = text.replace(GUARDS_START, GUARDS_START + "import os\n")
    assert wrapper_problem(before, {}) != ""
    after = text + "\nimport os\n"
    assert "what follows the skill's code" in wrapper_problem(after, {})
    run_plain = text.replace('solve = _namespace["solve"]', 'solve = _namespace["solve"]\nexec(SKILL)')
    assert "what follows the skill's code" in wrapper_problem(run_plain, {})
    not_a_string = text.replace("SKILL = r'''", "SKILL = str(r'''").replace("'''\n\n\n# ---- skillkiln: loading",
                                                                           "''')\n\n\n# ---- skillkiln: loading")
    assert "is not the `SKILL = ...` string" in wrapper_problem(not_a_string, {})
    # an export written before the guards is still read as one
    old = (Path(__file__).parent / "exports" / "legacy_cola_rules.py").read_text()
    assert export_format(old) == "legacy" and skill_source(old) == (HONEST, True)
    assert wrapper_problem(old, embedded_libraries(old)) == ""
