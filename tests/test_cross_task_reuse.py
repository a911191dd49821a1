"""Reuse across tasks: a PII span skill, accepted by the pii gate, called as a library by a skill of
another task (a classification task from a local file), inside the sandbox, recorded as a dependency."""
from __future__ import annotations

import json
import os
from pathlib import Path

from conftest import require_docker
from engine.config import RunConfig
from engine.evaluate import Evaluator
from engine.libraries import resolve
from engine.loop import Run
from engine.records import Proposal
from sandbox.factory import open_backend
from skills_store.store import Store
from tasks import load_task
from test_cli import run

CONTACTS = '''import re

EMAIL = re.compile(r"(?<![\\w.+-])[\\w.+-]+@[\\w-]+(?:\\.[\\w-]+)+")
PHONE = re.compile(r"(?<![\\d+(])\\+?\\(?\\d[\\d().\\- ]{7,}\\d")
CARD = re.compile(r"\\b(?:\\d{4}[ -]?){3}\\d{4}\\b")
SSN = re.compile(r"\\b\\d{3}-\\d{2}-\\d{4}\\b")
IP = re.compile(r"\\b(?:\\d{1,3}\\.){3}\\d{1,3}\\b")
TITLED = re.compile(r"\\b(?:Mr|Mrs|Ms|Dr|Miss|Prof)\\.? [A-Z][a-z]+(?: [A-Z][a-z]+)?")


def solve(text):
    """Contact and number details: e-mail addresses, phone numbers, cards, SSNs, IPs, titled names."""
    spans = []
    for label, pattern in (("EMAIL_ADDRESS", EMAIL), ("US_SSN", SSN), ("CREDIT_CARD", CARD),
                           ("IP_ADDRESS", IP), ("PHONE_NUMBER", PHONE), ("PERSON", TITLED)):
        for m in pattern.finditer(text):
            if not any(m.start() < end and start < m.end() for start, end, _ in spans):
                spans.append((m.start(), m.end(), label))
    return sorted(spans)
'''

HAS_CONTACT = '''from skills import pii_contacts


def solve(text):
    """1 when the text holds an e-mail address or a phone number (found by the stored PII skill)."""
    return int(any(label in ("EMAIL_ADDRESS", "PHONE_NUMBER") for _, _, label in pii_contacts.solve(text)))
'''


class FixedProposer:
    name = "fixed"
    model = "composed"

    def propose(self, ctx):
        assert [lib.kind for lib in ctx.libraries] == ["spans"]
        return Proposal(code=HAS_CONTACT, proposer=self.name, model=self.model)


def contact_task_file(tmp_path: Path) -> Path:
    """A binary task derived from the PII set in a temporary file: does the text hold contact details?"""
    source = Path(os.environ["SKILLKILN_DATA_DIR"]) / "pii" / "presidio_synth_dataset_v2.jsonl"
    out = tmp_path / "has_contact.jsonl"
    with source.open(encoding="utf-8") as f, out.open("w", encoding="utf-8") as g:
        for line in f:
            row = json.loads(line)
            labels = {s["label"] for s in row["privacy_mask"] or []}
            g.write(json.dumps({"text": row["source_text"],
                                "label": int(bool(labels & {"EMAIL_ADDRESS", "PHONE_NUMBER"}))}) + "\n")
    return out


def test_a_pii_skill_is_called_by_a_classification_skill_and_recorded_as_its_dependency(tmp_path):
    require_docker()
    data_dir = os.environ.get("SKILLKILN_DATA_DIR")
    backend = open_backend("docker", 2, lambda _m: None)
    try:
        # 1. the span skill passes the pii gate, and goes into the store with its verdict
        pii = load_task("pii", data_dir)
        judged = Evaluator(pii, backend, cascade=False).evaluate(CONTACTS)
        assert judged.verdict.accepted, judged.verdict.reasons
        store = Store(tmp_path / "s.sqlite")
        verdict = judged.verdict.to_dict()
        store.offer_version("pii-contacts", "pii", CONTACTS, verdict["metrics"], verdict, (), {}, None, key="f1")

        # 2. a run of another task is offered it as a library; the composed skill is accepted
        task_file = contact_task_file(tmp_path)
        task = load_task(f"file:{task_file}")
        libraries = resolve(store, ["pii-contacts"])
        config = RunConfig(task=task.name, iters=1, batch=1, workers=2, name="has-contact",
                           libraries=tuple(lib.ref for lib in libraries.values()))
        summary = Run(config, task, backend, FixedProposer(), store, libraries=libraries).execute()
    finally:
        backend.close()
    assert summary["accepted_count"] == 1, summary["rejections"]
    assert summary["best"]["metrics"]["validation"]["mcc"] > 0.5
    composed = store.get("has-contact")
    assert composed.task == task.name and store.get("pii-contacts").task == "pii"
    assert composed.dependencies == {"pii-contacts": 1}
    store.close()

    # 3. later, outside the run: the CLI shows the dependency and runs the composed skill with it injected
    shown = run("skills", "show", "has-contact", "--store", str(tmp_path / "s.sqlite"))
    assert "pii-contacts@1" in shown.stdout, shown.stdout + shown.stderr
    done = run("skills", "run", "has-contact", "write to ann.lee@example.org today", "--store",
               str(tmp_path / "s.sqlite"), "--sandbox", "docker")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1].strip().endswith("1")
