import os
from pathlib import Path

import pytest

from engine.errors import SkillkilnError
from tasks import load_task


def test_cola_splits(cola):
    assert (len(cola.train), len(cola.validation), len(cola.test)) == (7694, 857, 1043)
    assert len(cola.train) + len(cola.validation) == 8551
    share = lambda split: sum(split.labels) / len(split)  # noqa: E731
    assert abs(share(cola.train) - share(cola.validation)) < 0.01  # stratified
    assert share(cola.test) == pytest.approx(719 / 1043)


def test_no_text_on_both_sides_of_train_and_validation(cola):
    # duplicate sentences in the train file stay together, so validation is truly held out
    assert not set(cola.train.texts) & set(cola.validation.texts)


def test_split_is_fixed(cola, tmp_path):
    from tasks.cola import load

    again = load(__import__("pathlib").Path(__import__("os").environ["SKILLKILN_DATA_DIR"]))
    assert again.validation.texts == cola.validation.texts


def test_unknown_task_and_missing_data_are_clear(tmp_path):
    with pytest.raises(SkillkilnError, match="unknown task 'colaa'"):
        load_task("colaa")
    with pytest.raises(SkillkilnError, match="does not exist"):
        load_task("cola", tmp_path / "nowhere")
    with pytest.raises(SkillkilnError, match="SKILLKILN_DATA_DIR"):
        load_task("cola", tmp_path)  # exists, but holds no cola/*.tsv


def test_sst2_is_registered_and_not_cola_shaped():
    from tasks import task_names

    assert {"cola", "sst2"} <= set(task_names())
    sst2 = load_task("sst2")
    assert sst2.metric == "accuracy" and sst2.labels == (0, 1)
    assert len(sst2.test) == 872 and not sst2.test.texts[0].endswith(" ")  # GLUE's trailing space stripped
    assert not set(sst2.train.texts) & set(sst2.validation.texts)


def test_file_task_from_jsonl_with_named_columns(tmp_path):
    import json

    path = tmp_path / "mood.jsonl"
    path.write_text("\n".join(json.dumps({"body": f"text {i}", "mood": ["up", "down", "flat"][i % 3]})
                              for i in range(300)))
    task = load_task(f"file:{path}", text_col="body", label_col="mood")
    assert task.labels == ("down", "flat", "up")
    assert len(task.train) + len(task.validation) + len(task.test) == 300
    assert len(task.test) == 30 and len(task.validation) == 30
    with pytest.raises(SkillkilnError, match="no column 'text'"):
        load_task(f"file:{path}")
    with pytest.raises(SkillkilnError, match="does not exist"):
        load_task(f"file:{tmp_path / 'nope.csv'}")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(SkillkilnError, match="is empty"):
        load_task(f"file:{tmp_path / 'empty.csv'}")
    (tmp_path / "header.csv").write_text("text,label\n")
    with pytest.raises(SkillkilnError, match="has no rows"):
        load_task(f"file:{tmp_path / 'header.csv'}")


def test_a_tsv_is_read_literally_and_unlabelled_rows_are_refused(tmp_path):
    rows = [f"line {i} is fine\t{i % 2}" for i in range(300)]
    rows[10] = '"The Matrix" is a film\t1'  # quotes that a CSV reader would run across lines
    rows[30] = '"Alien is unpaired\t0'
    (tmp_path / "films.tsv").write_text("text\tlabel\n" + "\n".join(rows) + "\n")
    task = load_task(f"file:{tmp_path / 'films.tsv'}")
    texts = task.train.texts + task.validation.texts + task.test.texts
    assert len(texts) == 300 and '"Alien is unpaired' in texts and '"The Matrix" is a film' in texts
    rows[5] = "no label here\t"
    (tmp_path / "gaps.tsv").write_text("text\tlabel\n" + "\n".join(rows) + "\n")
    with pytest.raises(SkillkilnError, match="1 of 300 rows have no 'label' value"):
        load_task(f"file:{tmp_path / 'gaps.tsv'}")


REAL_COLA = Path(os.environ["SKILLKILN_DATA_DIR"]) / "cola"  # conftest sets it


def _cola_dir(tmp_path, train: bytes):
    """A data folder holding the real CoLA dev files and TRAIN as the train file."""
    from tasks.cola import FILES

    real = REAL_COLA
    folder = tmp_path / "cola"
    folder.mkdir()
    (folder / FILES[0]).write_bytes(train)
    for name in FILES[1:]:
        (folder / name).write_bytes((real / name).read_bytes())
    return tmp_path


