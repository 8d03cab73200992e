"""Lesion benchmark on networks read as a DAG: a ResNet-style CNN on digits (accuracy), the tiny
transformer classifier of ``train --arch transformer:...`` trained on the built-in text task
(accuracy) and a small BERT-style encoder on random token ids (output-change), batched
``importance()`` against a one-lesion-at-a-time loop on copied models.

Each network's hidden layers are cut into synthetic clusters (unit index mod ``K``: the
benchmark times lesions, not partitions); ``importance()`` then lesions every (layer, cluster)
group, ``N_RANDOM`` random same-size groups per group and every hidden neuron alone, sum layers
included. The loop does what a user without neurongraph would do, per lesion: ``copy.deepcopy``
the model, zero the incoming weights and biases of the lesioned units of weight layers (and
the running mean and bias of a BatchNorm folded into them, so that the folded output is 0),
zero a sum layer's units with a hook where the model reads them (the block's output after its
ReLU for the ResNet; the LayerNorm's input for BERT; for the tiny transformer the block's output,
or, for the add inside a block, the attention output set to minus the block's input), run the
test set, score it. The loop runs
in float32 on the module (timed) and in float64 (its answers compared with the batched ones,
which must agree to 1e-8) on ``--naive-limit`` lesions spread over the list, its time scaled to
all of them. Both sides run in this process, each once untimed first; each side's time is the
median of ``--repeats`` runs.

Two more lines say how far batching can go. The *floor* times the replays' own operations
alone (:func:`replay_floor`: every operation downstream of each lesion's site, on every
(lesion, example) pair, in the engine's passes and dtype, without gathers, masks or scoring):
an engine that replays every pair with these operations cannot beat the loop by more than
the loop's time over it.
The *effect / margin* ratios (accuracy runs; :func:`margin_ratios`, from the float64 loop)
say how many pairs a certificate could skip instead: only those whose effect a sound bound
keeps below the margin of their answer.

Run: ``.venv/bin/python benchmarks/lesion_dag.py [--network resnet|transformer|bert|all]
[--threads T] [--naive-limit N]``.
"""

from __future__ import annotations

import argparse
import copy
import itertools
import time
from collections import Counter
from collections.abc import Callable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from neurongraph.analysis.importance import importance
from neurongraph.analysis.lesion import LesionRun, distinct_lesions
from neurongraph.analysis.view_lesion import OUTPUT_CHANGE, hidden_layers
from neurongraph.formatting import points
from neurongraph.model.datasets import load_dataset
from neurongraph.model.view import SUM, ModelView, read_view
from neurongraph.runtime import retain_freed_memory
from neurongraph.training.resnet import build_resnet

#: Synthetic clusters per layer, random groups per group.
K = 4
N_RANDOM = 20
EPOCHS = 10
#: The BERT-style encoder: random token ids, examples x positions.
TOKENS = (128, 32)
VOCAB = 200
#: The tiny transformer classifier and its training on the built-in text task.
TRANSFORMER = "transformer:d64-h4-b2-4"
TRANSFORMER_EPOCHS = 10


#: The ResNet's stages, (width, blocks) each: resnet:c8x1-c16x1-10.
RESNET_STAGES = ((8, 1), (16, 1))


def folded_norms(model: nn.Module) -> dict[str, str]:
    """The name of every convolution that a BatchNorm follows, and the name of that BatchNorm
    (the norm the view folds into the convolution)."""
    norms = {}
    for prefix, module in model.named_modules():
        children = list(module.named_children())
        for (name, conv), (norm_name, norm) in itertools.pairwise(children):
            if isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d):
                dot = prefix + "." if prefix else ""
                norms[dot + name] = dot + norm_name
    return norms


def trained_resnet(epochs: int) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """The ResNet (:func:`~neurongraph.training.resnet.build_resnet`) trained on digits
    (minibatch Adam, seeded), and the test images."""
    ds = load_dataset("digits", random_state=0, image=True)
    X, y = torch.as_tensor(ds.X_train), torch.as_tensor(ds.y_train)
    g = torch.Generator().manual_seed(0)
    model = build_resnet(1, RESNET_STAGES, 10, generator=g)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(X), generator=g).split(64):
            opt.zero_grad()
            F.cross_entropy(model(X[idx]), y[idx]).backward()
            opt.step()
    return model.eval(), torch.as_tensor(ds.X_test), torch.as_tensor(ds.y_test)


