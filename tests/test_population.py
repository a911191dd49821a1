"""Population: duplicates by syntax tree and by behaviour, islands, migration, coverage, selection."""
from __future__ import annotations

import random

from engine.population import Member, Population, ast_hash

LABELS = tuple([0] * 10 + [1] * 30)


def code(n: int, doc: str = "") -> str:
    return f'"""{doc}"""\ndef solve(text):\n    return {n} if len(text) > {n} else 1\n'


def preds(wrong: set[int]) -> tuple[int, ...]:
    return tuple(1 - y if i in wrong else y for i, y in enumerate(LABELS))


def member(i: int, score: float, wrong: set[int] | None = None, length: int = 100, parents=(), src=None) -> Member:
    p = preds(wrong if wrong is not None else {i % 40, (i + 7) % 40, (i * 3) % 40})
    return Member(f"m{i}", src or code(i), p, score, None, True, length, parents=parents)


def test_ast_hash_ignores_docstrings_comments_and_layout() -> None:
    a = code(3, "one")
    b = '"""other words"""\n\ndef solve(text):   # a comment\n    return 3 if len(text) > 3 else 1\n'
    assert ast_hash(a) == ast_hash(b)
    assert ast_hash(a) != ast_hash(code(4))
    assert ast_hash("not python (").startswith("src:")


def test_exact_and_behavioural_duplicates() -> None:
    pop = Population(labels=LABELS)
    pop.add(member(1, 0.3))
    pop.add(Member("copy", code(1, "reworded"), preds({5}), 0.9, None, True, 50))  # same tree
    assert len(pop) == 1 and pop.duplicates["ast"] == 1 and pop.is_duplicate_code(code(1, "x")) == "m1"
    twin = Member("twin", code(2), member(1, 0.3).train_predictions, 0.3, None, True, 500)  # longer
    pop.add(twin)
    assert [m.id for m in pop.members()] == ["m1"] and pop.duplicates["behaviour"] == 1
    short = Member("short", code(3), member(1, 0.3).train_predictions, 0.3, None, True, 20)  # shorter: replaces
    pop.add(short)
    assert [m.id for m in pop.members()] == ["short"]


def test_ast_hash_sets_the_programs_own_names_aside_but_not_builtins_imports_or_solve() -> None:
    a = ("import re\nW = {'a': 1}\ndef solve(text):\n    words = re.findall('[a-z]+', text)\n"
         "    return 1 if sum(W.get(w, 0) for w in words) > 0 else 0\n")
    renamed = a.replace("W", "WEIGHTS").replace("words", "toks").replace("w,", "t,").replace("for w", "for t")
    assert ast_hash(a) == ast_hash(renamed)
    assert ast_hash(a) != ast_hash(a.replace("> 0", ">= 0"))
    assert ast_hash("def solve(text):\n    return len(text) % 2\n") == ast_hash("def solve(s):\n    return len(s) % 2\n")
    assert ast_hash("def solve(text):\n    return len(text) % 2\n") != ast_hash("def solve(text):\n    return sum(text) % 2\n")
    assert ast_hash(a) != ast_hash(a.replace("import re", "import re as regex").replace("re.", "regex."))
    assert ast_hash(a) != ast_hash(a.replace("def solve", "def predict"))


def test_islands_children_follow_parents_and_capacity() -> None:
    pop = Population(size=4, islands=2, migrate_every=0)
    pop.add(member(0, 0.1))
    pop.add(member(1, 0.2))
    assert pop.island(0)[0].id == "m0" and pop.island(1)[0].id == "m1"
    for i in range(2, 8):
        pop.add(member(i, 0.2 + i / 100, parents=("m1",)))
    assert [m.id for m in pop.island(0)] == ["m0"]
    assert [m.id for m in pop.island(1)] == ["m7", "m6"]
    assert pop.best().id == "m7"


def test_migration_copies_bests_and_resets_the_weakest_island() -> None:
    pop = Population(size=8, islands=2, migrate_every=4, coverage_slots=0)
    for i, score in enumerate((0.5, 0.1, 0.4, 0.05)):
        pop.add(member(i, score))
    # after the 4th addition: ring migration, then the weaker island restarts from the global best
    assert [m.id for m in pop.island(1)] == ["m0"]
    assert pop.island(0)[0].id == "m0"


def test_an_island_restarted_from_the_best_grows_from_it() -> None:
    """The restarted island held the global best alone, and every child of the best went back to the best's first
    island: in a 25 x 4 CoLA run the islands ended at 8 and 1 members. A child goes where its parents are; where
    a migrated parent lives on two islands, to the smaller."""
    pop = Population(size=8, islands=2, migrate_every=4, coverage_slots=0)
    for i, score in enumerate((0.5, 0.1, 0.4, 0.05)):
        pop.add(member(i, score))
    assert [m.id for m in pop.island(1)] == ["m0"] and "m0" in [m.id for m in pop.island(0)]
    pop.add(member(4, 0.45, parents=("m0",)))
    assert [m.id for m in pop.island(1)] == ["m0", "m4"]
    pop.add(member(5, 0.3, parents=("m2",)))  # m2 lives on island 0 alone: its child stays there
    assert "m5" in [m.id for m in pop.island(0)] and "m5" not in [m.id for m in pop.island(1)]
    pop.add(member(6, 0.46, parents=("m4", "m0")))  # both parents on island 1 only together
    assert "m6" in [m.id for m in pop.island(1)]


