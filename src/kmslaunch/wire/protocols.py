"""The server side of AWS's wire protocols, driven by botocore's service models.

botocore has no per-service wire code: ``service-2.json`` plus one serializer and one parser per protocol. This is
the mirror image, one request parser and one response serializer per protocol, reading the same models:

========  ======================================  ================================================================
protocol  request (what botocore's serializer      response (what botocore's parser reads)
          sends)
========  ======================================  ================================================================
ec2       form ``Action=…&Name.N=…``              ``<OpResponse xmlns><requestId/>…</OpResponse>``, lists of ``<item>``
query     form ``Name.member.N``, maps ``entry``  ``<OpResponse><OpResult>…</OpResult><ResponseMetadata>…``
json      ``X-Amz-Target`` + JSON body            JSON, blobs base64, timestamps epoch seconds
========  ======================================  ================================================================

Handlers take and return plain data, exactly what a boto3 caller passes and gets back: blobs as ``bytes``,
timestamps as ``datetime``. References: botocore/serialize.py (QuerySerializer, EC2Serializer, JSONSerializer),
botocore/parsers.py (QueryParser, EC2QueryParser, JSONParser), botocore/handlers.py (``json_decode_policies``).
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import enum
import json
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, quote

from kmslaunch.wire.constraints import violations
from kmslaunch.wire.models import (
    BLOB,
    BOOLEAN,
    DOCUMENT,
    FLOAT,
    INTEGER,
    LIST,
    MAP,
    STRING,
    STRUCTURE,
    TIMESTAMP,
    Member,
    Operation,
    ServiceModel,
    Shape,
    load_service,
)

__all__ = [
    "ServiceModel",
    "WireError",
    "check_constraints",
    "form_pairs",
    "load_service",
    "operation_for",
    "parse_request",
    "serialize_error",
    "serialize_response",
    "unknown_operation",
]


class WireError(Exception):
    """A request the protocol layer refuses, as AWS words it: ``code``, ``message``, HTTP ``status``."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


# The code each protocol's services answer a malformed parameter with: EC2 and the query services list
# InvalidParameterValue among their common errors; the JSON services (KMS, CloudTrail, Organizations) answer a value
# of the wrong JSON type with SerializationException.
_PARAMETER_ERROR = {"ec2": "InvalidParameterValue", "query": "InvalidParameterValue", "json": "SerializationException"}


def _bad_parameter(model: ServiceModel, path: str, detail: str) -> WireError:
    return WireError(_PARAMETER_ERROR.get(model.protocol, "ValidationException"), f"{detail} for parameter {path}")


def unknown_operation(model: ServiceModel, name: str | None) -> WireError:
    """The error a service answers an unknown or missing action with."""
    if model.protocol == "json":
        return WireError("UnknownOperationException", f"Unknown operation {name or ''}".rstrip())
    if not name:
        return WireError("MissingAction", "The request must contain the parameter Action.")
    return WireError("InvalidAction", f"The action {name} is not valid for this web service.")


# ---------------------------------------------------------------------------------------------------------------
# Operation lookup


def operation_for(model: ServiceModel, *, target: str | None, form: Mapping[str, str] | None) -> str | None:
    """The operation a request names: ``X-Amz-Target: TrentService.Encrypt`` (json) or the form's ``Action``.

    None when the request names no operation of this model.
    """
    if model.protocol == "json":
        if not target:
            return None
        prefix, _, name = target.rpartition(".")
        if prefix != model.target_prefix:
            return None
    else:
        name = (form or {}).get("Action", "")
    return name if name and model.has_operation(name) else None


# ---------------------------------------------------------------------------------------------------------------
# Requests


def parse_request(model: ServiceModel, operation: str, *, body: bytes, content_type: str, query: str) -> dict[str, Any]:
    """The operation's input as botocore's client was given it (``{"KeyId": …, "Plaintext": b"…"}``).

    Parameters the model does not define are ignored; a value that does not fit its shape raises WireError naming
    the parameter.
    """
    op = model.operation(operation)
    if model.protocol == "json":
        params = _parse_json_request(model, op, body)
    else:
        params = _parse_form_request(model, op, form_pairs(body, content_type, query))
    return params


