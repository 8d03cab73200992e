"""Token activations leave padding out: a text padded to more positions reads exactly as the
same text at its own length, for every layer and every position reduction; and the text data
behind them (the built-in text task, text files, the word vocabulary)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from zoo import save_text_bert

from neurongraph.errors import IngestError
from neurongraph.model.datasets import load_dataset
from neurongraph.model.loading import load_model
from neurongraph.model.texts import PAD_ID, TOPICS, WORDS
from neurongraph.model.view import TOKEN_REDUCTIONS, read_view

#: Two texts of four words: six tokens each with [CLS] and [SEP].
TEXTS = ["the cat sleeps now", "a warm soup again"]
EXTRA = 3


@pytest.fixture(scope="module")
def bert(tmp_path_factory):
    return load_model(str(save_text_bert(tmp_path_factory.mktemp("bert"))))


def _views(bert, tmp_path):
    path = tmp_path / "texts.txt"
    path.write_text("\n".join(f"{i}\t{t}" for i, t in enumerate(TEXTS * 2)) + "\n")
    dataset = load_dataset(f"text:{path}")
    exact = bert.tokens.encode(dataset)
    padded = bert.tokens.encode(dataset, exact.input_shape[0] + EXTRA)
    out = []
    for data in (exact, padded):
        ids = torch.from_numpy(np.concatenate([data.X_train, data.X_test]))
        out.append((read_view(bert.module, ids[:2]), ids, ids != data.pad_token))
    return out


def test_padding_is_left_out_of_every_reduction(bert, tmp_path):
    (exact, ids, mask), (padded, padded_ids, padded_mask) = _views(bert, tmp_path)
    assert ids.shape[1] == 6 and bool(mask.all()) and bool((ids > 1).all())  # no [UNK]
    assert (~padded_mask).sum(dim=1).min() >= EXTRA
    for how in TOKEN_REDUCTIONS:
        short, _ = exact.activations(ids, token_reduce=how, mask=mask)
        long, _ = padded.activations(padded_ids, token_reduce=how, mask=padded_mask)
        assert len(short) == len(long) == len(exact.layers)
        for layer, a, b in zip(exact.layers, short, long, strict=True):
            assert_allclose(b.numpy(), a.numpy(), atol=1e-8, err_msg=f"{how} {layer.name}")
    # read without the mask, padding positions count in the mean of the residual stream
    unmasked, _ = padded.activations(padded_ids, token_reduce="mean")
    short, _ = exact.activations(ids, token_reduce="mean", mask=mask)
    stream = [i for i, layer in enumerate(exact.layers) if layer.kind == "sum"][-1]
    assert not np.allclose(unmasked[stream].numpy(), short[stream].numpy(), atol=1e-3)


def test_last_reads_the_last_real_token(bert, tmp_path):
    _, (padded, ids, mask) = _views(bert, tmp_path)
    last, _ = padded.activations(ids, token_reduce="last", mask=mask)
    with torch.no_grad():
        hidden = bert.module(ids).double()  # last_hidden_state (N, positions, width)
    final = hidden[torch.arange(len(ids)), mask.sum(dim=1) - 1]
    stream = [i for i, layer in enumerate(padded.layers) if layer.kind == "sum"][-1]
    assert_allclose(last[stream].numpy(), final.numpy(), atol=1e-4)


def test_the_text_task_is_deterministic_and_decidable_from_words():
    a, b = load_dataset("text-task", random_state=3), load_dataset("text-task", random_state=3)
    assert a.fingerprint == b.fingerprint and a.pad_token == PAD_ID
    assert len(a.X_train) + len(a.X_test) == 100 * len(TOPICS)
    nouns = [set(n) for n, _ in TOPICS.values()]
    for text, label in zip(a.texts[0], a.y_train, strict=True):
        words = set(text.split())
        assert [bool(words & topic) for topic in nouns].index(True) == label
    decoded = " ".join(WORDS[i] for i in a.X_train[0] if i != PAD_ID)
    assert decoded == a.texts[0][0]


def test_text_files_are_read_or_refused(tmp_path):
    plain = tmp_path / "plain.txt"
    plain.write_text("one cat\n\nTwo dogs run!\nthe end\n")
    dataset = load_dataset(f"text:{plain}")
    assert sorted(np.concatenate(dataset.texts)) == ["Two dogs run!", "one cat", "the end"]
    assert dataset.tasks[0].n_classes == 1
    bad = tmp_path / "bad.txt"
    bad.write_text("cat\tthe cat sleeps\n")
    with pytest.raises(IngestError, match="labels are non-negative integers"):
        load_dataset(f"text:{bad}")
    with pytest.raises(IngestError, match="not found"):
        load_dataset(f"text:{tmp_path / 'missing.txt'}")
