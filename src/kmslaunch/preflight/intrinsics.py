"""CloudFormation's intrinsic functions and conditions, evaluated as far as the template and its parameters allow.

What CloudFormation decides at deploy time (another resource's attribute, a pseudo parameter, an SSM parameter, an
export of another stack) stays symbolic: ``Ref``, ``Pseudo``, ``Unknown``, or a ``Concat`` of known and symbolic
parts. Everything else (parameter values, ``Fn::If`` on decidable conditions, ``Fn::Join`` of known strings,
``Fn::Select`` from a known list...) is computed here, so that what a resource says is as concrete as the template
makes it. Pages: https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/intrinsic-function-reference.html
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from kmslaunch.policy.errors import InputError
from kmslaunch.preflight.model import Concat, Pseudo, Ref, Unknown

# The pseudo parameters; AWS::NoValue is not a value but the removal of the property or list item that holds it.
# https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/pseudo-parameter-reference.html
PSEUDO_PARAMETERS = frozenset(
    {
        "AWS::AccountId",
        "AWS::NotificationARNs",
        "AWS::Partition",
        "AWS::Region",
        "AWS::StackId",
        "AWS::StackName",
        "AWS::URLSuffix",
    }
)
NO_VALUE_NAME = "AWS::NoValue"

# Functions CloudFormation evaluates in property values, and those only the Conditions section takes.
VALUE_FUNCTIONS = (
    "Ref",
    "Fn::Base64",
    "Fn::Cidr",
    "Fn::FindInMap",
    "Fn::GetAZs",
    "Fn::GetAtt",
    "Fn::If",
    "Fn::ImportValue",
    "Fn::Join",
    "Fn::Length",
    "Fn::Select",
    "Fn::Split",
    "Fn::Sub",
    "Fn::ToJsonString",
)
CONDITION_FUNCTIONS = ("Fn::And", "Fn::Equals", "Fn::Not", "Fn::Or", "Condition")


class _NoValue:
    """``Ref: AWS::NoValue``: the property or list item holding it is removed."""

    def __repr__(self) -> str:
        return "NO_VALUE"


NO_VALUE = _NoValue()

Part = str | Ref | Pseudo | Unknown
# A condition is true, false, or undecided because it depends on something known only at deploy time.
Decision = bool | Unknown


def concat(parts: list[object]) -> Part | Concat:
    """A string when every part is known, the part itself when there is one (``!Sub "${Key.Arn}"``), else a
    ``Concat`` with adjacent strings merged and nested ones flattened."""
    flat: list[Part] = []
    for part in parts:
        pieces: tuple[Part, ...] = part.parts if isinstance(part, Concat) else (part,)  # type: ignore[assignment]
        for piece in pieces:
            if isinstance(piece, str) and flat and isinstance(flat[-1], str):
                flat[-1] = flat[-1] + piece
            elif not (isinstance(piece, str) and piece == ""):
                flat.append(piece)
    if not flat:
        return ""
    if len(flat) == 1:
        return flat[0]
    return Concat(tuple(flat))


@dataclass(frozen=True)
class Parameter:
    """A template parameter's value as the deployment would see it."""

    name: str
    value: object  # str, list[str] (List<...> and CommaDelimitedList types) or Unknown


