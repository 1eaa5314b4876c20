"""Option text to the JSON value a request field's schema describes, one syntax for every shape
(docs/cli.md, Option syntax):

- a number, a string, `true`/`false`, `null`: as the schema's type says (`auto` for a constant);
- a tagged object, `TAG[:V1[:V2...]]`: the member whose constant property (`type`, `method`)
  is TAG, its other properties in order (`limit:0.001:3`, `risk:0.01`, `fraction`), or the
  one-property object named TAG (`atr:2` is `{"atr": 2}`);
- any other object, `V1[:V2...]`: its properties in order (`2000:7` is `{"runs": 2000,
  "seed": 7}`); a part naming a boolean property sets it (`0.01:0.2:log`);
- a list, `V1,V2,...` (each item by the items' schema);
- JSON (`{...}` or `[...]`) for anything.
"""

import json
from typing import Any

Schema = dict[str, Any]


class Unparsable(ValueError):
    """The text fits no member of the schema."""


def members(schema: Schema) -> list[Schema]:
    """The alternatives of a union (anyOf / oneOf), flattened; a plain schema is its own."""
    union = schema.get("anyOf") or schema.get("oneOf")
    if not union:
        return [schema]
    return [member for alternative in union for member in members(alternative)]


def is_object(schema: Schema) -> bool:
    return schema.get("type") == "object" or "properties" in schema


def is_array(schema: Schema) -> bool:
    return schema.get("type") == "array"


def is_boolean(schema: Schema) -> bool:
    kinds = {member.get("type") for member in members(schema)}
    return "boolean" in kinds and kinds <= {"boolean", "null"}


def is_map(schema: Schema) -> bool:
    """An object of free keys (`param_grid`): {name: value of one schema}."""
    return (
        is_object(schema)
        and not schema.get("properties")
        and isinstance(schema.get("additionalProperties"), dict)
        and bool(schema["additionalProperties"])
    )


def map_member(schema: Schema) -> Schema | None:
    """The map a field holds (`dict[...]`, or `dict[...] | None`), if it holds one."""
    maps = [member for member in members(schema) if is_map(member)]
    return maps[0] if len(maps) == 1 else None


def nullable(schema: Schema) -> bool:
    return any(member.get("type") == "null" for member in members(schema))


def tag_of(schema: Schema) -> tuple[str, Any] | None:
    """(property, constant) of an object member told apart by a constant property."""
    for name, prop in (schema.get("properties") or {}).items():
        if "const" in prop:
            return name, prop["const"]
        if isinstance(prop.get("enum"), list) and len(prop["enum"]) == 1:
            return name, prop["enum"][0]
    return None


def parse(schema: Schema, text: str) -> Any:
    """The value `text` gives for `schema`, or Unparsable saying what would fit."""
    text = text.strip()
    if text[:1] in ("{", "["):
        try:
            return json.loads(text)
        except ValueError as exc:
            raise Unparsable(f"not JSON: {exc}") from None
    options = members(schema)
    if len(options) == 1 and not is_object(schema) and not is_array(schema):
        return scalar(schema, text)
    objects = [m for m in options if is_object(m) and not is_map(m)]
    head, sep, rest = text.partition(":")
    for member in objects:
        tag = tag_of(member)
        if tag is not None and str(tag[1]) == head:
            parts = rest.split(":") if sep else []
            return {tag[0]: tag[1], **_positional(member, parts, skip=tag[0])}
        props = member.get("properties") or {}
        if tag is None and sep and list(props) == [head]:
            return {head: parse(props[head], rest)}
    # Scalars: an exact fit first (`24` is an integer before it is a string), then a string
    # outside an enum's values, left for the API to judge (it may take aliases: `1h`).
    for strict in (True, False):
        for member in options:
            if not is_object(member) and not is_array(member):
                try:
                    return scalar(member, text, strict)
                except Unparsable:
                    continue
    reasons = []
    for member in objects:
        if tag_of(member) is None:
            try:
                return _positional(member, text.split(":"), skip=None)
            except Unparsable as exc:
                reasons.append(str(exc))
    for member in options:
        if is_array(member):
            if text == "none":
                return []
            return [parse(member.get("items") or {}, item) for item in _items(text)]
    because = f" ({'; '.join(reasons)})" if reasons else ""
    raise Unparsable(f"expected {describe(schema)}{because}")


