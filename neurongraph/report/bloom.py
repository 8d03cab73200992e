"""A Neo4j Bloom perspective for the neurongraph schema, in Bloom's export format.

The layout follows perspectives exported by Bloom 2.x (``"version": "2.21.0"``; see
``docs/bloom.md``): categories with captions and rule-based styles, relationship types, the
labels' property keys, path segments and indexes, and search phrases (``templates``). The search
phrases are the named queries that carry a ``@bloom`` phrase (:mod:`neurongraph.queries`), with
their Cypher unchanged.

Examples
--------
>>> perspective = build_perspective(created_at=0)
>>> [c["name"] for c in perspective["categories"]]
['Network', 'Layer', 'Neuron', 'Partition', 'Cluster']
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from neurongraph.queries import NamedQuery, list_queries
from neurongraph.store.schema import Label, Rel

__all__ = [
    "BLOOM_VERSION",
    "DEFAULT_OUT",
    "DEFAULT_PERSPECTIVE_NAME",
    "build_perspective",
    "write_perspective",
]

log = logging.getLogger(__name__)

#: The Bloom release whose export format the perspective follows.
BLOOM_VERSION = "2.21.0"
DEFAULT_PERSPECTIVE_NAME = "neurongraph"
DEFAULT_OUT = "neurongraph.bloom.json"
#: Fixed namespace so that the perspective's id is the same on every run.
_NAMESPACE = uuid.UUID("5f0c7a4e-3b1d-4c4e-9f5e-6e6575726f6e")
#: Bloom's default palette.
PALETTE = (
    "#FFE081",
    "#C990C0",
    "#F79767",
    "#57C7E3",
    "#F16667",
    "#D9C8AE",
    "#8DCC93",
    "#ECB5C9",
    "#4C8EDA",
    "#FFC454",
    "#DA7194",
    "#569480",
    "#959AA1",
    "#D9D9D9",
)
RELATIONSHIP_COLOR = "#959AA1"
#: Colour ramp of p-value rules: low p (significant) dark, high p pale.
P_COLORS = ("#B2182B", "#EF8A62", "#F7F7F7")
NODE_SIZE_RANGE = (1, 3)
#: Bloom's placeholder for a range end it takes from the data in the scene.
FROM_SCENE = "unprocessed"

# Bloom's names for property types (as in ``db.schema.nodeTypeProperties``).
STRING, FLOAT, INTEGER, BOOLEAN, ARRAY = "string", "number", "bigint", "boolean", "array"

#: Property keys of each label with their Bloom types, caption key first.
NODE_PROPERTIES: dict[str, tuple[tuple[str, str], ...]] = {
    Label.NETWORK: (
        ("name", STRING),
        ("status", STRING),
        ("dataFlow", STRING),
        ("nLayers", INTEGER),
        ("nNeurons", INTEGER),
        ("nEdges", INTEGER),
        ("dataset", STRING),
        ("accuracy", FLOAT),
        ("entropy", FLOAT),
        ("classEntropy", FLOAT),
        ("architecture", STRING),
        ("epoch", INTEGER),
        ("modelFile", STRING),
        ("sha256", STRING),
        ("createdAt", STRING),
    ),
    Label.LAYER: (
        ("name", STRING),
        ("uid", STRING),
        ("network", STRING),
        ("position", INTEGER),
        ("kind", STRING),
        ("width", INTEGER),
        ("activation", STRING),
        ("entropyMean", FLOAT),
        ("classEntropyMean", FLOAT),
    ),
    Label.NEURON: (
        ("uid", STRING),
        ("network", STRING),
        ("layer", STRING),
        ("position", INTEGER),
        ("index", INTEGER),
        ("bias", FLOAT),
        ("actMean", FLOAT),
        ("actStd", FLOAT),
        ("fracActive", FLOAT),
        ("preferredClass", INTEGER),
        ("selectivity", FLOAT),
        ("entropy", FLOAT),
        ("classEntropy", FLOAT),
        ("spectralWeightsCluster", INTEGER),
        ("spectralActivationsCluster", INTEGER),
        ("louvainCommunity", INTEGER),
        ("importance", FLOAT),
        ("importanceDelta", FLOAT),
        ("importanceP", FLOAT),
        ("important", BOOLEAN),
        ("visObjectiveP", FLOAT),
        ("visEntropyP", FLOAT),
        ("exampleEntropyP", FLOAT),
        ("classConsistency", FLOAT),
    ),
    Label.PARTITION: (
        ("method", STRING),
        ("spectralMethod", STRING),
        ("uid", STRING),
        ("network", STRING),
        ("k", INTEGER),
        ("ncut", FLOAT),
        ("nullMean", FLOAT),
        ("nullStd", FLOAT),
        ("zScore", FLOAT),
        ("percentile", FLOAT),
        ("minPercentile", FLOAT),
        ("nShuffles", INTEGER),
        ("modularity", FLOAT),
        ("seed", INTEGER),
        ("importanceFisherP", FLOAT),
        ("createdAt", STRING),
    ),
    Label.CLUSTER: (
        ("label", STRING),
        ("uid", STRING),
        ("network", STRING),
        ("method", STRING),
        ("size", INTEGER),
        ("layer", STRING),
        ("layerSizes", ARRAY),
        ("importanceDelta", FLOAT),
        ("importanceP", FLOAT),
        ("important", BOOLEAN),
        ("visObjectiveP", FLOAT),
        ("visEntropyP", FLOAT),
        ("exampleEntropy", FLOAT),
        ("exampleEntropyP", FLOAT),
        ("classConsistency", FLOAT),
    ),
}
#: Property keys of each relationship type.
RELATIONSHIP_PROPERTIES: dict[str, tuple[tuple[str, str], ...]] = {
    Rel.HAS_LAYER: (),
    Rel.FEEDS: (),
    Rel.HAS_NEURON: (),
    Rel.WEIGHT: (("weight", FLOAT), ("signed", FLOAT)),
    Rel.CORRELATES: (("r", FLOAT), ("r2", FLOAT)),
    Rel.HAS_PARTITION: (),
    Rel.HAS_CLUSTER: (),
    Rel.IN_CLUSTER: (),
    Rel.INTERACTS: (
        ("delta", FLOAT),
        ("interaction", FLOAT),
        ("p", FLOAT),
        ("firstLayer", STRING),
        ("secondLayer", STRING),
    ),
}
#: (source label, relationship type, target label) of every relationship in the schema.
PATH_SEGMENTS = (
    (Label.NETWORK, Rel.HAS_LAYER, Label.LAYER),
    (Label.LAYER, Rel.FEEDS, Label.LAYER),
    (Label.LAYER, Rel.HAS_NEURON, Label.NEURON),
    (Label.NEURON, Rel.WEIGHT, Label.NEURON),
    (Label.NEURON, Rel.CORRELATES, Label.NEURON),
    (Label.NETWORK, Rel.HAS_PARTITION, Label.PARTITION),
    (Label.PARTITION, Rel.HAS_CLUSTER, Label.CLUSTER),
    (Label.NEURON, Rel.IN_CLUSTER, Label.CLUSTER),
    (Label.CLUSTER, Rel.INTERACTS, Label.CLUSTER),
)
#: Category colours and sizes (Bloom size multipliers).
CATEGORY_STYLE = {
    Label.NETWORK: (PALETTE[8], 3),
    Label.LAYER: (PALETTE[6], 2),
    Label.NEURON: (PALETTE[0], 1),
    Label.PARTITION: (PALETTE[1], 2),
    Label.CLUSTER: (PALETTE[2], 2),
}
#: Where Bloom suggests values for a search phrase's parameter: (label, property).
PARAMETER_SUGGESTIONS = {
    "network": (Label.NETWORK, "name"),
    "method": (Label.PARTITION, "method"),
    "label": (Label.CLUSTER, "label"),
    "layer": (Label.LAYER, "name"),
}


def _caption(key: str, kind: str, *, caption: bool, in_tooltip: bool = True) -> dict:
    entry = {"inTooltip": in_tooltip, "styles": [], "isCaption": caption, "key": key, "type": kind}
    if kind == "property":
        entry["isGdsData"] = False
    return entry


def _rule(
    rule_id: str,
    kind: str,
    based_on: tuple[str, str],
    *,
    color: bool = False,
    size: bool = False,
    colors: Sequence[str] = P_COLORS,
    points: tuple[float | str, float | str] = (FROM_SCENE, FROM_SCENE),
) -> dict:
    """One style rule in Bloom's export layout: ``kind`` is single, range or unique."""
    key, data_type = based_on
    return {
        "id": rule_id,
        "type": kind,
        "size": 1,
        "minSize": NODE_SIZE_RANGE[0],
        "maxSize": NODE_SIZE_RANGE[1],
        "minColor": colors[0],
        "midColor": colors[1],
        "maxColor": colors[2],
        "minPoint": points[0],
        "maxPoint": points[1],
        "applyColor": color,
        "applySize": size,
        "applyCaption": False,
        "captionKeys": [],
        "color": colors[0],
        "isTimeZoneConvertEnabled": False,
        "selectedTimeZone": "Z",
        "basedOn": f"{key}_{data_type}",
        "valuesMapper": [],
        "existingValues": [],
        "conditionValue": None,
        "rangeValue": None,
        "condition": None,
    }


