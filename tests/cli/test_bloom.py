"""`neurongraph bloom`: the perspective file has the structure of a real Bloom export.

The required keys and value types below are those of perspectives exported by Bloom itself:
UtrechtUniversity/ricgraph ``neo4j_config/ricgraph_bloom_config.json`` (Bloom 2.6.0, with
rule-based styles) and halftermeyer/quant-temporal-asset-correlation ``perspective.json``
(Bloom 2.21.0, with ``captions`` and search phrases).
"""

from __future__ import annotations

import json
import re

import pytest

from neurongraph.queries import list_queries
from neurongraph.report.bloom import BLOOM_VERSION, build_perspective
from neurongraph.store.schema import Label, Rel

NUMBER = (int, float)
OPTIONAL_STR = (str, type(None))
TOP_LEVEL = {
    "name": str,
    "id": str,
    "categories": list,
    "labels": dict,
    "relationshipTypes": list,
    "palette": dict,
    "createdAt": int,
    "lastEditedAt": int,
    "templates": list,
    "sceneActions": list,
    "hiddenRelationshipTypes": list,
    "hideUncategorisedData": bool,
    "metadata": dict,
    "version": str,
}
CATEGORY = {
    "id": int,
    "name": str,
    "labels": list,
    "properties": list,
    "createdAt": int,
    "lastEditedAt": int,
    "color": str,
    "size": NUMBER,
    "icon": str,
    "captionKeys": list,
    "captions": list,
    "textSize": NUMBER,
    "textAlign": str,
    "styleRules": list,
}
CATEGORY_PROPERTY = {"name": str, "exclude": bool, "dataType": str}
CAPTION = {"inTooltip": bool, "styles": list, "isCaption": bool, "key": str, "type": str}
STYLE_RULE = {
    "id": str,
    "type": str,
    "size": NUMBER,
    "minSize": NUMBER,
    "maxSize": NUMBER,
    "minColor": str,
    "midColor": str,
    "maxColor": str,
    "minPoint": (int, float, str),
    "maxPoint": (int, float, str),
    "applyColor": bool,
    "applySize": bool,
    "applyCaption": bool,
    "captionKeys": list,
    "color": str,
    "isTimeZoneConvertEnabled": bool,
    "selectedTimeZone": str,
    "basedOn": str,
    "valuesMapper": list,
    "existingValues": list,
    "conditionValue": (str, int, float, type(None)),
    "rangeValue": (list, type(None)),
    "condition": OPTIONAL_STR,
}
RELATIONSHIP_TYPE = {
    "properties": list,
    "name": str,
    "id": str,
    "color": str,
    "size": NUMBER,
    "captionKeys": list,
    "captions": list,
}
LABEL_PROPERTY = {"propertyKey": str, "type": str, "dataType": str}
TEMPLATE = {
    "name": str,
    "id": str,
    "createdAt": int,
    "text": str,
    "cypher": str,
    "params": list,
    "hasCypherErrors": bool,
}
TEMPLATE_PARAM = {
    "name": str,
    "dataType": str,
    "collapsed": bool,
    "suggestionLabel": OPTIONAL_STR,
    "suggestionProp": OPTIONAL_STR,
    "suggestionBoolean": bool,
}
RULE_TYPES = {"single", "range", "unique"}
DATA_TYPES = {"string", "number", "bigint", "boolean", "array"}
COLOR = re.compile(r"#[0-9A-Fa-f]{6}")
SCHEMA_LABELS = {v for k, v in vars(Label).items() if k.isupper()}
SCHEMA_RELS = {v for k, v in vars(Rel).items() if k.isupper()}


def check(obj: dict, spec: dict, where: str) -> None:
    """``obj`` has every key of ``spec`` with a value of its type."""
    missing = set(spec) - set(obj)
    assert not missing, f"{where}: missing {sorted(missing)}"
    for key, kind in spec.items():
        assert isinstance(obj[key], kind), f"{where}.{key}: {type(obj[key]).__name__}"