def trained_transformer() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """The tiny transformer trained on the text task (seeded), and the test texts' ids."""
    from neurongraph.training.train import train_model

    ds = load_dataset("text-task", random_state=0)
    result = train_model(TRANSFORMER, ds, epochs=TRANSFORMER_EPOCHS, random_state=0)
    return result.model.eval(), torch.as_tensor(ds.X_test), torch.as_tensor(ds.y_test)


def transformer_sum(m: nn.Module, name: str, units: list[int]) -> None:
    """``blocks.I.add`` (attention's add): the attention output ``o`` becomes minus the block's
    input on those units, so that their sum is exactly 0; ``blocks.I.add_1``: the block's
    output."""
    block_name, add = name.rsplit(".", 1)
    block = m.get_submodule(block_name)
    if add == "add_1":
        block.register_forward_hook(lambda _m, _i, out: out.index_fill(-1, torch.tensor(units), 0))
        return
    seen: list[torch.Tensor] = []
    block.register_forward_pre_hook(lambda _m, inputs: seen.__setitem__(slice(None), [inputs[0]]))

    def cancel(_m, _i, output):
        output = output.clone()
        output[..., units] = -seen[0][..., units]
        return output

    block.o.register_forward_hook(cancel)


def tiny_bert() -> nn.Module:
    """A randomly initialised 2-layer BERT-style encoder (hidden 64), ids to hidden states."""
    from transformers import BertConfig, BertModel

    from neurongraph.model.hf import TokenModel

    config = BertConfig(
        vocab_size=VOCAB,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=128,
        max_position_embeddings=64,
    )
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return TokenModel(BertModel(config).eval(), "last_hidden_state").eval()


def lesion_weights(m: nn.Module, name: str, units: list[int]) -> None:
    module = m.get_submodule(name)
    module.weight[units] = 0
    if module.bias is not None:
        module.bias[units] = 0
    norms = folded_norms(m)
    if name in norms:
        norm = m.get_submodule(norms[name])
        norm.running_mean[units] = 0
        norm.bias[units] = 0


def zero_output(module: nn.Module, units: list[int]) -> None:
    def hook(_m, _i, output):
        output = output.clone()
        output[:, units] = 0
        return output

    module.register_forward_hook(hook)


def zero_last_input(module: nn.Module, units: list[int]) -> None:
    def hook(_m, inputs):
        x = inputs[0].clone()
        x[..., units] = 0
        return (x,)

    module.register_forward_pre_hook(hook)


def resnet_sum(m: nn.Module, name: str, units: list[int]) -> None:
    """A block's add (``3.add``): the block's output is relu(add), and relu(0) = 0."""
    zero_output(m.get_submodule(name.rsplit(".", 1)[0]), units)


def bert_sum(m: nn.Module, name: str, units: list[int]) -> None:
    """``...attention.output.add``: the LayerNorm right after reads the add."""
    zero_last_input(m.get_submodule(name.rsplit(".", 1)[0] + ".LayerNorm"), units)


def naive(
    model: nn.Module,
    view: ModelView,
    lesions: list,
    X: torch.Tensor,
    score: Callable[[torch.Tensor], float],
    sums: Callable[[nn.Module, str, list[int]], None],
) -> np.ndarray:
    """One lesioned deep copy of ``model`` per lesion (in the dtype of ``model``)."""
    if X.is_floating_point():
        X = X.to(next(model.parameters()).dtype)
    out = np.empty(len(lesions))
    for k, lesion in enumerate(lesions):
        m = copy.deepcopy(model)
        with torch.no_grad():
            for layer, units in lesion:
                name, units = view.layers[layer].name, [int(u) for u in units]
                if view.layers[layer].kind == SUM:
                    sums(m, name, units)
                else:
                    lesion_weights(m, name, units)
            out[k] = score(m(X))
    return out