def _property_type(label: str, key: str) -> tuple[str, str]:
    return key, dict(NODE_PROPERTIES[label])[key]


def _style_rules(label: str, stamp: int) -> list[dict]:
    """Layers: colour by kind (unique values: input, linear, conv2d, sum stand apart in a data
    flow). Neurons: colour by spectral cluster (unique values), size by lesion importance (range).
    Clusters: colour by importance p, then by example-entropy p (ranges over [0, 1]), size by
    neuron count."""
    ids = (f"rule:{stamp + i}" for i in range(10))
    if label == Label.LAYER:
        return [_rule(next(ids), "unique", _property_type(label, "kind"), color=True)]
    if label == Label.NEURON:
        return [
            _rule(next(ids), "unique", _property_type(label, "spectralWeightsCluster"), color=True),
            _rule(next(ids), "range", _property_type(label, "importance"), size=True),
        ]
    if label == Label.CLUSTER:
        return [
            _rule(
                next(ids), "range", _property_type(label, "importanceP"), color=True, points=(0, 1)
            ),
            _rule(
                next(ids),
                "range",
                _property_type(label, "exampleEntropyP"),
                color=True,
                points=(0, 1),
            ),
            _rule(next(ids), "range", _property_type(label, "size"), size=True),
        ]
    return []


