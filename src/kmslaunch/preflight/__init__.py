"""Pre-flight: the launch paths a Terraform plan or a CloudFormation/CDK template would create, checked before
anything is applied (``kmslaunch check``).

Stages: a reader per source turns the file into ``PlannedResource`` values (``terraform.py``,
``cloudformation.py``); ``resolve.py`` builds a world from them over an optional snapshot, resolving references
between resources; the launch paths are then simulated with the same engine as ``simulate`` and ``audit``.
"""
