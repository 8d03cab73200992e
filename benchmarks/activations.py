"""Recording token activations at transformer scale: the 6-layer, 384-wide encoder of
``benchmarks/transformer.py`` (``BertConfig(hidden_size=384, num_hidden_layers=6,
num_attention_heads=6, intermediate_size=1536)``, randomly initialised) on 2,000 texts of 32
tokens.

Texts are random sequences of the built-in text task's words (30 words, so 32 tokens with
``[CLS]`` and ``[SEP]``), labelled by topic, written to a text file and read as ``text:FILE``;
the model directory carries a word-piece tokenizer built in code from the same words, so
nothing is downloaded.

Timed, in this process:

- ``record``: what ``neurongraph activations`` computes: the view's replay of every batch
  (in float32, ``RECORD_DTYPE``, the cache's dtype; every neuron layer including the residual
  stream's ``sum`` layers, mean over the non-padding positions), streamed to the ``.npy``
  cache batch by batch (:func:`~neurongraph.model.activations.capture_activations`), then the
  neuron summaries and
  the CORRELATES pairs (:func:`~neurongraph.model.activations.spearman_top_k`, block by block);
  reading the view (``torch.export``, as ``ingest`` does once) is timed apart;
- ``baseline``: plain forward hooks on the eager ``transformers`` model (float32), collecting
  every Linear's output, mean over the non-padding positions, for all texts in memory.

Peak memory is the process's maximum RSS after each phase.

    python benchmarks/activations.py [--texts 2000] [--positions 32] [--json]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from neurongraph.model.activations import (
    ActivationCache,
    all_labels,
    capture_activations,
    neuron_summaries,
    spearman_top_k,
)
from neurongraph.model.datasets import load_dataset
from neurongraph.model.loading import load_model
from neurongraph.model.texts import TOPICS, WORDS
from neurongraph.model.view import read_view

HIDDEN = 384
INTERMEDIATE = 1536
N_BLOCKS = 6
N_HEADS = 6
N_TEXTS = 2000
POSITIONS = 32
#: Tokens a text adds around its words: [CLS] and [SEP].
SPECIAL = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
SEED = 0
#: The issue's budget for recording, in seconds.
BUDGET_S = 120.0


def bert(directory: Path) -> Path:
    """Save the 6-layer, 384-wide encoder and a word-piece tokenizer of the task's words."""
    import transformers

    vocab = {token: i for i, token in enumerate((*SPECIAL, *WORDS[2:]))}
    transformers.BertTokenizerFast(vocab=vocab).save_pretrained(directory)
    torch.manual_seed(SEED)
    config = transformers.BertConfig(
        vocab_size=len(vocab),
        hidden_size=HIDDEN,
        num_hidden_layers=N_BLOCKS,
        num_attention_heads=N_HEADS,
        intermediate_size=INTERMEDIATE,
    )
    transformers.BertModel(config).save_pretrained(directory)
    return directory


def texts(path: Path, n: int, words: int) -> Path:
    """``n`` labelled texts of ``words`` random task words (one topic noun among them)."""
    rng = np.random.default_rng(SEED)
    pool = [w for w in WORDS[2:]]
    lines = []
    for i in range(n):
        label = i % len(TOPICS)
        nouns = list(TOPICS.values())[label][0]
        chosen = [pool[j] for j in rng.integers(len(pool), size=words)]
        chosen[rng.integers(words)] = nouns[rng.integers(len(nouns))]
        lines.append(f"{label}\t{' '.join(chosen)}")
    path.write_text("\n".join(lines) + "\n")
    return path


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def baseline(model: torch.nn.Module, ids: torch.Tensor, pad: int, batch: int) -> float:
    """Seconds to collect every Linear's output (mean over non-padding positions) with
    forward hooks on the eager model."""
    inner = model.model
    linears = [m for m in inner.modules() if isinstance(m, torch.nn.Linear)]
    collected: list[list[torch.Tensor]] = [[] for _ in linears]
    weight: list[torch.Tensor] = []

    def hook(index: int):
        def record(_module, _inputs, output):
            if output.dim() == 3:
                w = weight[0]
                output = (output * w[:, :, None]).sum(1) / w.sum(1, keepdim=True)
            collected[index].append(output.detach())

        return record

    handles = [m.register_forward_hook(hook(i)) for i, m in enumerate(linears)]
    started = time.perf_counter()
    with torch.no_grad():
        for lo in range(0, len(ids), batch):
            piece = ids[lo : lo + batch]
            weight[:] = [(piece != pad).to(torch.float32)]
            model(piece)
    np.concatenate([torch.cat(parts).numpy() for parts in collected], axis=1)
    seconds = time.perf_counter() - started
    for handle in handles:
        handle.remove()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=N_TEXTS)
    parser.add_argument("--positions", type=int, default=POSITIONS)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "bert").mkdir()
        loaded = load_model(str(bert(root / "bert")))
        spec = f"text:{texts(root / 'texts.txt', args.texts, args.positions - 2)}"
        dataset = loaded.tokens.encode(load_dataset(spec), args.positions)
        ids = torch.from_numpy(np.concatenate([dataset.X_train, dataset.X_test]))
        started = time.perf_counter()
        view = read_view(loaded.module, ids[:4])
        read_s = time.perf_counter() - started
        cache = ActivationCache(root / "cache.npy", tuple(view.widths), len(ids))
        started = time.perf_counter()
        capture_activations(view, dataset, cache)
        capture_s = time.perf_counter() - started
        capture_peak = peak_mib()
        matrix = cache.matrix()
        started = time.perf_counter()
        neuron_summaries(matrix, all_labels(dataset))
        hidden = np.arange(cache.offsets[1], cache.offsets[-2])
        i, _, _ = spearman_top_k(matrix, hidden)
        correlate_s = time.perf_counter() - started
        record_s = capture_s + correlate_s
        record_peak = peak_mib()
        base_s = baseline(loaded.module, ids, dataset.pad_token, 256)
        result = {
            "texts": len(ids),
            "positions": int(ids.shape[1]),
            "layers": len(view.layers),
            "neurons": int(sum(view.widths)),
            "cacheMiB": round(cache.path.stat().st_size / 2**20, 1),
            "correlates": int(len(i)),
            "readViewS": round(read_s, 2),
            "captureS": round(capture_s, 2),
            "correlateS": round(correlate_s, 2),
            "recordS": round(record_s, 2),
            "baselineS": round(base_s, 2),
            "captureOverBaseline": round(capture_s / base_s, 2),
            "withinBudget": record_s <= BUDGET_S,
            "peakMiBAfterCapture": round(capture_peak),
            "peakMiBAfterRecord": round(record_peak),
            "threads": torch.get_num_threads(),
        }
    if args.json:
        print(json.dumps(result))
        return
    for key, value in result.items():
        print(f"{key:>22}: {value}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
