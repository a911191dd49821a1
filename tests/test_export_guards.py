"""An export runs its skill under the sandbox's guards (skills_store/export_guards.py).

Second sandbox audit, F01: the sandbox's copy of `re` has no `enum`, so `hasattr(re, 'enum')` told a
skill it ran outside the sandbox; behind that test, `getattr(getattr(getattr(re, 'enum'), 'sys'),
'modules')['os']` reached the real `os`. Such a skill passed the whole gate, and its export, which ran
the stored code as the module's own body, ran `os.system`.
"""
from __future__ import annotations

import ast
import builtins
import json
import shutil
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
        ("def solve(text):\n    return getattr(text, '__dict__')\n", "attribute '__dict__' is not allowed in a skill"),
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
        elif isinstance(node, ast.ExceptHandler) and node.name:
            defined.add(node.name)
        elif isinstance(node, ast.alias):
            defined.add(node.asname or node.name.split(".")[0])  # `import importlib.util` binds importlib
    used = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    assert used <= defined, used - defined
    from sandbox import harness

    namespace: dict = {}
    exec(compile(tree, "<guards>", "exec"), namespace)
    assert namespace["UNSAFE_BUILTINS"] == harness.UNSAFE_BUILTINS
    assert namespace["HIDDEN_MODULE_ATTRIBUTES"] == harness.HIDDEN_MODULE_ATTRIBUTES
    loaded = namespace["load_code"](HONEST, {}, namespace["ALLOWED_IMPORTS"])
    try:  # the harness's own loader starts its clock (a periodic SIGALRM): stopped again here
        solve = harness.load_skill({"code": HONEST, "allowed_imports": list(namespace["ALLOWED_IMPORTS"])},
                                   dict(harness.DEFAULT_LIMITS))
    finally:
        harness.Clock.stop()
    assert [loaded["solve"](t) for t in SENTENCES] == [solve(t) for t in SENTENCES]


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


# ---------------------------------------------------------------- the export audit's findings (guarded exports)


def test_a_description_cannot_end_the_docstring(tmp_path):
    """F1: the header docstring held the description as it was, and a description is made from the skill's own
    docstring and strings: a \"\"\" in it ended the docstring, and the rest ran as code in the export."""
    marker = tmp_path / "marker"
    payload = f'x"""; import os; os.system("touch {marker}"); """ \\ end'
    v = SkillVersion("cola-rules", 1, "file:/tmp/a\"\"\"b.csv", HONEST, sha256(HONEST), {}, {}, (), {}, "now", payload)
    exported = tmp_path / "exported.py"
    exported.write_text(standalone(v, []))
    done = run_file(exported, *SENTENCES)
    assert done.returncode == 0 and len(done.stdout.split()) == 3, done.stderr
    assert not marker.exists()
    docstring = ast.get_docstring(ast.parse(exported.read_text()), clean=False)
    assert docstring.startswith(f"cola-rules@1: {payload}\n") and 'Task file:/tmp/a"""b.csv;' in docstring
    # an honest skill that looks for \"\"\" in its texts (its description quotes it) exports and runs
    looks = 'def solve(text):\n    return 1 if \'"""\' in text else 0\n'
    exported.write_text(standalone(version(looks), []))
    assert run_file(exported, 'a """ b', "none").stdout.split() == ["1", "0"]


def test_check_refuses_an_export_with_a_coding_comment(tmp_path):
    """F2: `skills check` reads a file as UTF-8, python3 honours a coding comment on its first two lines: under
    raw_unicode_escape, a comment in the judged code ended the SKILL string for python3 alone."""
    text = standalone(version(HONEST), [])
    crafted = "# coding: raw_unicode_escape\n" + text
    assert "does not start with the docstring" in wrapper_problem(crafted, embedded_libraries(crafted))
    assert wrapper_problem(text, embedded_libraries(text)) == ""


