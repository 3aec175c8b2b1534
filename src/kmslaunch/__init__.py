"""kmslaunch: reproduce, explain and fix EC2 launches that fail on KMS-encrypted EBS volumes."""

__version__ = "0.1.0"