def replay_floor(run: LesionRun) -> float:
    """Seconds that the operations of the lesioned replays take alone, the floor of an engine
    that replays every (distinct lesion, example) pair with them: for each lesioned layer,
    every operation downstream of its site on (its distinct lesions x the examples) pairs, in
    the engine's passes and dtype, on inputs gathered beforehand, with no masks, no gathers and
    no scoring (the best of three timings per layer): ``run``'s lesions on its DAG engine."""
    engine = run.engine
    base = engine.baseline(slice(0, engine.n))
    runner = engine.fast if engine.fast is not None else engine.view
    dims = engine.view.batch_dims
    total = 0.0
    distinct = distinct_lesions(run.lesions)
    for layer, count in Counter(run.lesions[k][0][0] for k in distinct).items():
        plan = engine.plan(frozenset({layer}))
        pairs = count * engine.n
        rows = min(engine.pairs_per_pass(plan), pairs)
        rows += -rows % engine.rows
        index = torch.arange(rows) % engine.n
        values = {name: base.fast[name].index_select(dims[name], index) for name in plan.frontier}
        times = []
        for _ in range(4):
            t0 = time.perf_counter()
            runner.replay(dict(values), plan.ops, drop=plan.drop)
            times.append(time.perf_counter() - t0)
        total += min(times[1:]) * pairs / rows
    return total


def margin_ratios(out: torch.Tensor, base: torch.Tensor) -> np.ndarray:
    """Per example: the largest change, under a lesion, of the unlesioned top logit's lead over
    another logit, divided by its lead over the second (the margin a sound bound must stay
    under to prove the answer unchanged without running it)."""
    top2 = base.topk(2, dim=1)
    top = top2.indices[:, :1]
    change = out - base
    lead_change = (change.gather(1, top) - change).abs().amax(1)
    margin = (top2.values[:, 0] - top2.values[:, 1]).clamp_min(torch.finfo(base.dtype).tiny)
    return (lead_change / margin).numpy()


def all_lesions(result, widths: list[int]) -> list:
    """The lesions of an importance run, in the order of its deltas."""
    lesions = [[(g.layer, g.units)] for g in result.groups]
    for g in result.groups:
        lesions.extend([(g.layer, r)] for r in g.random_units)
    for layer in result.neurons:
        lesions.extend([(layer, [u])] for u in range(widths[layer]))
    assert len(lesions) == result.n_lesions
    return lesions


