"""The TensorFlow train.py's model loader (template keras_classifier.py) on a checkpoint that ships only
PyTorch-format safetensors, as all-MiniLM-L6-v2 does: read as numpy arrays and converted, every weight in
place, without transformers' "This IS NOT expected" warning about the position ids older PyTorch
checkpoints saved."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from .conftest import import_beside

pytest.importorskip("tensorflow")
pytest.importorskip("tf_keras")
torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

PACKAGE = Path(__file__).resolve().parents[1] / "template" / "pipelines" / "__pkg__"


@pytest.fixture(scope="module")
def keras_classifier():
    return import_beside(PACKAGE / "keras_classifier.py", "_template_keras_classifier")


@pytest.fixture(scope="module")
def pytorch_checkpoint(tmp_path_factory) -> tuple[Path, dict[str, np.ndarray]]:
    """A 2-layer BERT saved as PyTorch safetensors, with the position_ids an older transformers saved."""
    from safetensors.torch import save_file

    config = transformers.BertConfig(
        vocab_size=100,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    torch.manual_seed(0)
    model = transformers.BertModel(config)
    state = {name: tensor.contiguous() for name, tensor in model.state_dict().items()}
    state["embeddings.position_ids"] = torch.arange(64).unsqueeze(0)
    folder = tmp_path_factory.mktemp("pytorch-bert")
    config.save_pretrained(folder)
    save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
    return folder, {name: tensor.numpy() for name, tensor in state.items()}


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_a_pytorch_checkpoint_loads_every_weight_without_the_unused_weights_warning(
    keras_classifier, pytorch_checkpoint, pooling, capfd, caplog
):
    folder, state = pytorch_checkpoint
    capfd.readouterr()
    model = keras_classifier.load_pretrained(str(folder), ["bad", "ok", "good"], pooling)
    logged = capfd.readouterr().err + caplog.text  # transformers' handler, or pytest's where it propagates
    if pooling == "cls":  # what is logged is seen here: the new classification head is reported
        assert "newly initialized: ['classifier.weight', 'classifier.bias']" in logged
    assert "were not used" not in logged and "IS NOT expected" not in logged, logged
    loaded = {weight.name: weight.numpy() for weight in model.weights}
    embeddings = next(value for name, value in loaded.items() if "word_embeddings" in name)
    np.testing.assert_array_equal(embeddings, state["embeddings.word_embeddings.weight"])
    query = next(value for name, value in loaded.items() if "layer_._1/attention/self/query/kernel" in name)
    # PyTorch's Linear keeps (out, in); Keras' Dense (in, out).
    np.testing.assert_array_equal(query, state["encoder.layer.1.attention.self.query.weight"].T)
