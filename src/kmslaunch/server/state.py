"""The endpoint's state: the world, credentials and key material, behind one lock, saved to the store.

Authorization lives here so that no handler can skip it: ``authorize`` refuses in each protocol's words, and
the dispatcher refuses to answer for a handler that authorized nothing (``Ctx.authorized``).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from kmslaunch.policy.messages import access_denied_message
from kmslaunch.policy.model import Policy, PolicyType
from kmslaunch.policy.parse import parse_policy
from kmslaunch.policy.principals import Principal, parse_principal
from kmslaunch.wire.sigv4 import Credential
from kmslaunch.world.authz import authorize_in_world, principal_in_world
from kmslaunch.world.clock import Clock, Ids, RandomIds
from kmslaunch.world.kms import Key
from kmslaunch.world.world import World

from .examples import add_examples
from .handlers.base import PROTOCOL_OF, ApiError, Ctx
from .store import Event, Store, StoredCredential

# AWS's documented example key pair (https://docs.aws.amazon.com/IAM/latest/UserGuide/security-creds.html),
# for the root user of the first account, so that the AWS CLI works out of the box.
# A session policy that names a managed policy since deleted: it allows nothing.
_NOTHING = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "NotAction": "*", "NotResource": "*"}]}
DEFAULT_ACCOUNT = "123456789012"
DEFAULT_ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
DEFAULT_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


class State:
    def __init__(
        self, store: Store, *, clock: Clock | None = None, ids: Ids | None = None, examples: bool = False
    ) -> None:
        """The state kept in ``store``; a fresh one holds account 123456789012 and its root user's example
        keys, and with ``examples`` the example key and AMIs (``server/examples.py``) that ``kmslaunch serve``
        starts with."""
        self.store = store
        self.lock = threading.RLock()
        self.clock = clock or Clock(real=True)
        self.ids = ids or RandomIds(seed=secrets.token_hex(8))
        self.version = 0  # bumped at every change of the world: what is cached per caller is dropped
        self._callers: dict[tuple[str, int], Principal] = {}
        self._sessions: dict[tuple[str, int], tuple[Policy, ...]] = {}
        self._marks: dict[tuple[str, str], int] = {}  # each trail's length when the request began
        world = self._load()
        self.fresh = world is None
        self.world = world or World(clock=self.clock, ids=self.ids)
        if self.fresh:
            with self.lock, self.transaction():
                self.world.account(DEFAULT_ACCOUNT)
                self.add_credential(DEFAULT_ACCESS_KEY, DEFAULT_SECRET, f"arn:aws:iam::{DEFAULT_ACCOUNT}:root")
                if examples:
                    add_examples(self.world, DEFAULT_ACCOUNT)
                store.save_world(self.world)
                store.commit(None, ())

    def _load(self) -> World | None:
        """Read the committed state into memory: the world, credentials and key material."""
        world = self.store.load_world(self.clock, self.ids)
        self.credentials: dict[str, StoredCredential] = {c.access_key_id: c for c in self.store.credentials()}
        self.materials: dict[str, bytes] = self.store.materials()
        self.version += 1
        self._callers.clear()
        self._sessions.clear()
        return world

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One request, under the state's lock: everything it writes is committed by ``save``, or nothing is.

        A request that fails before its commit (a handler's bug, a commit refused) is rolled back in SQLite, and
        the memory is read back from the store: the store is the truth, so what the request did in memory is
        undone wholesale, whatever it touched. That costs a reload, on failures only; a request that succeeds
        pays nothing for it (no copy of the world is made before a handler runs).
        """
        self.store.begin()
        self._marks = self._trail_marks()
        try:
            yield
        except BaseException:
            self.store.rollback()
            world = self._load()
            self.world = world or World(clock=self.clock, ids=self.ids)
            raise

    # Identity ------------------------------------------------------------------------------------------------

    def add_credential(
        self,
        access_key_id: str,
        secret: str,
        principal_arn: str,
        *,
        session_token: str | None = None,
        expires_at: datetime | None = None,
        role_arn: str | None = None,
        session_policy: str | None = None,
        session_policy_arns: tuple[str, ...] = (),
    ) -> StoredCredential:
        cred = StoredCredential(
            access_key_id,
            secret,
            principal_arn,
            session_token,
            expires_at,
            role_arn,
            "Active",
            datetime.now(UTC).isoformat(),
            session_policy,
            session_policy_arns,
        )
        self.credentials[access_key_id] = cred
        self.store.put_credential(cred)
        return cred

    def remove_credential(self, access_key_id: str) -> None:
        self.credentials.pop(access_key_id, None)
        self.store.delete_credential(access_key_id)

    def lookup(self, access_key_id: str) -> Credential | None:
        c = self.credentials.get(access_key_id)
        if c is None or c.status != "Active":
            return None
        return Credential(c.access_key_id, c.secret, c.session_token, c.expires_at)

    def caller(self, access_key_id: str) -> Principal:
        """The caller as IAM knows it now; cached until the world changes, so a changed tag is seen at once."""
        key = (access_key_id, self.version)
        got = self._callers.get(key)
        if got is None:
            got = self._caller(access_key_id)
            if len(self._callers) > 1024:
                self._callers.clear()
            self._callers[key] = got
        return got

    def _caller(self, access_key_id: str) -> Principal:
        c = self.credentials[access_key_id]
        p = principal_in_world(self.world, c.principal_arn)
        if c.role_arn and p.principal_arn != c.role_arn:
            return parse_principal(p.arn, role_arn=c.role_arn, userid=p.userid, tags=p.tags, org_id=p.org_id)
        return p

    def session_policies(self, access_key_id: str) -> tuple[Policy, ...] | None:
        """The session policies the credentials were issued with (inline, then managed, looked up now as IAM
        does at each request); None for credentials that carry none. A managed policy deleted since counts as
        one that allows nothing: a session is never wider than it was made."""
        c = self.credentials.get(access_key_id)
        if c is None or (c.session_policy is None and not c.session_policy_arns):
            return None
        key = (access_key_id, self.version)
        if key in self._sessions:
            return self._sessions[key]
        if len(self._sessions) > 1024:
            self._sessions.clear()
        out: list[Policy] = []
        if c.session_policy is not None:
            out.append(parse_policy(c.session_policy, PolicyType.SESSION, "session policy"))
        account = c.principal_arn.split(":")[4] if c.principal_arn.count(":") >= 5 else ""
        iam = self.world.accounts[account].iam if account in self.world.accounts else None
        for arn in c.session_policy_arns:
            mp = iam.policies.get(arn) if iam is not None else None
            out.append(mp.document.policy if mp is not None else parse_policy(_NOTHING, PolicyType.SESSION, arn))
        self._sessions[key] = tuple(out)
        return self._sessions[key]

    # Authorization ---------------------------------------------------------------------------------------------

    def authorize(
        self,
        ctx: Ctx,
        action: str,
        resource: str,
        *,
        key: Key | None = None,
        context: Mapping[str, tuple[str, ...]] | None = None,
        encryption_context: Mapping[str, str] | None = None,
    ) -> None:
        ctx.authorized = True
        full: dict[str, tuple[str, ...]] = {
            "aws:sourceip": (ctx.source_ip,),
            "aws:requestedregion": (ctx.region,),
            "aws:securetransport": ("false",),
            "aws:currenttime": (datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),),
            "aws:useragent": (ctx.user_agent,),
        }
        if context:
            full.update(context)
        auth = authorize_in_world(
            self.world,
            ctx.caller,
            action,
            resource,
            key=key,
            context=full,
            encryption_context=encryption_context,
            explain=False,
            session=self.session_policies(ctx.access_key_id),
        )
        if auth.decision.allowed:
            return
        message = access_denied_message(ctx.caller.arn, action, resource, auth.decision)
        protocol = PROTOCOL_OF.get(ctx.service, "json")
        if protocol == "ec2":
            raise ApiError(
                "UnauthorizedOperation",
                f"You are not authorized to perform this operation. {message}. Encoded authorization failure "
                "message: " + hashlib.sha256(message.encode()).hexdigest(),
                403,
            )
        if protocol == "query":
            raise ApiError("AccessDenied", message, 403)
        raise ApiError("AccessDeniedException", message, 400)

    # Key material: a keyed stream cipher with a MAC, so ciphertexts round-trip and tampering is detected. It
    # stands in for KMS's HSMs in a local endpoint; it is not meant to protect real secrets.

    def material(self, key_arn: str) -> bytes:
        got = self.materials.get(key_arn)
        if got is None:
            got = os.urandom(32)
            self.materials[key_arn] = got
            self.store.put_material(key_arn, got)
        return got

    def encrypt(self, key: Key, plaintext: bytes, context: Mapping[str, str] | None) -> bytes:
        nonce = os.urandom(12)
        arn = key.arn.encode()
        body = _xor(self.material(key.arn), nonce, plaintext)
        tag = _tag(self.material(key.arn), nonce, body, context)
        return b"KL1" + len(arn).to_bytes(2, "big") + arn + nonce + tag + body

    def decrypt(self, blob: bytes, context: Mapping[str, str] | None) -> tuple[str, bytes]:
        """(key ARN, plaintext); ApiError InvalidCiphertextException when the blob or context does not match."""
        invalid = ApiError("InvalidCiphertextException", "", 400)
        if len(blob) < 5 or blob[:3] != b"KL1":
            raise invalid
        n = int.from_bytes(blob[3:5], "big")
        arn = blob[5 : 5 + n].decode(errors="replace")
        rest = blob[5 + n :]
        nonce, tag, body = rest[:12], rest[12:44], rest[44:]
        material = self.materials.get(arn)
        if material is None or not hmac.compare_digest(tag, _tag(material, nonce, body, context)):
            raise invalid
        return arn, _xor(material, nonce, body)

    # Persistence -----------------------------------------------------------------------------------------------

    def _trail_marks(self) -> dict[tuple[str, str], int]:
        return {
            (a.account_id, r.name): len(r.trail.events)
            for a in self.world.accounts.values()
            for r in a.regions.values()
        }

    def _appended(self) -> list[Event]:
        """The CloudTrail records the request added, in whichever account's and region's trail: the dispatcher's
        record of the call and those the launch path writes itself (EC2's calls to KMS, in the key's account)."""
        out: list[Event] = []
        for a in self.world.accounts.values():
            for r in a.regions.values():
                start = self._marks.get((a.account_id, r.name), 0)
                out.extend((a.account_id, r.name, e) for e in r.trail.events[start:])
        return out

    def save(self, ctx: Ctx) -> None:
        """Commit the request's transaction: the world's changed entities (when the handler changed any) and the
        request's CloudTrail records, together, before the response is sent."""
        events = self._appended()
        if ctx.changed:
            self.version += 1
        self.store.commit(self.world if ctx.changed else None, events)


def _xor(material: bytes, nonce: bytes, data: bytes) -> bytes:
    stream = bytearray()
    counter = 0
    while len(stream) < len(data):
        stream += hmac.new(material, nonce + counter.to_bytes(4, "big"), hashlib.sha256).digest()
        counter += 1
    n = len(data)
    return (int.from_bytes(data, "big") ^ int.from_bytes(stream[:n], "big")).to_bytes(n, "big")


def _tag(material: bytes, nonce: bytes, body: bytes, context: Mapping[str, str] | None) -> bytes:
    ctx = "&".join(f"{k}={v}" for k, v in sorted((context or {}).items())).encode()
    return hmac.new(material, b"tag" + nonce + body + b"|" + ctx, hashlib.sha256).digest()


def open_state(path: Path) -> State:
    return State(Store(path))