def test_what_a_skill_prints_stays_out_of_the_answers(tmp_path):
    """F3: the sandbox sends a skill's stdout to /dev/null, an export printed it among its answers."""
    exported = tmp_path / "exported.py"
    exported.write_text(standalone(version("def solve(text):\n    print(0, end='\\n\\x1b[8m')\n    return 1\n"), []))
    done = run_file(exported, "a", "b")
    assert done.returncode == 0 and done.stdout == "1\n1\n", done.stdout


def imported(code: str, host: str, folder: Path) -> tuple[list, str]:
    """What HOST, a program that imports CODE's export, prints as JSON, with its stderr (a fresh `python -I`)."""
    (folder / "exported.py").write_text(standalone(version(code), []))
    (folder / "host.py").write_text(host)
    done = subprocess.run([sys.executable, "-I", str(folder / "host.py"), str(folder)], capture_output=True,
                          text=True, timeout=120)
    return json.loads(done.stdout), done.stderr


HOST = """
import collections.abc
import json
import sys

sys.path.insert(0, sys.argv[1])
import exported

before = collections.abc.Mapping.get
try:
    exported.solve("a text")
    outcome = "ran"
except (AttributeError, TypeError) as exc:
    outcome = str(exc)
print(json.dumps([outcome, collections.abc.Mapping.get is before]))
"""


HOOKS = {  # the hook, and how its refusal begins
    "plain": ("import collections.abc\n\n\ndef solve(text):\n"
              "    collections.abc.Mapping.get = lambda self, key, default=None: 'HOOKED'\n    return 1\n",
              "a skill may set attributes only on its own"),
    # a second export audit: a metaclass's __prepare__ filled the class body's namespace with its own guard;
    # now refused where the metaclass is made, before the class body's guard (still fetched by a lambda)
    "in a class body": ("import collections.abc\n\n\ndef solve(text):\n"
                        "    hook = '__' + 'prepare' + '__'\n"  # built: the string '__prepare__' is refused
                        "    meta = type('M', (type,), {hook: lambda n, b, **k: {'__skillkiln_write__': lambda o: o}})\n"
                        "    class Hook(meta('Base', (), {})):\n"
                        "        collections.abc.Mapping.get = lambda self, key, default=None: 'HOOKED'\n    return 1\n",
                        "'__prepare__' is not allowed in a skill"),
}


@pytest.mark.parametrize("hook", sorted(HOOKS))
def test_an_imported_export_cannot_hook_what_its_program_shares(hook, tmp_path):
    """F4: a skill set collections.abc.Mapping.get, and a program that imported its export ran the hook on its
    own os.environ (read a secret, planted a bash function). A skill sets attributes only on what it made."""
    code, refusal = HOOKS[hook]
    (outcome, unchanged), stderr = imported(code, HOST, tmp_path)
    assert unchanged and outcome.startswith(refusal), (outcome, stderr)


CACHES_HOST = """
import collections.abc
import json
import re
import sys

sys.path.insert(0, sys.argv[1])
import exported

try:
    outcome = repr(exported.solve("a text"))
except (AttributeError, TypeError) as exc:
    outcome = str(exc)
print(json.dumps([outcome, {
    "isinstance(5, Iterable)": isinstance(5, collections.abc.Iterable),
    "isinstance('a', Mapping)": isinstance("a", collections.abc.Mapping),
    "re.match('abc', 'ABC')": bool(re.match("abc", "ABC")),
    "a template's sub()": re.compile("(a)").sub(r"\\1", "a"),
    "a template's re.sub()": re.sub("(a)(b)", r"\\1", "ab"),
    "re.compile('abc', re.I | re.M) matches 'ABC'": bool(re.compile("abc", re.I | re.M).match("ABC")),
    "re.escape('a.b')": re.escape("a.b"),
    "Counter has an __orig_class__": hasattr(collections.Counter, "__orig_class__"),
    "the type of (re.I | re.M).value": type((re.I | re.M).value).__name__,
}]))
"""
CACHES_UNTOUCHED = {"isinstance(5, Iterable)": False, "isinstance('a', Mapping)": False,
                    "re.match('abc', 'ABC')": False, "a template's sub()": "a", "a template's re.sub()": "a",
                    "re.compile('abc', re.I | re.M) matches 'ABC'": True, "re.escape('a.b')": "a\\.b",
                    "Counter has an __orig_class__": False, "the type of (re.I | re.M).value": "int"}
