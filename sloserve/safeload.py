"""Strict YAML and JSON parsing: what a file says, once, in bounded time and memory.

Both parsers refuse what the standard libraries accept silently:

* a key given twice in one mapping (PyYAML and ``json`` keep the last one);
* YAML aliases that expand beyond :data:`MAX_NODES` values (a kilobyte "billion laughs" file
  otherwise takes minutes and gigabytes), recursive aliases, and nesting deeper than
  :data:`MAX_DEPTH` (Python's recursion limit otherwise ends in a RecursionError);
* JSON's non-standard ``NaN`` / ``Infinity`` constants, and JSON nested so deeply that the parser
  would exhaust Python's recursion limit.

YAML is read with the YAML 1.2 core schema, not PyYAML's YAML 1.1 one: ``1e-3`` and ``1e308`` are
numbers (YAML 1.1 makes them strings), ``010`` is ten (not octal eight), ``yes``/``no``/``on``/``off``
and dates stay strings, and only ``true``/``false`` are booleans. Merge keys (``<<: *base``) keep
their meaning; a key written next to a merge overrides the merged one, as YAML defines.

Every problem is an :class:`~sloserve.errors.InputError` naming the file and the line.
"""
from __future__ import annotations

import json
import re
from typing import Any

import yaml
import yaml.reader
from yaml.composer import Composer
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import BaseResolver
from yaml.scanner import Scanner

from .errors import InputError

#: most values (scalars, lists, mappings) a YAML document may hold once its aliases are expanded
MAX_NODES = 1_000_000
#: deepest nesting of lists and mappings in a YAML document
MAX_DEPTH = 64


class _Resolver(BaseResolver):
    """The YAML 1.2 core schema's implicit tags (plus the merge key)."""


_Resolver.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                                list("tTfF"))
_Resolver.add_implicit_resolver("tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"),
                                ["~", "n", "N", ""])
_Resolver.add_implicit_resolver("tag:yaml.org,2002:int", re.compile(r"^[-+]?[0-9]+$"), list("-+0123456789"))
_Resolver.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
               r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
    list("-+.0123456789"))
_Resolver.add_implicit_resolver("tag:yaml.org,2002:merge", re.compile(r"^<<$"), ["<"])


class _TooBig(yaml.YAMLError):
    def __init__(self, mark, problem: str):
        self.problem_mark, self.problem = mark, problem


class _Constructor(SafeConstructor):
    def construct_yaml_int(self, node):
        value = self.construct_scalar(node)
        try:
            return int(value, 10)
        except ValueError:  # more digits than Python converts (sys.get_int_max_str_digits)
            raise ConstructorError(None, None, f"the number {value[:20]}... has {len(value)} digits; "
                                               "numbers in sloserve files are far smaller", node.start_mark) from None

    def construct_yaml_float(self, node):
        value = self.construct_scalar(node).lower()
        if value.endswith(".inf"):
            return float("-inf") if value.startswith("-") else float("inf")
        if value == ".nan":
            return float("nan")
        return float(value)

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                except TypeError:  # an unhashable key: PyYAML says so below
                    continue
                if first is not None:
                    raise ConstructorError(None, None, f"duplicate key {key!r} (first given on line {first}); "
                                                       "a key may appear once in a mapping", key_node.start_mark)
                seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


_Constructor.add_constructor("tag:yaml.org,2002:int", _Constructor.construct_yaml_int)
_Constructor.add_constructor("tag:yaml.org,2002:float", _Constructor.construct_yaml_float)


class _Loader(Reader, Scanner, Parser, Composer, _Constructor, _Resolver):
    def __init__(self, stream):
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)
        Composer.__init__(self)
        _Constructor.__init__(self)
        _Resolver.__init__(self)
        self._depth = 0

    def compose_node(self, parent, index):
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _TooBig(self.peek_event().start_mark, f"nested more than {MAX_DEPTH} levels deep")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _expanded_size(root) -> int:
    """Values in the document once every alias is expanded (aliases share nodes: memoised, no expansion)."""
    size: dict[int, int] = {}
    open_: set[int] = set()

    def visit(node) -> int:
        k = id(node)
        if k in size:
            return size[k]
        if k in open_:
            raise _TooBig(node.start_mark, "an alias refers to a node that contains it (a recursive structure)")
        open_.add(k)
        n = 1
        if isinstance(node, yaml.SequenceNode):
            n += sum(visit(c) for c in node.value)
        elif isinstance(node, yaml.MappingNode):
            n += sum(visit(a) + visit(b) for a, b in node.value)
        open_.discard(k)
        size[k] = n
        if n > MAX_NODES:
            raise _TooBig(node.start_mark, f"aliases expand to more than {MAX_NODES:,} values")
        return n

    return visit(root)


def load_yaml(text: str | bytes, file: str) -> Any:
    """Parse one YAML document strictly (see the module docstring); ``None`` for an empty document."""
    loader = None
    try:
        loader = _Loader(text)
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded_size(node)
        return loader.construct_document(node)
    except yaml.reader.ReaderError as e:
        what = f"byte 0x{e.character:02x}" if e.encoding not in (None, "unicode") else f"character #x{e.character:04x}"
        raise InputError(file, None, f"not a text file: {what} at position {e.position} ({e.reason}); "
                                     "a YAML file is UTF-8 text") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e)
        context = getattr(e, "context", None)
        if context and not isinstance(e, ConstructorError):
            problem = f"{context}, {problem}"
        kind = "YAML" if isinstance(e, (ConstructorError, _TooBig)) else "YAML syntax error"
        raise InputError(file, None, f"{kind}: {where}{problem}") from None
    finally:
        if loader is not None:
            loader.dispose()


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise _JsonProblem(f"duplicate key {k!r} in one object; a key may appear once")
        out[k] = v
    return out


class _JsonProblem(ValueError):
    pass


def _no_constant(name: str):
    raise _JsonProblem(f"{name} is not a JSON number (write a finite number, or null where the field allows it)")


def load_json(text: str | bytes, file: str) -> Any:
    """Parse JSON strictly: no duplicate keys, no NaN/Infinity, no RecursionError (a leading
    byte-order mark is dropped)."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")  # a byte-order mark (editors on Windows write one) is not JSON
        except UnicodeDecodeError as e:
            raise InputError(file, None, f"not UTF-8 text (byte {e.start}: {text[e.start:e.start + 1]!r}); "
                                         "a JSON file is text") from None
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except json.JSONDecodeError as e:
        raise InputError(file, None, f"invalid JSON: line {e.lineno}, column {e.colno}: {e.msg}") from None
    except _JsonProblem as e:
        raise InputError(file, None, f"invalid JSON: {e}") from None
    except ValueError:  # an integer with more digits than Python converts
        raise InputError(file, None, "invalid JSON: a number with thousands of digits; "
                                     "numbers in sloserve files are far smaller") from None
    except RecursionError:
        raise InputError(file, None, "invalid JSON: nested too deeply (thousands of levels)") from None

