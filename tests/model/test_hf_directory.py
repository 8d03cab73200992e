"""Local Hugging Face model directories: read from disk with transformers into a module of token
ids that gives what transformers gives, their example inputs, the store's copy of them, and the
input shapes of CNNs worked out from their layers."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    BertModel,
    BertTokenizerFast,
    GPT2Config,
    GPT2Model,
    ViTConfig,
    ViTModel,
)
from zoo import digits_cnn

from neurongraph.errors import IngestError, StoreError
from neurongraph.model.hf import (
    EXAMPLE_BATCH,
    EXAMPLE_POSITIONS,
    EXAMPLE_SENTENCES,
    HF_DIRECTORY,
    TokenInput,
    TokenModel,
)
from neurongraph.model.input_shape import infer_input_shape
from neurongraph.model.loading import TOKENS, load_model, load_recorded_model
from neurongraph.store.files import StoreFiles, sha256_directory

VOCAB = 100
#: The words of the test tokenizer's vocabulary (after its special tokens).
WORDS = sorted(
    {w.strip(".,").lower() for sentence in EXAMPLE_SENTENCES for w in sentence.split()} | {"."}
)
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def bert_config(**extra) -> BertConfig:
    return BertConfig(
        vocab_size=VOCAB,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=64,
        **extra,
    )


def save_tokenizer(directory) -> None:
    vocab = directory / "words.txt"
    vocab.write_text("\n".join(SPECIAL + WORDS) + "\n")
    BertTokenizerFast(vocab_file=str(vocab)).save_pretrained(directory)
    vocab.unlink()


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory):
    """A randomly initialised BERT-style encoder with its own tokenizer."""
    torch.manual_seed(0)
    directory = tmp_path_factory.mktemp("bert")
    BertModel(bert_config()).save_pretrained(directory)
    save_tokenizer(directory)
    return directory


@pytest.fixture(scope="module")
def gpt2_dir(tmp_path_factory):
    """A randomly initialised GPT-2, no tokenizer."""
    torch.manual_seed(1)
    directory = tmp_path_factory.mktemp("gpt2")
    config = GPT2Config(vocab_size=VOCAB, n_positions=32, n_embd=32, n_layer=2, n_head=4)
    GPT2Model(config).save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def classifier_dir(tmp_path_factory):
    torch.manual_seed(2)
    directory = tmp_path_factory.mktemp("classifier")
    BertForSequenceClassification(bert_config(num_labels=3)).save_pretrained(directory)
    return directory


def ids(batch=3, positions=10, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, VOCAB, (batch, positions), generator=generator)


@pytest.mark.parametrize(
    ("which", "reference", "output", "width"),
    [
        ("bert_dir", BertModel, "last_hidden_state", 32),
        ("gpt2_dir", GPT2Model, "last_hidden_state", 32),
        ("classifier_dir", BertForSequenceClassification, "logits", 3),
    ],
)
def test_a_model_directory_gives_what_transformers_gives(request, which, reference, output, width):
    directory = request.getfixturevalue(which)
    loaded = load_model(str(directory))
    assert isinstance(loaded.module, TokenModel) and not loaded.module.training
    assert (loaded.kind, loaded.input_kind, loaded.tokens.vocab_size) == (
        HF_DIRECTORY,
        TOKENS,
        VOCAB,
    )
    own = reference.from_pretrained(directory).eval()
    x = ids()
    with torch.no_grad():
        got = loaded.module(x)
        expected = getattr(own(input_ids=x), output)
    assert got.shape == (3, 10, width) if output != "logits" else got.shape == (3, width)
    torch.testing.assert_close(got, expected)
    props = loaded.properties()
    assert (props["modelKind"], props["inputKind"], props["vocabSize"]) == (
        HF_DIRECTORY,
        TOKENS,
        VOCAB,
    )
    assert props["architecture"] == reference.__name__
    assert props["sha256"] == sha256_directory(directory, list(loaded.file.members))


def test_the_example_input_is_the_tokenised_sentences(bert_dir):
    loaded = load_model(str(bert_dir))
    example = loaded.tokens.example()
    assert example.dtype == torch.int64 and example.shape == (EXAMPLE_BATCH, EXAMPLE_POSITIONS)
    tokenizer = BertTokenizerFast.from_pretrained(bert_dir)
    first = tokenizer(EXAMPLE_SENTENCES[0])["input_ids"]
    assert example[0, : len(first)].tolist() == first  # [CLS] the quick ... [SEP]
    assert set(example[0, len(first) :].tolist()) == {tokenizer.pad_token_id}
    assert tokenizer.unk_token_id not in example.tolist()
    assert loaded.tokens.example((8,)).shape == (EXAMPLE_BATCH, 8)
    with torch.no_grad():
        assert torch.isfinite(loaded.module(example)).all()


def test_without_a_tokenizer_the_example_is_seeded_random_ids(gpt2_dir):
    tokens = load_model(str(gpt2_dir)).tokens
    assert tokens.tokenizer is None and tokens.max_positions == 32
    example = tokens.example()
    assert example.shape == (EXAMPLE_BATCH, EXAMPLE_POSITIONS) and example.dtype == torch.int64
    assert int(example.min()) >= 0 and int(example.max()) < VOCAB
    assert len(set(example.flatten().tolist())) > 10
    torch.testing.assert_close(example, tokens.example())
    assert tokens.example((32,)).shape == (EXAMPLE_BATCH, 32)
    with pytest.raises(IngestError, match="at most 32 positions"):
        tokens.example((33,))
    with pytest.raises(IngestError, match="number of positions"):
        tokens.example((1, 8, 8))


def test_a_model_directory_is_kept_and_loaded_back_by_sha(bert_dir, tmp_path):
    loaded = load_model(str(bert_dir))
    assert set(loaded.file.members) >= {"config.json", "model.safetensors", "tokenizer.json"}
    files = StoreFiles(tmp_path / "files")
    kept = loaded.file.keep(files)
    assert kept == tmp_path / "files" / "models" / loaded.sha256 and kept.is_dir()
    assert sorted(p.name for p in kept.iterdir()) == sorted(loaded.file.members)
    assert files.model(loaded.sha256) == kept
    network = {"name": "bert", **loaded.properties()}
    again = load_recorded_model(network, files)
    pad = loaded.tokens.pad_token
    assert pad is not None
    assert again.sha256 == loaded.sha256 and again.tokens == TokenInput(
        VOCAB, 64, kept, pad_token=pad
    )
    x = ids()
    with torch.no_grad():
        torch.testing.assert_close(again.module(x), loaded.module(x))
    torch.testing.assert_close(again.tokens.example(), loaded.tokens.example())
    # a changed stored copy is refused, never read
    (kept / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(StoreError, match="does not match its sha256"):
        files.model(loaded.sha256)
    files.remove_model(loaded.sha256)
    assert not kept.exists() and files.model(loaded.sha256) is None


def test_a_sharded_directory_keeps_every_shard(tmp_path):
    torch.manual_seed(3)
    model = BertModel(bert_config())
    model.save_pretrained(tmp_path, max_shard_size="50KB")
    shards = sorted(p.name for p in tmp_path.glob("model-*.safetensors"))
    assert len(shards) > 1 and not (tmp_path / "model.safetensors").exists()
    loaded = load_model(str(tmp_path))
    assert set(shards) < set(loaded.file.members)
    x = ids()
    with torch.no_grad():
        torch.testing.assert_close(loaded.module(x), model.eval()(input_ids=x).last_hidden_state)


def test_pickled_weights_are_read_only_with_trust(bert_dir, tmp_path):
    (tmp_path / "config.json").write_bytes((bert_dir / "config.json").read_bytes())
    model = BertModel.from_pretrained(bert_dir).eval()
    torch.save(model.state_dict(), tmp_path / "pytorch_model.bin")
    with pytest.raises(IngestError, match="pytorch_model.bin, a pickle.*`trust_pickle=`"):
        load_model(str(tmp_path))
    loaded = load_model(str(tmp_path), trust_pickle=True)
    assert loaded.file.members == ("config.json", "pytorch_model.bin")
    x = ids()
    with torch.no_grad():
        torch.testing.assert_close(loaded.module(x), model(input_ids=x).last_hidden_state)


def test_a_model_that_takes_no_token_ids_is_refused(tmp_path):
    config = ViTConfig(
        hidden_size=32, num_hidden_layers=1, num_attention_heads=4, intermediate_size=64
    )
    ViTModel(config).save_pretrained(tmp_path)
    with pytest.raises(IngestError, match="holds a vit model, which does not take token ids"):
        load_model(str(tmp_path))


def test_weights_that_leave_layers_random_are_refused(bert_dir, tmp_path):
    """A classifier config over a bare encoder's weights: transformers would make the
    classifier up."""
    for name in ("config.json", "model.safetensors"):
        (tmp_path / name).write_bytes((bert_dir / name).read_bytes())
    config = json.loads((tmp_path / "config.json").read_text())
    config["architectures"] = ["BertForSequenceClassification"]
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(IngestError, match=r"lack 2 tensors .*classifier\.(bias|weight)"):
        load_model(str(tmp_path))


# -- CNN input shapes ------------------------------------------------------------------------


class Functional(nn.Module):
    """Conv, functional max pooling and view: nothing says where the size halves."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 4 * 4, 10)

    def forward(self, x):
        return self.fc(torch.max_pool2d(self.conv(x), 2).flatten(1))