def run_case(
    title: str,
    model: nn.Module,
    X: torch.Tensor,
    data: tuple,
    metric: str,
    score: Callable[[torch.Tensor, torch.Tensor], float],
    sums: Callable[[nn.Module, str, list[int]], None],
    args: argparse.Namespace,
) -> None:
    view = read_view(model, X[:8])
    groups = {p: np.arange(view.widths[p]) % K for p in hidden_layers(view)}

    def run():
        return importance(view, groups, data, n_random=N_RANDOM, random_state=0, metric=metric)

    run()
    times = []
    for _ in range(max(1, args.repeats)):
        t0 = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - t0)
    t_batched = float(np.median(times))
    lesions = all_lesions(result, view.widths)
    checked = LesionRun.checked(view, lesions, data, None, None, metric)
    n_distinct = len(distinct_lesions(checked.lesions))
    print(
        f"{title}: {len(view.layers)} layers ({sum(1 for la in view.layers if la.kind == SUM)} "
        f"sums), {len(hidden_layers(view))} hidden; {len(result.groups)} groups, "
        f"{len(lesions)} lesions ({n_distinct} distinct, each run once); metric {result.metric}, "
        f"baseline {points(result.baseline_accuracy, '.2f')}"
    )
    print(
        f"  batched importance(): {t_batched:7.2f} s  {len(lesions) / t_batched:8.0f} lesions/s"
        f"  (median of {len(times)}: {', '.join(f'{t:.2f}' for t in times)} s)"
    )
    step = max(1, len(lesions) // args.naive_limit) if args.naive_limit > 0 else 1
    sel = list(range(0, len(lesions), step))
    subset = [lesions[k] for k in sel]
    scale = len(lesions) / len(subset)
    x64 = X.double() if X.is_floating_point() else X
    base32, base64 = model(X), copy.deepcopy(model).double()(x64)
    naive(model, view, subset[:5], X, lambda out: score(out, base32), sums)
    naive_times = []
    for _ in range(max(1, args.repeats)):
        t0 = time.perf_counter()
        naive(model, view, subset, X, lambda out: score(out, base32), sums)
        naive_times.append((time.perf_counter() - t0) * scale)
    t_naive = float(np.median(naive_times))
    ratios: list[np.ndarray] = []

    def score64(out: torch.Tensor) -> float:
        if metric != OUTPUT_CHANGE:
            ratios.append(margin_ratios(out, base64))
        return score(out, base64)

    n64 = naive(copy.deepcopy(model).double(), view, subset, X, score64, sums)
    deltas = np.concatenate(
        [
            [g.delta for g in result.groups],
            np.concatenate([g.random_deltas for g in result.groups]),
            np.concatenate([n.delta for n in result.neurons.values()]),
        ]
    )
    diff = float(np.max(np.abs(deltas[sel] - (n64 - score(base64, base64)))))
    timed = ", ".join(f"{t:.2f}" for t in naive_times)
    scaled = "" if scale == 1 else f", timed on {len(subset)} lesions and scaled"
    extra = f"  (median of {len(naive_times)}: {timed} s{scaled})"
    print(
        f"  naive float32 module loop: {t_naive:7.2f} s  {len(lesions) / t_naive:8.0f} "
        f"lesions/s{extra}"
    )
    print(
        f"  speed-up of batched importance(): {t_naive / t_batched:5.1f}x (target >= 10x); "
        f"max |delta difference| vs float64 copies: {diff:.2e} (must be < 1e-8)"
    )
    t_floor = replay_floor(checked)
    print(
        f"  floor, the replays' operations alone: {t_floor:7.2f} s, so replaying every "
        f"(lesion, example) pair cannot pass {t_naive / t_floor:5.1f}x the loop"
    )
    if ratios:
        r = np.concatenate(ratios)
        q10, q50 = np.quantile(r, [0.1, 0.5])
        print(
            f"  lesion effect / margin per (lesion, example), float64 copies: median {q50:.2f}, "
            f"10th percentile {q10:.3f}; below 0.1: {np.mean(r < 0.1):.1%}, below 1: "
            f"{np.mean(r < 1):.1%} (a certificate skips a pair only where a bound on its effect "
            "stays below its margin)"
        )
    assert diff < 1e-8


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--network", choices=("resnet", "transformer", "bert", "all"), default="all"
    )
    parser.add_argument("--epochs", type=int, default=EPOCHS, help="ResNet training epochs")
    parser.add_argument(
        "--repeats", type=int, default=3, help="runs of each side (the median counts)"
    )
    parser.add_argument(
        "--naive-limit", type=int, default=150, help="lesions the loops run (0: all)"
    )
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    retained = retain_freed_memory()
    print(
        f"torch threads {torch.get_num_threads()}, freed memory "
        f"{'retained' if retained else 'returned to the system'} (both sides)"
    )
    torch.set_grad_enabled(False)
    if args.network in ("resnet", "all"):
        with torch.enable_grad():
            model, X, y = trained_resnet(args.epochs)

        def accuracy(out: torch.Tensor, _base: torch.Tensor) -> float:
            return float((out.argmax(1) == y).double().mean())

        run_case("ResNet (digits)", model, X, (X, y), "accuracy", accuracy, resnet_sum, args)
    if args.network in ("transformer", "all"):
        with torch.enable_grad():
            model, X, y = trained_transformer()

        def accuracy(out: torch.Tensor, _base: torch.Tensor) -> float:
            return float((out.argmax(1) == y).double().mean())

        run_case(
            f"tiny transformer {TRANSFORMER} (text task)",
            model,
            X,
            (X, y),
            "accuracy",
            accuracy,
            transformer_sum,
            args,
        )
    if args.network in ("bert", "all"):
        model = tiny_bert()
        g = torch.Generator().manual_seed(0)
        ids = torch.randint(0, VOCAB, TOKENS, generator=g)

        def change(out: torch.Tensor, base: torch.Tensor) -> float:
            moved = (out - base).flatten(1).norm(dim=1) / base.flatten(1).norm(dim=1)
            return -float(moved.double().mean())

        run_case(
            "BERT-style encoder", model, ids, (ids, None), OUTPUT_CHANGE, change, bert_sum, args
        )


if __name__ == "__main__":
    main()
