"""The Cypher the store runs, as named constants with ``$parameters``.

Labels and relationship types come from :mod:`neurongraph.store.schema` and are backtick-quoted;
values are always parameters. Every query here runs on Neo4j 5 and on ArcadeDB.
"""

from __future__ import annotations

import re

from neurongraph.store.schema import PROPERTY_KEY_PATTERN, STAGING_MARK, Label, Rel

NETWORK = Label.NETWORK
LAYER = Label.LAYER
NEURON = Label.NEURON


def with_key(query: str, key: str) -> str:
    """``query`` with its property-key placeholder replaced by ``key`` (a plain identifier)."""
    if not re.fullmatch(PROPERTY_KEY_PATTERN, key):
        raise ValueError(f"{key!r} is not a property key")
    return query.replace(KEY, key)


#: Read one network's node: ``$name``.
GET_NETWORK = f"MATCH (n:`{NETWORK}` {{name: $name}}) RETURN properties(n) AS network"

#: Read every network's node, except networks being staged or dropped by a replace.
LIST_NETWORKS = (
    f"MATCH (n:`{NETWORK}`) WHERE NOT n.name CONTAINS '{STAGING_MARK}' "
    "RETURN properties(n) AS network ORDER BY n.name"
)

#: Names of the staged or replaced copies of network ``$name`` (``name~...``).
LIST_STAGED = (
    f"MATCH (n:`{NETWORK}`) WHERE n.name STARTS WITH $name + '{STAGING_MARK}' RETURN n.name AS name"
)

#: Rename a network node and set its status: ``$old``, ``$new``, ``$status``; returns how many.
RENAME_NETWORK = (
    f"MATCH (n:`{NETWORK}` {{name: $old}}) SET n.name = $new, n.status = $status "
    "RETURN count(n) AS renamed"
)

#: Move the nodes of one label from network ``$old`` to ``$new``: their ``network`` and the
#: network part of their ``uid``. Format with ``label``.
RENAME_NETWORK_NODES = (
    "MATCH (n:`{label}` {{network: $old}}) "
    "SET n.network = $new, n.uid = $new + substring(n.uid, size($old))"
)

#: Point clusters of network ``$old`` at their renamed partitions (``$new``).
RENAME_CLUSTER_PARTITIONS = (
    f"MATCH (c:`{Label.CLUSTER}` {{network: $old}}) "
    "SET c.partition = $new + substring(c.partition, size($old))"
)

#: Images recorded by a network's clusters: ``$name``.
NETWORK_IMAGES = (
    f"MATCH (c:`{Label.CLUSTER}` {{network: $name}}) WHERE c.visPaths IS NOT NULL "
    "UNWIND c.visPaths AS path RETURN DISTINCT path"
)

#: Images recorded by the clusters of partition ``$uid``.
PARTITION_IMAGES = (
    f"MATCH (:`{Label.PARTITION}` {{uid: $uid}})-[:`{Rel.HAS_CLUSTER}`]->(c:`{Label.CLUSTER}`) "
    "WHERE c.visPaths IS NOT NULL UNWIND c.visPaths AS path RETURN DISTINCT path"
)

#: How many networks record model sha256 ``$sha``.
COUNT_MODEL_USERS = f"MATCH (n:`{NETWORK}` {{sha256: $sha}}) RETURN count(n) AS users"

#: Create a network node in status 'partial': ``$props`` (must include name and status).
CREATE_NETWORK = f"CREATE (n:`{NETWORK}`) SET n += $props"

#: Update properties of a network node: ``$name``, ``$props``.
SET_NETWORK = f"MATCH (n:`{NETWORK}` {{name: $name}}) SET n += $props"

#: Create layers under a network: ``$name``, ``$rows`` (layer property maps).
CREATE_LAYERS = (
    f"MATCH (net:`{NETWORK}` {{name: $name}}) "
    f"UNWIND $rows AS r CREATE (net)-[:`{Rel.HAS_LAYER}`]->(l:`{LAYER}`) SET l += r"
)

#: Create neurons under one layer: ``$layer`` (layer uid), ``$rows`` (neuron property maps).
CREATE_NEURONS = (
    f"MATCH (l:`{LAYER}` {{uid: $layer}}) "
    f"UNWIND $rows AS r CREATE (l)-[:`{Rel.HAS_NEURON}`]->(n:`{NEURON}`) SET n += r"
)

#: Create FEEDS relationships between a network's layers: ``$rows`` = [{s, t}] (layer uids).
CREATE_FEEDS = (
    f"UNWIND $rows AS r MATCH (a:`{LAYER}` {{uid: r.s}}) MATCH (b:`{LAYER}` {{uid: r.t}}) "
    f"CREATE (a)-[:`{Rel.FEEDS}`]->(b)"
)

