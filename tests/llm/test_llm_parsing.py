"""engine/parsing.py: from a model's answer to a candidate's source, with a stable failure kind."""
from __future__ import annotations

from engine.parsing import apply_edits, parse_answer, strip_think
from llm_helpers import PARENT_CODE
from sandbox.static import check_source

GOOD = "import re\n\n\ndef solve(text):\n    return 0 if re.search(r'\\bthe the\\b', text) else 1\n"


def test_one_fenced_block_is_the_skill():
    parsed = parse_answer(f"Here it is.\n\n```python\n{GOOD}```\nThat should work.")
    assert parsed.ok and parsed.mode == "block" and parsed.code == GOOD


def test_the_block_that_defines_solve_wins_over_a_longer_helper_block():
    helper = "```python\n" + "x = 1\n" * 30 + "```\n"
    parsed = parse_answer(f"{helper}\nand the skill:\n```py\n{GOOD}```")
    assert parsed.ok and parsed.code == GOOD


def test_prose_without_code_is_no_code_and_fails_the_static_gate():
    prose = "To decide grammaticality, I would check agreement and word order carefully."
    parsed = parse_answer(prose)
    assert not parsed.ok and parsed.kind == "no_code" and parsed.mode == "none"
    assert parsed.code == prose
    assert check_source(parsed.code).reason in ("syntax", "no_solve")  # the loop counts it as a parse failure


def test_a_block_cut_off_at_max_tokens_is_truncated():
    parsed = parse_answer("```python\nimport re\n\ndef solve(text):\n    if re.search(r'x', text")
    assert not parsed.ok and parsed.kind == "truncated"
    assert "not closed" in parsed.error and "line" in parsed.error


def test_syntax_error_names_the_line_and_its_text():
    parsed = parse_answer("```python\ndef solve(text)\n    return 1\n```")
    assert parsed.kind == "syntax"
    assert "line 1" in parsed.error and "def solve(text)" in parsed.error


def test_signature_imports_and_private_names_are_checked():
    assert parse_answer("```python\ndef classify(text):\n    return 1\n```").kind == "no_solve"
    assert parse_answer("```python\ndef solve(a, b):\n    return 1\n```").kind == "no_solve"
    bad_import = parse_answer("```python\nimport os\n\ndef solve(text):\n    return 1\n```")
    assert bad_import.kind == "import" and "'os'" in bad_import.error
    private = parse_answer("```python\ndef _h(t):\n    return 1\n\ndef solve(text):\n    return _h(text)\n```")
    assert private.kind == "restricted"


def test_search_replace_edits_apply_to_the_parent():
    answer = ("<<<<<<< SEARCH\nTHRESHOLD = 1\n=======\nTHRESHOLD = 2\n>>>>>>> REPLACE\n\n"
              "<<<<<<< SEARCH\nRULES = [\n=======\nRULES = [\n    (r\"(?i)\\bwhom\\b\", 1),\n>>>>>>> REPLACE\n")
    parsed = parse_answer(answer, PARENT_CODE)
    assert parsed.ok and parsed.mode == "edits"
    assert "THRESHOLD = 2" in parsed.code and 'r"(?i)\\bwhom\\b"' in parsed.code and "THRESHOLD = 1" not in parsed.code


def test_edits_tolerate_trailing_spaces_and_can_delete_lines():
    code, why = apply_edits(PARENT_CODE, "<<<<<<< SEARCH\n    (r\"(?i)\\bthe the\\b\", 1),   \n=======\n>>>>>>> REPLACE\n")
    assert why == "" and "the the" not in code


def test_edits_whose_search_is_not_in_the_parent_fail_clearly():
    parsed = parse_answer("<<<<<<< SEARCH\nTHRESHOLD = 7\n=======\nTHRESHOLD = 2\n>>>>>>> REPLACE", PARENT_CODE)
    assert not parsed.ok and parsed.kind == "edit_mismatch"
    assert "THRESHOLD = 7" in parsed.error
    no_parent = parse_answer("<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE")
    assert no_parent.kind == "edit_mismatch" and "```python" in no_parent.error


def test_think_blocks_are_stripped():
    assert strip_think("<think>\nmaybe `def solve(text): return 0`\n</think>\nanswer") == ("answer", True)
    assert strip_think("reasoning only</think>answer") == ("answer", True)  # template opened the block
    assert strip_think("answer<think>ran out of tokens while") == ("answer", True)
    assert strip_think("plain") == ("plain", False)
    parsed = parse_answer(f"<think>\nI could write ```python\ndef solve(text):\n    return 0\n``` but\n</think>\n```python\n{GOOD}```")
    assert parsed.ok and parsed.thought and parsed.code == GOOD


def test_bare_code_without_a_fence_is_accepted():
    parsed = parse_answer("Sure:\n" + GOOD)
    assert parsed.ok and parsed.mode == "bare"


def test_bare_code_with_prose_after_it_is_the_code():
    """An unfenced skill and then its explanation was a syntax error (the prose parsed as Python)."""
    parsed = parse_answer("Sure:\n" + GOOD + "\nThis skill counts the rules that fire.\nIt is short.\n")
    assert parsed.ok and parsed.mode == "bare" and parsed.code == GOOD
    broken = parse_answer("def solve(text):\n    return (1\n\nThat is all.\n")  # the code itself is broken
    assert not broken.ok and broken.kind == "syntax" and "That is all." in broken.code


def test_edits_are_found_in_one_pass_as_the_old_pattern_found_them():
    """find_edits reads marker lines one by one; it finds what the old regex (two lazy groups over the
    whole answer, cubic in its length) found, on random mixes of markers and code lines."""
    import random
    import re

    from engine.parsing import find_edits

    old = re.compile(r"^[ \t]*<{5,9}[ \t]*SEARCH[ \t]*\n(.*?)^[ \t]*={5,9}[ \t]*\n(.*?)^[ \t]*>{5,9}[ \t]*REPLACE[ \t]*$",
                     re.S | re.M)
    pieces = ["<<<<<<< SEARCH", "=======", ">>>>>>> REPLACE", "  <<<<<<<<< SEARCH ", "x = 1", "def solve(text):",
              "    return 1", "", "====", "text ======="]
    rng = random.Random(0)
    for _ in range(3000):
        text = "\n".join(rng.choice(pieces) for _ in range(rng.randint(0, 14)))
        if rng.random() < 0.5:
            text += "\n"
        assert find_edits(text) == old.findall(text), text
    looping = "<<<<<<< SEARCH\nx\n=======\n" * 5000  # a small model repeating itself to max_tokens: 120 kB
    assert find_edits(looping) == []


def test_search_replace_edits_with_windows_line_ends_apply():
    """LLM audit: edits with CRLF line ends always failed as 'the SEARCH/REPLACE block is incomplete'."""
    answer = "<<<<<<< SEARCH\r\nTHRESHOLD = 1\r\n=======\r\nTHRESHOLD = 2\r\n>>>>>>> REPLACE\r\n"
    parsed = parse_answer(answer, PARENT_CODE)
    assert parsed.ok and "THRESHOLD = 2" in parsed.code and "\r" not in parsed.code, parsed
