"""The account model: IAM, KMS, EC2/EBS, Auto Scaling, Organizations and CloudTrail, for any number of
accounts and regions. One ``World`` object holds it all; nothing here is global, and clock and ids are
injected so that tests are repeatable."""
