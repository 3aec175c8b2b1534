"""What a change to keys and policies breaks (``kmslaunch impact``): every launch path ``audit`` finds, simulated
before and after a list of changes, and the paths whose verdict moves.

Stages: ``changes.py`` the change values (and reading them from the command line's CHANGE options, resolved
against the snapshot); ``apply.py`` making them on a copy of the world, and what each one can reach;
``compare.py`` the before/after runs and the verdict moves; ``render.py`` text, JSON, Markdown, SARIF, HTML.

The API for other sources of changes (a Terraform plan read by a pre-flight): build ``Change`` values
(``KeyPolicyChange``, ``IdentityPolicyChange``, ``OrgPolicyChange``, ``RevokeGrant``, ``DefaultKeyChange``,
``DisableKey``), each with the ``Origin`` it was read from, and call ``compare.impact(world, changes)``.
"""