# a third export audit: caches the whole interpreter shares, found with keys whose __eq__ and __hash__ lie
CACHE_ATTACKS = {
    # a second export audit, left open then: a subclass of Mapping with a __subclasshook__ whose name is built at run
    # time (no check of the source sees it) made str a Mapping; every class a skill makes by a call is now checked
    "a hook named at run time, in type()": (
        "import collections.abc\n\n\ndef solve(text):\n    hook = '__sub' + 'classhook__'\n"
        "    type('Evil', (collections.abc.Mapping,), {hook: classmethod(lambda cls, c: True)})\n    return 1\n",
        "'__subclasshook__' is not allowed in a skill"),
    "a hook named at run time, in a metaclass's call": (
        "import collections.abc\n\n\ndef solve(text):\n    hook = '__sub' + 'classhook__'\n"
        "    type(collections.abc.Mapping)('Evil', (collections.abc.Mapping,), {hook: classmethod(lambda cls, c: True)})\n"
        "    return 1\n",
        "'__subclasshook__' is not allowed in a skill"),
    "the ABCs' caches": (  # a metaclass that makes its class int's twin: isinstance(5, Iterable) said yes
        "import collections.abc\n\n\ndef solve(text):\n"
        "    meta = type('Meta', (type,), {'__eq__': lambda cls, other: True, '__hash__': lambda cls: hash(int)})\n"
        "    issubclass(meta('Evil', (), {'__iter__': lambda self: iter(())}), collections.abc.Iterable)\n"
        "    return 1\n",
        "a skill may not make a metaclass with its own __eq__"),
    "re's pattern cache": (  # a flags object filed IGNORECASE under the program's 'abc'
        "import re\n\n\ndef solve(text):\n"
        "    flags = type('Flags', (), {'__eq__': lambda self, other: True, '__hash__': lambda self: 0,\n"
        "                               '__and__': lambda self, other: 2 & other, '__rand__': lambda self, other: 2 & other,\n"
        "                               '__or__': lambda self, other: 2 | other, '__ror__': lambda self, other: 2 | other})\n"
        "    re.compile('abc', flags())\n    return 1\n",
        "1"),  # taken, by the skill's own instance of re (own_re): its cache, not the program's
    "re's template cache": (  # a str whose __eq__ and __hash__ are r'\\1's: the program's sub() used its template
        "import re\n\n\ndef solve(text):\n"
        "    liar = type('Liar', (str,), {'__eq__': lambda self, other: True, '__hash__': lambda self: hash(r'\\1')})\n"
        "    re.compile('(a)').sub(liar(r'\\1\\1'), 'a')\n    return 1\n",
        "a skill may not make a subclass of str with its own __eq__"),
    # a second round: values equal to the program's own whose other methods lie to the code that reads them
    "re's template parser": (  # a str equal to r'\\1' read through its __getitem__: another template under r'\\1'
        "import re\n\n\ndef solve(text):\n    payload = 'pwned:\\\\2'\n"
        "    repl = type('Repl', (str,), {'__getitem__': lambda self, i: payload[i]})\n"
        "    re.compile('(a)(b)').sub(repl('\\\\1'), 'ab')\n    return 1\n",
        "a skill may not make a subclass of str with its own __getitem__"),
    "re's flag members": (  # an int equal to 10 whose | and & lie became the value of re.I | re.M
        "import re\n\n\ndef solve(text):\n"
        "    lying = type('Lying', (int,), {'__and__': lambda self, other: 8 & int(other),\n"
        "                                   '__rand__': lambda self, other: 8 & int(other),\n"
        "                                   '__or__': lambda self, other: 8 | int(other),\n"
        "                                   '__ror__': lambda self, other: lying(10)})\n"
        "    re.IGNORECASE | lying(8)\n    return 1\n",
        "a skill may not make a subclass of int with its own __and__"),
    "RegexFlag's members": (  # RegexFlag(x) kept a skill's int subclass as the value of re.I | re.M (pickling failed)
        "import re\n\n\ndef solve(text):\n"
        "    bits = type('Bits', (int,), {'label': lambda self: 'mine'})\n"
        "    re.RegexFlag(bits(10))\n    return 1\n",
        "1"),  # taken, by the skill's own RegexFlag
    "RegexFlag, through string.Template.flags": (  # type() of the shared re.IGNORECASE, which string's copy held
        "import string\n\n\ndef solve(text):\n"
        "    bits = type('Bits', (int,), {'label': lambda self: 'mine'})\n"
        "    type(string.Template.flags)(bits(10))\n    return 1\n",
        "1"),  # taken, by the skill's own RegexFlag (an own_re red-team)
    "RegexFlag, through super() past string.Template": (  # the real Template was the skill's Template's base
        "import string\n\n\ndef solve(text):\n"
        "    shared = super(string.Template, string.Template).flags\n"
        "    bits = type('Bits', (int,), {'label': lambda self: 'mine'})\n"
        "    type(shared)(bits(10))\n    return 1\n",
        "'super' object has no attribute 'flags'"),  # a class of the copy's own (an own_re red-team, second round)
    "string.Template's pattern": (  # Template compiles a subclass's pattern with the real re and its flags
        "import string\n\n\ndef solve(text):\n"
        "    flags = type('Flags', (), {'__or__': lambda self, other: self, '__ror__': lambda self, other: self,\n"
        "                               '__and__': lambda self, other: 2 & other, '__rand__': lambda self, other: 2 & other,\n"
        "                               '__index__': lambda self: 2, '__eq__': lambda self, other: True,\n"
        "                               '__hash__': lambda self: 0})\n"
        "    type('Custom', (string.Template,), {'pattern': 'abc', 'flags': flags()})\n    return 1\n",
        "re's flags must be an int in a skill, not Flags"),
    # a third round: a class refused only once made had been handed to the skill already (ABCMeta reads a descriptor)
    "a class kept before its refusal": (
        "import collections.abc\nimport re\n\nkept = []\n\n\n"
        "def peek(self, obj, owner):\n    if obj is None:\n        kept.append(owner)\n"
        "    return lambda: 1\n\n\nPeek = type('Peek', (), {'__get__': peek})\n\n\n"
        "def solve(text):\n    payload = 'pwned:\\\\2'\n    try:\n"
        "        type('Repl', (str, collections.abc.Sized), {'__len__': Peek(), '__getitem__': lambda s, i: payload[i]})\n"
        "    except TypeError as exc:\n        refusal = str(exc)\n"
        "    if not kept:\n        return refusal\n"
        "    re.sub('(a)(b)', kept[-1]('\\\\1'), 'ab')\n    return 1\n",
        # the repr of the str solve returns: refused before it is made (a fourth round: no base from the library)
        '"a skill\'s subclass of str may not also inherit from collections.abc.Sized'),
    # a fourth round: special methods inherited from a class of the library put before str
    "a library mixin": (
        "import collections.abc\nimport re\n\n\ndef solve(text):\n"
        "    repl = type('Repl', (collections.abc.Sequence, str), {})\n"
        "    re.sub('(a)(b)', repl('\\\\1'), 'ab')\n    return 1\n",
        "a skill's subclass of str may not also inherit from collections.abc.Sequence"),
    # a fifth round: re.escape hands re's own table to the pattern's translate(); an ABC walks __subclasses__()
    "re's escape table": (
        "import re\n\n\nclass Word(str):\n    pass\n\n\ndef translate(self, table):\n"
        "    table[ord('.')] = '.'\n    return 'x'\n\n\n"
        "def solve(text):\n    Word.translate = translate\n    re.escape(Word('x'))\n    return 1\n",
        "a skill may not set 'translate' on its subclass of str Word"),
    "an ABC's subclasses": (
        "import collections.abc\n\n\ndef solve(text):\n"
        "    type('Table', (collections.abc.Mapping,), {'__sub' + 'classes__': staticmethod(lambda: [int, str])})\n"
        "    return 1\n",
        "'__subclasses__' is not allowed in a skill"),
    # a sixth round: isinstance() reads __class__, which a plain object may answer
    "a class that says it is str": (
        "import collections\nimport re\n\nPAYLOAD = 'pwned:\\\\2'\n\n\ndef solve(text):\n"
        "    repl = type('Repl', (collections.UserString,), {'__cla' + 'ss__': property(lambda self: str),\n"
        "                                                    '__getitem__': lambda self, i: PAYLOAD[i]})\n"
        "    re.sub('(a)(b)', repl('\\\\1'), 'ab')\n    return 1\n",
        "'__class__' is not allowed in a skill"),
    # a seventh round: a slot is a descriptor of its name in the class's own dict
    "a slot named __class__": (
        "import collections\nimport re\n\nPAYLOAD = 'pwned:\\\\2'\n\n\ndef lookup(self, name):\n"
        "    if name == '__cla' + 'ss__':\n        return str\n    raise AttributeError(name)\n\n\n"
        "def solve(text):\n    repl = type('Repl', (collections.UserString,), {'__slots__': ('__cla' + 'ss__',),\n"
        "                '__getattr__': lookup, '__getitem__': lambda self, i: PAYLOAD[i]})\n"
        "    re.sub('(a)(b)', repl('\\\\1'), 'ab')\n    return 1\n",
        "a slot named '__class__' is not allowed in a skill"),
    # an eighth round: subscripting a list subclass and calling the alias sets __orig_class__ on what __new__ returns
    "a __new__ that returns a library class": (
        "import collections\n\n\ndef shared(cls, *args):\n    return collections.Counter\n\n\n"
        "def solve(text):\n    evil = type('Evil', (list,), {'__ne' + 'w__': shared})\n    evil[str]()\n    return 1\n",
        "'__new__' is not allowed in a skill"),
    "a collector's finaliser": (  # put a hook into type()'s namespace after the check had read it
        "import collections.abc\n\nHOOK = '__sub' + 'classhook__'\nCURRENT = [{}]\n\n\n"
        "def finalise(self):\n    CURRENT[0][HOOK] = classmethod(lambda cls, c: True)\n\n\n"
        "def solve(text):\n    litter = type('Litter', (), {'__del__': finalise, '__module__': 'skill'})\n    keep = []\n"
        "    for i in range(20000):\n        namespace = {'n': i}\n        CURRENT[0] = namespace\n"
        "        item = litter()\n        item.me = item\n        item = None\n"
        "        keep.append([[] for _ in range(i % 37)])\n"
        "        try:\n            made = type('Evil', (collections.abc.Mapping,), namespace)\n"
        "        except TypeError:\n            continue\n"
        "        if issubclass(str, made):\n            return i\n    return -1\n",
        "-1"),
}


