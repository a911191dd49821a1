"""Task `pii` end to end: registry, split, the span offline proposer, the gate through Docker,
`skills run --mask`, and span metrics in the summary and the browsing commands."""
from __future__ import annotations

import io
import json
import subprocess

import pytest
from rich.console import Console
from test_cli import one_line_error, run

from engine.errors import SkillkilnError
from engine.proposers import make_proposer
from engine.proposers.base import ParentInfo, ProposalContext, TaskCard
from engine.proposers.offline_spans import (
    LIBRARY,
    Bank,
    Genome,
    OfflineSpanProposer,
    apply,
    compile_genome,
    parse_genome,
    render,
)
from sandbox.static import check_source
from tasks import load_task, task_names, task_spec


@pytest.fixture(scope="module")
def pii():
    return load_task("pii")


def test_registered_as_a_span_task(pii):
    assert "pii" in task_names()
    spec = task_spec("pii")
    assert spec.kind == "spans" and "PERSON" in spec.labels and spec.takes_dataset
    assert pii.kind == "spans" and pii.selection_key == "f1" and pii.metric == "f1"
    assert (len(pii.train), len(pii.validation), len(pii.test)) == (1050, 214, 236)
    with pytest.raises(SkillkilnError, match="takes no --dataset"):
        load_task("cola", dataset="ai4privacy/pii-masking-300k")


def test_list_tasks_shows_pii():
    done = run("evolve", "--list-tasks", "--json")
    assert done.returncode == 0
    assert {"name": "pii", "kind": "spans"}.items() <= next(t for t in json.loads(done.stdout) if t["name"] == "pii").items()


def test_split_by_template_keeps_templates_apart():
    import datasets

    from tasks import resolve_data_dir
    from tasks.pii import FILE, SPLIT_SEED, split_by_group

    rows = list(datasets.load_dataset("json", data_files=str(resolve_data_dir(None) / "pii" / FILE), split="train"))
    parts = split_by_group(rows, "template_id", SPLIT_SEED)
    templates = [{r["template_id"] for r in part} for part in parts]
    assert not (templates[0] & templates[1]) and not (templates[0] & templates[2]) and not (templates[1] & templates[2])
    assert sum(map(len, parts)) == 1500


def test_make_proposer_picks_the_span_proposer():
    assert isinstance(make_proposer("offline", 3, task="pii"), OfflineSpanProposer)
    assert not isinstance(make_proposer("offline", 3, task="cola"), OfflineSpanProposer)
    assert not isinstance(make_proposer("offline", 3), OfflineSpanProposer)


def _ctx(pii, iteration=0, parents=()):
    return ProposalContext(TaskCard.of(pii), iteration, tuple(parents), seed=5)


def test_proposer_is_deterministic_and_its_skills_pass_the_static_gate(pii):
    first = [OfflineSpanProposer(seed=1).propose(_ctx(pii, i)) for i in range(3)]
    again = [OfflineSpanProposer(seed=1).propose(_ctx(pii, i)) for i in range(3)]
    assert [p.code for p in first] == [p.code for p in again]
    for proposal in first:
        assert check_source(proposal.code).ok
        assert len(proposal.code.encode()) < 20_000
        assert "train span F1" in proposal.note


def test_proposer_evolves_parents(pii):
    proposer = OfflineSpanProposer(seed=2)
    parent = proposer.propose(_ctx(pii))
    info = ParentInfo("p1", parent.code, (), 0.4)
    other = ParentInfo("p2", proposer.propose(_ctx(pii, 1)).code, (), 0.3)
    children = [proposer.propose(_ctx(pii, 2 + k, [info, other])) for k in range(6)]
    assert all(c.code != parent.code for c in children)
    assert any(c.parent_ids and c.parent_ids[0] in ("p1", "p2") for c in children)


