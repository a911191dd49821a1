"""evolve --library: stored skills offered to a run, injected at exact versions, recorded as dependencies."""
from __future__ import annotations

import json
import os

import pytest

from conftest import require_docker, skill_code
from engine.config import RunConfig
from engine.errors import SkillkilnError
from engine.libraries import dependencies_of, resolve, sources_for
from engine.loop import Run
from engine.prompts import proposal_prompt
from engine.records import Proposal
from sandbox.factory import open_backend
from skills_store.store import Store
from tasks import load_task
from test_cli import one_line_error, run

RULES = skill_code("honest_rules.py")
DOUBLED = (
    "from skills import cola_rules\n\n\n"
    "def solve(text):\n"
    "    words = text.lower().split()\n"
    "    if any(a == b for a, b in zip(words, words[1:])):\n"
    "        return 0\n"
    "    return cola_rules.solve(text)\n"
)
SHORT = (
    "from skills import cola_rules\n\n\n"
    "def solve(text):\n"
    "    if len(text.split()) <= 2:\n"
    "        return 0\n"
    "    return cola_rules.solve(text)\n"
)
PLAIN = "def solve(text):\n    return int(len(text.split()) > 3 and not text.endswith('?'))\n"


class ComposingProposer:
    """Proposes skills that call the first library it is offered (and one that calls none)."""

    name = "composer"
    model = "fixed"

    def __init__(self):
        self.contexts = []

    def propose(self, ctx):
        self.contexts.append(ctx)
        code = [DOUBLED, SHORT, PLAIN][len(self.contexts) - 1 if len(self.contexts) <= 3 else 2]
        return Proposal(code=code, proposer=self.name, model=self.model)


def offer(store: Store, name: str, code: str, deps=None):
    return store.offer_version(name, "cola", code, {"validation": {"mcc": 0.1}}, {}, (), {}, None,
                               dependencies=deps or {})


def test_resolve_picks_pinned_versions_with_dependencies_first(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    offer(store, "cola-rules", RULES)
    store.offer_version("cola-rules", "cola", RULES + "\n# v2\n", {"validation": {"mcc": 0.2}}, {}, (), {}, None)
    offer(store, "composed", DOUBLED, {"cola-rules": 1})
    assert store.current_version("cola-rules") == 2
    libs = resolve(store, ["composed"])
    assert list(libs) == ["cola_rules", "composed"]  # the dependency first: the sandbox loads in this order
    assert libs["cola_rules"].ref == "cola-rules@1"  # the version composed depends on, not the latest
    with pytest.raises(SkillkilnError, match="two versions of cola-rules"):
        resolve(store, ["composed", "cola-rules@2"])
    store.pin("cola-rules@1", "test")
    assert resolve(store, ["cola-rules"])["cola_rules"].version == 1
    with pytest.raises(SkillkilnError):
        resolve(store, ["no-such-skill"])
    # a candidate gets what it imports and what that imports; its dependencies are its direct imports
    uses_composed = "from skills import composed\n\ndef solve(text):\n    return composed.solve(text)\n"
    assert list(sources_for(uses_composed, libs)) == ["cola_rules", "composed"]
    assert sources_for(PLAIN, libs) == {}
    assert dependencies_of(uses_composed, libs) == {"composed": 1}


def test_evolve_offers_libraries_and_records_dependencies(tmp_path):
    require_docker()
    store = Store(tmp_path / "s.sqlite")
    offer(store, "cola-rules", RULES)
    libraries = resolve(store, ["cola-rules"])
    config = RunConfig(task="cola", iters=1, batch=3, workers=2, name="composed", libraries=("cola-rules@1",))
    task = load_task("cola", os.environ.get("SKILLKILN_DATA_DIR"))
    proposer = ComposingProposer()
    backend = open_backend("docker", 2, lambda _m: None)
    try:
        summary = Run(config, task, backend, proposer, store, libraries=libraries).execute()
    finally:
        backend.close()

    offered = proposer.contexts[0].libraries
    assert [(lib.import_name, lib.ref, lib.kind) for lib in offered] == [("cola_rules", "cola-rules@1", "classification")]
    assert "from skills import cola_rules" in proposal_prompt(proposer.contexts[0]).user
    assert summary["accepted_count"] >= 2, summary["rejections"]
    versions = {v.code: v for v in store.versions("composed")}
    assert versions, "no accepted version"
    for code, version in versions.items():  # each version depends on exactly what it imports
        assert version.dependencies == ({} if code == PLAIN else {"cola-rules": 1})
    assert json.loads(store.run(summary["run_id"])["config"])["libraries"] == ["cola-rules@1"]
    store.close()

    # the composed skill runs later with its dependency injected again, through the CLI
    composed = next(v for v in versions.values() if v.dependencies)
    done = run("skills", "run", f"composed@{composed.version}", "The the cat sat.", "--store",
               str(tmp_path / "s.sqlite"), "--sandbox", "docker")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1].strip().endswith("0")  # doubled word: 0 by the composed rule