#: Create WEIGHT edges grouped by source neuron: ``$rows`` = [{s, t: [uid], w: [weight],
#: g: [signed]}].
CREATE_WEIGHTS = (
    f"UNWIND $rows AS r MATCH (a:`{NEURON}` {{uid: r.s}}) "
    "UNWIND range(0, size(r.t) - 1) AS i "
    f"MATCH (b:`{NEURON}` {{uid: r.t[i]}}) "
    f"CREATE (a)-[:`{Rel.WEIGHT}` {{weight: r.w[i], signed: r.g[i]}}]->(b)"
)

#: Delete up to ``$batch`` nodes of one label belonging to ``$name``; returns how many went.
#: Format with ``label``.
DELETE_NETWORK_NODES = (
    "MATCH (n:`{label}` {{network: $name}}) WITH n LIMIT $batch "
    "DETACH DELETE n RETURN count(*) AS deleted"
)

#: Delete the network node itself: ``$name``.
DELETE_NETWORK = f"MATCH (n:`{NETWORK}` {{name: $name}}) DETACH DELETE n"

#: Layers of a network in order: ``$name``.
LIST_LAYERS = (
    f"MATCH (l:`{LAYER}` {{network: $name}}) RETURN properties(l) AS layer ORDER BY l.position"
)

#: WEIGHT edges of a network grouped by source neuron and target layer: ``$name``.
READ_WEIGHTS = (
    f"MATCH (a:`{NEURON}` {{network: $name}})-[w:`{Rel.WEIGHT}`]->(b:`{NEURON}`) "
    "RETURN a.position AS layer, b.position AS targetLayer, a.index AS source, "
    "collect(b.index) AS targets, collect(w.weight) AS weights, collect(w.signed) AS signed"
)

#: WEIGHT edges of a network, one row each (read as columns in-process by the embedded store):
#: ``$name``.
READ_WEIGHT_EDGES = (
    f"MATCH (a:`{NEURON}` {{network: $name}})-[w:`{Rel.WEIGHT}`]->(b:`{NEURON}`) "
    "RETURN a.position AS layer, b.position AS targetLayer, a.index AS source, "
    "b.index AS target, w.weight AS weight"
)

#: The data-flow DAG of a network, as layer positions: ``$name``.
READ_FEEDS = (
    f"MATCH (a:`{LAYER}` {{network: $name}})-[:`{Rel.FEEDS}`]->(b:`{LAYER}`) "
    "RETURN a.position AS source, b.position AS target ORDER BY target, source"
)

#: Count a network's neurons and WEIGHT edges: ``$name``.
COUNT_NETWORK = (
    f"MATCH (n:`{NEURON}` {{network: $name}}) "
    f"OPTIONAL MATCH (n)-[w:`{Rel.WEIGHT}`]->() "
    "RETURN count(DISTINCT n) AS neurons, count(w) AS edges"
)

#: Set properties on neurons: ``$rows`` = [{uid, props}].
SET_NEURONS = f"UNWIND $rows AS r MATCH (n:`{NEURON}` {{uid: r.uid}}) SET n += r.props"

#: Set properties on layers: ``$rows`` = [{uid, props}].
SET_LAYERS = f"UNWIND $rows AS r MATCH (l:`{LAYER}` {{uid: r.uid}}) SET l += r.props"

#: Placeholder for a property key in the queries below (checked by ``with_key``).
KEY = "__KEY__"

#: Remove one analysis property from every neuron of ``$name`` (``with_key``).
REMOVE_NEURON_PROPERTY = f"MATCH (n:`{NEURON}` {{network: $name}}) REMOVE n.`{KEY}`"

#: Read one property of every neuron of ``$name`` (``with_key``).
READ_NEURON_PROPERTY = (
    f"MATCH (n:`{NEURON}` {{network: $name}}) "
    f"RETURN n.position AS layer, n.index AS index, n.`{KEY}` AS value"
)

#: Delete the CORRELATES edges of ``$name``, up to ``$batch`` at a time.
DELETE_CORRELATES = (
    f"MATCH (:`{NEURON}` {{network: $name}})-[c:`{Rel.CORRELATES}`]->() "
    "WITH c LIMIT $batch DELETE c RETURN count(*) AS deleted"
)

#: Create CORRELATES edges grouped by source neuron: ``$rows`` = [{s, t: [uid], r: [rho]}].
CREATE_CORRELATES = (
    f"UNWIND $rows AS row MATCH (a:`{NEURON}` {{uid: row.s}}) "
    "UNWIND range(0, size(row.t) - 1) AS i "
    f"MATCH (b:`{NEURON}` {{uid: row.t[i]}}) "
    f"CREATE (a)-[:`{Rel.CORRELATES}` {{r: row.r[i], r2: row.r[i] * row.r[i]}}]->(b)"
)

