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