def check_constraints(model: ServiceModel, operation: str, params: dict[str, Any]) -> None:
    """Refuse parsed input outside the model's bounds, as the service does before authorizing
    (wire/constraints.py): WireError ValidationException (JSON) / ValidationError (query). EC2's model carries
    almost no bounds, and EC2 words its own refusals per parameter, so EC2 input is left to the handlers."""
    op = model.operation(operation)
    if op.input is None or model.protocol not in _VALIDATION_ERROR:
        return
    problems = violations(op.input, params)
    if problems:
        count = f"{len(problems)} validation error{'s' if len(problems) > 1 else ''} detected: "
        raise WireError(_VALIDATION_ERROR[model.protocol], count + "; ".join(problems))


_VALIDATION_ERROR = {"json": "ValidationException", "query": "ValidationError"}


def form_pairs(body: bytes, content_type: str, query: str) -> list[tuple[str, str]]:
    """The query string's parameters, then a form-encoded body's (the query protocols accept either)."""
    pairs = parse_qsl(query, keep_blank_values=True) if query else []
    if body and content_type.split(";", 1)[0].strip().lower() == "application/x-www-form-urlencoded":
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            # "The AWS query string is malformed or does not adhere to AWS standards", 400
            # (https://docs.aws.amazon.com/IAM/latest/APIReference/CommonErrors.html).
            raise WireError(
                "InvalidQueryParameter", f"The request body is not UTF-8 (byte {exc.start} of the body)"
            ) from None
        pairs.extend(parse_qsl(text, keep_blank_values=True))
    return pairs


# Form keys become a tree on their dots: "Tags.member.1.Key=a" -> {"Tags": {"member": {"1": {"Key": "a"}}}}.
_FormNode = dict[str, Any] | str


def _parse_form_request(model: ServiceModel, op: Operation, pairs: list[tuple[str, str]]) -> dict[str, Any]:
    shape = op.input
    if shape is None:
        return {}
    root: dict[str, Any] = {}
    for key, value in pairs:
        steps = key.split(".")
        node = root
        for step in steps[:-1]:
            child = node.get(step)
            if not isinstance(child, dict):
                # A subtree replaces a bare value ("Tags=" for an empty list, then "Tags.member.1=…").
                child = {}
                node[step] = child
            node = child
        if not isinstance(node.get(steps[-1]), dict):
            node[steps[-1]] = value
    # Action and Version address the service, not the operation (unless the operation has such a member).
    for reserved in ("Action", "Version"):
        if reserved not in shape.by_wire:
            root.pop(reserved, None)
    return _form_structure(model, shape, root, "")


def _form_value(model: ServiceModel, member: Member, node: _FormNode, path: str) -> Any:
    shape = member.shape
    kind = shape.kind
    if kind == STRUCTURE:
        if not isinstance(node, dict):
            if node == "":
                return {}
            raise _bad_parameter(model, path, "Expected a structure")
        return _form_structure(model, shape, node, path)
    if kind == LIST:
        return _form_list(model, member, node, path)
    if kind == MAP:
        return _form_map(model, member, node, path)
    if isinstance(node, dict):
        raise _bad_parameter(model, path, "Expected a single value")
    return _scalar_from_text(model, kind, node, path)