CNNS = [
    (digits_cnn(), (1, 8, 8)),  # the digits CNN of the suite
    (  # LeNet-5 on MNIST: unpadded 5 x 5 kernels, average pooling
        nn.Sequential(
            nn.Conv2d(1, 6, 5),
            nn.Tanh(),
            nn.AvgPool2d(2),
            nn.Conv2d(6, 16, 5),
            nn.Tanh(),
            nn.AvgPool2d(2),
            nn.Flatten(),
            nn.Linear(16 * 4 * 4, 120),
            nn.Tanh(),
            nn.Linear(120, 10),
        ),
        (1, 28, 28),
    ),
    (  # strided, dilated and 'same' convolutions, ceil-mode pooling, RGB
        nn.Sequential(
            nn.Conv2d(3, 8, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(8, 8, 3, padding="same"),
            nn.Conv2d(8, 8, 3, dilation=2),
            nn.MaxPool2d(3, stride=2, ceil_mode=True),
            nn.Dropout(0.1),
            nn.Flatten(),
            nn.Linear(8 * 4 * 4, 10),
        ),
        (3, 24, 24),
    ),
    (  # adaptive pooling: any size fits, so none is inferred
        nn.Sequential(nn.Conv2d(1, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 10)),
        None,
    ),
    (Functional(), None),  # the Linear's width does not follow from the layers alone
    (  # no square side gives the Linear's width
        nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(), nn.Linear(4 * 3 * 2, 10)),
        None,
    ),
    (nn.Sequential(nn.Linear(64, 10)), (64,)),
]


@pytest.mark.parametrize(("model", "shape"), CNNS)
def test_a_cnn_input_shape_is_worked_out_from_its_layers(model, shape):
    assert infer_input_shape(model) == shape
    if shape is not None:
        assert model.eval()(torch.zeros((2, *shape))).shape == (2, 10)


def test_a_scripted_cnn_input_shape_is_worked_out(cnn):
    assert infer_input_shape(torch.jit.script(cnn)) == (1, 8, 8)