#: CORRELATES edges of ``$name``.
READ_CORRELATES = (
    f"MATCH (a:`{NEURON}` {{network: $name}})-[c:`{Rel.CORRELATES}`]->(b:`{NEURON}`) "
    "RETURN a.uid AS source, b.uid AS target, c.r AS r"
)

#: Delete up to ``$batch`` clusters of partition ``$uid``; returns how many went. The batch is
#: collected before any of it is deleted: ArcadeDB streams MATCH and DELETE, and deleting the
#: vertex whose edge list a MATCH is still walking fails once that list spans more than one
#: edge segment (``RecordNotFoundException`` on the segment; ~107 HAS_CLUSTER edges).
DELETE_PARTITION_CLUSTERS = (
    f"MATCH (:`{Label.PARTITION}` {{uid: $uid}})-[:`{Rel.HAS_CLUSTER}`]->(c:`{Label.CLUSTER}`) "
    "WITH c LIMIT $batch WITH collect(c) AS batch UNWIND batch AS c "
    "DETACH DELETE c RETURN count(*) AS deleted"
)

#: Delete a partition node (after its clusters): ``$uid``.
DELETE_PARTITION = f"MATCH (p:`{Label.PARTITION}` {{uid: $uid}}) DETACH DELETE p"

#: Create a partition under its network: ``$name``, ``$props``.
CREATE_PARTITION = (
    f"MATCH (net:`{NETWORK}` {{name: $name}}) "
    f"CREATE (net)-[:`{Rel.HAS_PARTITION}`]->(p:`{Label.PARTITION}`) SET p += $props"
)

#: Create clusters of a partition: ``$uid`` (partition uid), ``$rows`` = [cluster props].
CREATE_CLUSTERS = (
    f"MATCH (p:`{Label.PARTITION}` {{uid: $uid}}) UNWIND $rows AS r "
    f"CREATE (p)-[:`{Rel.HAS_CLUSTER}`]->(c:`{Label.CLUSTER}`) SET c += r"
)

#: Link neurons to their clusters: ``$rows`` = [{cluster: uid, neurons: [uid]}].
CREATE_MEMBERSHIP = (
    f"UNWIND $rows AS r MATCH (c:`{Label.CLUSTER}` {{uid: r.cluster}}) "
    f"UNWIND r.neurons AS u MATCH (n:`{NEURON}` {{uid: u}}) "
    f"CREATE (n)-[:`{Rel.IN_CLUSTER}`]->(c)"
)

#: A partition's properties: ``$uid``.
GET_PARTITION = f"MATCH (p:`{Label.PARTITION}` {{uid: $uid}}) RETURN properties(p) AS partition"

#: A partition's clusters with their member neurons: ``$uid``.
READ_CLUSTERS = (
    f"MATCH (:`{Label.PARTITION}` {{uid: $uid}})-[:`{Rel.HAS_CLUSTER}`]->(c:`{Label.CLUSTER}`) "
    f"OPTIONAL MATCH (n:`{NEURON}`)-[:`{Rel.IN_CLUSTER}`]->(c) "
    "WITH c, collect([n.position, n.index]) AS members ORDER BY c.label "
    "RETURN properties(c) AS cluster, members"
)

#: Set properties on clusters: ``$rows`` = [{uid, props}].
SET_CLUSTERS = f"UNWIND $rows AS r MATCH (c:`{Label.CLUSTER}` {{uid: r.uid}}) SET c += r.props"

#: Set properties on a partition: ``$uid``, ``$props``.
SET_PARTITION = f"MATCH (p:`{Label.PARTITION}` {{uid: $uid}}) SET p += $props"

#: Delete the INTERACTS edges among the clusters of partition ``$uid``.
DELETE_INTERACTS = (
    f"MATCH (:`{Label.PARTITION}` {{uid: $uid}})-[:`{Rel.HAS_CLUSTER}`]->(:`{Label.CLUSTER}`)"
    f"-[i:`{Rel.INTERACTS}`]->() DELETE i"
)

#: Create INTERACTS edges between clusters: ``$rows`` = [{a, b (cluster uids), props}].
CREATE_INTERACTS = (
    f"UNWIND $rows AS r MATCH (a:`{Label.CLUSTER}` {{uid: r.a}}) "
    f"MATCH (b:`{Label.CLUSTER}` {{uid: r.b}}) "
    f"CREATE (a)-[i:`{Rel.INTERACTS}`]->(b) SET i += r.props"
)