def _form_structure(model: ServiceModel, shape: Shape, node: dict[str, Any], prefix: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    by_wire = shape.by_wire
    for wire, child in node.items():
        member = by_wire.get(wire)
        if member is not None:
            out[member.name] = _form_value(model, member, child, f"{prefix}.{wire}" if prefix else wire)
    return out


def _indexed(model: ServiceModel, node: dict[str, Any], path: str) -> list[tuple[int, Any]]:
    """The children of a list or map node keyed 1, 2, …, in index order (gaps are tolerated, as AWS does)."""
    items: list[tuple[int, Any]] = []
    for index, child in node.items():
        if not index.isdigit():
            raise _bad_parameter(model, f"{path}.{index}", "Expected a 1-based index")
        items.append((int(index), child))
    items.sort(key=lambda item: item[0])
    return items


def _form_list(model: ServiceModel, member: Member, node: _FormNode, path: str) -> list[Any]:
    if not isinstance(node, dict):
        if node == "":  # the query protocol's empty list
            return []
        raise _bad_parameter(model, path, "Expected a list")
    element = member.shape.member
    assert element is not None
    if model.protocol == "query" and not member.flattened:
        # "Name.member.N"; a client that sends the flattened form "Name.N" is understood too.
        inner = node.get(element.wire)
        if isinstance(inner, dict):
            node, path = inner, f"{path}.{element.wire}"
    return [_form_value(model, element, child, f"{path}.{i}") for i, child in _indexed(model, node, path)]


def _form_map(model: ServiceModel, member: Member, node: _FormNode, path: str) -> dict[Any, Any]:
    if not isinstance(node, dict):
        if node == "":
            return {}
        raise _bad_parameter(model, path, "Expected a map")
    key_ref, value_ref = member.shape.key, member.shape.value
    assert key_ref is not None and value_ref is not None
    if not member.flattened:
        inner = node.get("entry")
        if isinstance(inner, dict):
            node, path = inner, f"{path}.entry"
    out: dict[Any, Any] = {}
    for i, entry in _indexed(model, node, path):
        entry_path = f"{path}.{i}"
        if not isinstance(entry, dict) or key_ref.wire not in entry:
            raise _bad_parameter(model, entry_path, f"Expected .{key_ref.wire} and .{value_ref.wire}")
        key = _form_value(model, key_ref, entry[key_ref.wire], f"{entry_path}.{key_ref.wire}")
        raw_value = entry.get(value_ref.wire, "")
        out[key] = _form_value(model, value_ref, raw_value, f"{entry_path}.{value_ref.wire}")
    return out


def _scalar_from_text(model: ServiceModel, kind: int, text: str, path: str) -> Any:
    if kind in (STRING, DOCUMENT):
        return text
    try:
        if kind == INTEGER:
            return int(text)
        if kind == BOOLEAN:
            lowered = text.lower()
            if lowered == "true":
                return True
            if lowered == "false":
                return False
            raise ValueError(text)
        if kind == FLOAT:
            return float(text)
        if kind == TIMESTAMP:
            return parse_timestamp(text)
        if kind == BLOB:
            return base64.b64decode(text, validate=True)
    except (ValueError, binascii.Error, OverflowError):
        raise _bad_parameter(model, path, f"Invalid value {text!r}") from None
    return text


def parse_timestamp(value: str | float) -> datetime:
    """A timestamp as clients send it: epoch seconds, ISO 8601 or RFC 822; an aware UTC datetime."""
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    text = value.strip()
    try:
        return datetime.fromtimestamp(float(text), UTC)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            raise ValueError(f"not a timestamp: {value!r}") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _parse_json_request(model: ServiceModel, op: Operation, body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        document = json.loads(body)
    except ValueError:
        raise WireError("SerializationException", "The request body is not valid JSON") from None
    except RecursionError:
        # json.loads gives up near 1,000 levels; KMS reads no input nested more than a few levels deep.
        raise WireError("SerializationException", "The request body is nested too deeply") from None
    if not isinstance(document, dict):
        raise WireError("SerializationException", "The request body must be a JSON object")
    if op.input is None:
        return {}
    return _json_structure_in(model, op.input, document, "")


def _json_structure_in(model: ServiceModel, shape: Shape, value: dict[str, Any], prefix: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    members = shape.by_json
    for key, child in value.items():
        member = members.get(key)
        if member is not None and child is not None:
            out[member.name] = _json_in(model, member.shape, child, f"{prefix}.{key}" if prefix else key)
    return out


def _json_in(model: ServiceModel, shape: Shape, value: Any, path: str) -> Any:
    kind = shape.kind
    if kind == STRING:
        if isinstance(value, str):
            return value
    elif kind == STRUCTURE:
        if isinstance(value, dict):
            return _json_structure_in(model, shape, value, path)
    elif kind == LIST:
        element = shape.member
        assert element is not None
        if isinstance(value, list):
            return [_json_in(model, element.shape, item, f"{path}[{i}]") for i, item in enumerate(value)]
    elif kind == MAP:
        value_ref = shape.value
        assert value_ref is not None
        if isinstance(value, dict):
            return {k: _json_in(model, value_ref.shape, v, f"{path}.{k}") for k, v in value.items()}
    elif kind == INTEGER:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif kind == BOOLEAN:
        if isinstance(value, bool):
            return value
    elif kind == FLOAT:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif kind == BLOB:
        if isinstance(value, str):
            try:
                return base64.b64decode(value, validate=True)
            except binascii.Error:
                raise _bad_parameter(model, path, "Invalid base64 value") from None
    elif kind == TIMESTAMP:
        if isinstance(value, int | float | str) and not isinstance(value, bool):
            try:
                return parse_timestamp(value)
            except (ValueError, OverflowError, OSError):
                raise _bad_parameter(model, path, "Invalid timestamp") from None
    else:  # document types travel as plain JSON
        return value
    raise _bad_parameter(model, path, f"Unexpected JSON {type(value).__name__}")


# ---------------------------------------------------------------------------------------------------------------
# Responses


def serialize_response(
    model: ServiceModel, operation: str, output: Mapping[str, Any], *, request_id: str
) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of a successful response carrying ``output`` (the operation's result as boto3
    returns it, ``ResponseMetadata`` aside).

    Walks the keys present in ``output`` (a key the model does not define, or a None value, is left out), never
    every member of a shape: EC2's Instance has 61 members, a handful of which a result usually carries.
    """
    op = model.operation(operation)
    if model.protocol == "json":
        body = _json_structure_out(op.output, output) if op.output is not None else {}
        headers = {"Content-Type": f"application/x-amz-json-{model.json_version}", "x-amzn-RequestId": request_id}
        return 200, headers, json.dumps(body, separators=(",", ":")).encode()
    parts: list[str] = ['<?xml version="1.0" encoding="UTF-8"?>\n']
    namespace = f' xmlns="{model.xml_namespace}"' if model.xml_namespace else ""
    if model.protocol == "ec2":
        parts.append(f"<{operation}Response{namespace}><requestId>{_escape(request_id)}</requestId>")
        if op.output is not None:
            _xml_structure(parts, op.output, output)
        parts.append(f"</{operation}Response>")
    else:
        parts.append(f"<{operation}Response{namespace}>")
        if op.output is not None:
            wrapper = op.result_wrapper
            if wrapper:
                parts.append(f"<{wrapper}>")
            _xml_structure(parts, op.output, output)
            if wrapper:
                parts.append(f"</{wrapper}>")
        parts.append(
            f"<ResponseMetadata><RequestId>{_escape(request_id)}</RequestId></ResponseMetadata></{operation}Response>"
        )
    headers = {"Content-Type": "text/xml;charset=UTF-8", "x-amzn-RequestId": request_id}
    return 200, headers, "".join(parts).encode()


def serialize_error(
    model: ServiceModel, *, code: str, message: str, status: int, request_id: str
) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of an error response in the envelope botocore's parser for the protocol reads."""
    if model.protocol == "json":
        headers = {"Content-Type": f"application/x-amz-json-{model.json_version}", "x-amzn-RequestId": request_id}
        # botocore's BaseJSONParser reads "message", then "Message"; KMS sends "message".
        return status, headers, json.dumps({"__type": code, "message": message}).encode()
    headers = {"Content-Type": "text/xml;charset=UTF-8", "x-amzn-RequestId": request_id}
    code_xml, message_xml, id_xml = _escape(code), _escape(message), _escape(request_id)
    if model.protocol == "ec2":
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Response><Errors><Error><Code>{code_xml}</Code><Message>{message_xml}</Message></Error></Errors>"
            f"<RequestID>{id_xml}</RequestID></Response>"
        )
    else:
        namespace = f' xmlns="{model.xml_namespace}"' if model.xml_namespace else ""
        fault = "Receiver" if status >= 500 else "Sender"
        body = (
            f"<ErrorResponse{namespace}><Error><Type>{fault}</Type><Code>{code_xml}</Code>"
            f"<Message>{message_xml}</Message></Error><RequestId>{id_xml}</RequestId></ErrorResponse>"
        )
    return status, headers, body.encode()


# XML text: the three markup characters, and CR, which an XML parser would otherwise normalise to LF.
_XML_SPECIAL = re.compile(r"[&<>\r]")


def _escape(text: str) -> str:
    if _XML_SPECIAL.search(text) is None:
        return text
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")


def _xml_structure(parts: list[str], shape: Shape, value: Mapping[str, Any]) -> None:
    members = shape.members
    for key, child in value.items():
        member = members.get(key)
        if member is None or child is None:
            continue
        if member.plain_string and type(child) is str:  # the common case, inline
            text = child if _XML_SPECIAL.search(child) is None else _escape(child)
            parts.append(f"{member.xml_open}{text}{member.xml_close}")
        elif member.flattened and member.shape.kind == LIST:
            element = member.shape.member
            assert element is not None
            for item in child:
                parts.append(member.flat_open)
                _xml_content(parts, element.shape, item)
                parts.append(member.flat_close)
        elif member.flattened and member.shape.kind == MAP:
            for map_key, item in child.items():  # <Name><key/><value/></Name> repeated, no <entry>
                parts.append(member.xml_open)
                _xml_entry(parts, member.shape, map_key, item)
                parts.append(member.xml_close)
        else:
            parts.append(member.xml_open)
            _xml_content(parts, member.shape, child)
            parts.append(member.xml_close)


def _xml_content(parts: list[str], shape: Shape, value: Any) -> None:
    """What goes between a member's tags."""
    kind = shape.kind
    if kind == STRUCTURE:
        _xml_structure(parts, shape, value)
    elif kind == LIST:
        element = shape.member
        assert element is not None
        element_shape, element_open, element_close = element.shape, element.xml_open, element.xml_close
        if element_shape.kind == STRUCTURE:
            for item in value:
                parts.append(element_open)
                _xml_structure(parts, element_shape, item)
                parts.append(element_close)
        else:
            for item in value:
                parts.append(element_open)
                _xml_content(parts, element_shape, item)
                parts.append(element_close)
    elif kind == MAP:
        for key, item in value.items():
            parts.append("<entry>")
            _xml_entry(parts, shape, key, item)
            parts.append("</entry>")
    else:
        parts.append(_xml_scalar(shape, value))


def _xml_entry(parts: list[str], shape: Shape, key: Any, value: Any) -> None:
    key_ref, value_ref = shape.key, shape.value
    assert key_ref is not None and value_ref is not None
    parts.append(f"{key_ref.xml_open}{_escape(str(key))}{key_ref.xml_close}{value_ref.xml_open}")
    _xml_content(parts, value_ref.shape, value)
    parts.append(value_ref.xml_close)


def _xml_scalar(shape: Shape, value: Any) -> str:
    kind = shape.kind
    if kind == BOOLEAN:
        return "true" if value else "false"
    if kind == TIMESTAMP:
        return _iso8601(value)
    if kind == BLOB:
        return base64.b64encode(value.encode() if isinstance(value, str) else value).decode()
    if kind == INTEGER:
        return str(int(value))
    if kind == FLOAT:
        return _float_text(float(value))
    if isinstance(value, enum.Enum):
        value = value.value
    if shape.url_encoded_json:
        # IAM's policy documents: URL-encoded JSON on the wire; botocore's json_decode_policies decodes them.
        return quote(value if isinstance(value, str) else json.dumps(value), safe="")
    return _escape(value if type(value) is str else str(value))


def _float_text(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return repr(value)


def _as_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value
    if isinstance(value, str | int | float):
        return parse_timestamp(value)
    raise TypeError(f"not a timestamp: {value!r}")


def _iso8601(value: Any) -> str:
    """ISO 8601 in UTC with milliseconds, as EC2 and IAM write it (microseconds when the value has them)."""
    moment = _as_datetime(value)
    if moment.utcoffset():
        moment = moment.astimezone(UTC)
    spec = "milliseconds" if moment.microsecond % 1000 == 0 else "microseconds"
    return moment.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


def _json_structure_out(shape: Shape, value: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    members = shape.members
    for key, child in value.items():
        member = members.get(key)
        if member is not None and child is not None:
            out[member.json_name] = _json_out(member.shape, child)
    return out


def _json_out(shape: Shape, value: Any) -> Any:
    kind = shape.kind
    if kind == STRING:
        return value.value if isinstance(value, enum.Enum) else value
    if kind == STRUCTURE:
        return _json_structure_out(shape, value)
    if kind == LIST:
        element = shape.member
        assert element is not None
        element_shape = element.shape
        return [_json_out(element_shape, item) for item in value]
    if kind == MAP:
        value_ref = shape.value
        assert value_ref is not None
        return {key: _json_out(value_ref.shape, item) for key, item in value.items()}
    if kind == BLOB:
        return base64.b64encode(value.encode() if isinstance(value, str) else value).decode()
    if kind == TIMESTAMP:
        seconds = _as_datetime(value).timestamp()
        return int(seconds) if seconds.is_integer() else seconds
    return value
