"""One HTTP request through the endpoint: which service, signature, caller, operation, parameters, handler,
authorization, CloudTrail, response. No sockets here, so it is tested directly."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from typing import Any
from urllib.parse import parse_qsl

from kmslaunch.launch.trail import event
from kmslaunch.wire.protocols import (
    ServiceModel,
    WireError,
    check_constraints,
    form_pairs,
    load_service,
    operation_for,
    parse_request,
    serialize_error,
    serialize_response,
    unknown_operation,
)
from kmslaunch.wire.sigv4 import SigV4Error, error_response, service_from_request, verify

from .handlers import HANDLERS
from .handlers.base import ApiError, Ctx
from .regions import lone_surrogate_path, region_problem
from .state import State

log = logging.getLogger("kmslaunch.serve")

Response = tuple[int, dict[str, str], bytes]

# The signing names of the services the endpoint serves, and botocore's model names for them.
SERVICES = {
    "ec2": "ec2",
    "iam": "iam",
    "sts": "sts",
    "kms": "kms",
    "autoscaling": "autoscaling",
    "cloudtrail": "cloudtrail",
    "organizations": "organizations",
}
_BY_TARGET = {
    "TrentService": "kms",
    "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101": "cloudtrail",
    "AWSOrganizationsV20161128": "organizations",
}


@cache
def _by_version() -> dict[str, str]:
    """The query and EC2 services by the API version a request carries (``Version=2010-05-08`` is IAM)."""
    out = {}
    for name, model_name in SERVICES.items():
        model = load_service(model_name)
        if model.protocol in ("query", "ec2"):
            out[model.api_version] = name
    return out


def _addressed(headers: Mapping[str, str], query: str, body: bytes) -> str | None:
    """The service a request addresses by its own content (X-Amz-Target's prefix, or the form's Version), as
    AWS knows it from the endpoint's host name; None when the request does not say. Unverified: it chooses the
    error envelope and is checked against the signature's credential scope."""
    target = headers.get("x-amz-target")
    if target:
        return _BY_TARGET.get(target.rsplit(".", 1)[0])
    version = None
    if "Version=" in query:
        version = dict(parse_qsl(query)).get("Version")
    if version is None and b"Version=" in body:
        version = dict(parse_qsl(body.decode("utf-8", "replace"))).get("Version")
    return _by_version().get(version) if version else None


def _guess_service(headers: Mapping[str, str], query: str) -> str:
    """For a request that cannot say which service it is for (no signature): the error envelope to use."""
    target = headers.get("x-amz-target", "")
    if target:
        return _BY_TARGET.get(target.split(".")[0] if "TrentService" in target else target.rsplit(".", 1)[0], "kms")
    return "sts"


# The code each protocol answers an unexpected failure with: InternalFailure is the common error of the query and
# JSON services (https://docs.aws.amazon.com/IAM/latest/APIReference/CommonErrors.html), InternalError EC2's
# (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html).
_INTERNAL = {"ec2": "InternalError", "query": "InternalFailure", "json": "InternalFailure"}
# A request too deeply nested to parse: what each protocol answers a body it cannot read.
_UNREADABLE = {"ec2": "InvalidParameterValue", "query": "InvalidQueryParameter", "json": "SerializationException"}


def _model_for(headers: Mapping[str, str], query: str) -> ServiceModel:
    lower = {k.lower(): v for k, v in headers.items()}
    service = service_from_request(lower, query) or _guess_service(lower, query)
    return load_service(SERVICES.get(service, "sts"))


def refusal(headers: Mapping[str, str], status: int, code: str, message: str, query: str = "") -> Response:
    """An HTTP-level refusal (body too large, headers too long, not HTTP) in the error envelope of the protocol the
    request seems to be for, so that an SDK reports ``code`` instead of failing to parse the body."""
    model = _model_for(headers, query)
    out = serialize_error(model, code=code, message=message, status=status, request_id=_request_id())
    return out[0], {**out[1], "Connection": "close"}, out[2]


def internal_failure(headers: Mapping[str, str], query: str = "") -> Response:
    """A 500 in the protocol's shape (botocore parses it and retries it as a server error)."""
    model = _model_for(headers, query)
    code = _INTERNAL[model.protocol]
    return serialize_error(
        model,
        code=code,
        message="We encountered an internal error. Please try again.",
        status=500,
        request_id=_request_id(),
    )


def _request_id() -> str:
    return str(uuid.uuid4())


def handle(
    state: State,
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    body: bytes,
    source_ip: str,
) -> Response:
    """Status, headers and body answering one request; never raises: a bug is a 500 in the protocol's shape."""
    try:
        return _handle(state, method, path, query, headers, body, source_ip)
    except RecursionError:
        # Nesting deeper than the parsers recurse (a JSON document or form key 1,000 levels deep).
        model = _model_for(headers, query)
        code = _UNREADABLE[model.protocol]
        return serialize_error(
            model,
            code=code,
            message="The request is nested too deeply to be read",
            status=400,
            request_id=_request_id(),
        )
    except Exception:
        log.exception("request failed")
        return internal_failure(headers, query)


