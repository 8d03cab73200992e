"""The Cypher the store runs, as named constants with ``$parameters``.

Labels and relationship types come from :mod:`neurongraph.store.schema` and are backtick-quoted;
values are always parameters. Every query here runs on Neo4j 5 and on ArcadeDB.
"""

from __future__ import annotations

from neurongraph.store.schema import Label, Rel

NETWORK = Label.NETWORK
LAYER = Label.LAYER
NEURON = Label.NEURON

#: Read one network's node: ``$name``.
GET_NETWORK = f"MATCH (n:`{NETWORK}` {{name: $name}}) RETURN properties(n) AS network"

#: Read every network's node.
LIST_NETWORKS = f"MATCH (n:`{NETWORK}`) RETURN properties(n) AS network ORDER BY n.name"

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

#: WEIGHT edges of a network grouped by source neuron: ``$name``.
READ_WEIGHTS = (
    f"MATCH (a:`{NEURON}` {{network: $name}})-[w:`{Rel.WEIGHT}`]->(b:`{NEURON}`) "
    "RETURN a.position AS layer, a.index AS source, collect(b.index) AS targets, "
    "collect(w.weight) AS weights, collect(w.signed) AS signed"
)

#: Count a network's neurons and WEIGHT edges: ``$name``.
COUNT_NETWORK = (
    f"MATCH (n:`{NEURON}` {{network: $name}}) "
    f"OPTIONAL MATCH (n)-[w:`{Rel.WEIGHT}`]->() "
    "RETURN count(DISTINCT n) AS neurons, count(w) AS edges"
)
