"""One HTTP request through the endpoint: which service, signature, caller, operation, parameters, handler,
authorization, CloudTrail, response. No sockets here, so it is tested directly."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from kmslaunch.launch.trail import event
from kmslaunch.wire.protocols import (
    ServiceModel,
    WireError,
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


def _guess_service(headers: Mapping[str, str], query: str) -> str:
    """For a request that cannot say which service it is for (no signature): the error envelope to use."""
    target = headers.get("x-amz-target", "")
    if target:
        return _BY_TARGET.get(target.split(".")[0] if "TrentService" in target else target.rsplit(".", 1)[0], "kms")
    return "sts"


def handle(
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
    service = service_from_request(lower, query) or _guess_service(lower, query)
    if service not in SERVICES:
        service = "sts"
    model = load_service(SERVICES[service])
    try:
        signed = verify(method, path, query, lower, body, state.lookup, datetime.now(UTC))
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