@pytest.mark.parametrize("attack", sorted(CACHE_ATTACKS))
def test_an_imported_export_cannot_poison_what_its_program_caches(attack, tmp_path):
    """What a skill leaves in a cache its program shares (the ABCs', re's) is found by the program's own keys when
    the skill's keys lie: such keys are refused as they are made, and a skill's re is an instance of its own."""
    code, refusal = CACHE_ATTACKS[attack]
    (outcome, seen), stderr = imported(code, CACHES_HOST, tmp_path)
    assert seen == CACHES_UNTOUCHED and outcome.startswith(refusal), (outcome, seen, stderr)


RE_AS_USUAL = (  # what two own_re red-teams found broken: re.Scanner, re.error, re.DEBUG's printing, Template
    "import re\nimport string\n\nPAIR = re.compile(r'(\\w+) (\\w+)')\n\n\n"
    "class Loose(string.Template):\n    flags = re.I | re.X\n    idpattern = r'[a-z] [a-z0-9]*'\n\n\n"
    "def solve(text):\n"
    "    re.compile(r'\\d+' if text[:1] != '(' else text, re.DEBUG)  # '(' raises re.error, to the program\n"
    "    tokens = re.Scanner([(r'\\w+', lambda scanner, token: token), (r'\\s+', None)])\n"
    "    if Loose('$AB1').substitute(AB1='x') != 'x' or string.Template.flags is not re.IGNORECASE:\n"
    "        return -1\n"
    "    try:\n        PAIR.sub(r'\\3', text)\n    except re.error:\n"
    "        return len(tokens.scan(text)[0])\n    return 0\n")
