// Louvain communities against spectral clusters: a contingency table.
//
// One row per (Louvain community, spectral cluster) pair that shares neurons, with how many it
// shares. Louvain communities cover the hidden layers only, so input and output neurons are
// not counted.
//
// @param network: the network's name
// @param method: the spectral partition: spectral-weights or spectral-activations (default: "spectral-weights")
//
// In Neo4j Browser: :params {network: 'digits-mlp', method: 'spectral-weights'}
MATCH (n:Neuron {network: $network})-[:IN_CLUSTER]->(s:Cluster {method: $method})
MATCH (n)-[:IN_CLUSTER]->(l:Cluster {method: 'louvain'})
WITH l, s, count(n) AS neurons
RETURN l.layer AS layer, l.label AS community, s.label AS cluster, neurons
ORDER BY l.position, l.community, cluster
