"""Facts about SageMaker Ground Truth that the spec checks and the generated labeling code share."""

from __future__ import annotations

# AWS-managed Lambda functions of Ground Truth's built-in text classification (single label) task type:
# region -> (PreHumanTaskLambdaArn, AnnotationConsolidationLambdaArn). From the SageMaker API reference
# (HumanTaskConfig.PreHumanTaskLambdaArn, AnnotationConsolidationConfig.AnnotationConsolidationLambdaArn),
# which botocore's service model carries as documentation; tests/label checks this table against it.
_ACCOUNTS = {
    "us-east-1": "432418664414",
    "us-east-2": "266458841044",
    "us-west-2": "081040173940",
    "ca-central-1": "918755190332",
    "eu-west-1": "568282634449",
    "eu-west-2": "487402164563",
    "eu-central-1": "203001061592",
    "ap-northeast-1": "477331159723",
    "ap-northeast-2": "845288260483",
    "ap-south-1": "565803892007",
    "ap-southeast-1": "377565633583",
    "ap-southeast-2": "454466003867",
}
TEXT_CLASSIFICATION_LAMBDAS: dict[str, tuple[str, str]] = {
    region: (
        f"arn:aws:lambda:{region}:{account}:function:PRE-TextMultiClass",
        f"arn:aws:lambda:{region}:{account}:function:ACS-TextMultiClass",
    )
    for region, account in _ACCOUNTS.items()
}