RE_HOST = """
import json
import pickle
import re
import sys

sys.path.insert(0, sys.argv[1])
before = dict(sys.modules)
import exported

sys.modules.clear()  # as a test fixture may put them back
sys.modules.update(before)
try:
    exported.solve("(")
except Exception as exc:
    caught = [isinstance(exc, re.error), type(pickle.loads(pickle.dumps(exc))) is re.error]
print(json.dumps([exported.solve("a b c"), caught]))
"""


def test_an_exported_skill_uses_re_as_plain_python_does(tmp_path):
    """A skill's re is an instance of its own (own_re), and still works as re does: re.Scanner imports from its
    package when called (also after the program put its sys.modules back as they were), Pattern.sub's template
    errors are the shared re's (raised from C) and so are its own, which the program catches and pickles, re.DEBUG
    prints nothing among an export's answers, and string.Template and its subclasses work with the skill's flags."""
    exported = tmp_path / "exported.py"
    exported.write_text(standalone(version(RE_AS_USUAL), []))
    done = run_file(exported, "a b c", "a b c d")
    assert done.returncode == 0 and done.stdout == "3\n4\n", (done.stdout, done.stderr)
    (answer, caught), stderr = imported(RE_AS_USUAL, RE_HOST, tmp_path)
    assert answer == 3 and caught == [True, True], (answer, caught, stderr)