def test_render_and_parse_round_trip_and_rendered_code_agrees_with_apply(pii):
    bank = Bank(pii.train, pii.labels)
    genome = Genome([rule for _, rule in LIBRARY], tuple(sorted(bank.names[:100])), tuple(sorted(bank.places[:50])))
    code = render(genome, "pii")
    back = parse_genome(code)
    assert back is not None and back.key() == genome.key()
    namespace: dict = {}
    exec(compile(code, "<skill>", "exec"), namespace)  # noqa: S102 - our own rendered template, no candidate code
    compiled = compile_genome(genome)
    for text in pii.train.texts[:200]:
        assert namespace["solve"](text) == apply(compiled, text)
    assert bank.memory.hit(code) is None  # no 5 consecutive training words in any literal
    # the proposer's scoring path (each rule's matches found once, then merged) gives what apply gives
    assert bank.outputs(genome) == tuple(apply(compiled, text) for text in pii.train.texts)
    smaller = Genome(genome.rules[::2], genome.names[:10], ())
    assert bank.outputs(smaller) == tuple(apply(compile_genome(smaller), text) for text in pii.train.texts)


def test_mined_word_lists_come_from_train_spans(pii):
    bank = Bank(pii.train, pii.labels)
    assert bank.names and all(" " not in n and n[0].isupper() for n in bank.names)
    assert bank.places


# ------------------------------------------------------------------ through Docker


@pytest.fixture(scope="module")
def pii_evaluator(pii, docker_backend):
    from engine.evaluate import Evaluator

    return Evaluator(pii, docker_backend)


def test_gate_accepts_a_rule_skill_that_beats_both_baselines(pii, pii_evaluator):
    bank = Bank(pii.train, pii.labels)
    code = render(Genome([rule for _, rule in LIBRARY], bank.names[:200], bank.places[:100]), "pii")
    evaluation = pii_evaluator.evaluate(code)
    verdict = evaluation.verdict
    assert verdict.accepted, verdict.reasons
    assert evaluation.stage == "test"
    for split in ("train", "validation", "test"):
        m = verdict.metrics[split].to_dict()
        assert m["f1"] > m["baseline_capitalised_f1"] > m["baseline_empty_f1"] == 0.0
        assert m["p_empty"] < 0.05 and m["p_capitalised"] < 0.05
    assert "p_capitalised" in verdict.metrics["validation"].to_dict()
    assert "gate:validation_labels" in verdict.details and "gate:gap" in verdict.details
    assert all(isinstance(p, tuple) or p is None for p in evaluation.train_predictions)


@pytest.mark.parametrize("code, reason, stage", [
    ("def solve(text):\n    return []\n", "empty_output", "train_subset"),
    ("import re\ndef solve(text):\n    return [(m.start(), m.end(), 'PERSON') for m in re.finditer(r'\\b[A-Z]\\w*', text)]\n",
     "not_significant", "train"),
    ("def solve(text):\n    return [(0, len(text) + 1, 'PERSON')]\n", "invalid_spans", "train_subset"),
    ("def solve(text):\n    return [(0, 2, 'PERSON'), (1, 3, 'PERSON')] if len(text) > 3 else []\n",
     "invalid_spans", "train_subset"),
    ("def solve(text):\n    return [(0, 1, 'NAME')] if text else []\n", "invalid_spans", "train_subset"),
    ("def solve(text):\n    return 'PERSON'\n", "bad_output", "train_subset"),
    ("def solve(text):\n    return [(0, 1, 'PERSON')] if len(text) % 7 else 1 / 0\n", "crash", "train_subset"),
])
def test_gate_rejects_trivial_and_invalid_span_skills(pii_evaluator, code, reason, stage):
    evaluation = pii_evaluator.evaluate(code)
    reasons = evaluation.verdict.reasons
    assert not evaluation.verdict.accepted
    assert any(r.startswith(reason + ":") for r in reasons), reasons
    assert evaluation.stage == stage
    for r in reasons:
        assert evaluation.verdict.details[r]


def test_gate_rejects_memorised_training_text(pii, pii_evaluator):
    words = pii.train.texts[0].split()[:6]
    code = f"def solve(text):\n    return [(0, 3, 'PERSON')] if {' '.join(words)!r} in text else []\n"
    assert "memorised:source" in pii_evaluator.evaluate(code).verdict.reasons