@pytest.mark.parametrize("damage, says", [
    (bytes(range(256)) * 40, "could not be read"),  # not text at all
    (b"no tabs on this line\nnor on this one\n" * 50, "could not be read"),
    (b"", "could not be read"),
    (b"gj04\t2\t\tKim left.\n" * 100, "label 2 is not 0 or 1"),
])
def test_a_damaged_cola_file_is_one_clear_error(tmp_path, damage, says):
    with pytest.raises(SkillkilnError, match=says) as error:
        load_task("cola", _cola_dir(tmp_path, damage))
    assert "cola" in str(error.value) and "\n" not in str(error.value)


def test_a_truncated_cola_file_is_refused_as_too_small(tmp_path):
    head = (REAL_COLA / "in_domain_train.tsv").read_bytes()[:1000]  # 24 rows, the last one cut
    with pytest.raises(SkillkilnError, match=r"too small to judge a skill on: 22 train, 2 validation, 1043 test "
                                             r"examples \(validation needs at least 20\)"):
        load_task("cola", _cola_dir(tmp_path, head))


def test_a_damaged_sst2_line_names_the_file_and_line(tmp_path):
    folder = tmp_path / "sst2"
    folder.mkdir()
    (folder / "train.tsv").write_text("sentence\tlabel\na fine film \t1\na dull one \tzero\n")
    (folder / "dev.tsv").write_text("sentence\tlabel\nok \t1\n")
    with pytest.raises(SkillkilnError, match=r"train.tsv line 3 could not be read"):
        load_task("sst2", tmp_path)


def test_a_dead_proxy_is_a_fast_no_and_a_live_one_a_yes(monkeypatch):
    """Through HTTPS_PROXY the hub is reachable only if the proxy takes a connection (datasets
    retried a dead one for about 25 s before its error)."""
    import socket

    from tasks.hub import hub_resolvable

    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    dead_port = closed.getsockname()[1]
    closed.close()
    monkeypatch.delenv("NO_PROXY", raising=False), monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{dead_port}")
    assert hub_resolvable() is False
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:notaport")
    assert hub_resolvable() is False
    with socket.socket() as live:
        live.bind(("127.0.0.1", 0))
        live.listen(1)
        monkeypatch.setenv("HTTPS_PROXY", f"127.0.0.1:{live.getsockname()[1]}")  # no scheme, as people write it
        assert hub_resolvable() is True