# a skill whose first `import re` runs in solve(), so each thread's first call may make the copy
CAT_SKILL = "def solve(text):\n    import re\n    return 1 if re.search(r'\\bcat\\b', text) else 0\n"
THREADS_HOST = """
import json
import sys
import threading

sys.path.insert(0, sys.argv[1])
import exported

sys.setswitchinterval(1e-6)  # threads change often: each one's first `import re` makes a copy at the same time
start = threading.Barrier(6)
answers = []


def call():
    start.wait()
    try:
        answers.append(exported.solve("the cat sat"))
    except Exception as exc:
        answers.append(repr(exc))


threads = [threading.Thread(target=call) for _ in range(6)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(json.dumps([answers, [name for name in sys.modules if name.startswith("_skillkiln")]]))
"""


def test_an_exported_skill_called_from_threads_at_once(tmp_path):
    """Threads whose first calls made the skill's copy of re at the same time broke each other's (NameError), and
    left instances in sys.modules (an own_re red-team, second round): each load has a name of its own and leaves
    sys.modules as it found it, and the first copy stored is every thread's."""
    (answers, left), stderr = imported(CAT_SKILL, THREADS_HOST, tmp_path)
    assert answers == [1] * 6 and left == [], (answers, left, stderr)


RACE_HOST = """
import copyreg
import importlib.util
import json
import re
import sys
import threading

sys.setswitchinterval(1e-6)  # threads change often
errors = []


def load(name):  # the same export under another name: a module of its own, with copies of its own
    spec = importlib.util.spec_from_file_location(name, sys.argv[1] + "/exported.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def call(start, module):
    start.wait()
    try:
        assert module.solve("the cat sat") == 1
    except Exception as exc:
        errors.append(repr(exc))


for pair in range(64):  # two exports whose first `import re` run at once
    start = threading.Barrier(2)
    threads = [threading.Thread(target=call, args=(start, load(f"exported_{pair}_{side}"))) for side in "ab"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
left = [name for name in sys.modules if name.startswith("_skillkiln")]
print(json.dumps([errors, left, copyreg.dispatch_table[re.Pattern] is re._pickle]))
"""