def _handle(
    state: State,
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    body: bytes,
    source_ip: str,
) -> Response:
    lower = {k.lower(): v for k, v in headers.items()}
    request_id = state.ids.request_id()
    addressed = _addressed(lower, query, body)
    service = addressed or service_from_request(lower, query) or _guess_service(lower, query)
    if service not in SERVICES:
        service = "sts"
    model = load_service(SERVICES[service])
    try:
        signed = verify(method, path, query, lower, body, state.lookup, datetime.now(UTC), addressed=addressed)
    except SigV4Error as exc:
        code, status, message = error_response(model.protocol, exc)
        return serialize_error(model, code=code, message=message, status=status, request_id=request_id)
    if signed.service not in SERVICES:
        err = ApiError("InvalidAction", f"kmslaunch does not serve {signed.service}", 400)
        return serialize_error(model, code=err.code, message=err.message, status=err.status, request_id=request_id)
    service = signed.service
    model = load_service(SERVICES[service])
    # A region AWS does not have is refused before anything is looked up, as AWS refuses its signature: no
    # handler runs, and the world never holds a region its state could not save (assumption
    # ``endpoint-unknown-region``).
    bad_region = region_problem(state.world.partition, signed.region)
    if bad_region is not None:
        code, status, message = error_response(model.protocol, SigV4Error("bad_signature", bad_region))
        return serialize_error(model, code=code, message=message, status=status, request_id=request_id)
    try:
        return _handle_signed(
            state, model, service, signed.region, signed.access_key_id, query, lower, body, source_ip, request_id
        )
    except (ApiError, WireError) as exc:
        return serialize_error(model, code=exc.code, message=exc.message, status=exc.status, request_id=request_id)


def _handle_signed(
    state: State,
    model: ServiceModel,
    service: str,
    region: str,
    access_key_id: str,
    query: str,
    headers: Mapping[str, str],
    body: bytes,
    source_ip: str,
    request_id: str,
) -> Response:
    content_type = headers.get("content-type", "")
    if model.protocol == "json":
        operation = operation_for(model, target=headers.get("x-amz-target"), form=None)
        target = headers.get("x-amz-target")
        if operation is None:
            raise unknown_operation(model, target.rsplit(".", 1)[-1] if target else None)
    else:
        form = dict(form_pairs(body, content_type, query))
        operation = operation_for(model, target=None, form=form)
        if operation is None:
            raise unknown_operation(model, form.get("Action"))
    handler = HANDLERS.get(service, {}).get(operation)
    if handler is None:
        raise ApiError(
            "InvalidAction" if model.protocol != "json" else "UnknownOperationException",
            f"The action {operation} is not valid for this web service (kmslaunch does not serve it).",
            400,
        )
    params = parse_request(model, operation, body=body, content_type=content_type, query=query)
    surrogate = lone_surrogate_path(params)
    if surrogate is not None:
        raise _not_unicode(model.protocol, surrogate)
    check_constraints(model, operation, params)
    with state.lock, state.transaction():
        caller = state.caller(access_key_id)
        ctx = Ctx(
            state=state,
            caller=caller,
            account=caller.account or "",
            region=region,
            service=service,
            operation=operation,
            request_id=request_id,
            source_ip=source_ip,
            user_agent=headers.get("user-agent", ""),
            access_key_id=access_key_id,
        )
        error: ApiError | None = None
        output: dict[str, Any] = {}
        try:
            output = handler(ctx, params)
            if not ctx.authorized:
                # A handler that forgot to authorize must never answer: fail closed.
                log.error("%s:%s answered without authorizing; refusing", service, operation)
                raise ApiError("InternalFailure", f"{service}:{operation} did not authorize the request", 500)
        except ApiError as exc:
            error = exc
        if not ctx.recorded:
            ctx.events.append(
                event(
                    state.world,
                    who=caller,
                    event_source=f"{service}.amazonaws.com",
                    event_name=operation,
                    region=region,
                    recipient_account=ctx.account,
                    source_ip=source_ip,
                    user_agent=ctx.user_agent,
                    request=_loggable(params),
                    response=None if error else _loggable(output, limit=2000),
                    error_code=error.code if error else None,
                    error_message=error.message if error else None,
                    read_only=operation.startswith(("Describe", "List", "Get", "Lookup")),
                )
            )
        trail = state.world.account(ctx.account).region(region).trail
        trail.events.extend(ctx.events)
        state.save(ctx)
    if error is not None:
        raise error
    return serialize_response(model, operation, output, request_id=request_id)


def _not_unicode(protocol: str, path: str) -> ApiError:
    """A string that is not Unicode text (an unpaired UTF-16 surrogate such as JSON's ``"\\ud800"``), refused as
    an invalid parameter value: AWS's JSON services answer a value outside the allowed characters with
    ValidationException, EC2 and the query services with InvalidParameterValue
    (https://docs.aws.amazon.com/kms/latest/APIReference/CommonErrors.html). Refused, not stored escaped: no
    AWS API stores a string it could not return as UTF-8. Assumption ``endpoint-invalid-text``."""
    message = (
        f"1 validation error detected: Value at '{path}' failed to satisfy constraint: "
        "Member must contain only valid Unicode characters"
    )
    return ApiError("ValidationException" if protocol == "json" else "InvalidParameterValue", message, 400)


def _loggable(value: Any, limit: int = 4000) -> Any:
    """Request parameters as CloudTrail records them: no plaintext, no secrets, nothing huge."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k in ("Plaintext", "CiphertextBlob", "SecretAccessKey", "SessionToken"):
                out[k[0].lower() + k[1:]] = "HIDDEN_DUE_TO_SECURITY_REASONS"
            else:
                out[k[0].lower() + k[1:]] = _loggable(v, limit)
        return out
    if isinstance(value, list):
        return [_loggable(v, limit) for v in value[:50]]
    if isinstance(value, bytes):
        return "HIDDEN_DUE_TO_SECURITY_REASONS"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, str) and len(value) > limit:
        return value[:limit] + "…"
    return value