@dataclass
class Evaluator:
    """Evaluates values of one template. Conditions are decided lazily, so that an unused condition that cannot
    be decided costs nothing and a circular one is reported where it is met."""

    file: str
    parameters: Mapping[str, Parameter]
    resources: Mapping[str, str]  # logical id -> type
    dropped: Mapping[str, str] = field(default_factory=dict)  # logical id -> the false condition that drops it
    condition_defs: Mapping[str, object] = field(default_factory=dict)
    mappings: Mapping[str, object] = field(default_factory=dict)
    _decided: dict[str, Decision] = field(default_factory=dict)
    _deciding: list[str] = field(default_factory=list)

    def fail(self, path: str, message: str) -> InputError:
        return InputError(self.file, path, message)

    def _function(self, node: object, path: str, in_condition: bool = False) -> tuple[str | None, object]:
        """The intrinsic function a one-key map calls, or (None, None) for a plain map. A one-key map whose key
        looks like a function CloudFormation does not have is an error rather than data. ``{"Condition": ...}`` is
        a function only inside a condition: elsewhere it is data (a policy statement's Condition element)."""
        if not isinstance(node, dict) or len(node) != 1:
            return None, None
        ((key, arg),) = node.items()
        if (
            key in VALUE_FUNCTIONS
            or (key in CONDITION_FUNCTIONS and key != "Condition")
            or (in_condition and key == "Condition")
        ):
            return key, arg
        if isinstance(key, str) and key.startswith("Fn::"):
            known = ", ".join(VALUE_FUNCTIONS)
            raise self.fail(
                f"{path}.{key}", f"{key} is not a CloudFormation intrinsic function (expected one of {known})"
            )
        return None, None

    # -- conditions -------------------------------------------------------------------------------------------

    def condition(self, name: object, path: str) -> Decision:
        """The named condition's value; an error when the template declares none of that name, or when
        conditions refer to each other in a circle."""
        if not isinstance(name, str):
            raise self.fail(path, f"expected the name of a condition (a string), got {shape(name)}")
        if name in self._decided:
            return self._decided[name]
        if name not in self.condition_defs:
            declared = ", ".join(sorted(self.condition_defs)) or "none"
            raise self.fail(path, f"condition {name!r} is not declared in Conditions (declared: {declared})")
        if name in self._deciding:
            cycle = " -> ".join([*self._deciding[self._deciding.index(name) :], name])
            raise self.fail(f"Conditions.{name}", f"conditions refer to each other in a circle: {cycle}")
        self._deciding.append(name)
        try:
            decided = self._decide(self.condition_defs[name], f"Conditions.{name}")
        finally:
            self._deciding.pop()
        self._decided[name] = decided
        return decided

    def _decide(self, node: object, path: str) -> Decision:
        fn, arg = self._function(node, path, in_condition=True)
        if fn == "Condition":
            return self.condition(arg, f"{path}.Condition")
        if fn == "Fn::Equals":
            if not isinstance(arg, list) or len(arg) != 2:
                raise self.fail(f"{path}.Fn::Equals", "expected a list of two values to compare")
            left = self.value(arg[0], f"{path}.Fn::Equals[0]")
            right = self.value(arg[1], f"{path}.Fn::Equals[1]")
            return _equals(left, right)
        if fn in ("Fn::And", "Fn::Or"):
            # CloudFormation takes 2 to 10 conditions.
            if not isinstance(arg, list) or not 2 <= len(arg) <= 10:
                raise self.fail(f"{path}.{fn}", "expected a list of 2 to 10 conditions")
            decisions = [self._decide(item, f"{path}.{fn}[{i}]") for i, item in enumerate(arg)]
            decisive = fn == "Fn::Or"  # the value that settles the result whatever the others are
            if decisive in decisions:
                return decisive
            undecided = [d for d in decisions if isinstance(d, Unknown)]
            return undecided[0] if undecided else not decisive
        if fn == "Fn::Not":
            if not isinstance(arg, list) or len(arg) != 1:
                raise self.fail(f"{path}.Fn::Not", "expected a list of one condition")
            inner = self._decide(arg[0], f"{path}.Fn::Not[0]")
            return inner if isinstance(inner, Unknown) else not inner
        expected = ", ".join(CONDITION_FUNCTIONS)
        raise self.fail(path, f"expected a condition function ({expected}), got {shape(node)}")

    # -- values -----------------------------------------------------------------------------------------------

    def value(self, node: object, path: str) -> object:
        """``node`` with every intrinsic function evaluated; ``NO_VALUE`` where it is ``Ref: AWS::NoValue``."""
        if isinstance(node, dict):
            fn, arg = self._function(node, path)
            if fn is not None:
                return self._call(fn, arg, f"{path}.{fn}")
            out: dict[str, object] = {}
            for key, item in node.items():
                resolved = self.value(item, f"{path}.{key}")
                if resolved is not NO_VALUE:
                    out[key] = resolved
            return out
        if isinstance(node, list):
            items = [self.value(item, f"{path}[{i}]") for i, item in enumerate(node)]
            return [item for item in items if item is not NO_VALUE]
        return node

    def _call(self, fn: str, arg: object, path: str) -> object:
        if fn == "Ref":
            return self._ref(arg, path)
        if fn == "Fn::GetAtt":
            return self._get_att(arg, path)
        if fn == "Fn::Sub":
            return self._sub(arg, path)
        if fn == "Fn::Join":
            return self._join(arg, path)
        if fn == "Fn::If":
            return self._if(arg, path)
        if fn == "Fn::Select":
            return self._select(arg, path)
        if fn == "Fn::Split":
            return self._split(arg, path)
        if fn == "Fn::FindInMap":
            return self._find_in_map(arg, path)
        if fn == "Fn::Base64":
            text = self.value(arg, path)
            if isinstance(text, str):
                return base64.b64encode(text.encode()).decode()
            return Unknown(f"Fn::Base64 of a value known at deploy time ({path})")
        if fn == "Fn::ImportValue":
            name = self.value(arg, path)
            shown = name if isinstance(name, str) else "a name known at deploy time"
            return Unknown(f"exported by another stack as {shown} (Fn::ImportValue): known at deploy time")
        if fn == "Fn::GetAZs":
            return Unknown("the Availability Zones of the region (Fn::GetAZs): known at deploy time")
        if fn == "Fn::Cidr":
            return Unknown("address blocks computed by Fn::Cidr: not modelled")
        if fn in ("Fn::Length", "Fn::ToJsonString"):
            return Unknown(f"{fn} (AWS::LanguageExtensions transform): not modelled")
        if fn in CONDITION_FUNCTIONS:
            raise self.fail(path, f"{fn} belongs in the Conditions section; in a value use Fn::If on a condition")
        raise AssertionError(fn)  # _function only returns the names above

    def _ref(self, arg: object, path: str) -> object:
        if not isinstance(arg, str):
            raise self.fail(path, f"expected the name of a parameter, resource or pseudo parameter, got {shape(arg)}")
        if arg == NO_VALUE_NAME:
            return NO_VALUE
        if arg in PSEUDO_PARAMETERS:
            return Pseudo(arg)
        if arg in self.parameters:
            return self.parameters[arg].value
        self._resource(arg, path)
        return Ref(arg, "Ref")

    def _resource(self, logical: str, path: str) -> None:
        if logical in self.dropped:
            raise self.fail(
                path,
                f"refers to {logical}, which is not created (its condition {self.dropped[logical]} is false): "
                "CloudFormation rejects the template",
            )
        if logical in self.parameters:
            raise self.fail(path, f"{logical} is a parameter: Fn::GetAtt takes a resource")
        if logical not in self.resources:
            raise self.fail(path, f"{logical!r} is neither a parameter, a resource nor a pseudo parameter")

    def _get_att(self, arg: object, path: str) -> Ref:
        # Short form "Resource.Attribute": the attribute may itself contain dots (Endpoint.Address).
        if isinstance(arg, str) and "." in arg:
            logical, attribute = arg.split(".", 1)
        elif isinstance(arg, list) and len(arg) == 2 and isinstance(arg[0], str):
            logical = arg[0]
            resolved = self.value(arg[1], f"{path}[1]")
            if not isinstance(resolved, str):
                raise self.fail(f"{path}[1]", "expected an attribute name that the template decides")
            attribute = resolved
        else:
            raise self.fail(path, f"expected [resource, attribute] or 'Resource.Attribute', got {shape(arg)}")
        self._resource(logical, path)
        return Ref(logical, attribute)

    def _sub(self, arg: object, path: str) -> Part | Concat:
        variables: dict[str, object] = {}
        if isinstance(arg, list):
            if len(arg) != 2 or not isinstance(arg[0], str) or not isinstance(arg[1], dict):
                raise self.fail(path, "expected a string, or a list of a string and a map of variables")
            template = arg[0]
            for name, node in arg[1].items():
                variables[name] = self.value(node, f"{path}[1].{name}")
        elif isinstance(arg, str):
            template = arg
        else:
            raise self.fail(path, f"expected a string, or a list of a string and a map of variables, got {shape(arg)}")
        parts: list[object] = []
        position = 0
        for match in _SUB_VARIABLE.finditer(template):
            parts.append(template[position : match.start()])
            position = match.end()
            name = match.group(1)
            if name.startswith("!"):
                # ${!Literal} is written as ${Literal}: the documented escape.
                parts.append("${" + name[1:] + "}")
                continue
            name = name.strip()
            if name in variables:
                value = variables[name]
            elif "." in name:
                value = self._get_att(name, f"{path}.${{{name}}}")
            else:
                value = self._ref(name, f"{path}.${{{name}}}")
            parts.append(self._text(value, f"{path}.${{{name}}}"))
        parts.append(template[position:])
        return concat(parts)

    def _text(self, value: object, path: str) -> object:
        """A part of a string: numbers and booleans are written as text; lists and maps are errors."""
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return str(value)
        if isinstance(value, str | Ref | Pseudo | Unknown | Concat):
            return value
        if value is NO_VALUE:
            raise self.fail(path, "AWS::NoValue cannot be part of a string")
        raise self.fail(path, f"expected a string, got {shape(value)}")

    def _join(self, arg: object, path: str) -> object:
        if not isinstance(arg, list) or len(arg) != 2 or not isinstance(arg[0], str):
            raise self.fail(path, "expected a list of a delimiter and a list of values")
        delimiter = arg[0]
        items = self.value(arg[1], f"{path}[1]")
        if isinstance(items, Unknown):
            return items
        if not isinstance(items, list):
            return Unknown(f"Fn::Join of a list known at deploy time ({path})")
        parts: list[object] = []
        for i, item in enumerate(items):
            if i:
                parts.append(delimiter)
            parts.append(self._text(item, f"{path}[1][{i}]"))
        return concat(parts)

    def _if(self, arg: object, path: str) -> object:
        if not isinstance(arg, list) or len(arg) != 3:
            raise self.fail(path, "expected [condition name, value if true, value if false]")
        decided = self.condition(arg[0], f"{path}[0]")
        if isinstance(decided, Unknown):
            return Unknown(f"Fn::If on condition {arg[0]}, undecided: {decided.why}")
        return self.value(arg[1] if decided else arg[2], f"{path}[{1 if decided else 2}]")

    def _select(self, arg: object, path: str) -> object:
        if not isinstance(arg, list) or len(arg) != 2:
            raise self.fail(path, "expected a list of an index and a list of values")
        index = self.value(arg[0], f"{path}[0]")
        items = self.value(arg[1], f"{path}[1]")
        if isinstance(index, str) and index.isdigit():
            index = int(index)
        if isinstance(index, bool) or not isinstance(index, int):
            if isinstance(index, Ref | Pseudo | Unknown | Concat):
                return Unknown(f"Fn::Select at an index known at deploy time ({path})")
            raise self.fail(f"{path}[0]", f"expected an index (a whole number), got {shape(index)}")
        if isinstance(items, Unknown):
            return items
        if not isinstance(items, list):
            return Unknown(f"Fn::Select from a list known at deploy time ({path})")
        if not 0 <= index < len(items):
            raise self.fail(f"{path}[0]", f"index {index} is outside the list of {len(items)} values")
        return items[index]

    def _split(self, arg: object, path: str) -> object:
        if not isinstance(arg, list) or len(arg) != 2 or not isinstance(arg[0], str) or not arg[0]:
            raise self.fail(path, "expected a list of a delimiter and a string")
        source = self.value(arg[1], f"{path}[1]")
        if isinstance(source, str):
            return source.split(arg[0])
        if isinstance(source, Unknown):
            return source
        return Unknown(f"Fn::Split of a string known at deploy time ({path})")

    def _find_in_map(self, arg: object, path: str) -> object:
        if not isinstance(arg, list) or len(arg) not in (3, 4):
            raise self.fail(path, "expected [map name, top-level key, second-level key]")
        keys = [self.value(item, f"{path}[{i}]") for i, item in enumerate(arg[:3])]
        for i, key in enumerate(keys):
            if not isinstance(key, str):
                if isinstance(key, Ref | Pseudo | Unknown | Concat):
                    return Unknown(f"Fn::FindInMap with a key known at deploy time ({path}[{i}])")
                raise self.fail(f"{path}[{i}]", f"expected a key (a string), got {shape(key)}")
        table: object = self.mappings
        for i, key in enumerate(keys):
            if not isinstance(table, dict) or key not in table:
                raise self.fail(f"{path}[{i}]", f"Mappings has no entry {'.'.join(str(k) for k in keys[: i + 1])}")
            table = table[key]
        return self.value(table, f"Mappings.{'.'.join(str(k) for k in keys)}")


