"""Dotted attribute paths (``"address.city"``) compiled into trees and applied to nested values.

A path selects a key of a mapping, then a key of the mapping under it, and so on; a path that
meets a list goes on into every mapping in the list.  Paths are compiled once into a tree of
dicts (``None`` marks where a path ends), so applying them to an event walks only the keys the
paths name, never the whole context.

A name with dots in it is also matched as a literal top-level key: ``deny={"user.email"}``
removes a key named ``user.email`` as it did before dotted paths existed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Union

Tree = dict[str, Union["Tree", None]]
"""Path tree: key -> ``None`` (a path ends here: the whole value) or the tree below it."""

_MISSING: Any = object()


def compile_paths(paths: Iterable[str]) -> Tree:
    """The tree of *paths*; a shorter path covers every longer one under it."""
    tree: Tree = {}
    for path in paths:
        if not isinstance(path, str) or not path:
            raise ValueError(f"attribute paths are non-empty strings, got {path!r}")
        if "." in path:
            tree[path] = None  # the literal top-level key
        *parents, last = path.split(".")
        node: Tree | None = tree
        for part in parents:
            assert node is not None
            child = node.get(part, _MISSING)
            if child is None:  # a shorter path already covers this one
                node = None
                break
            if child is _MISSING:
                child = node[part] = {}
            node = child
        if node is not None:
            node[last] = None
    return tree


def keep(attributes: Mapping[Any, Any], tree: Tree) -> dict[Any, Any]:
    """Only the values *tree* names (an allow list), as a new dict in the input's order."""
    kept: dict[Any, Any] = {}
    for key, value in attributes.items():
        below = tree.get(key, _MISSING)
        if below is _MISSING:
            continue
        if below is not None:
            value = _keep_below(value, below)
            if value is _MISSING:
                continue
        kept[key] = value
    return kept


def _keep_below(value: Any, tree: Tree) -> Any:
    if isinstance(value, Mapping):
        return keep(value, tree)
    if isinstance(value, (list, tuple)):
        return [v for v in (_keep_below(item, tree) for item in value) if v is not _MISSING]
    return _MISSING  # a scalar where the path goes deeper: nothing of it is allowed


def replace(
    attributes: Mapping[Any, Any], tree: Tree, leaf: Callable[[Any], Any] | None
) -> Mapping[Any, Any]:
    """*attributes* with every value *tree* names removed (*leaf* ``None``) or replaced by
    ``leaf(value)``.  Copy on write: the input, and every dict and list in it, is left as it is
    (a nested dict may be shared with the app or another row); the input itself is returned
    when nothing matched."""
    copy: dict[Any, Any] | None = None
    for key, below in tree.items():
        if key not in attributes:
            continue
        value = attributes[key]
        if below is None:
            if copy is None:
                copy = dict(attributes)
            if leaf is None:
                del copy[key]
            else:
                copy[key] = leaf(value)
            continue
        new = _replace_below(value, below, leaf)
        if new is not value:
            if copy is None:
                copy = dict(attributes)
            copy[key] = new
    return attributes if copy is None else copy


def _replace_below(value: Any, tree: Tree, leaf: Callable[[Any], Any] | None) -> Any:
    if isinstance(value, Mapping):
        return replace(value, tree, leaf)
    if isinstance(value, (list, tuple)):
        items = [_replace_below(item, tree, leaf) for item in value]
        return items if any(new is not old for new, old in zip(items, value, strict=True)) else value
    return value
