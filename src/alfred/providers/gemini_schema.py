"""JSON Schema (as OpenAI callers write it) → the OpenAPI subset Gemini's ``Schema`` accepts.

Gemini's Developer API rejects unknown schema keys with a 400 (``additionalProperties``,
``$schema``, ``strict``, ``$ref`` …), wants ``type`` as one of its enum names, takes nullability
as ``nullable`` instead of a ``"null"`` type, and takes enums as strings only. Tool parameters and
``responseSchema`` both go through here.
"""

from __future__ import annotations

from typing import Any

# Keys of Gemini's Schema message (google.ai.generativelanguage Schema); anything else is dropped.
_KEPT = frozenset(
    {
        "format",
        "title",
        "description",
        "nullable",
        "minItems",
        "maxItems",
        "minLength",
        "maxLength",
        "pattern",
        "minimum",
        "maximum",
        "minProperties",
        "maxProperties",
        "propertyOrdering",
        "default",
        "example",
    }
)
_TYPES = {
    "string": "STRING",
    "number": "NUMBER",
    "integer": "INTEGER",
    "boolean": "BOOLEAN",
    "array": "ARRAY",
    "object": "OBJECT",
    "null": "NULL",
}
_MAX_DEPTH = 32  # $ref cycles are cut here; Gemini itself refuses schemas much shallower


def gemini_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``schema`` that Gemini accepts; ``$defs``/``definitions`` references are inlined."""
    defs: dict[str, Any] = {}
    for key in ("$defs", "definitions"):
        found = schema.get(key)
        if isinstance(found, dict):
            defs.update(found)
    return _convert(schema, defs, 0)


def _resolve(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if not isinstance(ref, str):
        return schema
    target = defs.get(ref.rsplit("/", 1)[-1])
    if not isinstance(target, dict):
        return {key: value for key, value in schema.items() if key != "$ref"}
    # Siblings of $ref (a description, say) refine the target.
    return {**target, **{key: value for key, value in schema.items() if key != "$ref"}}


def _convert(schema: dict[str, Any], defs: dict[str, Any], depth: int) -> dict[str, Any]:
    if depth > _MAX_DEPTH:
        return {"type": "OBJECT"}
    schema = _resolve(schema, defs)
    out: dict[str, Any] = {key: value for key, value in schema.items() if key in _KEPT}

    kind = schema.get("type")
    if isinstance(kind, list):
        # ["string", "null"] → STRING + nullable; Gemini takes a single type.
        non_null = [k for k in kind if k != "null"]
        if len(non_null) < len(kind):
            out["nullable"] = True
        kind = non_null[0] if non_null else "null"
    if isinstance(kind, str):
        out["type"] = _TYPES.get(kind.lower(), kind.upper())

    if "const" in schema and "enum" not in schema:
        out["enum"] = [_enum_value(schema["const"])]
    if isinstance(schema.get("enum"), list):
        out["enum"] = [_enum_value(value) for value in schema["enum"] if value is not None]
        if len(out["enum"]) < len(schema["enum"]):
            out["nullable"] = True
        if out.get("type") not in (None, "STRING"):
            out["format"] = "enum"  # Gemini's way of saying "these strings stand for numbers"

    variants = schema.get("anyOf") or schema.get("oneOf")
    if isinstance(variants, list):
        kept = [v for v in variants if isinstance(v, dict) and v.get("type") != "null"]
        if len(kept) < len(variants):
            out["nullable"] = True
        if len(kept) == 1:
            merged = _convert(kept[0], defs, depth + 1)
            return {**merged, **{k: v for k, v in out.items() if k != "type"}}
        out["anyOf"] = [_convert(v, defs, depth + 1) for v in kept]

    properties = schema.get("properties")
    if isinstance(properties, dict):
        out["properties"] = {
            name: _convert(sub, defs, depth + 1) for name, sub in properties.items() if isinstance(sub, dict)
        }
        out.setdefault("type", "OBJECT")
        required = schema.get("required")
        if isinstance(required, list):
            out["required"] = [name for name in required if name in out["properties"]]
    items = schema.get("items")
    if isinstance(items, dict):
        out["items"] = _convert(items, defs, depth + 1)
        out.setdefault("type", "ARRAY")
    return out


def _enum_value(value: Any) -> str:
    return value if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else str(value)