def _category(index: int, label: str, stamp: int) -> dict:
    color, size = CATEGORY_STYLE[label]
    properties = NODE_PROPERTIES[label]
    caption_key = properties[0][0]
    return {
        "id": index,
        "name": label,
        "labels": [label],
        "properties": [
            {"name": key, "exclude": False, "dataType": data_type} for key, data_type in properties
        ],
        "createdAt": stamp,
        "lastEditedAt": stamp,
        "color": color,
        "size": size,
        "icon": "no-icon",
        "captionKeys": [],
        "captions": [
            _caption(label, "label", caption=False, in_tooltip=False),
            *(_caption(key, "property", caption=key == caption_key) for key, _ in properties),
        ],
        "textSize": 1,
        "textAlign": "top",
        "styleRules": _style_rules(label, stamp + 100 * index),
    }


def _relationship_type(rel: str) -> dict:
    return {
        "properties": [
            {"dataType": data_type, "propertyKey": key, "type": rel}
            for key, data_type in RELATIONSHIP_PROPERTIES[rel]
        ],
        "name": rel,
        "id": rel,
        "color": RELATIONSHIP_COLOR,
        "size": 1,
        "captionKeys": [],
        "captions": [_caption(rel, "relationship", caption=True)],
        "textSize": 1,
        "textAlign": "top",
        "styleRules": [],
    }


