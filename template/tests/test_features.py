"""The feature group: preprocess.py with the pipeline's Feature Store arguments and --offline-store-dir
writes the records as a local offline store; features/query.py reads each split back with DuckDB. The
AWS side is checked against botocore's service model (CreateFeatureGroup, DescribeFeatureGroup, PutRecord
with Stubber) and run against moto where moto implements it (CreateFeatureGroup, DescribeFeatureGroup,
Athena; moto has no sagemaker-featurestore-runtime).

Needs transformers and tokenizers (and tensorflow where preprocess.py writes TFRecords too); the tokenizer
is a tiny WordPiece one trained here on the sample, so nothing is downloaded.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = next(ROOT.glob("pipelines/*/preprocess.py")).parent

pytest.importorskip("duckdb")
if (SCRIPTS / "tfrecord_format.py").is_file():  # a PyTorch project's token arrays need no TensorFlow
    pytest.importorskip("tensorflow")
pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

from features import query, settings  # noqa: E402

DATA_FILES = sorted((ROOT / "data").glob("*.csv"))
MAX_ROWS = 400
MAX_SEQ_LENGTH = 96  # some reviews are shorter (padded), some longer (truncated)
OFFLINE_STORE_COLUMNS = ["write_time", "api_invocation_time", "is_deleted"]
ROLE_ARN = "arn:aws:iam::123456789012:role/service-role/feature-store"

pytestmark = pytest.mark.skipif(not DATA_FILES, reason="no data/*.csv")


def pipeline_arguments(name: str) -> list[str]:
    """A step's arguments in settings.py (the pipeline's: PREPARE_ARGUMENTS, PREPROCESS_ARGUMENTS)."""
    for node in ast.walk(ast.parse((SCRIPTS / "settings.py").read_text(encoding="utf-8"))):
        if isinstance(node, ast.AnnAssign | ast.Assign):
            target = node.target if isinstance(node, ast.AnnAssign) else node.targets[0]
            if isinstance(target, ast.Name) and target.id == name and node.value:
                return list(ast.literal_eval(node.value))
    raise AssertionError(f"settings.py has no {name}")


def with_options(arguments: list[str], **options: str) -> list[str]:
    """``arguments`` with ``--name value`` options replaced or added (underscores in names become '-')."""
    arguments = list(arguments)
    for name, value in options.items():
        option = "--" + name.replace("_", "-")
        if option in arguments:
            arguments[arguments.index(option) + 1] = value
        else:
            arguments += [option, value]
    return arguments


def load_script(name: str) -> ModuleType:
    """A module of the pipeline's folder, imported as the processing job imports it (a top-level module,
    with the modules beside it importable: preprocess.py imports prepare)."""
    if str(SCRIPTS) not in sys.path:
        sys.path.append(str(SCRIPTS))
    spec = importlib.util.spec_from_file_location(f"feature_store_test_{name}", SCRIPTS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    arguments = pipeline_arguments("PREPARE_ARGUMENTS")
    text_column = arguments[arguments.index("--text-column") + 1]
    texts = pd.read_csv(DATA_FILES[0], usecols=[text_column], nrows=2000)[text_column].dropna().tolist()
    wordpiece = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    wordpiece.normalizer = normalizers.BertNormalizer(lowercase=True)
    wordpiece.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    wordpiece.train_from_iterator(texts, trainers.WordPieceTrainer(vocab_size=600, special_tokens=specials))
    wordpiece.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        special_tokens=[(token, wordpiece.token_to_id(token)) for token in ("[CLS]", "[SEP]")],
    )
    folder = tmp_path_factory.mktemp("tokenizer")
    PreTrainedTokenizerFast(
        tokenizer_object=wordpiece,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    ).save_pretrained(folder)
    return folder


def preprocess_arguments(tokenizer_dir: Path, output_dir: Path, **options: str) -> list[str]:
    """The pipeline's arguments of preprocess.py, with local folders."""
    return with_options(
        pipeline_arguments("PREPROCESS_ARGUMENTS"),
        output_dir=str(output_dir),
        tokenizer=str(tokenizer_dir),
        max_seq_length=str(MAX_SEQ_LENGTH),
        **options,
    )


