"""The reference figures of Filan et al.'s MLP table, to print beside ``experiment clusterability``.

Filan et al. 2021, "Clusterability in Neural Networks" (arXiv 2103.03386), report their MLP
results (Table 1 and the clusterability-factors figures) from their reference code's result
tables. The paper's own table text was not at hand, so the figures here are quoted exactly from
the reference code's MNIST result table (:data:`SOURCE_TABLE`): the 784-256x4-10 MLP, 5 runs per
row, 50 shuffled null networks per run and k = 12 clusters. :func:`paper_figures` gives a row's
means over its runs.

Its percentile is ``(1 + #null n-cuts below the n-cut) / (n_shuffles + 1)``, the same convention
as :class:`~neurongraph.analysis.nulls.NullTest`, so percentiles compare as they stand (the
smallest, 1/51, means every shuffle had a higher n-cut). The table does not record which shuffle
method made each row's nulls, so its figures stand beside our rows of either method.

Variants with no MNIST row there have no figures (printed ``n/a``): the spectral regulariser
("Cluster Gradient") was run only on Small MNIST (7x7 images, a 64x3 MLP; the reference's
``results/clustering_factors_clust_grad.csv``), and the untrained networks have no row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "MNIST_RUNS",
    "REFERENCE_ROWS",
    "SOURCE_TABLE",
    "PaperFigures",
    "paper_figures",
    "sign_agrees",
]

#: Where every figure of :data:`MNIST_RUNS` is quoted from.
SOURCE_TABLE = (
    "github.com/dfilan/clusterability_in_neural_networks, results/clustering_factors_mlp.csv "
    "at commit c727dbeeec216c9168b48682675e371c70d173be (Filan et al. 2021, arXiv 2103.03386): "
    "the MNIST rows, 784-256x4-10 MLP, 50 shuffles, k=12"
)

#: The reference table's row (its ``Network`` column) of each variant; None: no MNIST row.
REFERENCE_ROWS: dict[str, str | None] = {
    "plain": "Control",
    "dropout": "Dropout",
    "l1": "L1 Reg",
    "l2": "L2 Reg",
    "pruned": "Control, Pruning",
    "dropout-pruned": "Dropout, Pruning",
    "modular": "Clusterable Init",
    "spectral": None,
    "random": None,
}

#: Each MNIST row's runs, quoted from :data:`SOURCE_TABLE`: (n-cut, null mean, null std,
#: z-score, percentile, test accuracy).
MNIST_RUNS: dict[str, tuple[tuple[float, float, float, float, float, float], ...]] = {
    "Control": (
        (
            10.042212559465087,
            10.151820772613192,
            0.021391139871707394,
            -5.1240005818052,
            0.0196078431372549,
            0.9783999919891357,
        ),
        (
            10.004539716769973,
            10.185343869308813,
            0.06739906793332397,
            -2.682591289210482,
            0.0196078431372549,
            0.9794999957084656,
        ),
        (
            10.022470991290787,
            10.175329172477657,
            0.0330439836217758,
            -4.6259005250849174,
            0.0196078431372549,
            0.9781000018119812,
        ),
        (
            10.039690338557058,
            10.162452207059482,
            0.021964951690381068,
            -5.588988777798424,
            0.0196078431372549,
            0.9825999736785889,
        ),
        (
            10.012309152691708,
            10.150766911252445,
            0.031957750104540494,
            -4.332525228084342,
            0.0196078431372549,
            0.9822999835014343,
        ),
    ),
    "Dropout": (
        (
            10.038706867697703,
            10.294030063557676,
            0.11163375140306898,
            -2.2871505494614524,
            0.0196078431372549,
            0.9815000295639038,
        ),
        (
            9.934569553513569,
            10.296853293097872,
            0.11727662536865113,
            -3.0891385085944316,
            0.0196078431372549,
            0.9797000288963318,
        ),
        (
            9.85719242899633,
            10.306801008717116,
            0.1602138873222994,
            -2.806302170399979,
            0.0196078431372549,
            0.9786999821662903,
        ),
        (
            9.962811698646192,
            10.298360118138005,
            0.10560046632007301,
            -3.177527819572047,
            0.0196078431372549,
            0.9797999858856201,
        ),
        (
            10.061292973680548,
            10.279509316721498,
            0.06184669526025079,
            -3.528342818038963,
            0.0196078431372549,
            0.9797999858856201,
        ),
    ),
    "L1 Reg": (
        (
            8.799234490235797,
            6.570009069873981,
            0.13336844054099392,
            16.7147895807975,
            1.0,
            0.9811999797821045,
        ),
        (
            9.199139484481924,
            6.750402397595448,
            0.12886223580881156,
            19.002751826528772,
            1.0,
            0.9785000085830688,
        ),
        (
            9.125105763948348,
            6.542810420984938,
            0.14857358142099988,
            17.380582188741798,
            1.0,
            0.9764000177383423,
        ),
        (
            8.87351263082415,
            6.359621731011839,
            0.15496030906008076,
            16.22280514965695,
            1.0,
            0.9815000295639038,
        ),
        (
            9.313043137138825,
            6.300164297485977,
            0.1448520275589575,
            20.79970084247906,
            1.0,
            0.9794999957084656,
        ),
    ),
    "L2 Reg": (
        (
            9.741639262921852,
            9.495844596948361,
            0.06110801786289532,
            4.02229812992736,
            1.0,
            0.979200005531311,
        ),
        (
            9.757565418597734,
            9.348918265502675,
            0.06394277438666877,
            6.390826125621727,
            1.0,
            0.9817000031471252,
        ),
        (
            9.65765142343863,
            9.338386246577604,
            0.0664019796559518,
            4.808067146721105,
            1.0,
            0.980400025844574,
        ),
        (
            9.899563398575525,
            9.364608531386974,
            0.06483346134352108,
            8.251215593042065,
            1.0,
            0.9815999865531921,
        ),
        (
            9.139068207429549,
            9.388285356378521,
            0.07404161846289739,
            -3.365906285177383,
            0.0196078431372549,
            0.9758999943733215,
        ),
    ),
    "Clusterable Init": (
        (
            8.717648494981814,
            10.06842287136466,
            0.02717612478111478,
            -49.704451508904086,
            0.0196078431372549,
            0.9800000190734863,
        ),
        (
            8.775469800694633,
            10.082419799911147,
            0.03316726062223833,
            -39.404821944813136,
            0.0196078431372549,
            0.9797999858856201,
        ),
        (
            8.72495445990846,
            10.059422331554067,
            0.027407178261113083,
            -48.69045105380399,
            0.0196078431372549,
            0.9743000268936157,
        ),
        (
            8.716061637661284,
            10.042378438022546,
            0.0324243736996533,
            -40.904931970218556,
            0.0196078431372549,
            0.9801999926567078,
        ),
        (
            8.654883678896494,
            10.07047521528819,
            0.035352739165000716,
            -40.041919518166594,
            0.0196078431372549,
            0.978600025177002,
        ),
    ),
    "Control, Pruning": (
        (
            8.829721091916694,
            9.178529365004508,
            0.03302510164984113,
            -10.561913685721892,
            0.0196078431372549,
            0.9842000007629395,
        ),
        (
            8.847825037497344,
            9.185987448299432,
            0.034739975719115454,
            -9.734100378660202,
            0.0196078431372549,
            0.9836000204086304,
        ),
        (
            8.892929174841543,
            9.173805374537933,
            0.030593014360624254,
            -9.181056707439106,
            0.0196078431372549,
            0.9836999773979187,
        ),
        (
            8.95721674553998,
            9.18986636106751,
            0.029464074932763464,
            -7.896043437930168,
            0.0196078431372549,
            0.9850000143051147,
        ),
        (
            8.874647338628632,
            9.187677155870297,
            0.02851513877900258,
            -10.977671182584865,
            0.0196078431372549,
            0.9836000204086304,
        ),
    ),
    "Dropout, Pruning": (
        (
            8.362156426931994,
            9.232380665363408,
            0.02978838226716735,
            -29.213544751323127,
            0.0196078431372549,
            0.9787999987602234,
        ),
        (
            8.418975938443232,
            9.250229378668461,
            0.03724000407777447,
            -22.32151850706527,
            0.0196078431372549,
            0.9799000024795532,
        ),
        (
            8.346585947411118,
            9.251320745585918,
            0.031575009960035864,
            -28.65350792667724,
            0.0196078431372549,
            0.9790999889373779,
        ),
        (
            8.333257585592726,
            9.245687043579792,
            0.04882094531802664,
            -18.689303372627673,
            0.0196078431372549,
            0.9801999926567078,
        ),
        (
            8.291367766044312,
            9.253196499398994,
            0.04599387921372219,
            -20.912102866672804,
            0.0196078431372549,
            0.9793000221252441,
        ),
    ),
}


@dataclass(frozen=True)
class PaperFigures:
    """One reference row: its means over its runs.

    Attributes
    ----------
    row : str
        The reference table's ``Network``.
    runs : int
    accuracy, ncut, null_mean, null_std, z_score, percentile : float
    """

    row: str
    runs: int
    accuracy: float
    ncut: float
    null_mean: float
    null_std: float
    z_score: float
    percentile: float


def paper_figures(variant: str) -> PaperFigures | None:
    """The reference figures of one variant (means over the row's runs); None when it has none.

    Examples
    --------
    >>> round(paper_figures("l1").z_score, 2), paper_figures("random")
    (18.02, None)
    """
    row = REFERENCE_ROWS.get(variant)
    if row is None:
        return None
    ncut, null_mean, null_std, z, percentile, accuracy = np.mean(MNIST_RUNS[row], axis=0)
    return PaperFigures(
        row=row,
        runs=len(MNIST_RUNS[row]),
        accuracy=float(accuracy),
        ncut=float(ncut),
        null_mean=float(null_mean),
        null_std=float(null_std),
        z_score=float(z),
        percentile=float(percentile),
    )


def sign_agrees(ours: float | None, paper: float | None) -> bool | None:
    """Whether our z-score has the paper's sign (None when either is missing or either is 0).

    Examples
    --------
    >>> sign_agrees(-4.5, -4.47), sign_agrees(-13.5, 18.0), sign_agrees(1.0, None)
    (True, False, None)
    """
    if ours is None or paper is None or ours == 0 or paper == 0:
        return None
    return (ours > 0) == (paper > 0)
