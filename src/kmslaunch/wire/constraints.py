"""The bounds a service model sets on an operation's input, checked the way the AWS services check them.

botocore's ``ParamValidator`` (botocore/validate.py) checks only the lower bounds (``min``): upper bounds may change
on the service side, so the SDK leaves them to the service, which refuses an out-of-range value with a validation
error before it authorizes anything. The endpoint does the same from the same model: KMS's NumberOfBytes is 1-1024
(GenerateDataKey, GenerateRandom), Encrypt's Plaintext at most 4,096 bytes, Decrypt's CiphertextBlob at most 6,144
(https://docs.aws.amazon.com/kms/latest/APIReference/API_Encrypt.html, API_Decrypt.html, API_GenerateDataKey.html,
API_GenerateRandom.html: each parameter's "Length Constraints" / "Valid Range" are the model's min and max).

A required member left out is refused the same way, at any depth ("Value null at 'tags.1.member.key' failed to
satisfy constraint: Member must not be null"). The wording is the one AWS's JSON and query services answer with:
"1 validation error detected: Value '2000' at
'numberOfBytes' failed to satisfy constraint: Member must have value less than or equal to 1024", several joined
with "; ".
"""

from __future__ import annotations

from typing import Any

from .models import BLOB, INTEGER, LIST, MAP, STRING, STRUCTURE, Shape

__all__ = ["violations"]

_MAX_REPORTED = 10


def violations(shape: Shape, params: dict[str, Any]) -> list[str]:
    """Every bound of ``shape`` the parsed input ``params`` breaks, each as AWS words it (empty when none)."""
    out: list[str] = []
    _structure(shape, params, "", out)
    return out


def _path(prefix: str, name: str) -> str:
    camel = name[:1].lower() + name[1:]
    return f"{prefix}.{camel}" if prefix else camel


def _structure(shape: Shape, value: dict[str, Any], prefix: str, out: list[str]) -> None:
    # A required member left out: the handlers read nested input (a Tag's Key) without looking first.
    for name in shape.required:
        if value.get(name) is None and len(out) < _MAX_REPORTED:
            out.append(f"Value null at '{_path(prefix, name)}' failed to satisfy constraint: Member must not be null")
    for name, child in value.items():
        member = shape.members.get(name)
        if member is not None and child is not None:
            _value(member.shape, child, _path(prefix, name), out)


def _shown(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return "java.nio.HeapByteBuffer"  # KMS never echoes binary input: the Java type stands in for it
    text = str(value)
    return text if len(text) <= 64 else text[:64] + "..."


def _value(shape: Shape, value: Any, path: str, out: list[str]) -> None:
    if len(out) >= _MAX_REPORTED:
        return
    kind = shape.kind
    size: int | None = None
    if kind in (STRING, BLOB, LIST, MAP) and isinstance(value, str | bytes | bytearray | list | dict):
        size = len(value)
        if shape.min is not None and size < shape.min:
            out.append(
                f"Value '{_shown(value)}' at '{path}' failed to satisfy constraint: "
                f"Member must have length greater than or equal to {int(shape.min)}"
            )
        elif shape.max is not None and size > shape.max:
            out.append(
                f"Value '{_shown(value)}' at '{path}' failed to satisfy constraint: "
                f"Member must have length less than or equal to {int(shape.max)}"
            )
    if kind == STRING and shape.enum and isinstance(value, str) and value not in shape.enum:
        out.append(
            f"Value '{_shown(value)}' at '{path}' failed to satisfy constraint: "
            f"Member must satisfy enum value set: [{', '.join(shape.enum)}]"
        )
    elif kind == INTEGER and isinstance(value, int):
        if shape.min is not None and value < shape.min:
            out.append(
                f"Value '{value}' at '{path}' failed to satisfy constraint: "
                f"Member must have value greater than or equal to {int(shape.min)}"
            )
        elif shape.max is not None and value > shape.max:
            out.append(
                f"Value '{value}' at '{path}' failed to satisfy constraint: "
                f"Member must have value less than or equal to {int(shape.max)}"
            )
    elif kind == STRUCTURE and isinstance(value, dict):
        _structure(shape, value, path, out)
    elif kind == LIST and isinstance(value, list) and shape.member is not None:
        for i, item in enumerate(value[:100]):
            _value(shape.member.shape, item, f"{path}.{i + 1}.member", out)
    elif kind == MAP and isinstance(value, dict) and shape.key is not None and shape.value is not None:
        for k, v in list(value.items())[:100]:
            _value(shape.key.shape, k, f"{path}.key", out)
            _value(shape.value.shape, v, f"{path}.{k}.member", out)
