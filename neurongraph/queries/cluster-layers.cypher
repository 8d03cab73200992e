// The layer parts of one partition's clusters: how many neurons each cluster has in each layer.
//
// One row per (layer, cluster) pair that shares neurons, in data-flow order: the layer's name,
// kind and position, the cluster's label, importance (the scores of its most significant
// lesioned part, from `analyze importance`) and coherence p-values (of its most coherent part,
// from `analyze coherence`), and the number of its neurons in that layer. A
// spectral cluster spans layers and has a row for each; a Louvain community lives in one layer.
// These parts, and `cluster-layer-weights` between them, are the nodes and edges that
// `neurongraph view` draws.
//
// @param network: the network's name
// @param method: the partition: spectral-weights, spectral-activations or louvain
//
// In Neo4j Browser: :params {network: 'digits-mlp', method: 'spectral-weights'}
MATCH (:Network {name: $network})-[:HAS_PARTITION]->(:Partition {method: $method})
      -[:HAS_CLUSTER]->(c:Cluster)<-[:IN_CLUSTER]-(n:Neuron)<-[:HAS_NEURON]-(l:Layer)
WITH l, c, count(n) AS neurons
RETURN l.position AS position, l.name AS layer, l.kind AS kind, c.label AS label, neurons,
       c.size AS size, c.importanceDelta AS importanceDelta, c.importanceP AS importanceP,
       c.important AS important, c.visObjectiveP AS visObjectiveP,
       c.exampleEntropyP AS exampleEntropyP, c.classConsistencyP AS classConsistencyP
ORDER BY position, c.position, c.community, toString(label)
