// One network as a graph: the network, its partitions and their clusters.
//
// Returns nodes and relationships (for Neo4j Bloom and Browser's graph view): the Network node,
// its Partition nodes and each partition's Cluster nodes.
//
// @param network: the network's name
// @bloom Network $network with its partitions and clusters
//
// In Neo4j Browser: :params {network: 'digits-mlp'}
MATCH (net:Network {name: $network})
OPTIONAL MATCH (net)-[hp:HAS_PARTITION]->(p:Partition)
OPTIONAL MATCH (p)-[hc:HAS_CLUSTER]->(c:Cluster)
RETURN net, hp, p, hc, c
