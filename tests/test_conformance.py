"""The spec models cannot drift from botocore's App Mesh model.

The walk compares each botocore shape with the JSON Schema pydantic derives from
the model: members, required flags, enum values, string lengths, numeric ranges
and list bounds. The broken copies prove the walk notices what it must.
"""

from __future__ import annotations

from typing import Any

import botocore.session
import pytest
from pydantic import BaseModel, Field, TypeAdapter, create_model

from reconciler import model

SERVICE = botocore.session.get_session().get_service_model("appmesh")


def _shape(operation: str, member: str) -> Any:
    return SERVICE.operation_model(operation).input_shape.members[member]


def compare(shape: Any, annotation: Any) -> list[str]:
    schema = TypeAdapter(annotation).json_schema(by_alias=True)
    return _walk(shape, schema, schema.get("$defs", {}), shape.name)


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    if "anyOf" in node:  # an optional member: X | None
        node = next(n for n in node["anyOf"] if n.get("type") != "null")
    if "$ref" in node:
        node = defs[node["$ref"].split("/")[-1]]
    return node


def _bounds(shape: Any, node: dict[str, Any], low: str, high: str, path: str) -> list[str]:
    out = []
    for meta, key in (("min", low), ("max", high)):
        want = shape.metadata.get(meta)
        if meta == "min" and want == 0 and key == "minItems":
            want = node.get(key, 0)  # an unbounded list and min 0 are the same
        if want != node.get(key):
            out.append(f"{path}: {meta} is {want} in the API, {node.get(key)} in the model")
    return out


def _walk(shape: Any, node: dict[str, Any], defs: dict[str, Any], path: str) -> list[str]:
    node = _resolve(node, defs)
    kind = shape.type_name
    if kind == "structure":
        props = node.get("properties", {})
        out = [f"{path}.{m}: missing from the model" for m in shape.members if m not in props]
        out += [f"{path}.{p}: in the model but not in the API" for p in props if p not in shape.members]
        required = set(node.get("required", []))
        for member, member_shape in shape.members.items():
            if member not in props:
                continue
            if (member in shape.required_members) != (member in required):
                out.append(f"{path}.{member}: required is {member in shape.required_members} in the API")
            out += _walk(member_shape, props[member], defs, f"{path}.{member}")
        return out
    if kind == "list":
        if node.get("type") != "array":
            return [f"{path}: a list in the API, {node.get('type')} in the model"]
        return _bounds(shape, node, "minItems", "maxItems", path) + _walk(
            shape.member, node["items"], defs, f"{path}[]"
        )
    if kind == "string":
        if shape.enum:
            values = node.get("enum", [node["const"]] if "const" in node else None)
            if sorted(values or []) != sorted(shape.enum):
                return [f"{path}: enum is {shape.enum} in the API, {values} in the model"]
            return []
        return _type(node, "string", path) + _bounds(shape, node, "minLength", "maxLength", path)
    if kind in ("integer", "long"):
        return _type(node, "integer", path) + _bounds(shape, node, "minimum", "maximum", path)
    return _type(node, kind, path)


def _type(node: dict[str, Any], want: str, path: str) -> list[str]:
    return [] if node.get("type") == want else [f"{path}: {want} in the API, {node.get('type')} in the model"]


@pytest.mark.parametrize(
    ("operation", "member", "annotation"),
    [
        ("CreateVirtualGateway", "spec", model.VirtualGatewaySpec),
        ("CreateGatewayRoute", "spec", model.GatewayRouteSpec),
        ("CreateVirtualGateway", "tags", model.TagList),
        ("CreateGatewayRoute", "meshOwner", model.AccountId),
        ("CreateGatewayRoute", "gatewayRouteName", model.ResourceName),
    ],
)
def test_models_match_botocore(operation: str, member: str, annotation: Any) -> None:
    assert compare(_shape(operation, member), annotation) == []


def _without(cls: type[BaseModel], member: str, **replace: Any) -> type[BaseModel]:
    """A copy of ``cls`` missing ``member``, with some fields replaced."""
    fields: dict[str, Any] = {
        name: (info.annotation, info) for name, info in cls.model_fields.items() if name != member
    }
    fields.update(replace)
    return create_model(cls.__name__, __base__=model._Shape, **fields)


def test_a_removed_member_is_caught() -> None:
    broken = _without(model.VirtualGatewaySpec, "logging")
    assert compare(_shape("CreateVirtualGateway", "spec"), broken) == [
        "VirtualGatewaySpec.logging: missing from the model"
    ]


def test_a_changed_bound_enum_and_required_flag_are_caught() -> None:
    broken_route = _without(
        model.GatewayRouteSpec,
        "grpcRoute",
        priority=(int | None, Field(default=None, ge=0, le=999)),
        httpRoute=(model.HttpGatewayRoute, ...),
    )
    problems = compare(_shape("CreateGatewayRoute", "spec"), broken_route)
    assert "GatewayRouteSpec.grpcRoute: missing from the model" in problems
    assert "GatewayRouteSpec.priority: max is 1000 in the API, 999 in the model" in problems
    assert "GatewayRouteSpec.httpRoute: required is False in the API" in problems

    broken_mapping = _without(model.VirtualGatewayPortMapping, "protocol", protocol=(str, ...))
    listener = SERVICE.shape_for("VirtualGatewayPortMapping")
    assert compare(listener, broken_mapping) == [
        "VirtualGatewayPortMapping.protocol: enum is ['http', 'http2', 'grpc'] in the API, None in the model"
    ]