def test_two_exports_make_their_re_at_once(tmp_path):
    """Two exports whose skills' first `import re` ran in two threads at once broke each other's instance (NameError,
    KeyError, instances left in sys.modules; 6 of 24 runs on 3.11, an own_re red-team, third round): they took the
    same name in sys.modules and saved and put back copyreg's entry in turn. Each load now has a name of its own
    and leaves copyreg alone."""
    (errors, left, reducer_kept), stderr = imported(CAT_SKILL, RACE_HOST, tmp_path)
    assert errors == [] and left == [] and reducer_kept, (errors[:3], left, stderr)


FINALISER_SKILL = (  # a generator's finally, run by the garbage collector while the skill's first `import re` ran
    "STAGE = ['litter']\n\n\ndef spin(box):\n    try:\n        yield 1\n    finally:\n"
    "        if STAGE[-1] == 'importing':\n            n = 0\n            while n < 10 ** 8:\n                n += 1\n\n\n"
    "def litter():\n    for i in range(3000):\n        box = []\n        g = spin(box)\n        box.append(g)\n"
    "        next(g)\n\n\nlitter()\nSTAGE.append('importing')\nimport re\n\n\n"
    "def solve(text):\n    return 1 if re.search(r'\\w', text) else 0\n")
FINALISER_HOST = """
import json
import sys
import threading
import time

sys.path.insert(0, sys.argv[1])
loading = threading.Thread(target=lambda: __import__("exported"), daemon=True)
loading.start()
time.sleep(1.0)
started = time.perf_counter()
import colorsys  # the program's own import, while the skill's finaliser spins

print(json.dumps([loading.is_alive(), time.perf_counter() - started]))
"""


def test_a_skill_finaliser_does_not_stop_the_program_imports(tmp_path):
    """Copies made under the interpreter's import lock let a skill's generator, collected by the garbage collector
    while its first `import re` ran, spin with that lock held: every import of the program waited (an own_re
    red-team, fourth round). own_re now takes no lock at all."""
    (still_loading, waited), stderr = imported(FINALISER_SKILL, FINALISER_HOST, tmp_path)
    assert still_loading and waited < 2.0, (still_loading, waited, stderr)


ONE_RE_SKILL = (
    "def solve(text):\n    import re\n    from string import Template\n\n    class Loud(Template):\n"
    "        flags = re.IGNORECASE | re.MULTILINE\n\n"
    "    return [str(Loud.flags), isinstance(Template.flags, re.RegexFlag), Loud('$Ab').substitute(Ab=text),\n"
    "            hasattr(re, 'copyreg')]\n")
ONE_RE_HOST = """
import json
import re
import sys

sys.path.insert(0, sys.argv[1])
import exported

first = exported.solve("x")
re.set_by_the_program = 1  # the shared re's dict grows: its copy was made again, string's was not
print(json.dumps([first, exported.solve("x")]))
"""