def run_step(script: str, arguments: list[str]) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="-1", HF_HUB_OFFLINE="1")
    result = subprocess.run(
        [sys.executable, str(SCRIPTS / script), *arguments],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def local_store(tokenizer_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(preprocess.py's output folder, the local offline store it wrote), after prepare.py, as the
    pipeline's PrepareData and PreprocessData steps run them."""
    work = tmp_path_factory.mktemp("features")
    prepare = with_options(
        pipeline_arguments("PREPARE_ARGUMENTS"),
        input_dir=str(DATA_FILES[0].parent),
        input_file=DATA_FILES[0].name,
        output_dir=str(work / "prepared"),
        chunk_rows="5000",  # several row parts: each is ingested on its own, as by several instances
    )
    run_step("prepare.py", prepare)
    preprocess = preprocess_arguments(
        tokenizer_dir,
        work / "output",
        input_dir=str(work / "prepared" / "rows"),
        counts_dir=str(work / "prepared" / "counts"),
        max_rows=str(MAX_ROWS),
        offline_store_dir=str(work / "store"),
    )
    result = run_step("preprocess.py", preprocess)
    assert "feature records to the local offline store" in result.stdout
    return work / "output", work / "store"


def test_the_local_store_is_laid_out_like_the_offline_store(local_store: tuple[Path, Path]) -> None:
    output, store = local_store
    files = [Path(f) for f in query.local_store_files(store)]
    assert len(files) > 1  # one per row part
    parts = files[0].relative_to(store).parts
    assert parts[1:6] == (
        "sagemaker",
        settings.DEFAULT_REGION,
        "offline-store",
        settings.FEATURE_GROUP_NAME,
        "data",
    )
    assert [part.split("=")[0] for part in parts[6:10]] == ["year", "month", "day", "hour"]
    records = pd.concat([pd.read_parquet(path) for path in files], ignore_index=True)
    assert list(records.columns) == [*settings.FEATURES, *OFFLINE_STORE_COLUMNS]
    split_rows = sum(
        len(pd.read_csv(path)) for split in query.SPLITS for path in (output / split).glob("*.csv")
    )
    assert len(records) == split_rows > 0 and records[settings.RECORD_IDENTIFIER].is_unique
    masks = query.token_arrays(records)["attention_mask"]
    assert (masks.sum(axis=1) < MAX_SEQ_LENGTH).any() and (masks.sum(axis=1) == MAX_SEQ_LENGTH).any()
    event_time = records[settings.EVENT_TIME].iloc[0]
    assert pd.Timestamp(event_time).hour == int(parts[9].split("=")[1]) and event_time.endswith("Z")


@pytest.mark.parametrize("split", query.SPLITS)
def test_each_split_reads_back_with_duckdb(
    local_store: tuple[Path, Path], tokenizer_dir: Path, split: str
) -> None:
    from transformers import AutoTokenizer

    output, store = local_store
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    records = query.query_local(split, store)
    parts = sorted((output / split).glob(f"{split}-*.csv"))
    expected = pd.concat([pd.read_csv(path, dtype=str, keep_default_na=False) for path in parts])
    assert len(records) == len(expected) > 0
    assert (records["split"] == split).all() and records[settings.RECORD_IDENTIFIER].is_unique
    assert sorted(records["label"]) == sorted(expected["label"])
    tokens = query.token_arrays(records)
    assert tokens["input_ids"].shape == tokens["attention_mask"].shape == (len(records), MAX_SEQ_LENGTH)
    assert (tokens["input_ids"][:, 0] == tokenizer.cls_token_id).all()
    padding = tokens["attention_mask"] == 0
    assert (tokens["input_ids"][padding] == tokenizer.pad_token_id).all()
    assert (tokens["input_ids"][~padding] != tokenizer.pad_token_id).all()
    assert not padding.all(axis=1).any()  # no record is all padding


def test_the_latest_record_of_an_id_wins(local_store: tuple[Path, Path], tmp_path: Path) -> None:
    """A later run moves one example from train to test and deletes another."""
    store = shutil.copytree(local_store[1], tmp_path / "store")
    files = [Path(path) for path in query.local_store_files(store)]
    first = files[0]
    records = pd.concat([pd.read_parquet(path) for path in files], ignore_index=True)
    train = records[records["split"] == "train"]
    moved, deleted = train.iloc[0].copy(), train.iloc[1].copy()
    moved["split"] = "test"
    deleted["is_deleted"] = True
    later = pd.DataFrame([moved, deleted])
    later[settings.EVENT_TIME] = "2100-01-01T00:00:00Z"
    later_dir = first.parents[4] / "year=2100" / "month=01" / "day=01" / "hour=00"
    later_dir.mkdir(parents=True)
    later.to_parquet(later_dir / "later.parquet", index=False)

    train_ids = set(query.query_local("train", store)[settings.RECORD_IDENTIFIER])
    test_ids = set(query.query_local("test", store)[settings.RECORD_IDENTIFIER])
    identifier = settings.RECORD_IDENTIFIER
    assert moved[identifier] not in train_ids and moved[identifier] in test_ids
    assert deleted[identifier] not in train_ids | test_ids
    assert len(train_ids) == (records["split"] == "train").sum() - 2


# ---------------------------------------------------------------------------------------------- AWS


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": settings.DEFAULT_REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(name, value)
    yield


def test_feature_group_requests_match_the_service_model(
    tokenizer_dir: Path, tmp_path: Path, aws_credentials: None
) -> None:
    import boto3
    from botocore.stub import Stubber

    preprocess, feature_store = load_script("preprocess"), load_script("feature_store")
    arguments = preprocess_arguments(tokenizer_dir, tmp_path, feature_store_role_arn=ROLE_ARN)
    args = preprocess.parse_args([*arguments, "--online-store"])
    definitions = [{"FeatureName": name, "FeatureType": "String"} for name in settings.FEATURES]
    request = {
        "FeatureGroupName": settings.FEATURE_GROUP_NAME,
        "RecordIdentifierFeatureName": settings.RECORD_IDENTIFIER,
        "EventTimeFeatureName": settings.EVENT_TIME,
        "FeatureDefinitions": definitions,
        "Description": feature_store.FEATURE_GROUP_DESCRIPTION,
        "OnlineStoreConfig": {"EnableOnlineStore": True},
    }
    if settings.OFFLINE_STORE_S3_URI:
        request["OfflineStoreConfig"] = {"S3StorageConfig": {"S3Uri": settings.OFFLINE_STORE_S3_URI}}
        request["RoleArn"] = ROLE_ARN
    described = {
        "FeatureGroupArn": f"arn:aws:sagemaker:us-east-1:123456789012:feature-group/{settings.FEATURE_GROUP_NAME}",
        "FeatureGroupName": settings.FEATURE_GROUP_NAME,
        "RecordIdentifierFeatureName": settings.RECORD_IDENTIFIER,
        "EventTimeFeatureName": settings.EVENT_TIME,
        "FeatureDefinitions": definitions,
        "CreationTime": pd.Timestamp("2024-01-01", tz="UTC").to_pydatetime(),
        "NextToken": "",
    }
    session = boto3.Session(region_name=settings.DEFAULT_REGION)
    sagemaker = session.client("sagemaker")
    runtime = session.client("sagemaker-featurestore-runtime")
    records = pd.DataFrame(
        [
            {name: f"{name}-{i}" for name in settings.FEATURES} | {"input_ids": "[2,7,3,0]", "split": "train"}
            for i in range(3)
        ]
    )
    with Stubber(sagemaker) as sagemaker_stub, Stubber(runtime) as runtime_stub:
        sagemaker_stub.add_response(
            "create_feature_group", {"FeatureGroupArn": described["FeatureGroupArn"]}, request
        )
        for status in ("Creating", "Created"):
            sagemaker_stub.add_response(
                "describe_feature_group",
                described | {"FeatureGroupStatus": status},
                {"FeatureGroupName": settings.FEATURE_GROUP_NAME},
            )
        for row in records.to_dict(orient="records"):
            record = [{"FeatureName": name, "ValueAsString": value} for name, value in row.items()]
            runtime_stub.add_response(
                "put_record", {}, {"FeatureGroupName": settings.FEATURE_GROUP_NAME, "Record": record}
            )
        feature_store.create_feature_group(sagemaker, args, sleep=lambda seconds: None)
        feature_store.put_records(runtime, settings.FEATURE_GROUP_NAME, records, threads=1)
        sagemaker_stub.assert_no_pending_responses()
        runtime_stub.assert_no_pending_responses()


@pytest.mark.skipif(not settings.OFFLINE_STORE_S3_URI, reason="no offline store")
def test_feature_group_and_split_query_against_moto(
    tokenizer_dir: Path,
    local_store: tuple[Path, Path],
    tmp_path: Path,
    aws_credentials: None,
    queue_athena_results,
) -> None:
    import boto3
    from moto import mock_aws

    preprocess, feature_store = load_script("preprocess"), load_script("feature_store")
    args = preprocess.parse_args(
        preprocess_arguments(tokenizer_dir, tmp_path, feature_store_role_arn=ROLE_ARN)
    )
    expected = query.query_local("validation", local_store[1])
    with mock_aws():
        session = boto3.Session(region_name=settings.DEFAULT_REGION)
        sagemaker = session.client("sagemaker")
        feature_store.create_feature_group(sagemaker, args)
        feature_store.create_feature_group(sagemaker, args)  # the second run finds it
        group = sagemaker.describe_feature_group(FeatureGroupName=settings.FEATURE_GROUP_NAME)
        assert group["OfflineStoreConfig"]["S3StorageConfig"]["S3Uri"] == settings.OFFLINE_STORE_S3_URI
        assert [d["FeatureName"] for d in group["FeatureDefinitions"]] == settings.FEATURES

        queue_athena_results([expected], settings.DEFAULT_REGION)
        records = query.query_athena("validation", session, output_location="s3://results-bucket/queries/")
        athena = session.client("athena")
        (execution_id,) = athena.list_query_executions()["QueryExecutionIds"]
        sent = athena.get_query_execution(QueryExecutionId=execution_id)["QueryExecution"]["Query"]
    catalog = group["OfflineStoreConfig"]["DataCatalogConfig"]
    table = f"{query.quote(catalog['Database'])}.{query.quote(catalog['TableName'])}"
    assert sent == query.split_sql(table, "validation")
    pd.testing.assert_frame_equal(records, expected, check_dtype=False)


def test_a_feature_group_with_other_features_is_refused(
    tokenizer_dir: Path, tmp_path: Path, aws_credentials: None
) -> None:
    import boto3
    from moto import mock_aws

    preprocess, feature_store = load_script("preprocess"), load_script("feature_store")
    args = preprocess.parse_args(
        preprocess_arguments(tokenizer_dir, tmp_path, feature_store_role_arn=ROLE_ARN)
    )
    with mock_aws():
        sagemaker = boto3.Session(region_name=settings.DEFAULT_REGION).client("sagemaker")
        sagemaker.create_feature_group(
            FeatureGroupName=settings.FEATURE_GROUP_NAME,
            RecordIdentifierFeatureName="id",
            EventTimeFeatureName="time",
            FeatureDefinitions=[{"FeatureName": n, "FeatureType": "String"} for n in ("id", "time")],
            OfflineStoreConfig={"S3StorageConfig": {"S3Uri": "s3://other-bucket/store"}},
            RoleArn=ROLE_ARN,
        )
        with pytest.raises(feature_store.FeatureStoreError, match="exists with other features"):
            feature_store.create_feature_group(sagemaker, args)
