"""Human review of the model's predictions (Amazon A2I) and labeling jobs (SageMaker Ground Truth).

    python -m labeling.human_review create --role-arn ARN    # task UI + flow definition, once
    python -m labeling.review_predictions reviews.csv        # score, send low-confidence ones to people
    python -m labeling.retraining_data --out data/reviewed.csv   # answers -> rows for retraining
    python -m labeling.ground_truth start --role-arn ARN texts.csv   # a Ground Truth labeling job

Every request is built by a plain function, so tests/test_labeling.py checks them against the AWS API's
own request shapes without an AWS account.
"""
