// Summed weights between the clusters of one partition.
//
// One row per ordered pair of clusters joined by WEIGHT edges: the sum of |w| (or conv kernel
// norms) and the number of edges from the first to the second; a cluster paired with itself
// holds the weights inside it. In a residual network the weight-1 edges into sum layers count
// too, as in the graph the partition cut. This is the cluster graph that `neurongraph view` draws.
//
// @param network: the network's name
// @param method: the partition: spectral-weights, spectral-activations or louvain
//
// In Neo4j Browser: :params {network: 'digits-mlp', method: 'spectral-weights'}
MATCH (a:Neuron {network: $network})-[:IN_CLUSTER]->(ca:Cluster {method: $method})
MATCH (a)-[w:WEIGHT]->(b:Neuron)-[:IN_CLUSTER]->(cb:Cluster {method: $method})
WITH ca, cb, sum(w.weight) AS weight, count(w) AS edges
RETURN ca.label AS source, cb.label AS target, weight, edges
ORDER BY ca.position, ca.community, source, cb.position, cb.community, target
