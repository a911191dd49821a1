"""Export a stored skill as one standalone .py module that runs without skillkiln."""
from __future__ import annotations

from datetime import date

from engine.records import SkillVersion

MAIN = '''

if __name__ == "__main__":
    import sys as _sys

    for _text in _sys.argv[1:] or [line.rstrip("\\n") for line in _sys.stdin]:
        print(solve(_text))
'''


def _metric(v: SkillVersion, split: str) -> str:
    value = v.metrics.get(split, {}).get("mcc")
    return "-" if value is None else f"{value:.3f}"


def standalone(v: SkillVersion, dependencies: list[SkillVersion]) -> str:
    header = (
        f'"""{v.name}@{v.version}: {v.description or "a skillkiln skill"}\n\n'
        f"Exported from skillkiln on {date.today().isoformat()}. Task {v.task}; validation MCC "
        f"{_metric(v, 'validation')}, test MCC {_metric(v, 'test')}; code sha256 {v.code_sha256[:12]}.\n"
        f'Run it: python THIS_FILE "a sentence"   (or pipe one text per line on stdin)\n"""\n'
    )
    parts = [header]
    if dependencies:
        parts.append("import sys as _sys\nimport types as _types\n\n"
                     "# stored skills this one imports as `from skills import NAME`, pinned by version\n"
                     "_skills = _types.ModuleType(\"skills\")\n_sys.modules[\"skills\"] = _skills\n")
        for dep in dependencies:
            parts.append(
                f"# {dep.name}@{dep.version}, sha256 {dep.code_sha256[:12]}\n"
                f"_module = _types.ModuleType(\"skills.{dep.name}\")\n"
                f"exec(compile({dep.code!r}, \"{dep.name}@{dep.version}\", \"exec\"), _module.__dict__)\n"
                f"setattr(_skills, {dep.name!r}, _module)\n_sys.modules[\"skills.{dep.name}\"] = _module\n"
            )
        parts.append("\n")
    parts.append(v.code.rstrip("\n") + "\n")
    parts.append(MAIN)
    return "".join(parts)
