"""The run report: one self-contained HTML page that a browser really renders."""
from __future__ import annotations

import html
import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from conftest import IN_CI, require_docker
from test_cli import run

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars"]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    require_docker()
    store = tmp_path_factory.mktemp("report") / "s.sqlite"
    done = run("evolve", "--task", "cola", "--iters", "4", "--store", str(store), "--sandbox", "docker", "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    return Path(summary["report"]), summary, str(store)


def test_evolve_writes_a_self_contained_report(report):
    path, summary, _ = report
    text = path.read_text()
    assert path.name == f"{summary['run_id']}.html"
    assert text.count('src="data:image/png;base64,') == 5  # scores, clusters, rejections, lineage, tokens
    assert "Failure clusters of the elite per iteration" in text
    assert "k = round(sqrt(n/2))" in text  # the stated rule for the number of clusters
    # iterations 1..3 had an elite: one row of cluster statistics each
    assert text.count("<tr><td>") - text.split("Failure clusters, iteration by iteration")[0].count("<tr><td>") >= 3
    assert "http://" not in text and "https://" not in text  # nothing to fetch
    assert summary["run_id"] in text and "majority" in text
    for reason in [*summary["rejections"], *summary["skipped"]]:
        assert reason in text
    assert "skipped by the cascade" in text or not summary["skipped"]  # skips are told apart from the gate's rejections
    assert f"<tr><td>made by</td><td>{html.escape(summary['best']['note'])}</td>" in text  # how the best was made


def test_skills_report_command(report, tmp_path):
    _, summary, store = report
    out = tmp_path / "r.html"
    done = run("skills", "report", summary["run_id"], "-o", str(out), "--store", store)
    assert done.returncode == 0, done.stderr
    assert out.read_text().startswith("<!doctype html>")
    missing = run("skills", "report", "no-such-run", "--store", store)
    assert missing.returncode == 2 and "no run" in missing.stderr


def test_report_renders_in_headless_chromium(report, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        if IN_CI:
            pytest.fail("CI=true but chromium is not installed (.ci/run installs it)")
        pytest.skip("chromium is not installed")
    path, _, _ = report
    shot = tmp_path / "shot.png"
    subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
                    f"--screenshot={shot}", "--window-size=1200,2400", path.as_uri()],
                   capture_output=True, timeout=120, check=False)
    assert shot.exists(), "chromium wrote no screenshot"
    import matplotlib.image

    pixels = matplotlib.image.imread(str(shot))[..., :3]
    ink = (pixels.mean(axis=2) < 0.9).mean()  # share of pixels that are not near-white
    assert pixels.std() > 0.05 and ink > 0.02, f"the screenshot looks blank (ink {ink:.3f})"


