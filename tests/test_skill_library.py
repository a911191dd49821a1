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
