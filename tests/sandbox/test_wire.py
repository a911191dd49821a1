"""The wire format's test-only flag, and the harness's in-sandbox guards on their own (no Docker:
the guard functions are plain Python, imported from sandbox/harness.py)."""
from __future__ import annotations

import importlib.util
import json
import time
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


def test_the_static_gate_hides_what_the_harness_hides():
    from sandbox import static

    assert static.HIDDEN_MODULE_ATTRIBUTES == harness().HIDDEN_MODULE_ATTRIBUTES
    assert static.FORMAT_ATTRIBUTES == harness().FORMAT_ATTRIBUTES
    assert static.UNSAFE_BUILTINS == harness().UNSAFE_BUILTINS
    assert static.CLASS_HOOKS == harness().CLASS_HOOKS
    assert static.SHARED_STATE_ATTRIBUTES == harness().SHARED_STATE_ATTRIBUTES


@pytest.mark.parametrize("raw, failure", [
    (b"[1,0,true,null]", ""),
    (b"[1, 0, 2, 1]", ""),  # any valid JSON for exact labels passes as is
    ("[1,0,1,\u00e9]".encode(), "crash: the child's outputs were not valid JSON"),  # not ASCII
    ("[1,0,1,0]".encode("utf-16"), "crash: the child's outputs were not valid JSON"),  # json.loads would take it
    (b"[1,0,1]", "crash: the child's result held 3 outputs for 4 texts"),
    (b"{}", "crash: the child's result held dict outputs for 4 texts"),
    (b"[01,0,1,0]", "crash: the child's outputs were not valid JSON"),
    (b"[" + b"9" * 5000 + b",0,1,0]", "crash: the child's outputs were not valid JSON"),  # over the int digit limit
    (b"[1,0,1,0] [2]", "crash: the child's outputs were not valid JSON"),  # nothing may follow the array
])
def test_a_childs_outputs_pass_to_the_host_only_as_exact_json(raw, failure):
    h = harness()
    meta = {"ok": True, "errors": {}, "properties": {}, "failure": ""}
    reply, outputs = h.clean_result(meta, raw, 4, "classification")
    if failure:
        assert (reply, outputs) == ({"ok": False, "failure": failure}, None)
    else:
        assert outputs == raw and reply["ok"] is True
        body = h.answer_body({**reply, "id": "x"}, outputs)
        assert json.loads(body)["outputs"] == json.loads(raw) and json.loads(body)["id"] == "x"


def test_forged_output_values_are_rebuilt():
    h = harness()
    meta = {"ok": True, "errors": {}, "properties": {}, "failure": "", "id": "forged", "extra": 1}
    long = "y" * (h.MAX_LABEL_CHARS + 1)
    raw = f'[1,1.5,"x",[0,1,"A"],NaN,"{long}","\\ud800"]'.encode()
    reply, outputs = h.clean_result(meta, raw, 7, "classification")
    # a str is a label (a task's labels may be words) if it is short and valid unicode
    assert json.loads(outputs) == [1, None, "x", None, None, None, None]
    assert set(reply) == {"ok", "errors", "properties", "failure"}
    assert set(reply["errors"]) == {"1", "3", "4", "5", "6"}
    _, spans = h.clean_result({"ok": True}, b'[[[0,1,"A"]],[[0,"1","A"]]]', 2, "spans")
    assert json.loads(spans) == [[[0, 1, "A"]], None]


def test_the_child_is_read_as_two_frames_under_one_cap():
    import os
    import time

    h = harness()

    def read(data: bytes, cap: int = 1 << 20):
        r, w = os.pipe()
        os.write(w, data)
        os.close(w)
        try:
            return h.read_child(r, time.perf_counter() + 5, cap)
        finally:
            os.close(r)

    two = h.framed(b'{"ok": true}') + h.framed(b"[1]")
    assert read(two + b"trailing noise") == ([b'{"ok": true}', b"[1]"], "")
    assert read(two[:-1]) == ([], "cut")
    assert read(b"") == ([], "eof")
    assert read(two, cap=len(two) - 1) == ([], "cap")


def test_run_texts_times_calls_without_a_clock_store_per_call():
    h = harness()
    h.Clock.start(0.2)
    try:
        code = "def solve(text):\n    if text == 'hang':\n        while True:\n            pass\n    return len(text)\n"
        solve = h.load_skill({"code": code, "allowed_imports": []}, dict(h.DEFAULT_LIMITS, load_s=5))
        h.Clock.start(0.2)
        texts = ["a", "hang", "abc", "hang", "x", "hang", "yy", "zz"]
        started = time.perf_counter()
        outputs, errors = h.run_texts(solve, texts, "classification")
        took = time.perf_counter() - started
    finally:
        h.Clock.stop()
    assert outputs == [1, None, 3, None, 1, None, None, None]
    assert errors["1"] == errors["3"] == errors["5"] == h.TIMEOUT_MESSAGE
    assert errors["6"].startswith("timeout: skipped after 3")
    assert 3 * 0.2 <= took < 3 * (0.2 + 2 * 0.025) + 0.5


def test_plain_labels_passes_only_what_parses_to_exact_non_negative_ints():
    import itertools

    h = harness()
    assert h.plain_labels(b"[1,0,17,0]", 4) and h.plain_labels(b"[]", 0)
    for size in range(1, 6):
        for combo in itertools.product(b"[]0,1 -9", repeat=size):
            raw = bytes(combo)
            for n in range(4):
                if h.plain_labels(raw, n):
                    value = json.loads(raw)
                    assert type(value) is list and len(value) == n and all(type(x) is int and x >= 0 for x in value)


def test_a_call_that_catches_the_clock_and_answers_is_still_a_timeout():
    """Gate audit: `except BaseException: return n % 2` around a loop took the clock's CallTimeout and answered;
    the answers depended on CPU speed and no timeout was recorded."""
    h = harness()

    def solve(text):
        if text == "fast":
            return 1
        try:
            while True:
                pass
        except BaseException:  # noqa: BLE001 - the hostile skill under test
            return 0

    h.Clock.start(0.2)
    try:
        outputs, errors = h.run_texts(solve, ["fast", "slow", "fast", "slow"], "classification")
        one = h.call_one(solve, "slow", "classification")
    finally:
        h.Clock.stop()
    assert outputs == [1, None, 1, None]
    assert set(errors) == {"1", "3"} and all(e.startswith("timeout") for e in errors.values())
    assert one == (None, h.TIMEOUT_MESSAGE)