def _template(query: NamedQuery, stamp: int) -> dict:
    params = []
    for param in query.parameters:
        label, prop = PARAMETER_SUGGESTIONS.get(param.name, (None, None))
        params.append(
            {
                "name": f"${param.name}",
                "dataType": "String",
                "collapsed": False,
                "suggestionLabel": label,
                "suggestionProp": prop,
                "suggestionBoolean": False,
                "cypher": None,
            }
        )
    return {
        "name": query.summary,
        "id": f"tmpl:{stamp}",
        "createdAt": stamp,
        "text": query.bloom,
        "cypher": query.cypher,
        "isUpdateQuery": None,
        "isWriteTransactionChecked": None,
        "params": params,
        "hasCypherErrors": False,
    }


def build_perspective(
    queries: Sequence[NamedQuery] | None = None,
    *,
    name: str = DEFAULT_PERSPECTIVE_NAME,
    created_at: int | None = None,
) -> dict:
    """The perspective as a JSON-ready dict.

    Parameters
    ----------
    queries : sequence of NamedQuery, optional
        Named queries to offer as search phrases; those without a ``@bloom`` phrase are left
        out. Defaults to every named query.
    name : str, default="neurongraph"
        The perspective's name in Bloom.
    created_at : int, optional
        Creation time in milliseconds since the epoch (default: now); it also seeds the ids of
        rules and search phrases.
    """
    stamp = int(time.time() * 1000) if created_at is None else int(created_at)
    phrases = [q for q in (list_queries() if queries is None else queries) if q.bloom]
    labels = list(NODE_PROPERTIES)
    perspective = {
        "name": name,
        "id": str(uuid.uuid5(_NAMESPACE, name)),
        "categories": [_category(i + 1, label, stamp) for i, label in enumerate(labels)],
        "labels": {
            label: [
                {"propertyKey": key, "type": label, "dataType": data_type}
                for key, data_type in NODE_PROPERTIES[label]
            ]
            for label in labels
        },
        "relationshipTypes": [_relationship_type(rel) for rel in RELATIONSHIP_PROPERTIES],
        "palette": {"colors": list(PALETTE), "currentIndex": len(labels) % len(PALETTE)},
        "createdAt": stamp,
        "lastEditedAt": stamp,
        "templates": [_template(q, stamp + 1000 + i) for i, q in enumerate(phrases)],
        "sceneActions": [],
        "hiddenRelationshipTypes": [],
        "hiddenCategories": [],
        "hideUncategorisedData": False,
        "type": "STANDARD_PERSPECTIVE",
        "maxLimitToastMsgEnabled": False,
        "parentPerspectiveId": None,
        "metadata": {
            "pathSegments": [
                {"source": s, "relationshipType": r, "target": t} for s, r, t in PATH_SEGMENTS
            ],
            "indexes": [
                {
                    "label": label,
                    "type": "native",
                    "propertyKeys": [
                        {"key": key, "metadataProp": False}
                        for key in (("name",) if label == Label.NETWORK else ("uid", "network"))
                    ],
                }
                for label in labels
            ],
        },
        "version": BLOOM_VERSION,
    }
    log.info("perspective %r: %d categories, %d search phrases", name, len(labels), len(phrases))
    return perspective


def write_perspective(
    path: str | os.PathLike = DEFAULT_OUT,
    *,
    name: str = DEFAULT_PERSPECTIVE_NAME,
    created_at: int | None = None,
) -> dict:
    """Write the perspective (see :func:`build_perspective`) to ``path`` and return it."""
    perspective = build_perspective(name=name, created_at=created_at)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(perspective, indent=2) + "\n", encoding="utf-8")
    log.info("wrote %s", out)
    return perspective