@pytest.fixture(scope="module")
def perspective(tmp_path_factory):
    from click.testing import CliRunner

    from neurongraph.cli import cli

    out = tmp_path_factory.mktemp("bloom") / "neurongraph.bloom.json"
    result = CliRunner().invoke(cli, ["bloom", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["out"] == str(out)
    return json.loads(out.read_text())


def test_top_level_and_metadata(perspective):
    check(perspective, TOP_LEVEL, "perspective")
    assert perspective["version"] == BLOOM_VERSION
    assert all(COLOR.fullmatch(c) for c in perspective["palette"]["colors"])
    assert isinstance(perspective["palette"]["currentIndex"], int)
    for segment in perspective["metadata"]["pathSegments"]:
        assert segment["source"] in SCHEMA_LABELS and segment["target"] in SCHEMA_LABELS
        assert segment["relationshipType"] in SCHEMA_RELS
    assert {s["relationshipType"] for s in perspective["metadata"]["pathSegments"]} == SCHEMA_RELS
    for index in perspective["metadata"]["indexes"]:
        assert index["label"] in SCHEMA_LABELS and index["type"] == "native"
        for key in index["propertyKeys"]:
            assert key["key"] in {p["propertyKey"] for p in perspective["labels"][index["label"]]}


def test_categories_cover_the_schema_with_captions(perspective):
    categories = perspective["categories"]
    assert [c["name"] for c in categories] == [
        Label.NETWORK,
        Label.LAYER,
        Label.NEURON,
        Label.PARTITION,
        Label.CLUSTER,
    ]
    assert len({c["id"] for c in categories}) == len(categories)
    assert set(perspective["labels"]) == {c["labels"][0] for c in categories}
    for category in categories:
        where = f"category {category['name']}"
        check(category, CATEGORY, where)
        assert category["labels"] and set(category["labels"]) <= SCHEMA_LABELS, where
        assert COLOR.fullmatch(category["color"]), where
        keys = set()
        for prop in category["properties"]:
            check(prop, CATEGORY_PROPERTY, where)
            assert prop["dataType"] in DATA_TYPES, where
            keys.add(prop["name"])
        label_keys = {p["propertyKey"] for p in perspective["labels"][category["labels"][0]]}
        assert keys == label_keys, where
        for entry in perspective["labels"][category["labels"][0]]:
            check(entry, LABEL_PROPERTY, where)
        for caption in category["captions"]:
            check(caption, CAPTION, where)
            assert caption["type"] in {"label", "property"}
        shown = [c["key"] for c in category["captions"] if c["isCaption"]]
        assert len(shown) == 1 and shown[0] in keys, where
    captions = {
        c["name"]: next(k["key"] for k in c["captions"] if k["isCaption"]) for c in categories
    }
    assert captions == {
        "Network": "name",
        "Layer": "name",
        "Neuron": "uid",
        "Partition": "method",
        "Cluster": "label",
    }


def _rules(perspective, label):
    category = next(c for c in perspective["categories"] if c["name"] == label)
    types = {p["name"]: p["dataType"] for p in category["properties"]}
    for rule in category["styleRules"]:
        check(rule, STYLE_RULE, f"{label} rule")
        assert rule["type"] in RULE_TYPES
        key, _, data_type = rule["basedOn"].rpartition("_")
        assert types.get(key) == data_type, rule["basedOn"]
        assert rule["applyColor"] or rule["applySize"]
    return {
        (rule["basedOn"].rpartition("_")[0], rule["type"], rule["applyColor"], rule["applySize"])
        for rule in category["styleRules"]
    }


def test_rule_based_styling(perspective):
    neuron = _rules(perspective, Label.NEURON)
    assert ("spectralWeightsCluster", "unique", True, False) in neuron
    assert ("importance", "range", False, True) in neuron
    cluster = _rules(perspective, Label.CLUSTER)
    assert ("importanceP", "range", True, False) in cluster
    assert ("exampleEntropyP", "range", True, False) in cluster
    assert _rules(perspective, Label.LAYER) == {("kind", "unique", True, False)}
    for label in SCHEMA_LABELS - {Label.LAYER, Label.NEURON, Label.CLUSTER}:
        assert _rules(perspective, label) == set()
    ids = [r["id"] for c in perspective["categories"] for r in c["styleRules"]]
    assert len(ids) == len(set(ids))


def test_relationship_types(perspective):
    types = perspective["relationshipTypes"]
    assert {t["name"] for t in types} == SCHEMA_RELS
    for rel in types:
        check(rel, RELATIONSHIP_TYPE, f"relationship {rel['name']}")
        for prop in rel["properties"]:
            assert prop["type"] == rel["name"] and prop["dataType"] in DATA_TYPES
    weight = next(t for t in types if t["name"] == Rel.WEIGHT)
    assert {p["propertyKey"] for p in weight["properties"]} == {"weight", "signed"}


def test_search_phrases_are_the_named_queries(perspective):
    named = {q.cypher: q for q in list_queries()}
    templates = perspective["templates"]
    assert templates
    assert {t["cypher"] for t in templates} == {q.cypher for q in named.values() if q.bloom}
    assert len({t["id"] for t in templates}) == len(templates)
    for template in templates:
        check(template, TEMPLATE, "template")
        query = named[template["cypher"]]
        assert template["text"] == query.bloom
        names = [p["name"] for p in template["params"]]
        assert names == [f"${p}" for p in query.parameter_names]
        for param in template["params"]:
            check(param, TEMPLATE_PARAM, f"template {query.name}")
            assert param["name"] in template["text"]
            if param["suggestionLabel"] is not None:
                assert param["suggestionLabel"] in SCHEMA_LABELS
    texts = {t["text"] for t in templates}
    assert "Cluster $label of partition $method in network $network" in texts


def test_same_input_same_file():
    first, second = build_perspective(created_at=1), build_perspective(created_at=1)
    assert json.dumps(first) == json.dumps(second)
    assert build_perspective(created_at=1, name="other")["name"] == "other"
