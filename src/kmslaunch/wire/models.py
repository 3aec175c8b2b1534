"""botocore's service models, compiled once into what the server side of the wire needs.

botocore ships each service's wire format as data (``botocore/data/<service>/<version>/service-2.json``) and has one
serializer and one parser per protocol. The server side mirrors that: this module turns the model's shapes into small
objects that carry, precomputed, every name the protocols use (the form name a client sends, the XML element and the
JSON key a response uses), so that serializing and parsing never re-read the raw model in the hot path.

Trait resolution follows botocore's ``ShapeResolver.resolve_shape_ref``: a member reference's traits
(``locationName``, ``queryName``, ``flattened``, ``timestampFormat``) override the target shape's own.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import Any

from botocore.loaders import Loader

# Shape kinds, as small ints: the serializers dispatch on them in their inner loops.
STRUCTURE = 1
LIST = 2
MAP = 3
STRING = 4
INTEGER = 5
BOOLEAN = 6
FLOAT = 7
TIMESTAMP = 8
BLOB = 9
DOCUMENT = 10

_KINDS = {
    "structure": STRUCTURE,
    "list": LIST,
    "map": MAP,
    "string": STRING,
    "character": STRING,
    "integer": INTEGER,
    "long": INTEGER,
    "short": INTEGER,
    "byte": INTEGER,
    "boolean": BOOLEAN,
    "float": FLOAT,
    "double": FLOAT,
    "timestamp": TIMESTAMP,
    "blob": BLOB,
}

# The traits a member reference may set that change the wire (botocore's Shape.SERIALIZED_ATTRS, the subset in use).
_REF_TRAITS = ("locationName", "queryName", "flattened", "timestampFormat")

# IAM returns policy documents as URL-encoded JSON; botocore's ``json_decode_policies`` handler (after-call.iam)
# decodes every string of this shape. The serializer encodes them the same way.
_URL_ENCODED_JSON_SHAPES = {"iam": frozenset({"policyDocumentType"})}


@dataclass(eq=False, slots=True)
class Shape:
    """One named shape of a service model, with the names each protocol uses precomputed."""

    name: str
    kind: int
    url_encoded_json: bool = False
    # structure: members by their Python (botocore) name, and by the name a request carries (form key step, JSON key)
    members: dict[str, Member] = field(default_factory=dict)
    by_wire: dict[str, Member] = field(default_factory=dict)
    by_json: dict[str, Member] = field(default_factory=dict)
    # list: the element reference; map: key and value references
    member: Member | None = None
    key: Member | None = None
    value: Member | None = None
    enum: tuple[str, ...] = ()
    # the model's bounds: a string's, blob's or list's length, a number's value (None: unbounded)
    min: float | None = None
    max: float | None = None
    required: tuple[str, ...] = ()  # structure: the members the model requires


@dataclass(eq=False, slots=True)
class Member:
    """A reference to a shape from a structure member, a list element or a map key/value, traits resolved."""

    name: str  # the Python name (structure member), or "member"/"key"/"value"
    shape: Shape
    flattened: bool
    # request side (query/ec2 form): this reference's name in a form key; for list elements, the ".member" step
    wire: str
    # response side: the XML element and its tags; the JSON key
    xml_name: str
    xml_open: str
    xml_close: str
    json_name: str
    # a plain string (not IAM's URL-encoded policy documents): the XML serializer writes these inline
    plain_string: bool = False
    # flattened lists repeat this element in the parent instead of wrapping elements in xml_name
    flat_open: str = ""
    flat_close: str = ""


@dataclass(eq=False, slots=True)
class Operation:
    """One operation: its input and output shapes (None when the model has none) and the XML result wrapper."""

    name: str
    input: Shape | None
    output: Shape | None
    result_wrapper: str | None


class ServiceModel:
    """A service's botocore model: protocol, target prefix, XML namespace, API version, and compiled operations.

    Shapes are compiled per operation on first use (the EC2 model has thousands), under a lock: a published
    operation is complete and read-only, so serving threads read it without locking.
    """

    def __init__(self, name: str, raw: dict[str, Any]) -> None:
        meta = raw["metadata"]
        self.name = name
        self.protocol: str = meta["protocol"]
        self.api_version: str = meta["apiVersion"]
        self.target_prefix: str | None = meta.get("targetPrefix")
        self.json_version: str = meta.get("jsonVersion", "1.0")
        namespace = meta.get("xmlNamespace")
        # EC2's model omits the trailing slash that EC2's responses carry.
        if namespace and self.protocol == "ec2" and not namespace.endswith("/"):
            namespace += "/"
        self.xml_namespace: str | None = namespace
        self._raw_operations: dict[str, Any] = raw["operations"]
        self._raw_shapes: dict[str, Any] = raw["shapes"]
        self._url_encoded = _URL_ENCODED_JSON_SHAPES.get(name, frozenset())
        self._shapes: dict[str, Shape] = {}
        self._operations: dict[str, Operation] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ServiceModel({self.name!r}, protocol={self.protocol!r})"

    @property
    def operation_names(self) -> list[str]:
        """Every operation the model defines."""
        return list(self._raw_operations)

    def has_operation(self, name: str) -> bool:
        """Whether ``name`` is one of the model's operations."""
        return name in self._raw_operations

    def operation(self, name: str) -> Operation:
        """The compiled operation; KeyError for a name the model does not define."""
        op = self._operations.get(name)
        if op is not None:
            return op
        raw = self._raw_operations[name]
        with self._lock:
            op = self._operations.get(name)
            if op is None:
                input_ref = raw.get("input")
                output_ref = raw.get("output")
                op = Operation(
                    name=name,
                    input=self._shape(input_ref["shape"]) if input_ref else None,
                    output=self._shape(output_ref["shape"]) if output_ref else None,
                    result_wrapper=output_ref.get("resultWrapper") if output_ref else None,
                )
                self._operations[name] = op
        return op

    def shape(self, name: str) -> Shape:
        """The compiled shape called ``name`` (for tests and tools; serving goes through operations)."""
        with self._lock:
            return self._shape(name)

    # Compilation. Called with the lock held. A shape is registered before its members are filled in, so
    # recursive shapes resolve to the same object.

    def _shape(self, name: str) -> Shape:
        shape = self._shapes.get(name)
        if shape is not None:
            return shape
        raw = self._raw_shapes[name]
        kind = DOCUMENT if raw.get("document") else _KINDS.get(raw["type"], STRING)
        shape = Shape(
            name=name,
            kind=kind,
            url_encoded_json=name in self._url_encoded,
            enum=tuple(raw.get("enum", ())),
            min=raw.get("min"),
            max=raw.get("max"),
            required=tuple(raw.get("required", ())),
        )
        self._shapes[name] = shape
        if kind == STRUCTURE:
            for member_name, ref in raw.get("members", {}).items():
                member = self._member(member_name, ref, member_name)
                shape.members[member_name] = member
                shape.by_wire[member.wire] = member
                shape.by_json[member.json_name] = member
        elif kind == LIST:
            shape.member = self._element(raw["member"], "member", "item" if self.protocol == "ec2" else "member")
        elif kind == MAP:
            shape.key = self._element(raw["key"], "key", "key")
            shape.value = self._element(raw["value"], "value", "value")
        return shape

    def _traits(self, ref: dict[str, Any]) -> dict[str, Any]:
        traits = {k: v for k, v in self._raw_shapes[ref["shape"]].items() if k in _REF_TRAITS}
        traits.update((k, v) for k, v in ref.items() if k in _REF_TRAITS)
        return traits

    def _member(self, member_name: str, ref: dict[str, Any], default: str) -> Member:
        traits = self._traits(ref)
        shape = self._shape(ref["shape"])
        location = traits.get("locationName")
        flattened = bool(traits.get("flattened"))
        xml_name = location or default
        json_name = location or default
        if self.protocol == "ec2":
            # botocore EC2Serializer._get_serialized_name: queryName, else locationName capitalised, else the name.
            query_name = traits.get("queryName")
            if query_name:
                wire = query_name
            elif location:
                wire = location[0].upper() + location[1:]
            else:
                wire = default
        else:
            wire = location or default
        flat_open = flat_close = ""
        if shape.kind == LIST and flattened:
            element_location = self._traits(self._raw_shapes[shape.name]["member"]).get("locationName")
            if element_location:
                # botocore QuerySerializer: a flattened list whose element has a locationName is sent under that
                # name ("Foo.1" becomes "Bar.1"); BaseXMLResponseParser._member_key_name reads it the same way.
                if self.protocol != "ec2":
                    wire = element_location
                xml_name = element_location
            flat_open, flat_close = f"<{xml_name}>", f"</{xml_name}>"
        return Member(
            name=member_name,
            plain_string=shape.kind == STRING and not shape.url_encoded_json,
            shape=shape,
            flattened=flattened,
            wire=wire,
            xml_name=xml_name,
            xml_open=f"<{xml_name}>",
            xml_close=f"</{xml_name}>",
            json_name=json_name,
            flat_open=flat_open,
            flat_close=flat_close,
        )

    def _element(self, ref: dict[str, Any], role: str, default_tag: str) -> Member:
        """A list element or map key/value. Its ``wire`` is the form step of the query protocol ("Foo.member.1",
        "Foo.entry.1.key"; EC2 capitalises key/value names and never uses a list step), its XML tag defaults to
        ``default_tag``."""
        return self._member(role, ref, default_tag)


_LOADER_LOCK = threading.Lock()


@cache
def _loader() -> Loader:
    return Loader()


@lru_cache(maxsize=32)
def load_service(name: str) -> ServiceModel:
    """The botocore model of service ``name`` (``kms``, ``ec2``, …), loaded once per process."""
    with _LOADER_LOCK:
        raw = _loader().load_service_model(name, "service-2")
    return ServiceModel(name, raw)