def test_evolve_with_an_unknown_library_fails_in_one_line(tmp_path):
    done = run("evolve", "--task", "cola", "--iters", "1", "--library", "nope", "--store", str(tmp_path / "s.sqlite"),
               "--sandbox", "local")
    assert done.returncode != 0
    assert "nope" in one_line_error(done)


def test_a_stored_library_the_static_gate_now_refuses_is_one_line(tmp_path):
    """A version stored before a rule (str.format was refused in the eleventh session) is named, with
    the rule, before the run starts, not refused inside every candidate."""
    store = Store(tmp_path / "s.sqlite")
    old = RULES.replace("def solve(text):", "def solve(text):\n    text = '{}'.format(text)", 1)
    offer(store, "cola-rules", old)
    store.close()
    done = run("evolve", "--task", "cola", "--iters", "1", "--library", "cola-rules", "--store",
               str(tmp_path / "s.sqlite"), "--sandbox", "local")
    assert done.returncode != 0
    line = one_line_error(done)
    assert "library cola-rules@1 no longer passes the static gate (static:restricted" in line and "format" in line
    assert Store(tmp_path / "s.sqlite").get("cola-rules").code == old  # nothing stored is touched


def test_run_and_export_inject_dependencies_of_dependencies(tmp_path):
    require_docker()
    store = Store(tmp_path / "s.sqlite")
    offer(store, "cola-rules", RULES)
    offer(store, "composed", DOUBLED, {"cola-rules": 1})
    outer = "from skills import composed\n\n\ndef solve(text):\n    return composed.solve(text)\n"
    offer(store, "outer", outer, {"composed": 1})
    store.close()
    where = ["--store", str(tmp_path / "s.sqlite")]
    done = run("skills", "run", "outer", "The the cat sat.", *where, "--sandbox", "docker")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1].strip().endswith("0")
    exported = tmp_path / "outer.py"
    assert run("skills", "export", "outer", "-o", str(exported), *where).returncode == 0
    import subprocess
    import sys

    alone = subprocess.run([sys.executable, str(exported), "The the cat sat."], capture_output=True, text=True,
                           cwd=tmp_path, env={"PATH": os.environ.get("PATH", "")})
    assert alone.returncode == 0, alone.stderr
    assert alone.stdout.strip() == "0"
    # --library names every library to check with: the export's others are said to be left out (reuse audit: they
    # were dropped without a word and the check failed on an ImportError)
    checked = run("skills", "check", str(exported), "--task", "cola", "--library", "composed@1", *where,
                  "--sandbox", "local")
    assert "the export also carries" not in checked.stderr  # composed@1 brings cola-rules@1 along
    checked = run("skills", "check", str(exported), "--task", "cola", "--library", "cola-rules@1", *where,
                  "--sandbox", "local")
    assert "the export also carries composed@1, left out" in " ".join(checked.stderr.split())


def test_offline_evolve_uses_a_library_as_a_rule_and_records_it(tmp_path):
    require_docker()
    store = Store(tmp_path / "s.sqlite")
    offer(store, "cola-rules", RULES)
    store.close()
    done = run("evolve", "--task", "cola", "--iters", "2", "--library", "cola-rules", "--store",
               str(tmp_path / "s.sqlite"), "--sandbox", "docker", "--json")
    assert done.returncode == 0, done.stderr
    assert "libraries cola-rules@1" in done.stderr
    summary = json.loads(done.stdout)
    store = Store(tmp_path / "s.sqlite")
    rows = store.candidates(summary["run_id"])
    calling = [r for r in rows if "from skills import cola_rules" in r["code"]]
    assert calling, "no candidate used the offered library"
    assert "SKILL_WEIGHTS" in calling[0]["code"]
    accepted = [r for r in calling if r["accepted"] and r["skill_version"]]
    assert accepted, [json.loads(r["reasons"]) for r in calling]
    version = store.get(f"cola-offline@{accepted[0]['skill_version']}")
    assert version.dependencies == {"cola-rules": 1}


