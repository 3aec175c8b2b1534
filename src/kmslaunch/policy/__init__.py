"""The policy language: parse and validate documents, match, evaluate conditions, decide with reasons.

This package knows nothing of EC2, launches or snapshots; everything above it calls ``authorize``.
"""