_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


def _equals(left: object, right: object) -> Decision:
    if _known(left) and _known(right):
        return left == right
    if left == right:
        return True  # the same reference on both sides
    unknown = next(v for v in (left, right) if not _known(v))
    if isinstance(unknown, Unknown):
        return Unknown(f"Fn::Equals compares a value the template leaves open ({unknown.why})")
    return Unknown(f"Fn::Equals compares {describe(unknown)}, known at deploy time")


def _known(value: object) -> bool:
    if isinstance(value, Ref | Pseudo | Unknown | Concat):
        return False
    if isinstance(value, list):
        return all(_known(v) for v in value)
    if isinstance(value, dict):
        return all(_known(v) for v in value.values())
    return True


def describe(value: object) -> str:
    """A symbolic value in words, for the ``why`` of an ``Unknown`` built from it."""
    if isinstance(value, Pseudo):
        return value.name
    if isinstance(value, Ref):
        return value.address if value.attribute == "Ref" else f"{value.address}.{value.attribute}"
    if isinstance(value, Unknown):
        return value.why
    if isinstance(value, Concat):
        return "a string built at deploy time"
    return repr(value)


def shape(value: object) -> str:
    """A value in words for an error message: what was found where something else was expected."""
    if isinstance(value, dict):
        keys = ", ".join(str(k) for k in list(value)[:3])
        return f"a map ({keys})" if keys else "an empty map"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if value is None:
        return "null"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, int | float):
        return f"the number {value}"
    return describe(value)
