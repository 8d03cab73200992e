"""The Python API, ``import neurongraph as ng``, on the real embedded store with a real model
trained on digits: typed results, an in-memory module lesioned, errors naming parameters."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from torch import nn

import neurongraph as ng
from neurongraph.errors import AnalysisError, IngestError

HEAVY = ("torch", "sklearn", "scipy", "matplotlib")

pytestmark = pytest.mark.usefixtures("one_thread")


def test_import_neurongraph_imports_no_heavy_library():
    code = (
        "import sys, neurongraph as ng; ng.open_store; ng.NeurongraphError; "
        f"print([m for m in {HEAVY!r} if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_public_name_resolves_and_is_documented():
    assert {"open_store", "ingest", "spectral", "louvain", "entropy", "importance"} <= set(
        ng.__all__
    )
    for name in ng.__all__:
        value = getattr(ng, name)
        assert value is not None and (name == "__version__" or value.__doc__), name
    for function in (ng.spectral, ng.louvain, ng.entropy, ng.importance, ng.coherence):
        assert "Parameters\n    ----------" in function.__doc__, function.__name__
    assert callable(ng.ingest) and callable(ng.report)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        ng.nope  # noqa: B018


@pytest.fixture(scope="module")
def ingested(store, mlp):
    """The digits MLP ingested from Python with its activations, and its spectral partition."""
    name = "api-mlp"
    summary = ng.ingest(store, mlp, name, data="digits", replace=True)
    spectral = ng.spectral(store, name, k=3, n_shuffles=4, random_state=0, n_jobs=1)
    return name, summary, spectral


def test_ingest_and_spectral_return_typed_results(store, ingested):
    name, summary, spectral = ingested
    assert isinstance(summary, ng.IngestSummary)
    assert (summary.network, summary.neurons) == (name, 64 + 32 + 16 + 10)
    assert summary.activations.accuracy > 0.5
    assert isinstance(spectral, ng.SpectralResult) and spectral.k == 3
    assert spectral.layers == tuple(layer["name"] for layer in store.layers(name))
    assert spectral.layer_sizes.shape == (3, 4)
    np.testing.assert_array_equal(spectral.layer_sizes.sum(axis=1), spectral.cluster_sizes)
    assert np.isfinite([spectral.ncut, spectral.null_mean, spectral.z_score]).all()
    partition = store.partition(f"{name}/spectral-weights")
    assert partition["ncut"] == pytest.approx(spectral.ncut) and partition["seed"] == 0
    rows = spectral.rows()
    assert [row["size"] for row in rows] == spectral.cluster_sizes.tolist()
    assert spectral.as_dict()["ncut"] == spectral.ncut


def test_importance_lesions_the_module_passed_in(store, ingested, mlp):
    name = ingested[0]
    with pytest.raises(IngestError, match=r"ingested from Python.*`model=`") as refused:
        ng.importance(store, name, n_random=3, random_state=0)
    assert "--model" not in str(refused.value)
    result = ng.importance(store, name, model=mlp, n_random=3, random_state=0)
    assert isinstance(result, ng.ImportanceResult) and result.metric == "accuracy"
    n = len(result.clusters)
    assert n >= 1 and result.delta.shape == result.p.shape == result.important.shape == (n,)
    assert ((result.p > 0) & (result.p <= 1)).all() and result.delta.min() < 0
    assert set(result.group_layers) <= {"0", "2"}
    stored = {
        c["cluster"]["label"]: c["cluster"] for c in store.clusters(f"{name}/spectral-weights")
    }
    for cluster, layer, delta in zip(
        result.clusters, result.group_layers, result.delta, strict=True
    ):
        parts = dict(
            zip(
                stored[cluster]["importanceLayers"],
                stored[cluster]["importanceLayerDelta"],
                strict=True,
            )
        )
        assert parts[layer] == pytest.approx(delta)
    assert [row["delta"] for row in result.rows()] == pytest.approx(result.delta.tolist())


def test_a_module_that_is_not_the_network_is_refused(store, ingested):
    other = nn.Sequential(nn.Linear(64, 8), nn.ReLU(), nn.Linear(8, 10)).eval()
    with pytest.raises(AnalysisError, match=r"`model=` module is not the model of network"):
        ng.importance(store, ingested[0], model=other, n_random=3, random_state=0)


def test_louvain_entropy_coherence_and_report(store, ingested, mlp, tmp_path):
    name = ingested[0]
    louvain = ng.louvain(store, name, n_shuffles=2, random_state=0)
    assert louvain.layers == ("0", "2") and louvain.layer_modularity.shape == (2,)
    assert [row["layer"] for row in louvain.rows()] == ["0", "2"]
    entropy = ng.entropy(store, name)
    assert ((entropy.layer_entropy >= 0) & (entropy.layer_entropy <= 1)).all()
    assert entropy.rows()[0]["entropy_mean"] == pytest.approx(entropy.layer_entropy[0])
    coherence = ng.coherence(store, name, model=mlp, n_random=2, steps=4, top_k=5, random_state=0)
    assert coherence.example_entropy_p.shape == (len(coherence.clusters),)
    assert {"vis_objective_p", "example_entropy_p"} <= set(coherence.rows()[0])
    out = ng.report(store, name, tmp_path / "sub" / "report.html")
    assert out.exists() and name in out.read_text()


def test_bad_options_name_the_parameter_and_the_cli_its_flag(store, ingested, run_cli):
    name = ingested[0]
    with pytest.raises(AnalysisError, match=r"^`k=` must be between 2") as refused:
        ng.spectral(store, name, k=1, n_shuffles=0)
    assert "-k" not in str(refused.value).replace("`k=`", "")
    line = run_cli("analyze", "spectral", name, "-k", "1", expect=2).stderr
    assert line.startswith("error: -k must be between 2") and "`" not in line
    line = run_cli("analyze", "importance", name, "--random-sets", "3", expect=2).stderr
    assert "pass the model with --model" in line and "model=" not in line


def test_to_frame_says_when_pandas_is_missing(ingested, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)  # what `import pandas` meets uninstalled
    with pytest.raises(ng.UsageError, match=r"to_frame\(\) needs pandas.*pip install pandas"):
        ingested[2].to_frame()


def test_the_api_docs_name_every_public_name():
    docs = (Path(__file__).resolve().parents[1] / "docs" / "python-api.md").read_text()
    for name in ng.__all__:
        if name != "__version__":
            assert re.search(rf"\b{name}\b", docs), f"docs/python-api.md does not mention {name}"
