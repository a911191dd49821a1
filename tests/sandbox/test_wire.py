"""The wire format's test-only flag, and the harness's in-sandbox guards on their own (no Docker:
the guard functions are plain Python, imported from sandbox/harness.py)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from sandbox.backend import Limits, RunRequest

ROOT = Path(__file__).resolve().parents[2]


def harness():
    spec = importlib.util.spec_from_file_location("skillkiln_harness_under_test", ROOT / "sandbox" / "harness.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_trusted_builtins_is_on_the_wire_only_when_asked_for():
    assert "trusted_builtins" not in RunRequest("x", ("a",)).to_wire(Limits())
    assert RunRequest("x", ("a",), trusted_builtins=True).to_wire(Limits())["trusted_builtins"] is True


def test_the_engine_never_asks_for_trusted_builtins():
    for path in (ROOT / "engine").rglob("*.py"):
        assert "trusted_builtins" not in path.read_text(), f"{path} must not switch the sandbox's guards off"


def test_limits_carry_a_load_bound():
    assert Limits().load_s > 0 and "load_s" in RunRequest("x", ()).to_wire(Limits())["limits"]


@pytest.mark.parametrize("code, refused", [
    ("x = ().__class__", "__class__"),
    ("def f():\n    yield g.gi_frame\n", "gi_frame"),
    ("x = tb.tb_frame", "tb_frame"),
    ("x = frame.f_back.f_globals", "f_globals"),
    ("match o:\n    case object(__class__=c):\n        pass\n", "__class__"),
])
def test_the_harness_refuses_underscore_and_frame_attributes(code, refused):
    import ast

    h = harness()
    with pytest.raises(h.Forbidden, match=f"attribute '{refused}'"):
        h.check_tree(ast.parse(code))


def test_allowed_modules_come_as_copies_without_other_modules():
    h = harness()
    safe = h.make_builtins({"re", "string", "functools", "collections"})
    imp = safe["__import__"]
    re_copy = imp("re")
    assert re_copy.search(r"b", "abc") and not hasattr(re_copy, "enum") and not hasattr(re_copy, "functools")
    assert not hasattr(imp("string"), "Formatter") and imp("string").ascii_lowercase.startswith("abc")
    functools_copy = imp("functools")
    assert functools_copy.lru_cache and not hasattr(functools_copy, "update_wrapper")
    assert imp("collections.abc", fromlist=("Iterable",)).Iterable
    assert not hasattr(imp("collections.abc", fromlist=("Iterable",)), "sys")
    assert imp("collections.abc").abc.Iterable  # `import collections.abc` binds collections
    with pytest.raises(ImportError, match="not allowed"):
        imp("os")
    with pytest.raises(AttributeError, match="not allowed"):
        safe["getattr"]((x for x in ()), "gi_frame")


def test_hostile_type_names_and_surrogates_are_reported_safely():
    h = harness()

    class Meta(type):
        @property
        def __name__(cls):
            raise SystemExit

    class Sneaky(metaclass=Meta):
        pass

    assert h.encode_output("classification", Sneaky()) == (None, "type: returned Sneaky, not a label")
    assert h.safe_str(ValueError("a\ud800b")) == "a\\ud800b"
    assert h.encode_output("spans", [(0, 1, "\udfff")])[1].startswith("type: a span label is not valid unicode")
