"""The sandbox's guards as an export carries them: copied from sandbox/harness.py by their source.

An exported skill runs in plain Python, outside any sandbox. Were its code the module's own body,
it would run with the real builtins and modules, and a skill that can tell the two apart (the
sandbox's copy of `re` has no `enum`) could do there what the gate never saw. So an export runs the
stored code through the harness's own `load_code`, under the same guards: imports from the same
allow-list as copies of their modules, the same builtins left out, the same refused attributes.
The code that was judged is the code that runs. (Not carried: the time and memory bounds, the
container and the rlimits; an export is not a sandbox.)
"""
from __future__ import annotations

import ast
from functools import cache

from sandbox.backend import ALLOWED_IMPORTS
from sandbox.image import HARNESS

# the harness's guards, in the order the harness defines them; each name a top-level assignment, class or function
GUARD_NAMES = ("UNSAFE_BUILTINS", "FRAME_ATTRIBUTES", "FORMAT_ATTRIBUTES", "SHARED_STATE_ATTRIBUTES", "WRITE_GUARD",
               "CLASS_HOOKS", "refused_attribute", "VALUE_TYPES", "OWN_NAMES", "MADE", "CLASS_MRO", "CLASS_DICT",
               "kind_name", "hook_refusal", "refuse_class_hooks", "kind_attribute", "refuse_special_names",
               "value_kind", "NAMEDTUPLE_NAMES", "refuse_foreign_bases", "plain_slots", "check_class_plan",
               "check_made_class", "class_namespace", "make_type_guard", "HIDDEN_MODULE_ATTRIBUTES", "Forbidden",
               "DUNDER_NAMES", "check_tree", "GuardWrites", "module_copy", "template_class", "plain_text",
               "plain_flags", "LOADS", "own_re", "SAFE_BUILTINS", "COPIES", "copy_of", "copy_with_source",
               "make_builtins", "load_code")
# the modules those definitions use
GUARD_IMPORTS = ("ast", "builtins", "importlib.util", "itertools", "re", "sys", "types", "weakref")


def _defined(node: ast.stmt) -> str | None:
    if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
        return node.name
    if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
        return node.targets[0].id
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
        return node.target.id
    return None


class _NoAnnotations(ast.NodeTransformer):
    """Type annotations out: the harness has `from __future__ import annotations`, an export has not."""

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.Assign | None:
        if node.value is None:  # `x: int` alone declares, and does nothing at run time
            return None
        return ast.Assign(targets=[node.target], value=node.value, lineno=node.lineno)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.FunctionDef:
        node.returns = None
        for arg in ast.walk(node.args):
            if isinstance(arg, ast.arg):
                arg.annotation = None
        self.generic_visit(node)
        return node


@cache
def guard_code() -> str:
    """The guards' source as an export carries it: imports, GUARD_NAMES from the harness and ALLOWED_IMPORTS."""
    found = {name: node for node in ast.parse(HARNESS.read_text()).body if (name := _defined(node)) in GUARD_NAMES}
    missing = [name for name in GUARD_NAMES if name not in found]
    if missing:
        raise RuntimeError(f"sandbox/harness.py no longer defines {', '.join(missing)}: the export's guards need them")
    body = "\n\n\n".join(ast.unparse(_NoAnnotations().visit(found[name])) for name in GUARD_NAMES)
    imports = "".join(f"import {name}\n" for name in GUARD_IMPORTS)
    return f"{imports}\n\n{body}\n\n\nALLOWED_IMPORTS = {ALLOWED_IMPORTS!r}\n"


def portable(function) -> str:
    """FUNCTION's source without annotations, its globals as given (as an export carries it)."""
    import inspect

    return ast.unparse(_NoAnnotations().visit(ast.parse(inspect.getsource(function))))
