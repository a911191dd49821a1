"""Stored skills offered to a run as libraries: `from skills import NAME` inside the sandbox.

`evolve --library NAME[@V]` resolves each reference once, at the start of the run, to an exact
version (the pinned one, else the latest); the run config records those exact versions, so a
resumed run injects the same code. A candidate gets only the libraries it imports (and what
those import in turn, dependencies first); an accepted candidate's direct imports are stored as
its dependencies, which `skills run` and `skills export` inject again later.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass

from engine.errors import SkillkilnError
from engine.proposers.base import LibraryInfo
from skills_store.store import Store, library_name
from sandbox.static import check_source, parse


@dataclass(frozen=True)
class Library:
    name: str  # the store's name
    version: int
    import_name: str  # `from skills import <import_name>`
    code: str
    task: str
    kind: str
    description: str
    dependencies: tuple[str, ...] = ()  # import names of the libraries this one imports

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    def info(self) -> LibraryInfo:
        return LibraryInfo(self.import_name, self.ref, self.task, self.kind, self.description)


def _kind(task: str) -> str:
    from tasks import task_spec

    try:
        return task_spec(task).kind
    except SkillkilnError:
        return "classification"


def resolve(store: Store, refs: tuple[str, ...] | list[str]) -> dict[str, Library]:
    """Each NAME[@V] to an exact stored version, with whatever it depends on; by import name,
    dependencies before the skills that import them."""
    out: dict[str, Library] = {}

    def add(ref: str, trail: tuple[str, ...]) -> None:
        version = store.get(ref)
        if version.edited:  # changed in the store after the gate judged it
            raise SkillkilnError(f"library {version.name}@{version.version}'s code does not match its stored sha256: it "
                                 "was changed after the gate judged it, and every skill importing it would run that "
                                 "code; `skills verify` lists it; restore it, or name another version")
        if version.name in trail:
            raise SkillkilnError(f"library {version.name} depends on itself through {' -> '.join(trail)}")
        if store.is_retired(version.name) and "@" not in ref:
            raise SkillkilnError(f"library {version.name} is retired; name a version (NAME@V) to use it anyway")
        if version.name in version.dependencies:  # stored before evolve kept a run's name apart from its libraries
            raise SkillkilnError(f"{version.name}@{version.version} imports {version.name}@"
                                 f"{version.dependencies[version.name]}, an earlier version of its own name, and one "
                                 f"sandbox holds one version of a name: it cannot be a library; name another version")
        for dep, dep_version in sorted(version.dependencies.items()):
            add(f"{dep}@{dep_version}", trail + (version.name,))
        import_name = library_name(version.name)
        known = out.get(import_name)
        if known is not None and known.name != version.name:  # `-` and `_` import as one name
            raise SkillkilnError(f"libraries {known.name} and {version.name} both import as {import_name}; one "
                                 "sandbox holds one of them: offer only one")
        if known is not None and known.version != version.version:
            raise SkillkilnError(f"libraries need two versions of {version.name} ({known.version} and "
                                 f"{version.version}); name one version for every library")
        dependencies = tuple(library_name(d) for d in sorted(version.dependencies))
        static = check_source(version.code, libraries=dependencies)
        if not static.ok:  # stored under older rules: the sandbox would refuse it in every candidate
            raise SkillkilnError(f"library {version.name}@{version.version} no longer passes the static gate "
                                 f"(static:{static.reason}: {static.detail[:120]}); name another version")
        out[import_name] = Library(
            version.name, version.version, import_name, version.code, version.task, _kind(version.task),
            version.description, dependencies,
        )

    for ref in refs:
        add(ref, ())
    return out


def imported_names(code: str) -> set[str]:
    """The names a skill imports from the `skills` package (`from skills import a, b`)."""
    try:
        tree = parse(code)
    except SyntaxError:
        return set()
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "skills" and node.level == 0:
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name.split(".", 1)[1] for a in node.names if a.name.startswith("skills."))
    return names


def used_by(code: str, libraries: dict[str, Library]) -> dict[str, Library]:
    """The libraries a candidate imports directly."""
    return {name: lib for name, lib in libraries.items() if name in imported_names(code)}


def sources_for(code: str, libraries: dict[str, Library]) -> dict[str, str]:
    """The code to inject for one candidate: what it imports and their dependencies, dependencies
    first (the sandbox loads them in this order; a library may use the ones before it)."""
    needed: set[str] = set()
    stack = [n for n in imported_names(code) if n in libraries]
    while stack:
        name = stack.pop()
        if name not in needed:
            needed.add(name)
            stack += [d for d in libraries[name].dependencies if d in libraries]
    return {name: lib.code for name, lib in libraries.items() if name in needed}  # resolve() order


def dependencies_of(code: str, libraries: dict[str, Library]) -> dict[str, int]:
    """What an accepted candidate depends on, as the store records it: {name: version}."""
    return {lib.name: lib.version for lib in used_by(code, libraries).values()}
