// One cluster as a graph: the cluster, its neurons and the weights among them.
//
// Returns nodes and relationships (for Neo4j Bloom and Browser's graph view): the Cluster node,
// its member Neurons with their IN_CLUSTER edges, and the WEIGHT edges between members.
//
// @param network: the network's name
// @param method: the partition: spectral-weights, spectral-activations or louvain
// @param label: the cluster's label (a number for spectral clusters, LAYER:COMMUNITY for Louvain)
// @bloom Cluster $label of partition $method in network $network
//
// In Neo4j Browser: :params {network: 'digits-mlp', method: 'spectral-weights', label: 0}
MATCH (c:Cluster {network: $network, method: $method})
WHERE toString(c.label) = toString($label)
MATCH (n:Neuron)-[m:IN_CLUSTER]->(c)
OPTIONAL MATCH (n)-[w:WEIGHT]->(o:Neuron)-[:IN_CLUSTER]->(c)
RETURN c, m, n, w, o
