"""Data exploration: SQL questions about the raw dataset, answered by DuckDB here or by Athena in AWS.

The questions are the .sql files in explore/queries/. Both engines run the same files against a table
named ``raw_data`` that holds the dataset as it is (before preprocess.py maps labels or drops rows):
DuckDB over the local file, Athena over a Parquet copy in S3 registered in the Glue Data Catalog.
Add a .sql file and it runs, and appears in the report, on both.

    python -m explore local                     # DuckDB, data/<dataset> -> reports/explore/
    python -m explore athena --bucket BUCKET    # Glue + Athena (default bucket: SageMaker's default)
"""