def test_a_skill_string_template_is_made_with_its_own_re(tmp_path):
    """A skill's string.Template was made with one instance of re and its `import re` could hand out another (after
    a program set an attribute on the shared re, or two threads' first imports): its subclasses' flags became ints and
    isinstance(Template.flags, re.RegexFlag) False (a fifth own_re red-team). re's copy is made once, the first one
    stored wins, and the instance's stand-in copyreg is not one of its attributes."""
    (first, second), stderr = imported(ONE_RE_SKILL, ONE_RE_HOST, tmp_path)
    expected = ["re.IGNORECASE|re.MULTILINE", True, "x", False]
    assert first == expected and second == expected, (first, second, stderr)


SHARED_MODULES_HOST = """
import json
import sys

sys.path.insert(0, sys.argv[1])
import exported

print(json.dumps([exported.solve("a text"), sorted(name for name in sys.modules if name.endswith("__pycache__"))]))
"""


def test_an_import_fromlist_is_read_once(tmp_path):
    """A fromlist whose second iteration named '__pycache__' passed the private-name check and then had the import
    system add re.__pycache__ and collections.__pycache__ to the program's modules (an own_re red-team, third round;
    the static gate refuses this code, the export's guards alone did not)."""
    code = ("class Flip:\n    def __init__(self):\n        self.n = 0\n\n    def __iter__(self):\n"
            "        self.n = self.n + 1\n        return iter(['compile'] if self.n == 1 else ['__pycache__'])\n\n\n"
            "__import__('re', None, None, Flip(), 0)\n__import__('collections', None, None, Flip(), 0)\n\n\n"
            "def solve(text):\n    return 1\n")
    (answer, added), stderr = imported(code, SHARED_MODULES_HOST, tmp_path)
    assert answer == 1 and added == [], (answer, added, stderr)


def test_no_skill_code_runs_while_a_module_copy_is_made(tmp_path):
    """string's copy made its Template with the skill's copy of re, whose RegexFlag the skill had rebound: the
    skill's function ran while the copy was made, under the lock (an own_re red-team, third round). It is made with
    the skill's instance of re, which the skill cannot change."""
    code = ("import re\n\nSEEN = []\nreal_flag = re.RegexFlag\n\n\ndef my_flag(value):\n    SEEN.append(value)\n"
            "    return real_flag(value)\n\n\nre.RegexFlag = my_flag\nimport string\nre.RegexFlag = real_flag\n\n\n"
            "def solve(text):\n    return len(SEEN)\n")
    exported = tmp_path / "exported.py"
    exported.write_text(standalone(version(code), []))
    done = run_file(exported, "a text")
    assert done.returncode == 0 and done.stdout == "0\n", (done.stdout, done.stderr)


def other_python(minor: int) -> str | None:
    """A working python3.MINOR on this machine (on PATH, or one pyenv installed), or None."""
    candidates = [shutil.which(f"python3.{minor}"), *map(str, Path("/root/.pyenv/versions").glob(f"3.{minor}.*/bin/python3"))]
    for path in filter(None, candidates):
        done = subprocess.run([path, "-c", "import sys; print(sys.version_info[1])"], capture_output=True, text=True)
        if done.returncode == 0 and done.stdout.strip() == str(minor):
            return path
    return None


@pytest.mark.parametrize("minor", [12, 10])
def test_another_python_is_warned(minor, tmp_path):
    """F5: the gate runs Python 3.11; a skill can tell another (hasattr(itertools, 'batched') from 3.12 on) and
    answer otherwise there. An export says so when it runs on another Python."""
    python = other_python(minor)
    if python is None:
        pytest.skip(f"no python3.{minor} here")
    exported = tmp_path / "exported.py"
    exported.write_text(standalone(version(HONEST), []))
    done = subprocess.run([python, "-I", str(exported), SENTENCES[0]], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.split() == ["1"], done.stderr
    assert "judged by skillkiln's sandbox on Python 3.11; on another Python its answers may differ" in done.stderr
    same = run_file(exported, SENTENCES[0])
    assert "RuntimeWarning" not in same.stderr
