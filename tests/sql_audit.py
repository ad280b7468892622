"""Finds SQL built from runtime values: every query text must come from literals and constants only.

A query is *static* when its text can be worked out from the source alone: string literals, module
constants (also imported from another module of the repository), f-strings, ``+``, ``%`` and
``.format`` over those, and loop variables over literal tuples of them (fixed table names).
Anything else (a parameter, an attribute, a value read at run time) is *dynamic*. Values reach
Postgres through ``$1, $2...`` parameters, never through the text.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Final

# asyncpg's methods taking a query text first (``Connection``, ``Pool``, ``Cursor``).
SQL_METHODS: Final = frozenset({"execute", "executemany", "fetch", "fetchrow", "fetchval", "prepare", "cursor",
                                "copy_from_query"})  # fmt: skip
# A string whose literal text starts like a statement is SQL, wherever it goes.
SQL_TEXT: Final = re.compile(
    r"^\s*(SELECT|INSERT INTO|UPDATE \w+ SET|DELETE FROM|WITH \w+ AS|CREATE|DROP|ALTER|TRUNCATE|GRANT|COPY)\b"
)
# What a loop over a runtime value binds its variables to.
_UNKNOWN: Final = ast.Name(id="<runtime value>")
_STR_METHODS: Final = frozenset({"format", "join", "strip", "replace", "lower", "upper"})


@dataclass(frozen=True)
class Finding:
    path: str
    function: str
    line: int
    why: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line} in {self.function}: {self.why}"


class _Module:
    def __init__(self, root: Path, path: Path) -> None:
        self.root = root
        self.tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        self.constants: dict[str, ast.expr] = {}
        self.imported: dict[str, tuple[str, str]] = {}
        for node in self.tree.body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                self.constants[node.targets[0].id] = node.value
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
                self.constants[node.target.id] = node.value
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    self.imported[alias.asname or alias.name] = (node.module, alias.name)


@cache
def _module(root: Path, dotted: str) -> _Module | None:
    path = root.joinpath(*dotted.split(".")).with_suffix(".py")
    return _Module(root, path) if path.is_file() else None


class _Scope:
    """Names bound in one function: parameters are dynamic; assignments and loops as written."""

    def __init__(self, module: _Module, function: ast.FunctionDef | ast.AsyncFunctionDef | None) -> None:
        self.module = module
        self.bindings: dict[str, list[ast.AST | None]] = {}
        if function is None:
            return
        arguments = function.args
        for arg in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs, arguments.vararg,
                    arguments.kwarg]:  # fmt: skip
            if arg is not None:
                self.bindings.setdefault(arg.arg, []).append(None)
        for node in ast.walk(function):
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    self._bind(target, node.value)
            elif isinstance(node, ast.AnnAssign | ast.AugAssign | ast.NamedExpr):
                self._bind(node.target, node.value if not isinstance(node, ast.AugAssign) else None)
            elif isinstance(node, ast.For | ast.AsyncFor | ast.comprehension):
                self._bind_loop(node.target, node.iter)
            elif isinstance(node, ast.With | ast.AsyncWith):
                for item in node.items:
                    if item.optional_vars is not None:
                        self._bind(item.optional_vars, None)
            elif isinstance(node, ast.ExceptHandler) and node.name:
                self.bindings.setdefault(node.name, []).append(None)

    def _bind(self, target: ast.AST, value: ast.AST | None) -> None:
        if isinstance(target, ast.Name):
            self.bindings.setdefault(target.id, []).append(value)
        elif isinstance(target, ast.Tuple | ast.List):
            for element in target.elts:
                self._bind(element, None)  # unpacking a runtime value

    def _bind_loop(self, target: ast.AST, iterable: ast.AST) -> None:
        """``for x in ("a", "b")`` binds x to each literal; ``for x, y in (("a", v), ...)`` binds x the same way."""
        items = self._literal_items(iterable)
        if isinstance(target, ast.Name):
            for item in items or [_UNKNOWN]:
                self.bindings.setdefault(target.id, []).append(item)
            return
        if isinstance(target, ast.Tuple):
            for position, element in enumerate(target.elts):
                if not isinstance(element, ast.Name):
                    continue
                for item in items or [_UNKNOWN]:
                    part = item.elts[position] if isinstance(item, ast.Tuple) and position < len(item.elts) else None
                    self.bindings.setdefault(element.id, []).append(part)
            return
        self._bind(target, None)

    def _literal_items(self, iterable: ast.AST) -> list[ast.expr] | None:
        """The items of a literal tuple, list or set, or of a literal dict's ``.items()`` / ``.values()``.

        Items are reduced to a placeholder: a literal string if static where written, else a name bound nowhere.
        """
        match iterable:
            case ast.Call(func=ast.Attribute(value=owner, attr="items" | "values" as method), args=[]):
                mapping, scope = self._literal(owner)
                if not isinstance(mapping, ast.Dict) or None in mapping.keys:
                    return None
                if method == "values":
                    return [_placeholder(value, scope) for value in mapping.values]
                return [ast.Tuple(elts=[_placeholder(key, scope), _placeholder(value, scope)])
                        for key, value in zip(mapping.keys, mapping.values, strict=True) if key is not None]  # fmt: skip
        literal, scope = self._literal(iterable)
        if isinstance(literal, ast.Tuple | ast.List | ast.Set):
            return [_placeholder(element, scope) for element in literal.elts]
        return None

    def _literal(self, node: ast.AST) -> tuple[ast.AST, _Scope]:
        """A name bound once (locally, as a module constant, or imported from one) stands for its value."""
        if not isinstance(node, ast.Name):
            return node, self
        local = self.bindings.get(node.id)
        if local is not None:
            return (local[0], self) if len(local) == 1 and local[0] is not None else (node, self)
        if node.id in self.module.constants:
            return self.module.constants[node.id], _Scope(self.module, None)
        if node.id in self.module.imported:
            source, original = self.module.imported[node.id]
            other = _module(self.module.root, source)
            if other is not None and original in other.constants:
                return other.constants[original], _Scope(other, None)
        return node, self


def _placeholder(node: ast.expr, scope: _Scope) -> ast.expr:
    if isinstance(node, ast.Tuple):
        return ast.Tuple(elts=[_placeholder(element, scope) for element in node.elts])
    return ast.Constant(value="") if is_static(node, scope) else _UNKNOWN


def is_static(node: ast.AST | None, scope: _Scope, seen: frozenset[str] = frozenset()) -> bool:
    """Whether the text of ``node`` is fixed in the source (see the module docstring)."""
    match node:
        case None:
            return False
        case ast.Constant(value=value):
            return isinstance(value, str | int | float | bool) or value is None
        case ast.JoinedStr(values=values):
            return all(is_static(value, scope, seen) for value in values)
        case ast.FormattedValue(value=value):
            return is_static(value, scope, seen)
        case ast.BinOp(left=left, op=ast.Add() | ast.Mod(), right=right):
            return is_static(left, scope, seen) and is_static(right, scope, seen)
        case ast.IfExp(body=body, orelse=orelse):
            return is_static(body, scope, seen) and is_static(orelse, scope, seen)
        case ast.Tuple(elts=elements) | ast.List(elts=elements):
            return all(is_static(element, scope, seen) for element in elements)
        case ast.Call(func=ast.Attribute(value=value, attr=method), args=args, keywords=keywords):
            return (
                method in _STR_METHODS
                and is_static(value, scope, seen)
                and all(is_static(arg, scope, seen) for arg in args)
                and all(is_static(keyword.value, scope, seen) for keyword in keywords)
            )
        case ast.Name(id=name):
            return _name_is_static(name, scope, seen)
    return False


def _name_is_static(name: str, scope: _Scope, seen: frozenset[str]) -> bool:
    key = f"{id(scope.module)}:{name}"
    if key in seen:
        return False
    seen = seen | {key}
    if name in scope.bindings:
        return all(is_static(value, scope, seen) for value in scope.bindings[name])
    module = scope.module
    if name in module.constants:
        return is_static(module.constants[name], _Scope(module, None), seen)
    if name in module.imported:
        source, original = module.imported[name]
        other = _module(module.root, source)
        if other is not None and original in other.constants:
            return is_static(other.constants[original], _Scope(other, None), seen)
    return False


def _literal_text(node: ast.AST) -> str:
    """The leading literal text of a string expression (what tells SQL from prose)."""
    match node:
        case ast.Constant(value=str(text)):
            return text
        case ast.JoinedStr(values=[ast.Constant(value=str(text)), *_]):
            return text
        case ast.BinOp(left=left):
            return _literal_text(left)
        case ast.Call(func=ast.Attribute(value=value, attr="format")):
            return _literal_text(value)
    return ""


def _is_built_string(node: ast.AST) -> bool:
    match node:
        case ast.JoinedStr(values=values):
            return any(isinstance(value, ast.FormattedValue) for value in values)
        case ast.BinOp(op=ast.Add() | ast.Mod()):
            return True
        case ast.Call(func=ast.Attribute(attr="format")):
            return True
    return False


def audit_file(root: Path, path: Path) -> list[Finding]:
    """Every query text in ``path`` that is not static, and every SQL-looking string built from runtime values."""
    relative = path.relative_to(root).as_posix()
    module = _Module(root, path)
    findings: list[Finding] = []
    functions: list[ast.FunctionDef | ast.AsyncFunctionDef | None] = [None]
    functions += [node for node in ast.walk(module.tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)]
    for function in functions:
        scope = _Scope(module, function)
        name = function.name if function is not None else "<module>"
        body = function.body if function is not None else [
            node for node in module.tree.body if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef |
                                                                 ast.ClassDef)]  # fmt: skip
        for node in _walk_own(body):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in SQL_METHODS
                    and not _http_response(node.func.value, scope)):  # fmt: skip
                query = node.args[0] if node.args else next(
                    (keyword.value for keyword in node.keywords if keyword.arg == "query"), None)  # fmt: skip
                if query is not None and not is_static(query, scope):
                    findings.append(Finding(relative, name, node.lineno,
                                            f".{node.func.attr}() with a query text built at run time"))  # fmt: skip
            elif _is_built_string(node) and SQL_TEXT.match(_literal_text(node)) and not is_static(node, scope):
                findings.append(Finding(relative, name, getattr(node, "lineno", 0), "SQL text built at run time"))
    return sorted(set(findings), key=lambda finding: finding.line)


def _http_response(receiver: ast.expr, scope: _Scope) -> bool:
    """aiohttp's ``StreamResponse.prepare(request)`` shares asyncpg's method name: a receiver every binding of which is
    a ``...Response(...)`` call is an HTTP response, not a connection."""
    if not isinstance(receiver, ast.Name):
        return False
    values = scope.bindings.get(receiver.id, [])

    def made_as_response(value: ast.AST | None) -> bool:
        if not isinstance(value, ast.Call):
            return False
        callee = value.func
        name = callee.attr if isinstance(callee, ast.Attribute) else callee.id if isinstance(callee, ast.Name) else ""
        return name.endswith("Response")

    return bool(values) and all(made_as_response(value) for value in values)


def _walk_own(body: list[ast.stmt]) -> list[ast.AST]:
    """The nodes of ``body``, without descending into nested functions (they get their own scope)."""
    nodes: list[ast.AST] = []
    stack: list[ast.AST] = list(body)
    while stack:
        node = stack.pop()
        nodes.append(node)
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                stack.append(child)
    return nodes