def scalar(schema: Schema, text: str, strict: bool = False) -> Any:
    """A number, string, boolean, constant or null; a string outside its enum's values only
    when not `strict`."""
    if strict and "enum" in schema and text not in [str(value) for value in schema["enum"]]:
        raise Unparsable(f"expected one of {', '.join(str(v) for v in schema['enum'])}")
    if "const" in schema:
        if text == str(schema["const"]):
            return schema["const"]
        raise Unparsable(f"expected {schema['const']}")
    kind = schema.get("type")
    if kind == "null":
        if text.lower() in ("null", "none"):
            return None
        raise Unparsable("expected null")
    if kind == "boolean":
        truth = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
        if text.lower() in truth:
            return truth[text.lower()]
        raise Unparsable("expected true or false")
    if kind in ("integer", "number"):
        value = _json(text)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise Unparsable(f"expected {'an integer' if kind == 'integer' else 'a number'}")
        if kind == "integer" and not isinstance(value, int):
            raise Unparsable("expected an integer")
        return value
    if kind == "string":
        # A time may be epoch milliseconds; the API takes both.
        if schema.get("format") == "date-time" and text.isdigit():
            return int(text)
        return text
    if not kind:  # any value: JSON, else `NAME:V` as {NAME: V}, else the text
        value = _json(text)
        if isinstance(value, str) and ":" in value:
            name, _, number = value.partition(":")
            inner = _json(number)
            if name.isidentifier() and isinstance(inner, int | float):
                return {name: inner}
            raise Unparsable(f"{text!r} is neither a value nor NAME:NUMBER")
        return value
    raise Unparsable(f"expected {kind}")


def describe(schema: Schema) -> str:
    """The syntax that fits `schema`, for help texts and errors: `NUMBER|atr:ATR`."""
    shapes: list[str] = []
    has_scalar = any(
        not is_object(m) and not is_array(m) for m in members(schema) if m.get("type") != "null"
    )
    for member in members(schema):
        if is_object(member) and not is_map(member):
            tag = tag_of(member)
            props = [n for n in member.get("properties") or {} if tag is None or n != tag[0]]
            if tag is not None:
                shapes.append(str(tag[1]) + _parts(member, props, leading=True))
            elif len(props) == 1 and has_scalar:
                shapes.append(f"{props[0]}:{props[0].upper()}")
            else:
                shapes.append(_parts(member, props, leading=False))
        elif is_array(member):
            shapes.append(f"{describe(member.get('items') or {})},...")
        elif "const" in member:
            shapes.append(str(member["const"]))
        elif "enum" in member:
            shapes.append("|".join(str(value) for value in member["enum"]))
        elif member.get("type") == "null":
            continue
        elif member.get("format") == "date-time":
            shapes.append("TIME")
        else:
            shapes.append(_SCALAR_NAMES.get(str(member.get("type")), "VALUE"))
    return "|".join(dict.fromkeys(shapes)) or "VALUE"


def _parts(member: Schema, props: list[str], leading: bool) -> str:
    """`LOW:HIGH[:STEP][:log]`: the required members, then the optional ones in brackets, a
    boolean by its name."""
    required = set(member.get("required", []))
    text = ""
    for name in props:
        boolean = is_boolean(member["properties"][name])
        part = name if boolean else name.upper()
        if name in required and not boolean:
            text += f":{part}" if text or leading else part
        else:
            text += f"[:{part}]"
    return text


_SCALAR_NAMES = {"integer": "INT", "number": "NUMBER", "string": "TEXT", "boolean": "true|false"}


def _positional(member: Schema, parts: list[str], skip: str | None) -> dict[str, Any]:
    """An object's properties from `parts` in order; a part naming a boolean property sets it."""
    props = {name: prop for name, prop in (member.get("properties") or {}).items() if name != skip}
    flags = {name for name, prop in props.items() if is_boolean(prop)}
    value: dict[str, Any] = {}
    order = [name for name in props if name not in flags]
    for part in (p.strip() for p in parts):
        if part in flags:
            value[part] = True
            continue
        if not order:
            raise Unparsable(f"too many values: {':'.join(parts)}")
        name = order.pop(0)
        try:
            value[name] = parse(props[name], part)
        except Unparsable as exc:
            raise Unparsable(f"{name}: {exc}") from None
    required = [name for name in member.get("required", []) if name != skip]
    missing = [name for name in required if name not in value]
    if missing:
        raise Unparsable(f"missing {', '.join(missing)}")
    return value


def _items(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text
