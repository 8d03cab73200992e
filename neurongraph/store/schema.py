"""Every label, relationship type, index and constraint of the graph, named once."""

from __future__ import annotations

__all__ = [
    "ARCADEDB_HASH_INDEXES",
    "ARCADEDB_SCHEMA",
    "DATABASE",
    "NEO4J_SCHEMA",
    "NETWORK_LABELS",
    "NETWORK_NAME_PATTERN",
    "NETWORK_NAME_MAX",
    "STAGING_MARK",
    "PROPERTY_KEY_PATTERN",
    "Label",
    "Rel",
    "Status",
]

#: Database name inside the embedded store.
DATABASE = "neurongraph"
#: Network names: letters, digits and ``_ . @ -``; ``@`` separates a series from its epoch.
NETWORK_NAME_PATTERN = r"[A-Za-z0-9_.@-]+"
NETWORK_NAME_MAX = 100
#: Marks the hidden copies a replace works on (``name~<token>``): never part of a valid name.
STAGING_MARK = "~"
#: Property keys that may be named by users (e.g. ``--labels-from``): camelCase identifiers.
PROPERTY_KEY_PATTERN = r"[A-Za-z][A-Za-z0-9_]*"


class Label:
    NETWORK = "Network"
    LAYER = "Layer"
    NEURON = "Neuron"
    PARTITION = "Partition"
    CLUSTER = "Cluster"


class Rel:
    HAS_LAYER = "HAS_LAYER"
    FEEDS = "FEEDS"
    HAS_PARTITION = "HAS_PARTITION"
    HAS_NEURON = "HAS_NEURON"
    WEIGHT = "WEIGHT"
    CORRELATES = "CORRELATES"
    HAS_CLUSTER = "HAS_CLUSTER"
    IN_CLUSTER = "IN_CLUSTER"
    INTERACTS = "INTERACTS"


class Status:
    PARTIAL = "partial"
    COMPLETE = "complete"


#: Labels whose nodes carry a ``network`` property and go when their network is dropped,
#: in the order they are deleted.
NETWORK_LABELS = (Label.CLUSTER, Label.PARTITION, Label.NEURON, Label.LAYER)

_VERTICES = (Label.NETWORK, Label.LAYER, Label.NEURON, Label.PARTITION, Label.CLUSTER)
_EDGES = (
    Rel.HAS_LAYER,
    Rel.FEEDS,
    Rel.HAS_PARTITION,
    Rel.HAS_NEURON,
    Rel.WEIGHT,
    Rel.CORRELATES,
    Rel.HAS_CLUSTER,
    Rel.IN_CLUSTER,
    Rel.INTERACTS,
)
_UNIQUE = ((Label.NETWORK, "name"),) + tuple(
    (label, "uid") for label in (Label.LAYER, Label.NEURON, Label.PARTITION, Label.CLUSTER)
)
_LOOKUP = tuple((label, "network") for label in NETWORK_LABELS)

#: Indexes kept as hash indexes in an embedded store (see ARCADEDB_SCHEMA), by ArcadeDB's name.
ARCADEDB_HASH_INDEXES = frozenset(
    f"{label}[{key}]" for label, key in _UNIQUE + _LOOKUP if label != Label.NETWORK
)

#: ArcadeDB SQL run by the process that owns an embedded store (idempotent).
ARCADEDB_SCHEMA = (
    *(f"CREATE VERTEX TYPE `{v}` IF NOT EXISTS" for v in _VERTICES),
    *(f"CREATE EDGE TYPE `{e}` IF NOT EXISTS" for e in _EDGES),
    *(
        f"CREATE PROPERTY `{label}`.`{key}` IF NOT EXISTS STRING"
        for label, key in _UNIQUE + _LOOKUP
    ),
    # Hash indexes where keys are only ever matched whole (uids, a node's network): an LSM
    # tree's non-unique index made moving a network's 1,818 neurons to a new name (a replace)
    # commit in 1.5-2.5 s against 0.1 s. Network names stay in an LSM tree, which ranges
    # (``STARTS WITH``) can use.
    *(
        f"CREATE INDEX IF NOT EXISTS ON `{label}` (`{key}`) "
        f"{'UNIQUE_HASH' if f'{label}[{key}]' in ARCADEDB_HASH_INDEXES else 'UNIQUE'}"
        for label, key in _UNIQUE
    ),
    *(
        f"CREATE INDEX IF NOT EXISTS ON `{label}` (`{key}`) NOTUNIQUE_HASH"
        for label, key in _LOOKUP
    ),
)

#: Neo4j Cypher DDL (idempotent).
NEO4J_SCHEMA = (
    *(
        f"CREATE CONSTRAINT ng_{label.lower()}_{key} IF NOT EXISTS "
        f"FOR (n:`{label}`) REQUIRE n.`{key}` IS UNIQUE"
        for label, key in _UNIQUE
    ),
    *(
        f"CREATE INDEX ng_{label.lower()}_{key} IF NOT EXISTS FOR (n:`{label}`) ON (n.`{key}`)"
        for label, key in _LOOKUP
    ),
)
