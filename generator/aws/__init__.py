"""What talks to AWS, or proves requests offline: botocore request checks and the Studio publish.

boto3 and botocore are imported inside functions, never at module level: ``sagespec new`` must not
need them.
"""