def test_coverage_keeps_a_specialist_beside_the_best() -> None:
    pop = Population(size=2, islands=1, labels=LABELS, migrate_every=0)
    everything_but_label0 = set(range(10))  # gets all label-1 examples right, misses every label-0 one
    pop.add(member(1, 0.5, wrong=everything_but_label0))
    specialist = member(2, 0.01, wrong=set(range(10, 40)))  # only right on the label-0 slice
    pop.add(specialist)
    for i in range(3, 9):
        pop.add(member(i, 0.3 + i / 100, wrong=everything_but_label0 | {i + 10}))
    kept = {m.id for m in pop.members()}
    assert "m2" in kept and "m2" in {m.id for m in pop.specialists()}
    assert "m2" not in {m.id for m in pop.island(0)}


def test_a_slice_stays_covered_when_a_new_best_misses_it() -> None:
    """Evidence audit: B1 (right on 0..14 among others) was the best, so S, right on the same slice, was no
    specialist; better generalists all wrong on that slice then pushed B1 off the island, and nothing kept
    covered it (specialists were re-chosen among the old specialists and the newcomer only)."""
    pop = Population(size=2, islands=1, labels=LABELS, migrate_every=0)
    slice_ = set(range(0, 10))  # the label-0 examples
    pop.add(member(1, 0.40, wrong={20, 21}))  # right on the slice
    pop.add(member(2, 0.05, wrong=set(range(10, 40))))  # right on the slice only
    for i in range(3, 9):  # better, and all wrong on the slice
        pop.add(member(i, 0.5 + i / 100, wrong=slice_ | {i + 20}))
    kept = pop.members()
    assert pop.best().id == "m8" and {m.id for m in pop.island(0)} == {"m8", "m7"}
    right = [i for i in slice_ if any(m.train_predictions[i] == LABELS[i] for m in kept)]
    assert right == sorted(slice_)  # the slice survives beside the best, in a specialist
    assert {m.id for m in pop.specialists()} & {"m1", "m2"}


def test_select_is_deterministic_best_first_and_prefers_score() -> None:
    pop = Population(size=16, islands=2, labels=LABELS)
    for i in range(12):
        pop.add(member(i, i / 20, length=100 + i))
    picks = [tuple(m.id for m in pop.select(random.Random(s), 3)) for s in range(50)]
    again = [tuple(m.id for m in pop.select(random.Random(s), 3)) for s in range(50)]
    assert picks == again
    for ids in picks:
        assert len(set(ids)) == len(ids) and 1 <= len(ids) <= 3
    firsts = [ids[0] for ids in picks]
    assert firsts.count(pop.best().id) > 0
    assert Population().select(random.Random(0), 4) == []


def test_select_prefers_shorter_among_equal_scores() -> None:
    pop = Population(size=16, islands=1, migrate_every=0)
    pop.add(member(1, 0.3, length=100))
    pop.add(member(2, 0.3, length=1000))
    firsts = [pop.select(random.Random(s), 1)[0].id for s in range(200)]
    assert firsts.count("m1") > firsts.count("m2")


def test_loop_api_still_works() -> None:
    pop = Population()
    pop.add(Member("a", code(1), (0, 1, 1), 0.2, 0.1, True, 10))
    pop.add(Member("b", code(2), (0, 0, 1), 0.4, None, False, 12))
    assert len(pop) == 2 and pop.best().id == "b"
    assert [m.id for m in pop.select(random.Random(0), 4)] in (["b", "a"], ["b"], ["a"])


def test_the_hash_of_a_tree_too_deep_to_dump_falls_back_to_the_source():
    deep = "def solve(text):\n    return " + "-" * 1600 + "1\n"
    assert ast_hash(deep).startswith("src:") and ast_hash(deep) != ast_hash(deep + "# other\n")


def test_length_counts_between_scores_that_differ_by_noise() -> None:
    """Evidence audit: 0.2006 at 50,000 characters was picked as often as 0.2004 at 500 (49% against 51%):
    rounded to three places they were two groups of one."""
    pop = Population(size=16, islands=1, migrate_every=0)
    pop.add(member(1, 0.2004, length=500))
    pop.add(member(2, 0.2006, length=50_000))
    pop.add(member(3, 0.10, length=100))  # a band of its own, far below
    firsts = [pop.select(random.Random(s), 1)[0].id for s in range(400)]
    assert firsts.count("m1") > 3 * firsts.count("m2")
    assert firsts.count("m3") < firsts.count("m1") + firsts.count("m2")  # score still comes first
