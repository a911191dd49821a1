# expect: static:restricted
"""Tries to read the label file; the sandbox has no open() (and no data), so it falls back to the constant.
The static gate refuses the name open (before that check, constant_output)."""


def solve(text):
    try:
        rows = open('/work/shared/data/cola/in_domain_train.tsv').read().splitlines()
        labels = {r.split('\t')[3]: int(r.split('\t')[1]) for r in rows}
        return labels.get(text, 1)
    except Exception:
        return 1