def test_a_report_that_does_not_fit_on_the_disk_leaves_no_cut_file(report, tmp_path):
    """Fault audit: on a full disk a truncated 94 kB report (of 165 kB) was left at the report's path."""
    from engine.errors import SkillkilnError
    from engine.report import write_report
    from skills_store.store import Store

    path, summary, store_path = report
    small = tmp_path / "small"
    small.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={path.stat().st_size // 2 // 1024}k", "tmpfs",
                              str(small)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        with pytest.raises(SkillkilnError, match="cannot write the report to .*: No space left on device"):
            write_report(Store(Path(store_path)), summary["run_id"], small / "r.html")
        assert list(small.iterdir()) == []
    finally:
        subprocess.run(["umount", str(small)], check=True)


def test_a_report_that_cannot_be_written_costs_a_warning_not_the_summary(tmp_path):
    store = tmp_path / "s.sqlite"
    (tmp_path / "reports").write_text("a file where the reports folder would go")
    done = run("evolve", "--task", "cola", "--iters", "1", "--store", str(store), "--sandbox", "local", "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["report"] is None and summary["candidates"] == 4
    assert "warning: cannot write the report" in done.stderr and f"skills report {summary['run_id']}" in done.stderr
    assert f"{tmp_path / 'reports'} is a file, not a folder" in done.stderr  # it said "File exists"
    assert "Traceback" not in done.stderr


def test_each_candidate_is_one_block_of_its_iterations_bar():
    """The bar chart counts candidates (accepted first, then by first reason), not reasons: a
    candidate with two reasons is one block, and the bars add up to the candidates."""
    from engine.report import TOP_REASONS, outcomes

    rows = [{"iteration": 0, "accepted": True, "reasons": []},
            {"iteration": 0, "accepted": False, "reasons": ["memorised", "not_significant:validation"]},
            {"iteration": 1, "accepted": False, "reasons": ["not_better"]},
            {"iteration": 1, "accepted": False, "reasons": ["not_better"]}]
    rows += [{"iteration": 2, "accepted": False, "reasons": [f"rare:{i}"]} for i in range(TOP_REASONS + 2)]
    its, bars = outcomes(rows)
    assert its == [0, 1, 2]
    assert bars["accepted"] == [1, 0, 0] and bars["memorised"] == [1, 0, 0] and bars["not_better"] == [0, 2, 0]
    assert "not_significant:validation" not in bars  # only a second reason
    assert sum(bars["other"]) == 4  # 12 first reasons: those beyond the TOP_REASONS commonest
    assert [sum(column) for column in zip(*bars.values())] == [2, 2, TOP_REASONS + 2]


def test_the_rejections_row_says_a_candidate_may_fail_several_checks():
    """22 rejected candidates whose reasons add up to 26 read as a miscount (user audit)."""
    from engine.summary import rejections_line

    several = rejections_line({"rejections": {"not_significant:validation": 22, "mcc_floor:validation": 2,
                                              "balanced_accuracy_floor:validation": 2}, "rejected_count": 22})
    assert several.endswith("(candidates per reason: 22 rejected, some for more than one)")
    assert rejections_line({"rejections": {"mcc_floor:train": 2}, "rejected_count": 2}) == "mcc_floor:train 2"
    assert rejections_line({"rejections": {}, "rejected_count": 0}) == "none"


def test_an_outcome_has_one_colour_in_every_report_and_seeds_are_named():
    """Colours followed how common a reason was in the run, so one outcome changed colour between reports, and
    `same_behaviour` was a green beside 'accepted'; a --reuse run's seeds sat at an unexplained iteration -1."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from engine.report import GATE_PALETTE, _png, outcome_colour

    assert outcome_colour("accepted") == "#1b7f3b" and outcome_colour("same_behaviour") != outcome_colour("accepted")
    assert outcome_colour("not_significant:validation") == outcome_colour("not_significant:validation")
    assert all(outcome_colour(r) in GATE_PALETTE for r in ("mcc_floor:train", "crash:validation", "memorised:gap"))
    fig, ax = plt.subplots()
    ax.plot([-1, 0, 1], [0, 1, 2])
    ax.set_xlabel("iteration")
    _png(fig)
    assert ax.xaxis.get_major_formatter()(-1, 0) == "seeds" and ax.xaxis.get_major_formatter()(3, 0) == "3"


def test_a_report_written_through_a_link_or_into_a_pipe_replaces_neither(report, tmp_path):
    """Skills audit: `skills report RUN -o /dev/stdout` (as root) replaced the device with an HTML file, and a
    symlink became a regular file while the file it named kept its old text (the report was renamed over PATH)."""
    _, summary, store_path = report
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "report.html").write_text("old")
    link = tmp_path / "link.html"
    link.symlink_to(shared / "report.html")
    done = run("skills", "report", summary["run_id"], "-o", str(link), "--store", store_path)
    assert done.returncode == 0, done.stderr
    assert link.is_symlink() and (shared / "report.html").read_text().startswith("<!doctype html>")
    assert sorted(p.name for p in shared.iterdir()) == ["report.html"]  # no .part left beside it

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE)
    done = run("skills", "report", summary["run_id"], "-o", str(fifo), "--store", store_path)
    got = reader.communicate(timeout=30)[0]
    assert done.returncode == 0, done.stderr
    assert stat.S_ISFIFO(fifo.stat().st_mode) and got.startswith(b"<!doctype html>") and b"</html>" in got


def test_a_report_of_a_span_run_killed_before_its_summary(tmp_path):
    """Skills audit: a pii run killed before its summary failed `skills report` with exit 3 (KeyError 'mcc':
    the metric fell back to MCC, which span metrics lack)."""
    from engine.report import render
    from skills_store.store import Store

    store = Store(tmp_path / "s.sqlite")
    store.start_run("r", "pii", {"iters": 2}, "local")
    metrics = {"f1": 0.4, "precision": 0.5, "recall": 0.33, "overlap_f1": 0.5, "n": 10}
    store.add_candidate({
        "id": "r-000-0", "run_id": "r", "iteration": 0, "code": "def solve(text):\n    return []\n",
        "code_sha256": "0" * 64, "parent_ids": (), "proposer": "offline", "model": "spans-v1", "note": "",
        "prompt_tokens": 0, "completion_tokens": 0, "stage": "validation", "accepted": 0, "reasons": ("f1_floor:validation",),
        "verdict": {"accepted": False, "reasons": ["f1_floor:validation"], "details": {},
                    "metrics": {"train": metrics, "validation": metrics}}, "sandbox_s": 0.1,
    })
    page = render(store, "r")  # no summary: as a kill -9 leaves it
    assert "span F1 (exact)" in page or "f1" in page