# ------------------------------------------------------------------ the store and the commands


@pytest.fixture(scope="module")
def span_store(tmp_path_factory, pii):
    from engine.gate import GateConfig
    from engine.span_gate import measure
    from skills_store.store import Store
    from tasks.span_metrics import count_arrays

    path = tmp_path_factory.mktemp("pii-store") / "s.sqlite"
    code = ("import re\n\n\ndef solve(text):\n    return [(m.start(), m.end(), 'EMAIL_ADDRESS') "
            "for m in re.finditer(r'[\\w.+-]+@[\\w-]+(?:\\.[\\w-]+)+', text)]\n")
    metrics = {}
    for split in ("train", "validation", "test"):
        data = pii.split(split)
        m = measure(data.labels, [[] for _ in data.texts], {"empty": count_arrays(data.labels, [[]] * len(data)),
                                                            "capitalised": count_arrays(data.labels, [[]] * len(data))},
                    GateConfig(permutations=100))
        metrics[split] = {**m.to_dict(), "f1": 0.9 if split == "validation" else 0.8, "precision": 1.0}
    store = Store(path)
    store.offer_version("pii-emails", "pii", code, metrics, {"accepted": True, "reasons": [], "details": {}},
                        (), {"run_id": "r", "proposer": "offline"}, None, key="f1", description="e-mail finder")
    store.close()
    return str(path)


def test_skills_run_mask_prints_labels(span_store):
    done = run("skills", "run", "pii-emails", "Mail ann@example.org or bob@x.io now", "--mask", "--store", span_store)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Mail [EMAIL_ADDRESS] or [EMAIL_ADDRESS] now"
    spans = run("skills", "run", "pii-emails", "Mail ann@example.org now", "--store", span_store)
    assert spans.returncode == 0, spans.stderr
    assert json.loads(spans.stdout) == [[5, 20, "EMAIL_ADDRESS"]]  # JSON, not a Python repr


def test_skills_run_mask_needs_a_span_skill(tmp_path):
    from test_skills_browse import HONEST

    from skills_store.store import Store

    path = tmp_path / "c.sqlite"
    store = Store(path)
    metrics = {s: {"mcc": 0.2, "accuracy": 0.7, "f1": 0.8, "balanced_accuracy": 0.6, "n": 10,
                   "majority_accuracy": 0.7, "p_value": 0.01} for s in ("train", "validation", "test")}
    store.offer_version("cola-x", "cola", HONEST, metrics, {"accepted": True, "reasons": []}, (), {}, None)
    store.close()
    done = run("skills", "run", "cola-x", "a text", "--mask", "--store", str(path))
    assert done.returncode != 0
    assert "--mask needs a span skill" in one_line_error(done)


def test_browsing_shows_span_metrics(span_store):
    listed = json.loads(run("skills", "list", "--json", "--store", span_store).stdout)
    assert listed[0]["metric"] == "f1" and listed[0]["validation_f1"] == 0.9
    table = run("skills", "list", "--store", span_store).stdout
    assert "val span F1" in table and "0.900" in table
    shown = run("skills", "show", "pii-emails", "--store", span_store).stdout
    assert "capitalised baseline F1" in shown and "precision" in shown
    history = run("skills", "history", "pii-emails", "--store", span_store).stdout
    assert "val span F1" in history
    exported = run("skills", "export", "pii-emails", "--store", span_store).stdout
    assert "span F1 (exact) validation 0.900" in exported
    # the exported file prints spans as JSON, as `skills run` does
    done = subprocess.run(["python3", "-I", "-c", exported, "Mail ann@example.org now"], capture_output=True, text=True)
    assert done.returncode == 0 and json.loads(done.stdout) == [[5, 20, "EMAIL_ADDRESS"]], done.stderr