def test_hf_task_behind_a_dead_proxy_is_one_line(tmp_path):
    import subprocess

    from test_cli import BIN, one_line_error

    env = {k: v for k, v in os.environ.items() if k.lower() not in ("no_proxy", "https_proxy")}
    env["HTTPS_PROXY"] = "http://127.0.0.1:9"
    done = subprocess.run([str(BIN / "evolve"), "--task", "hf:someone/some-set", "--store", str(tmp_path / "s.sqlite")],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode != 0
    assert "hub is not reachable" in one_line_error(done)


def test_missing_values_and_odd_columns_in_a_task_file_are_named(tmp_path):
    """A CSV's empty text and texts such as 'NA' are texts (pandas read them as missing and the rows
    vanished); a JSON null text, a NaN label or a list label is refused with its count or type; a
    parser's own error is shown, not datasets' wrapper."""
    import json

    rows = [f"word{i % 2} number {i},{i % 2}" for i in range(300)] + [",0", ",1", "NA,0", "null,1"]
    (tmp_path / "blanks.csv").write_text("text,label\n" + "\n".join(rows) + "\n")
    task = load_task(f"file:{tmp_path / 'blanks.csv'}")
    texts = [e.text for s in ("train", "validation", "test") for e in task.split(s).examples]
    assert len(texts) == 304 and texts.count("") == 2 and "NA" in texts and "null" in texts
    assert task.labels == (0, 1)

    def jsonl(name, values):
        path = tmp_path / name
        path.write_text("\n".join(json.dumps(v) for v in values) + "\n")
        return f"file:{path}"

    good = [{"text": f"t {i}", "label": i % 2} for i in range(300)]
    with pytest.raises(SkillkilnError, match="2 of 302 rows have no 'text' value"):
        load_task(jsonl("nulltext.jsonl", good + [{"text": None, "label": 0}] * 2))
    path = tmp_path / "nan.jsonl"
    path.write_text("\n".join(json.dumps(v) for v in good) + '\n{"text": "x", "label": NaN}\n')
    with pytest.raises(SkillkilnError, match="1 of 301 rows have no 'label' value"):
        load_task(f"file:{path}")
    with pytest.raises(SkillkilnError, match="column 'label' holds list values"):
        load_task(jsonl("lists.jsonl", [{"text": f"t {i}", "label": [i % 2]} for i in range(300)]))
    (tmp_path / "ragged.csv").write_text("text,label\n" + "\n".join(rows[:100]) + "\na,b,c,d\n")
    with pytest.raises(SkillkilnError, match="Expected 2 fields in line 102, saw 4"):
        load_task(f"file:{tmp_path / 'ragged.csv'}")
    with pytest.raises(SkillkilnError, match="is a folder"):
        load_task(f"file:{tmp_path}")
    with pytest.raises(SkillkilnError, match="names no file"):
        load_task("file:")
    # every text its own label: the hint names the labels, not a truncated file
    with pytest.raises(SkillkilnError, match="its 300 labels leave too few examples"):
        load_task(jsonl("ids.jsonl", [{"text": f"t {i}", "label": f"id{i}"} for i in range(300)]))
    with pytest.raises(SkillkilnError, match="--text-col and --label-col are for file: and hf: tasks"):
        load_task("sst2", text_col="review")


def test_pii_with_a_hub_set_and_no_hub_says_to_drop_the_dataset(tmp_path):
    """README audit: with the data folder already named, the error asked for the data folder."""
    import subprocess

    from test_cli import BIN, one_line_error

    env = {k: v for k, v in os.environ.items() if k.lower() not in ("no_proxy", "https_proxy")}
    env["HTTPS_PROXY"] = "http://127.0.0.1:9"
    args = [str(BIN / "evolve"), "--task", "pii", "--dataset", "ai4privacy/pii-masking-200k", "--store", str(tmp_path / "s.sqlite")]
    done = subprocess.run([*args, "--data-dir", str(tmp_path)], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2
    assert one_line_error(done).endswith("drop --dataset to use the local presidio set in the data folder already named")
    env.pop("SKILLKILN_DATA_DIR", None)
    done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2 and one_line_error(done).endswith("folder holding pii/presidio_synth_dataset_v2.jsonl and drop --dataset")


def test_a_full_datasets_cache_is_not_called_a_bad_file(tmp_path):
    """Fault audit: with HF_DATASETS_CACHE on a full disk, valid CoLA files were 'could not be read ...; each line must
    be source<TAB>label...' (datasets' wrapper hid the OSError)."""
    import subprocess

    from test_cli import BIN, one_line_error

    small = tmp_path / "cache"
    small.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(small)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        done = subprocess.run([str(BIN / "evolve"), "--task", "cola", "--iters", "1", "--store", str(tmp_path / "s.sqlite")],
                              capture_output=True, text=True, env={**os.environ, "HF_DATASETS_CACHE": str(small)},
                              timeout=300)
        assert done.returncode == 2
        line = one_line_error(done)
        assert "could not be loaded (OSError: [Errno 28] No space left on device)" in line and "each line" not in line
    finally:
        subprocess.run(["umount", str(small)], check=True)


def test_a_file_task_reads_the_file_it_names_whatever_its_path_holds(tmp_path):
    """Skills audit: datasets reads data_files as a glob, so file:brk/run[1]/x.csv read brk/run1/x.csv,
    file:.../train*.csv every match, and a folder named '[draft] data' could not be read at all."""
    def table(path, n, word):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("text,label\n" + "".join(f"{word} {i},{i % 2}\n" for i in range(n)))

    table(tmp_path / "run[1]" / "x.csv", 300, "bracketed")
    table(tmp_path / "run1" / "x.csv", 250, "plain")
    table(tmp_path / "train*.csv", 220, "starred")
    table(tmp_path / "train-a.csv", 250, "other")
    table(tmp_path / "[draft] data" / "t.csv", 250, "draft")
    for path, n, word in ((tmp_path / "run[1]" / "x.csv", 300, "bracketed"), (tmp_path / "train*.csv", 220, "starred"),
                          (tmp_path / "[draft] data" / "t.csv", 250, "draft")):
        task = load_task(f"file:{path}")
        texts = task.train.texts + task.validation.texts + task.test.texts
        assert len(texts) == n and all(t.startswith(word) for t in texts), (path, len(texts))


def test_a_file_task_keeps_numeric_texts_as_written_and_reads_a_replaced_file_anew(tmp_path):
    """Tasks audit: in a CSV whose texts all looked like numbers 077778 was read as '77778', 75.50 as '75.5' and a
    22-digit id not at all; and a file replaced by another with the same mtime (cp -p, rsync -a) was served from
    datasets' cache of the old one, so `skills check` judged a skill on the old labels."""
    path = tmp_path / "ids.csv"
    rows = [(f"0{i:05d}", i % 2) for i in range(290)] + [("75.50", 0), ("1" * 22, 1)] * 5
    path.write_text("text,label\n" + "".join(f"{t},{y}\n" for t, y in rows))
    task = load_task(f"file:{path}")
    texts = set(task.train.texts + task.validation.texts + task.test.texts)
    assert {"000001", "75.50", "1" * 22} <= texts and "1" not in texts
    stamp = path.stat().st_mtime_ns
    path.write_text("text,label\n" + "".join(f"{t},{1 - y}\n" for t, y in rows))  # every label inverted
    os.utime(path, ns=(stamp, stamp))
    again = load_task(f"file:{path}")
    first = dict(zip(task.train.texts, task.train.labels))
    assert all(first[t] == 1 - y for t, y in zip(again.train.texts, again.train.labels) if t in first)


def test_a_damaged_pii_file_is_one_line_naming_the_row(tmp_path):
    """Tasks audit: a row without template_id, a string one among numbers or a span without end ended in exit 3
    (TypeError, KeyError), and a null source_text became the text 'None' with its gold spans kept."""
    import json

    from tasks.pii import FILE

    source = Path(os.environ.get("SKILLKILN_DATA_DIR", "../shared/data")) / "pii" / FILE
    if not source.is_file():
        pytest.skip("no PII data here")
    rows = [json.loads(line) for line in source.read_text().splitlines()[:400]]
    for n, (damage, said) in enumerate([
        (lambda r: r.pop("template_id"), "row 5 has no template_id"),
        (lambda r: r.update(template_id="x"), "template_id holds values of several types (int, str)"),
        (lambda r: r["privacy_mask"][0].pop("end") if r["privacy_mask"] else r.update(source_text=None),
         "row 5 has a"),
        (lambda r: r.update(source_text=None), "row 5 has no source_text string"),
        (lambda r: r.update(privacy_mask=[{"start": 5, "end": 10**6, "label": "PERSON"}]), "outside its"),
    ]):
        folder = tmp_path / f"d{n}" / "pii"
        folder.mkdir(parents=True)
        copy = [dict(r, privacy_mask=[dict(s) for s in r["privacy_mask"] or []]) for r in rows]
        damage(copy[4])
        (folder / FILE).write_text("".join(json.dumps(r) + "\n" for r in copy))
        with pytest.raises(SkillkilnError) as refused:
            load_task("pii", data_dir=folder.parent)
        assert said in str(refused.value) and str(folder / FILE) in str(refused.value), str(refused.value)
    (tmp_path / "d0" / "pii" / FILE).write_text("")  # an empty file said "(StopIteration: )"
    with pytest.raises(SkillkilnError, match=f"{FILE} is empty"):
        load_task("pii", data_dir=tmp_path / "d0")


def test_too_few_distinct_texts_is_named_as_the_cause(tmp_path):
    """Tasks audit: a blank text column, or --text-col naming the label column, was called 'too small ... is a data
    file truncated?' (300 rows; the split keeps each text on one side, so validation held none)."""
    path = tmp_path / "blank.csv"
    path.write_text("text,label\n" + "".join(f",{i % 2}\n" for i in range(300)))
    with pytest.raises(SkillkilnError, match="its 300 rows hold only 1 distinct text, and a text is kept on one side"):
        load_task(f"file:{path}")
    with pytest.raises(SkillkilnError, match="only 2 distinct texts"):
        load_task(f"file:{path}", text_col="label")


def test_file_with_no_path_says_so_from_the_command_line(tmp_path):
    """Tasks audit: `--task file:` said 'task file /the/working/folder is a folder' (the empty path resolved)."""
    import subprocess

    from test_cli import BIN

    done = subprocess.run([str(BIN / "evolve"), "--task", "file:", "--iters", "1", "--store", str(tmp_path / "s.sqlite")],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 2 and "file: names no file (write --task file:PATH)" in done.stderr, done.stderr


def test_a_table_too_unbalanced_for_the_gate_is_refused_at_once(tmp_path):
    """Tasks audit: a 99/1 table loaded without a word, and a perfect skill was rejected as constant_output
    (98.8% of train outputs one label, limit 97%) after the run had spent its iterations."""
    path = tmp_path / "rare.csv"
    path.write_text("text,label\n" + "".join(f"row {i},{int(i < 3)}\n" for i in range(300)))
    with pytest.raises(SkillkilnError, match=r"too unbalanced .* label 0 is 98\.\d% of train .* even a perfect skill"):
        load_task(f"file:{path}")
    path.write_text("text,label\n" + "".join(f"row {i},{int(i < 30)}\n" for i in range(300)))  # 90/10: judged
    assert load_task(f"file:{path}").labels == (0, 1)


def test_a_text_that_is_a_list_is_refused_and_odd_column_names_are_quoted(tmp_path):
    """Tasks audit: a JSONL text that was a list became its repr "['a', 'list']", and a column named 'text ' was
    listed as `text ` beside --text-col text, looking the same."""
    import json

    path = tmp_path / "t.jsonl"
    path.write_text("".join(json.dumps({"text": ["a", "list"] if i == 7 else f"row {i}", "label": i % 2}) + "\n"
                            for i in range(300)))
    with pytest.raises(SkillkilnError, match="column 'text' holds list values; a text is a string"):
        load_task(f"file:{path}")
    spaced = tmp_path / "s.csv"
    spaced.write_text("text ,label\n" + "".join(f"row {i},{i % 2}\n" for i in range(300)))
    with pytest.raises(SkillkilnError, match=r"has no column 'text'; its columns: label, 'text '"):
        load_task(f"file:{spaced}")


def test_a_broken_json_lines_file_names_its_line(tmp_path):
    """Tasks audit: a bare string on line 51 was 'JSON parse error: Column() changed from object to string in row 0',
    and a line cut short 'Invalid encoding in string. in row 100'."""
    import json

    rows = [json.dumps({"text": f"row {i}", "label": i % 2}) for i in range(300)]
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join(rows[:50] + ['"just a string"'] + rows[50:]) + "\n")
    with pytest.raises(SkillkilnError, match="line 51 is a JSON str, not an object"):
        load_task(f"file:{path}")
    path.write_text("\n".join(rows[:99] + [rows[99][:12]] + rows[100:]) + "\n")
    with pytest.raises(SkillkilnError, match="line 100 is not JSON: "):
        load_task(f"file:{path}")


def test_a_column_named_twice_is_refused(tmp_path):
    """Tasks audit: with columns text,label,label the first label was used and the second renamed label.1, silently."""
    path = tmp_path / "t.csv"
    path.write_text("text,label,label\n" + "".join(f"row {i},{i % 2},{1 - i % 2}\n" for i in range(300)))
    with pytest.raises(SkillkilnError, match="has 2 columns named 'label'; rename all but one"):
        load_task(f"file:{path}")
    path.write_text("text,label,note,note\n" + "".join(f"row {i},{i % 2},a,b\n" for i in range(300)))
    assert len(load_task(f"file:{path}").train) == 240  # a column neither text nor label may repeat


def test_labels_written_two_ways_or_as_a_missing_value_are_named(tmp_path):
    """Tasks audit: 'no' and 'no ' were two classes, and 'NA' a class of its own, with nothing said; each
    still is (the file decides), but the run's first lines now warn about them."""
    labels = ["yes", "no", "no ", "No", "NA"]
    rows = ["text,label"] + [f"sentence number {i} here,{labels[i % 5]}" for i in range(300)]
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    task = load_task(f"file:{tmp_path / 't.csv'}")
    assert set(task.labels) == set(labels)
    assert task.notes == (
        "labels 'No' (60 rows) and 'no' (60 rows) and 'no ' (60 rows) differ only in case or spaces: each is a class "
        "of its own here; write them one way in the file if they mean one",
        "label 'NA' (60 rows) reads like a missing value; it is a class of its own here (leave those rows out if "
        "they have no label)")
    (tmp_path / "ok.csv").write_text("\n".join(["text,label"] + [f"sentence {i},{i % 2}" for i in range(300)]) + "\n")
    assert load_task(f"file:{tmp_path / 'ok.csv'}").notes == ()
