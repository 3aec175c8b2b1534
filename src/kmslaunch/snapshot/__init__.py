"""AWS CLI outputs ⇄ world: a snapshot is a directory of what ``aws … --output json`` printed, one file per
command (layout in ``kmslaunch.snapshot.layout``).

``load_snapshot`` reads one into a ``World``, marking what is missing unknown; ``save_snapshot`` writes a world
back in the same shapes. What the CLI outputs do not carry, and so does not survive a save and load:
who an image or snapshot is shared with beyond the accounts of the snapshot (describe-image-attribute and
describe-snapshot-attribute are not collected), IAM access keys, policy versions other than the default, an
instance's source IP, and (without its RunInstances record in CloudTrail) who launched an instance.
"""

from kmslaunch.snapshot.errors import Problem, SnapshotError
from kmslaunch.snapshot.jsonio import load_json_file
from kmslaunch.snapshot.load import Snapshot, load_snapshot
from kmslaunch.snapshot.save import save_snapshot

__all__ = ["Problem", "Snapshot", "SnapshotError", "load_json_file", "load_snapshot", "save_snapshot"]