def test_mask_text_by_hand():
    from engine.masking import mask_text

    assert mask_text("Ann Lee met Bob", [[12, 15, "PERSON"], [0, 7, "PERSON"]]) == ("[PERSON] met [PERSON]", 0)
    assert mask_text("abc", [[0, 2, "A"], [1, 3, "B"], [0, 9, "C"]]) == ("[A]c", 2)  # overlap and outside: counted
    assert mask_text("abc", []) == ("abc", 0)


def test_summary_prints_span_scores_and_baselines():
    from engine.summary import print_summary

    m = {"precision": 0.7, "recall": 0.4, "f1": 0.51, "overlap_f1": 0.6, "baseline_empty_f1": 0.0,
         "baseline_capitalised_f1": 0.158, "p_empty": 0.0005, "p_capitalised": 0.0005, "p_value": 0.0005}
    summary = {"run_id": "r", "task": "pii", "metric": "f1", "majority_accuracy": None,
               "best": {"name": "pii-offline", "version": 2, "candidate_id": "c", "metrics": {s: m for s in ("train", "validation", "test")}},
               "candidates": 100, "accepted_count": 40, "parse_failures": 0, "rejections": {"duplicate": 3},
               "sandbox": "docker", "sandbox_label": "docker", "tokens": {"total": 0, "prompt": 0, "completion": 0},
               "proposer": "offline", "model": "span-rules-v1", "wall_s": 60.0, "sandbox_s": 20.0, "store": "s",
               "test_note": "note"}
    out = io.StringIO()
    print_summary(summary, Console(file=out, width=200))
    text = out.getvalue()
    assert "caps baseline F1" in text and "capitalised token as PERSON" in text and "0.510" in text and "0.158" in text and "0.0005" in text
    assert "100 proposed: 40 accepted" in text and "lost and replaced" not in text
    # workers the sandbox lost (and ran their requests again on fresh ones) are said, not hidden
    out = io.StringIO()
    print_summary({**summary, "sandbox_restarts": 2}, Console(file=out, width=200))
    assert "docker · 2 workers lost and replaced" in out.getvalue()
    # on an 80-column terminal the title is one line; a p at the bootstrap's floor reads as at most
    out = io.StringIO()
    floored = {**m, "p_floor": 0.0005}
    print_summary({**summary, "run_id": "20261207-061720-a55277",
                   "best": {**summary["best"], "metrics": {s: floored for s in ("train", "validation", "test")}}},
                  Console(file=out, width=80))
    lines = out.getvalue().splitlines()
    assert lines[0].strip() == "skillkiln run 20261207-061720-a55277 · task pii"
    assert any(line.startswith("│ p vs caps") and line.count("<=0.0005") == 3 for line in lines)


def test_span_proposals_carry_their_exact_train_outputs_and_the_bar_keeps_the_versions(pii, docker_backend, tmp_path):
    """The span proposer hands in its skill's train outputs (computed on the host): they equal the
    sandbox's exactly, so validation runs before the rest of train and the not_better stop applies;
    the run keeps the same versions and best skill as with --score-all."""
    from conftest import run_with_and_without_bar
    from engine.evaluate import train_outputs
    from sandbox.backend import RunRequest

    proposal = OfflineSpanProposer(seed=1).propose(_ctx(pii))
    real = docker_backend.run(RunRequest(code=proposal.code, texts=pii.train.texts, kind="spans", labels=pii.labels))
    assert proposal.expected_train is not None and real.predictions is not None
    assert train_outputs(pii, tuple(real.predictions)) == train_outputs(pii, proposal.expected_train)

    runs = run_with_and_without_bar(pii, docker_backend, lambda: OfflineSpanProposer(seed=0), tmp_path, iters=3)
    (_, bar_store, _, bar_rows, bar_versions, bar), (_, full_store, _, full_rows, full_versions, full) = runs["bar"], runs["all"]
    bar_store.close()
    full_store.close()
    assert [r["code_sha256"] for r in bar_rows] == [r["code_sha256"] for r in full_rows]
    assert [(v, code) for v, _, code in bar_versions] == [(v, code) for v, _, code in full_versions] and bar_versions
    assert bar["best"]["metrics"] == full["best"]["metrics"]
    assert bar["stages"].get("not_better", 0) > 0
    full_by_hash = {r["code_sha256"]: r for r in full_rows}
    for r in bar_rows:  # a stop ran neither the rest of train nor test; with --score-all the rest of train ran
        if json.loads(r["reasons"]) == ["not_better"]:
            assert set(json.loads(r["verdict"])["metrics"]) == {"validation"}
            full_row = full_by_hash[r["code_sha256"]]  # all of train ran: scored, or found to be an earlier one's twin
            assert "train" in json.loads(full_row["verdict"])["metrics"] or (
                full_row["stage"] == "train" and json.loads(full_row["reasons"]) == ["same_behaviour"])
    assert all(r["train_expected"] for r in bar_rows if json.loads(r["reasons"]) == ["not_better"])


