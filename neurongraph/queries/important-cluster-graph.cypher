// The important clusters of one network as a graph.
//
// Returns nodes and relationships (for Neo4j Bloom and Browser's graph view): every Cluster
// that `analyze importance` marked important (significant against random groups and a drop of
// at least one accuracy point), with its Partition and its member Neurons.
//
// @param network: the network's name
// @bloom Important clusters of network $network
//
// In Neo4j Browser: :params {network: 'digits-mlp'}
MATCH (p:Partition {network: $network})-[hc:HAS_CLUSTER]->(c:Cluster)
WHERE c.important = true
MATCH (n:Neuron)-[m:IN_CLUSTER]->(c)
RETURN p, hc, c, m, n