def test_a_run_never_stores_its_skills_under_a_librarys_own_name(tmp_path):
    """After `make demo`, `evolve --library cola-offline` stored cola-offline@2 importing cola-offline@1, and from
    then on cola-offline could not be a library ('depends on itself'). The default name moves aside; a --name
    that collides is refused; a version stored that way is named, with the way out."""
    path = str(tmp_path / "s.sqlite")
    store = Store(path)
    offer(store, "cola-offline", RULES)
    store.close()
    done = run("evolve", "--task", "cola", "--iters", "1", "--batch", "2", "--library", "cola-offline", "--store", path,
               "--sandbox", "local", "--json")
    assert done.returncode == 0, done.stderr
    assert "note: the run's skills are stored as cola-offline-2: cola-offline is a library of this run" in done.stderr
    summary = json.loads(done.stdout)
    assert json.loads(Store(path).run(summary["run_id"])["config"])["name"] == "cola-offline-2"
    refused = run("evolve", "--task", "cola", "--iters", "1", "--library", "cola-offline", "--name", "cola-offline",
                  "--store", path, "--sandbox", "local")
    assert refused.returncode == 2 and "--name cola-offline imports as cola_offline, as library cola-offline does" in one_line_error(refused)
    # '-' and '_' import as one name (reuse audit: --name cola_offline was taken and its versions could never be
    # libraries: 'libraries need two versions of cola_offline (2 and 4)', of two different skills)
    refused = run("evolve", "--task", "cola", "--iters", "1", "--library", "cola-offline", "--name", "cola_offline",
                  "--store", path, "--sandbox", "local")
    assert refused.returncode == 2 and "--name cola_offline imports as cola_offline, as library cola-offline does" in one_line_error(refused)
    store = Store(path)
    offer(store, "cola_offline", RULES + "\n# the other spelling\n")
    store.close()
    both = run("evolve", "--task", "cola", "--iters", "1", "--library", "cola-offline", "--library", "cola_offline",
               "--store", path, "--sandbox", "local")
    assert both.returncode == 2 and "libraries cola-offline and cola_offline both import as cola_offline" in one_line_error(both)
    store = Store(path)  # a version stored before: it imports an earlier version of its own name
    store.offer_version("cola-offline", "cola", DOUBLED.replace("cola_rules", "cola_offline"), {"validation": {"mcc": 0.3}},
                        {}, (), {}, None, dependencies={"cola-offline": 1})
    with pytest.raises(SkillkilnError, match=r"cola-offline@2 imports cola-offline@1, an earlier version of its own"):
        resolve(store, ["cola-offline"])
    assert resolve(store, ["cola-offline@1"])["cola_offline"].version == 1  # the way out it names


def test_a_library_that_fails_on_some_train_texts_is_not_offered_and_the_summary_says_so(tmp_path):
    """Reuse audit: a library raising on texts with 'movie' became a feature of every candidate, and every one
    failed the gate (crash:train_subset 8, 'none accepted'), with no word of the library."""
    store = Store(tmp_path / "s.sqlite")
    crashy = ("def solve(text):\n    if ' the ' in f' {text.lower()} ':\n        raise ValueError('boom')\n"
              "    return 1 if len(text) % 2 else 0\n")
    offer(store, "cola-crashy", crashy)
    store.close()
    done = run("evolve", "--task", "cola", "--iters", "2", "--library", "cola-crashy", "--store",
               str(tmp_path / "s.sqlite"), "--sandbox", "local", "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    (warning,) = summary["warnings"]
    assert warning.startswith("library cola-crashy@1 is not offered as a feature: it failed on ") and "boom" in warning
    rows = Store(tmp_path / "s.sqlite").candidates(summary["run_id"])
    assert not [r for r in rows if "cola_crashy" in r["code"]] and summary["accepted_count"] >= 1