def test_the_name_after_a_title_keeps_the_whole_surname():
    """The optional initial took the surname's first letter and the match stopped there ('John S')."""
    import re

    from engine.proposers.offline_spans import LIBRARY

    rule = dict(LIBRARY)["person.title"]
    names = {text: re.search(rule.pattern, text).group(rule.group)
             for text in ("Dear Mr. John Smith, thanks", "Dr. Anna Berg", "Ms. Jane K. Doe-Ray arrived", "Mr. Lee")}
    assert names == {"Dear Mr. John Smith, thanks": "John Smith", "Dr. Anna Berg": "Anna Berg",
                     "Ms. Jane K. Doe-Ray arrived": "Jane K. Doe-Ray", "Mr. Lee": "Lee"}


def test_a_library_the_span_proposer_cannot_use_is_said_so(tmp_path):
    """--library on a pii run with the offline proposer: offered, and a warning that no candidate will
    import it (the header named it and the run went on as if it had not been given)."""
    from test_skills_browse import HONEST

    from skills_store.store import Store

    path = tmp_path / "s.sqlite"
    store = Store(path)
    store.offer_version("cola-x", "cola", HONEST, {"validation": {"mcc": 0.2}}, {}, (), {}, None)
    store.close()
    done = run("evolve", "--task", "pii", "--iters", "1", "--batch", "1", "--library", "cola-x", "--sandbox", "local",
               "--store", str(path))
    assert done.returncode == 0, done.stderr
    assert ("warning: the offline proposer for spans tasks does not use libraries: no candidate of this run will "
            "import cola-x@1") in " ".join(done.stderr.split())


def test_a_text_longer_than_the_skill_reads_is_masked_in_pieces(tmp_path):
    """A skill that reads MAX_CHARS characters (as the offline span skills do) left an e-mail past
    them in clear; `skills run` runs a longer text in pieces cut at word ends and says so."""
    from engine.masking import pieces
    from skills_store.store import Store

    text = "Email a@b.com. " + "lorem ipsum " * 200 + "Email c@d.com."
    parts = pieces(text, 100)  # each after the first repeats the 25 characters (a quarter of 100) before its cut
    assert parts[0][1] + "".join(p[25:] for _, p in parts[1:]) == text and all(len(p) <= 100 for _, p in parts)
    assert all(text[o:o + len(p)] == p for o, p in parts) and all(p.endswith(" ") for _, p in parts[:-1])
    assert pieces("short", 100) == [(0, "short")] and pieces("x" * 250, 100)[1] == (50, "x" * 100)  # no cut: hard

    code = ("import re\n\nMAX_CHARS = 100\n\n\ndef solve(text):\n    text = text[:MAX_CHARS]\n"
            "    return [(m.start(), m.end(), 'EMAIL_ADDRESS') for m in re.finditer(r'[\\w.+-]+@[\\w-]+(?:\\.[\\w-]+)+', text)]\n")
    path = tmp_path / "s.sqlite"
    store = Store(path)
    store.offer_version("pii-short", "pii", code, {"validation": {"f1": 0.5}}, {"accepted": True}, (), {}, None, key="f1")
    store.close()
    done = run("skills", "run", "pii-short", text, "--mask", "--store", str(path), "--sandbox", "local")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Email [EMAIL_ADDRESS]. " + "lorem ipsum " * 200 + "Email [EMAIL_ADDRESS]."
    assert "reads at most 100 characters of a text; 1 longer text ran in pieces" in " ".join(done.stderr.split())
    spans = run("skills", "run", "pii-short", text, "--store", str(path), "--sandbox", "local", "--json")
    found = json.loads(spans.stdout)[0]["prediction"]
    assert [text[s:e] for s, e, _ in found] == ["a@b.com", "c@d.com"]
    # the export runs a long text in the same pieces (it read the first 100 characters alone: '[[6, 13, ...]]')
    exported = run("skills", "export", "pii-short", "--store", str(path))
    assert exported.returncode == 0 and "solve_whole(text) for a text of any length" in exported.stdout
    done = subprocess.run(["python3", "-I", "-c", exported.stdout, text], capture_output=True, text=True)
    assert done.returncode == 0 and json.loads(done.stdout) == found, done.stderr
    piped = subprocess.run(["python3", "-I", "-c", exported.stdout], input="short a@b.com\n", capture_output=True, text=True)
    assert json.loads(piped.stdout) == [[6, 13, "EMAIL_ADDRESS"]]


