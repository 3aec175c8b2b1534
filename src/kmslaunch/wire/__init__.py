"""The wire: botocore-model-driven protocols (ec2, query, json), SigV4 verification, error envelopes.

Nothing here knows the account world; the endpoint (``server/``) calls these to read requests and write responses.
"""
