"""The launch path: which KMS calls each kind of launch makes, by whom, with which request context, and
what the instance shows afterwards. Where AWS documents nothing, the choice is in ``assumptions``."""
