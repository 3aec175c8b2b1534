"""EC2 and EBS: launches and instance lifecycle (``instances``), volumes and snapshots (``volumes``), images
(``images``), launch templates (``templates``) and the region's EBS encryption defaults (``encryption``).
Launches and the EBS operations that use KMS go through ``kmslaunch.launch``, so the endpoint fails exactly where
the simulator does; these modules only translate between botocore's shapes and it.

CloudTrail: the launch path writes its own records (the API call, in EC2's own record shape with ``instancesSet``
and ``items``, and every KMS call EC2 makes) into the world's trail, from the verified caller, address and user
agent. The dispatcher records every other API call; for these it leaves the launch path's record alone
(``Ctx.recorded``, set by ``common.launch_path``), so the API call appears once, as AWS records it.
"""

from __future__ import annotations

from ..base import Handler
from . import encryption, images, instances, templates, volumes
from .instances import release_volumes

__all__ = ["HANDLERS", "release_volumes"]

HANDLERS: dict[str, Handler] = {
    **instances.HANDLERS,
    **volumes.HANDLERS,
    **images.HANDLERS,
    **templates.HANDLERS,
    **encryption.HANDLERS,
}
