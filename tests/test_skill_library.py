"""A skill may call a stored skill as a library (`from skills import NAME`) inside the sandbox."""
from __future__ import annotations

import json

from conftest import require_docker, skill_code
from skills_store.store import Store
from test_cli import run

COMPOSED = (
    "from skills import cola_rules\n\n\n"
    "def solve(text):\n"
    "    # the stored skill's answer, except that a doubled word always flags the sentence\n"
    "    words = text.lower().split()\n"
    "    if any(a == b for a, b in zip(words, words[1:])):\n"
    "        return 0\n"
    "    return cola_rules.solve(text)\n"
)


def test_composed_skill_calls_the_stored_one_through_the_sandbox(tmp_path):
    require_docker()
    store_path = tmp_path / "s.sqlite"
    store = Store(store_path)
    metrics = {"validation": {"mcc": 0.15}}
    store.offer_version("cola-rules", "cola", skill_code("honest_rules.py"), metrics, {}, (), {}, None)
    store.close()
    skill = tmp_path / "composed.py"
    skill.write_text(COMPOSED)

    alone = run("skills", "check", str(skill), "--task", "cola", "--sandbox", "docker", "--json")
    assert alone.returncode == 1
    assert json.loads(alone.stdout)["reasons"] == ["static:import"]  # no library named: no `skills` module

    done = run("skills", "check", str(skill), "--task", "cola", "--library", "cola-rules@1", "--store",
               str(store_path), "--sandbox", "docker", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    verdict = json.loads(done.stdout)
    assert verdict["accepted"] and verdict["libraries"] == ["cola-rules@1"]
    assert verdict["metrics"]["validation"]["mcc"] > 0.05

    # exported with the library it was stored with: `skills check` of the export uses the carried version,
    # even once the store holds a newer one, and says so when --library asks for another
    store = Store(store_path)
    store.offer_version("cola-composed", "cola", COMPOSED, verdict["metrics"], {}, (), {}, None,
                        dependencies={"cola-rules": 1})
    store.offer_version("cola-rules", "cola", skill_code("honest_rules.py").replace("THRESHOLD = 2", "THRESHOLD = 3"),
                        {"validation": {"mcc": 0.2}}, {}, (), {}, None)
    store.close()
    exported = tmp_path / "exported.py"
    assert run("skills", "export", "cola-composed", "-o", str(exported), "--store", str(store_path)).returncode == 0
    carried = run("skills", "check", str(exported), "--task", "cola", "--sandbox", "docker", "--json", "--store",
                  str(store_path))
    assert carried.returncode == 0, carried.stderr
    again = json.loads(carried.stdout)
    assert again["libraries"] == ["cola-rules@1"] and "the export was made with: cola-rules@1" in carried.stderr
    assert again["metrics"]["validation"] == verdict["metrics"]["validation"]
    newer = run("skills", "check", str(exported), "--task", "cola", "--library", "cola-rules", "--store",
                str(store_path), "--sandbox", "docker", "--json")
    assert json.loads(newer.stdout)["libraries"] == ["cola-rules@2"]
    assert "the export carries cola-rules@1; checking with cola-rules@2, as --library asks" in newer.stderr
    # a library whose code in the file is not the stored version's is not run: the store's gate is the only way in
    forged = tmp_path / "forged.py"
    forged.write_text(exported.read_text().replace("THRESHOLD = 2", "THRESHOLD = 9", 1))
    refused = run("skills", "check", str(forged), "--task", "cola", "--sandbox", "docker", "--store", str(store_path))
    assert refused.returncode == 2 and "its code is not the stored cola-rules@1's" in refused.stderr


def test_a_library_changed_in_the_store_is_refused_wherever_it_would_run(tmp_path):
    """Reuse audit: with a library's code edited in the store, skills run, export, check and evolve ran the edited
    code without a word (the export's header kept the stored hash), and --reuse of an edited version stored it
    again under a fresh, valid hash."""
    import sqlite3

    store_path = tmp_path / "s.sqlite"
    store = Store(store_path)
    metrics = {"validation": {"mcc": 0.15}}
    store.offer_version("cola-rules", "cola", skill_code("honest_rules.py"), metrics, {}, (), {}, None)
    store.offer_version("cola-composed", "cola", COMPOSED, metrics, {}, (), {}, None, dependencies={"cola-rules": 1})
    store.close()
    db = sqlite3.connect(store_path)
    db.execute("UPDATE skill_versions SET code = code || '\n# edited' WHERE name = 'cola-rules'")
    db.commit()
    db.close()
    said = "library cola-rules@1's code does not match its stored sha256: it was changed after the gate judged it"
    for args in (("skills", "run", "cola-composed", "The cat sat.", "--sandbox", "local"),
                 ("skills", "export", "cola-composed"),
                 ("evolve", "--task", "cola", "--iters", "1", "--library", "cola-rules@1", "--sandbox", "local")):
        done = run(*args, "--store", str(store_path))
        assert done.returncode == 2 and said in " ".join(done.stderr.split()), (args, done.stderr)
    done = run("evolve", "--task", "cola", "--iters", "1", "--reuse", "cola-rules", "--sandbox", "local",
               "--store", str(store_path))
    assert done.returncode == 2 and "--reuse cola-rules: cola-rules@1's code does not match its stored sha256" in done.stderr


PICKY = (
    "def solve(text):\n"
    "    if 'boom' in text:\n"
    "        raise ValueError('no boom here')\n"
    "    return 1\n"
)
CALLS_PICKY = (
    "from skills import picky\n\n\n"
    "def solve(text):\n"
    "    answer = picky.solve(text)\n"
    "    if 'bang' in text:\n"
    "        raise KeyError('bang')\n"
    "    return answer\n"
)


def test_a_failure_inside_a_library_names_the_library(tmp_path):
    """Reuse audit: an exception raised in a library was reported as the outer skill's, with nothing to say where."""
    require_docker()
    store_path = tmp_path / "s.sqlite"
    store = Store(store_path)
    store.offer_version("picky", "cola", PICKY, {"validation": {"mcc": 0.1}}, {}, (), {}, None)
    store.offer_version("outer", "cola", CALLS_PICKY, {"validation": {"mcc": 0.1}}, {}, (), {}, None,
                        dependencies={"picky": 1})
    store.close()
    done = run("skills", "run", "outer", "--file", str(_lines(tmp_path, "a boom", "a bang", "fine")),
               "--store", str(store_path), "--sandbox", "docker", "--json")
    assert done.returncode == 1
    errors = [row["error"] for row in json.loads(done.stdout)]
    assert errors == ["exception: ValueError: no boom here (in library picky, line 3)",
                      "exception: KeyError: 'bang'", None]  # raised in the outer skill: no library named


def _lines(tmp_path, *texts: str):
    path = tmp_path / "texts.txt"
    path.write_text("\n".join(texts) + "\n")
    return path


def test_skills_check_refuses_an_export_with_code_outside_its_markers(tmp_path):
    """Gate audit: `skills check` judged only the code between an export's markers, so a file with `import os;
    os.system(...)` in its header and `def solve(text): return 1` after its end marker was accepted, and python3
    ran those instead."""
    store_path = tmp_path / "s.sqlite"
    store = Store(store_path)
    store.offer_version("cola-rules", "cola", skill_code("honest_rules.py"), {"validation": {"mcc": 0.15}}, {}, (),
                        {}, None)
    store.offer_version("cola-composed", "cola", COMPOSED, {"validation": {"mcc": 0.15}}, {}, (), {}, None,
                        dependencies={"cola-rules": 1})
    store.close()
    exported = tmp_path / "export.py"
    assert run("skills", "export", "cola-composed", "-o", str(exported), "--store", str(store_path)).returncode == 0
    text = exported.read_text()
    tampered = {
        "after": (text + "\n\ndef solve(text):\n    return 1\n", "what follows the skill's code"),
        "header": (text.replace("LIBRARIES = {}\n", "LIBRARIES = {}\nimport os\n", 1), "what comes before"),
        "guards": (text.replace("import types\n", "import types\nimport os\n", 1), "guards it carries are not this"),
        "no docstring": (text[text.index('"""\n', 3) + 4:], "does not start with the docstring"),
    }
    for name, (changed, says) in tampered.items():
        assert changed != text, name
        path = tmp_path / f"{name.replace(' ', '_')}.py"
        path.write_text(changed)
        refused = run("skills", "check", str(path), "--task", "cola", "--sandbox", "local", "--store", str(store_path))
        assert refused.returncode == 2 and says in refused.stderr and "is refused" in refused.stderr, (name, refused.stderr)
