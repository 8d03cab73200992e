"""`neurongraph ingest DIR` for local Hugging Face model directories: a BERT-style encoder into the
graph, and every directory it cannot read refused in one line before anything is written; CNN
input shapes worked out without --input-shape."""

from __future__ import annotations

import json
import shutil
import sys

import pytest
import torch
from conftest import one_line_error, snapshot
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    BertModel,
    GPT2Config,
    GPT2Model,
)

from neurongraph.model.hf import HF_DIRECTORY, INSTALL_HINT

HIDDEN = 32
LAYERS = 2


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory):
    """A randomly initialised BERT-style encoder saved with save_pretrained."""
    torch.manual_seed(0)
    directory = tmp_path_factory.mktemp("bert")
    config = BertConfig(
        vocab_size=50,
        hidden_size=HIDDEN,
        num_hidden_layers=LAYERS,
        num_attention_heads=4,
        intermediate_size=64,
    )
    BertModel(config).save_pretrained(directory)
    return directory


def copy_of(bert_dir, tmp_path, *names):
    for name in names:
        shutil.copyfile(bert_dir / name, tmp_path / name)
    return tmp_path


def test_a_bert_directory_is_ingested(run_cli, store, bert_dir, name):
    """Waits on the view reader reading transformers (token inputs, embeddings, attention)."""
    out = json.loads(run_cli("ingest", bert_dir, "--name", name, "--json").stdout)
    assert out["network"] == name and out["edges"] > 0
    layers = store.read(
        "MATCH (l:Layer {network: $n}) RETURN l.name AS name, l.kind AS kind, l.width AS width "
        "ORDER BY l.position",
        {"n": name},
    )
    assert layers[0]["kind"] == "input" and layers[0]["width"] == HIDDEN
    # one sum layer per residual add: after attention and after the feed-forward block
    assert [la["width"] for la in layers if la["kind"] == "sum"] == [HIDDEN] * 2 * LAYERS
    inputs = store.read(
        "MATCH (n:Neuron {network: $n, layer: $l}) RETURN count(n) AS c",
        {"n": name, "l": layers[0]["name"]},
    )
    assert inputs[0]["c"] == HIDDEN
    network = store.get_network(name)
    assert (network["modelKind"], network["inputKind"], network["vocabSize"]) == (
        HF_DIRECTORY,
        "tokens",
        50,
    )
    kept = store.files.model(network["sha256"])
    assert kept.is_dir() and (kept / "config.json").exists()
    weights = "model.safetensors"
    assert (kept / weights).read_bytes() == (bert_dir / weights).read_bytes()


@pytest.mark.parametrize(
    ("files", "config", "said"),
    [
        (["model.safetensors"], None, "has no config.json; save the model with save_pretrained"),
        (["config.json"], None, "has config.json but no weights (model.safetensors)"),
        (
            ["config.json", "model.safetensors"],
            {"model_type": "no-such-model", "hidden_size": 32},
            "names model type 'no-such-model', which transformers",
        ),
        (["config.json", "model.safetensors"], {"hidden_size": 32}, "names no model_type"),
    ],
)
def test_a_directory_it_cannot_read_is_one_line(
    run_cli, store, bert_dir, tmp_path, name, files, config, said
):
    directory = copy_of(bert_dir, tmp_path, *files)
    if config is not None:
        (directory / "config.json").write_text(json.dumps(config))
    before = snapshot(store)
    message = one_line_error(run_cli("ingest", directory, "--name", name, expect=2))
    assert said in message and str(directory) in message
    assert snapshot(store) == before and store.get_network(name) is None


def test_pickled_weights_need_trust(run_cli, store, bert_dir, tmp_path, name):
    """A directory of the older format: its weights a pickle (pytorch_model.bin)."""
    copy_of(bert_dir, tmp_path, "config.json")
    torch.save(BertModel.from_pretrained(bert_dir).state_dict(), tmp_path / "pytorch_model.bin")
    before = snapshot(store)
    message = one_line_error(run_cli("ingest", tmp_path, "--name", name, expect=2))
    assert "pytorch_model.bin, a pickle" in message and "--trust-pickle" in message
    assert snapshot(store) == before


def test_without_transformers_it_says_how_to_install_it(
    run_cli, store, bert_dir, name, monkeypatch
):
    monkeypatch.setitem(sys.modules, "transformers", None)  # what import finds when it is absent
    before = snapshot(store)
    message = one_line_error(run_cli("ingest", bert_dir, "--name", name, expect=2))
    assert INSTALL_HINT in message and "needs transformers" in message
    assert snapshot(store) == before


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        (["--input-shape", "1,8,8"], "number of positions (one number"),
        (["--input-shape", "4096"], "takes at most 512 positions"),
        (["--data", "digits"], "takes token ids and dataset 'digits' holds feature vectors"),
        (["--weights", "w.pt"], "--weights goes with a package.module:factory model"),
    ],
)
def test_options_that_do_not_fit_a_token_model_are_one_line(
    run_cli, store, bert_dir, name, extra, said
):
    before = snapshot(store)
    message = one_line_error(run_cli("ingest", bert_dir, "--name", name, *extra, expect=2))
    assert said in message
    assert snapshot(store) == before


def test_a_cnn_is_ingested_without_its_input_shape(run_cli, store, cnn, tmp_path, name):
    path = tmp_path / "cnn.pt"
    torch.jit.save(torch.jit.script(cnn), str(path))
    out = json.loads(run_cli("ingest", path, "--name", name, "--json").stdout)
    assert out["neurons"] == 1 + 4 + 6 + 10
    assert store.get_network(name)["inputShape"] == [1, 8, 8]


@pytest.mark.parametrize("kind", ["gpt2", "classifier"])
def test_gpt2_and_classifier_directories_are_ingested(run_cli, store, tmp_path, name, kind):
    torch.manual_seed(0)
    if kind == "gpt2":
        config = GPT2Config(vocab_size=50, n_embd=HIDDEN, n_layer=1, n_head=4, n_positions=32)
        GPT2Model(config).save_pretrained(tmp_path)
        last, width = "sum", HIDDEN
    else:
        config = BertConfig(
            vocab_size=50,
            hidden_size=HIDDEN,
            num_hidden_layers=1,
            num_attention_heads=4,
            intermediate_size=64,
            num_labels=3,
        )
        BertForSequenceClassification(config).save_pretrained(tmp_path)
        last, width = "linear", 3
    run_cli("ingest", tmp_path, "--name", name)
    layers = store.read(
        "MATCH (l:Layer {network: $n}) RETURN l.kind AS kind, l.width AS width ORDER BY l.position",
        {"n": name},
    )
    kinds = [la["kind"] for la in layers]
    assert kinds[:4] == ["input", "attention-q", "attention-k", "attention-v"]
    assert (layers[-1]["kind"], layers[-1]["width"]) == (last, width)
    outgoing = store.read(
        "MATCH (l:Layer {network: $n})-[:HAS_NEURON]->(:Neuron)-[:WEIGHT]->() "
        "RETURN DISTINCT l.kind AS kind",
        {"n": name},
    )
    assert not {r["kind"] for r in outgoing} & {"attention-q", "attention-k"}
