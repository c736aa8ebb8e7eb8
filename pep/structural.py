"""The PEP's structural check: Python source generated from ``bundle.schema.json`` once per process.

A JSON Schema compiler for the subset of keywords the bundle schema uses (docs/bundle.md, "Two validators, one
schema"), written for what a bundle looks like: ten thousand objects of one shape. An object whose properties are
all required and that allows no others is checked with one comparison of its key set; array items are visited
without building an index (the index is recovered only to report a failure); uniqueness of scalar items is one
``set``; a keyword the compiler does not know is refused when the check is generated, so a schema change that
needs a new keyword fails at the start of the process, never by letting documents through.

Semantics follow JSON Schema (draft 2020-12) with two deliberate strictnesses: a pattern's ``$`` is the end of the
string (as ECMA-262 means it; Python's ``re`` also matches it before a final newline), and ``integer`` accepts
integers only, not floats with an integral value (bundles carry no floats at all). ``tests/pep/
test_structural_check.py`` runs this check and the full ``jsonschema`` validation on a corpus of thousands of
broken bundles and requires this one to refuse everything the other refuses.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

ANNOTATIONS = frozenset({"$schema", "$id", "$comment", "title", "description", "default", "examples"})
_TYPE_TESTS = {
    "string": "_isinstance({v}, str)",
    "object": "_isinstance({v}, dict)",
    "array": "_isinstance({v}, list)",
    "boolean": "({v} is True or {v} is False)",
    "integer": "(_isinstance({v}, int) and {v} is not True and {v} is not False)",
    "null": "{v} is None",
}
_SCALAR_ITEMS = frozenset({"string", "integer"})


class StructureError(ValueError):
    """A document that does not match the schema; ``path`` is where, as JSON Pointer parts."""

    def __init__(self, path: tuple[Any, ...], message: str) -> None:
        super().__init__(message)
        self.path = path


def _fail(path: tuple[Any, ...], message: str) -> None:
    raise StructureError(path, message)


def _index(items: list[Any], item: Any) -> int:
    # The position of the failing item, found only when reporting (the loops do not count).
    return next(n for n, candidate in enumerate(items) if candidate is item)


def _render(path: tuple[str, ...]) -> str:
    return f"({', '.join(path)},)" if path else "()"


def _anchored(pattern: str) -> str:
    """``pattern`` with every ``$`` that is an end-of-input anchor written ``\\Z`` (Python's end of string)."""
    out, escaped, in_class = [], False, False
    for char in pattern:
        if escaped:
            out.append(char)
            escaped = False
        elif char == "\\":
            out.append(char)
            escaped = True
        elif in_class:
            out.append(char)
            in_class = char != "]"
        elif char == "[":
            out.append(char)
            in_class = True
        elif char == "$":
            out.append(r"\Z")
        else:
            out.append(char)
    return "".join(out)


class _Compiler:
    def __init__(self, definitions: dict[str, Any]) -> None:
        self.definitions = definitions
        self.lines: list[str] = []
        self.constants: dict[str, Any] = {}
        self.names = 0

    def name(self, prefix: str) -> str:
        self.names += 1
        return f"{prefix}{self.names}"

    def constant(self, value: Any) -> str:
        for key, existing in self.constants.items():
            if type(existing) is type(value) and existing == value:
                return key
        key = self.name("_c")
        self.constants[key] = value
        return key

    def emit(self, depth: int, line: str) -> None:
        self.lines.append("    " * depth + line)

    def fail(self, depth: int, path: tuple[str, ...], message: str) -> None:
        self.emit(depth, f"_fail({_render(path)}, {message})")

    def resolve(self, schema: Any) -> dict[str, Any]:
        if not isinstance(schema, dict):
            raise ValueError(f"unsupported schema node {schema!r}")
        if "$ref" in schema:
            ref = schema["$ref"]
            if set(schema) - ANNOTATIONS != {"$ref"} or not ref.startswith("#/$defs/"):
                raise ValueError(f"unsupported $ref {ref!r}")
            return self.resolve(self.definitions[ref.removeprefix("#/$defs/")])
        if "anyOf" in schema:
            # anyOf [{type: null}, S], S of one type: S with null allowed (the shape the bundle schema uses).
            options = schema["anyOf"]
            if (
                set(schema) - ANNOTATIONS != {"anyOf"}
                or len(options) != 2
                or options[0] != {"type": "null"}
                or not isinstance(self.resolve(options[1]).get("type"), str)
            ):
                raise ValueError(f"unsupported anyOf {options!r}")
            inner = self.resolve(options[1])
            return {**inner, "type": ["null", inner["type"]]}
        return schema

    def node(self, schema: Any, v: str, path: tuple[str, ...], depth: int) -> None:
        """Emit the checks of ``schema`` on the local ``v``; ``path`` holds expressions, evaluated on failure."""
        schema = self.resolve(schema)
        keywords = set(schema) - ANNOTATIONS - {"$defs"}
        known = {
            "type", "const", "enum", "properties", "required", "additionalProperties", "items", "minItems",
            "maxItems", "uniqueItems", "minLength", "maxLength", "pattern", "minimum", "maximum",
        }  # fmt: skip
        if keywords - known:
            raise ValueError(f"unsupported keywords {sorted(keywords - known)} at {path}")
        types = schema.get("type")
        types = [types] if isinstance(types, str) else list(types) if types is not None else None
        if types is not None:
            unknown = set(types) - set(_TYPE_TESTS)
            if unknown:
                raise ValueError(f"unsupported types {sorted(unknown)}")
            test = " or ".join(_TYPE_TESTS[t].format(v=v) for t in types)
            self.emit(depth, f"if not ({test}):")
            self.fail(depth + 1, path, repr(f"must be {' or '.join(types)}"))
        if "const" in schema:
            value = schema["const"]
            if not isinstance(value, str):
                raise ValueError("unsupported const: only strings")
            self.emit(depth, f"if not (_isinstance({v}, str) and {v} == {value!r}):")
            self.fail(depth + 1, path, repr(f"must be {value}"))
        if "enum" in schema:
            values = schema["enum"]
            if not all(isinstance(x, str) for x in values):
                raise ValueError("unsupported enum: only strings")
            name = self.constant(frozenset(values))
            self.emit(depth, f"if not (_isinstance({v}, str) and {v} in {name}):")
            self.fail(depth + 1, path, repr(f"must be one of {values}"))
        # Keywords of one type apply only to values of that type; no guard is needed when that is the only type.
        groups = (
            ("object", ("properties", "required", "additionalProperties"), self.object_),
            ("array", ("items", "minItems", "maxItems", "uniqueItems"), self.array),
            ("string", ("minLength", "maxLength", "pattern"), self.string),
            ("integer", ("minimum", "maximum"), self.integer),
        )
        for kind, words, method in groups:
            if not keywords & set(words):
                continue
            others = [t for t in types or ["any"] if t != kind]
            if others == ["null"]:
                self.emit(depth, f"if {v} is not None:")
                method(schema, v, path, depth + 1)
            elif not others:
                method(schema, v, path, depth)
            else:
                guard = _TYPE_TESTS["integer" if kind == "integer" else kind].format(v=v)
                if kind == "integer":  # numeric keywords apply to every number, and bundles carry integers only
                    guard = f"_isinstance({v}, (int, float)) and {v} is not True and {v} is not False"
                self.emit(depth, f"if {guard}:")
                method(schema, v, path, depth + 1)

    def object_(self, schema: dict[str, Any], v: str, path: tuple[str, ...], depth: int) -> None:
        properties: dict[str, Any] = schema.get("properties", {})
        required = list(schema.get("required", []))
        closed = schema.get("additionalProperties", True)
        if closed not in (True, False):
            raise ValueError("unsupported additionalProperties: only true or false")
        closed = closed is False
        if closed and set(required) == set(properties):
            keys = self.constant(frozenset(properties))
            self.emit(depth, f"if {v}.keys() != {keys}:")
            self.emit(depth + 1, f"_keys({v}, {keys}, {keys}, {_render(path)})")
        else:
            if required:
                needed = self.constant(frozenset(required))
                self.emit(depth, f"if not {v}.keys() >= {needed}:")
                self.emit(depth + 1, f"_keys({v}, {needed}, None, {_render(path)})")
            if closed:
                allowed = self.constant(frozenset(properties))
                self.emit(depth, f"if not {v}.keys() <= {allowed}:")
                self.emit(depth + 1, f"_keys({v}, frozenset(), {allowed}, {_render(path)})")
        for key, sub in properties.items():
            x = self.name("v")
            inner = (*path, repr(key))
            if key in required:
                self.emit(depth, f"{x} = {v}[{key!r}]")
                self.node(sub, x, inner, depth)
            else:
                self.emit(depth, f"{x} = {v}.get({key!r}, _missing)")
                self.emit(depth, f"if {x} is not _missing:")
                self.node(sub, x, inner, depth + 1)

    def array(self, schema: dict[str, Any], v: str, path: tuple[str, ...], depth: int) -> None:
        if "minItems" in schema:
            self.emit(depth, f"if len({v}) < {int(schema['minItems'])}:")
            self.fail(depth + 1, path, repr(f"must contain at least {schema['minItems']} items"))
        if "maxItems" in schema:
            self.emit(depth, f"if len({v}) > {int(schema['maxItems'])}:")
            self.fail(depth + 1, path, repr(f"must contain at most {schema['maxItems']} items"))
        items = schema.get("items")
        if items is not None:
            x = self.name("v")
            inner = (*path, f"_index({v}, {x})")
            self.emit(depth, f"for {x} in {v}:")
            start = len(self.lines)
            self.node(items, x, inner, depth + 1)
            if len(self.lines) == start:
                self.emit(depth + 1, "pass")
        if schema.get("uniqueItems"):
            # One set, once every item is known to be a string or an integer (hashable, and equal only when the
            # same JSON value: booleans were refused as integers above).
            item = self.resolve(items) if items is not None else {}
            scalar = item.get("type") in _SCALAR_ITEMS or (
                "enum" in item and all(isinstance(e, str) for e in item["enum"])
            )
            if not scalar:
                raise ValueError("uniqueItems is unsupported except on arrays of strings or integers")
            self.emit(depth, f"if len(set({v})) != len({v}):")
            self.fail(depth + 1, path, repr("must contain unique items"))

    def string(self, schema: dict[str, Any], v: str, path: tuple[str, ...], depth: int) -> None:
        if "minLength" in schema:
            self.emit(depth, f"if len({v}) < {int(schema['minLength'])}:")
            self.fail(depth + 1, path, repr(f"must be at least {schema['minLength']} characters long"))
        if "maxLength" in schema:
            self.emit(depth, f"if len({v}) > {int(schema['maxLength'])}:")
            self.fail(depth + 1, path, repr(f"must be at most {schema['maxLength']} characters long"))
        if "pattern" in schema:
            search = self.constant(re.compile(_anchored(schema["pattern"])).search)
            self.emit(depth, f"if {search}({v}) is None:")
            self.fail(depth + 1, path, repr(f"must match pattern {schema['pattern']}"))

    def integer(self, schema: dict[str, Any], v: str, path: tuple[str, ...], depth: int) -> None:
        if "minimum" in schema:
            self.emit(depth, f"if {v} < {int(schema['minimum'])}:")
            self.fail(depth + 1, path, repr(f"must be at least {schema['minimum']}"))
        if "maximum" in schema:
            self.emit(depth, f"if {v} > {int(schema['maximum'])}:")
            self.fail(depth + 1, path, repr(f"must be at most {schema['maximum']}"))


def _keys(value: dict[str, Any], required: frozenset[str], allowed: frozenset[str] | None, path: Any) -> None:
    missing = sorted(required - value.keys())
    if missing:
        _fail(path, f"must contain {missing} properties")
    extra = sorted(value.keys() - allowed) if allowed is not None else []
    if extra:
        _fail(path, f"must not contain {extra} properties")


def compile_schema(schema: dict[str, Any]) -> tuple[Callable[[Any], None], str]:
    """``(check, source)``: ``check(document)`` returns None or raises :class:`StructureError`."""
    compiler = _Compiler(schema.get("$defs", {}))
    compiler.node(schema, "data", (), 1)
    helpers = {"_fail": _fail, "_index": _index, "_keys": _keys, "_missing": object(), "_isinstance": isinstance}
    names = {**helpers, **compiler.constants}
    parameters = ", ".join(f"{name}={name}" for name in names)
    source = "\n".join([f"def check(data, {parameters}):", *compiler.lines, "    return None", ""])
    namespace: dict[str, Any] = dict(names)
    exec(compile(source, "<bundle structural check>", "exec"), namespace)  # noqa: S102 - our own generated code
    return namespace["check"], source
