"""``kmslaunch serve``: a local AWS endpoint for IAM, STS, KMS, EC2, Auto Scaling, CloudTrail and Organizations,
with every request's signature verified and every call authorized by kmslaunch's engine."""
