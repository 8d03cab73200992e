// Networks in the store and their status.
//
// One row per network: whether its ingest finished (`complete`) or not (`partial`), whether its
// layers form a chain or a residual/DAG network (`dataFlow`: chain or dag), its size,
// the dataset its activations came from, its test accuracy, its mean firing entropy and the
// partitions computed for it so far (`neurongraph analyze ...`).
//
// No parameters: runs as-is in Neo4j Browser. Names with `~` are the hidden copies an ingest
// works on while it replaces a network; they are not listed.
MATCH (net:Network) WHERE NOT net.name CONTAINS '~'
OPTIONAL MATCH (net)-[:HAS_PARTITION]->(p:Partition)
WITH net, p ORDER BY p.method
WITH net, collect(p.method) AS partitions
RETURN net.name AS network, net.status AS status, net.dataFlow AS dataFlow, net.nLayers AS layers,
       net.nNeurons AS neurons, net.nEdges AS edges, net.dataset AS dataset,
       net.accuracy AS accuracy, net.entropy AS entropy, partitions
ORDER BY network