def test_an_entity_a_cut_splits_is_still_masked(tmp_path):
    """Tasks audit: pieces did not overlap, so an entity a cut split was whole in neither: a card number cut after
    its first group came out as `card 4111 [PHONE_NUMBER]`, and in a text with no spaces (a query string, a log
    line) e-mails cut mid-word were left in clear, by `skills run --mask` and the export's solve_whole alike."""
    from skills_store.store import Store

    code = ("import re\n\nMAX_CHARS = 800\n\n\ndef solve(text):\n    text = text[:MAX_CHARS]\n"
            "    return [(m.start(), m.end(), 'EMAIL_ADDRESS') for m in re.finditer(r'[\\w.+-]+@[\\w-]+(?:\\.[\\w-]+)+', text)]\n")
    text = "q?" + "&".join(f"m{i}=user{i}@example.org" for i in range(150))  # no space: every cut is a hard one
    emails = [f"user{i}@example.org" for i in range(150)]
    path = tmp_path / "s.sqlite"
    store = Store(path)
    store.offer_version("pii-short", "pii", code, {"validation": {"f1": 0.5}}, {"accepted": True}, (), {}, None, key="f1")
    store.close()
    spans = run("skills", "run", "pii-short", text, "--store", str(path), "--sandbox", "local", "--json")
    found = json.loads(spans.stdout)[0]["prediction"]
    assert [text[s:e] for s, e, _ in found] == emails  # each once, whole
    masked = run("skills", "run", "pii-short", text, "--mask", "--store", str(path), "--sandbox", "local").stdout
    assert "@" not in masked and masked.count("[EMAIL_ADDRESS]") == 150
    exported = run("skills", "export", "pii-short", "--store", str(path))
    done = subprocess.run(["python3", "-I", "-c", exported.stdout, text], capture_output=True, text=True)
    assert done.returncode == 0 and json.loads(done.stdout) == found, done.stderr
    # an export written before the pieces overlapped is still what `skills export` wrote: check takes it
    # (what `skills export` wrote then: a docstring, the stored code between two markers, the runner)
    from skills_store import export_legacy as legacy
    from skills_store.export import skill_source

    old = tmp_path / "old.py"
    old.write_text(f'"""pii-short@1"""\n{legacy.SKILL_START}{skill_source(exported.stdout)[0]}\n\n{legacy.SKILL_END}'
                   + legacy.SPAN_RUNNERS_BEFORE_OVERLAP[0])
    from skills_store.export import embedded_libraries, wrapper_problem

    assert wrapper_problem(old.read_text(), embedded_libraries(old.read_text())) == ""
