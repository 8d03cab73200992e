// The clusters of one partition with their size, importance and coherence.
//
// One row per cluster: its label, layer (Louvain communities live in one layer; spectral
// clusters span layers, see `layerSizes`), size, the importance scores written by
// `analyze importance` (accuracy change when lesioned, its percentile against random groups,
// whether it is important) and the coherence scores written by `analyze coherence` (feature
// visualisation percentiles, example entropy and its percentile, class consistency). Scores
// of analyses not run yet are null.
//
// @param network: the network's name
// @param method: the partition: spectral-weights, spectral-activations or louvain
//
// In Neo4j Browser: :params {network: 'digits-mlp', method: 'spectral-weights'}
MATCH (:Network {name: $network})-[:HAS_PARTITION]->(:Partition {method: $method})
      -[:HAS_CLUSTER]->(c:Cluster)
RETURN c.label AS label, c.layer AS layer, c.size AS size, c.layerSizes AS layerSizes,
       c.importanceDelta AS importanceDelta, c.importanceP AS importanceP,
       c.important AS important, c.visObjectiveP AS visObjectiveP,
       c.visEntropyP AS visEntropyP, c.exampleEntropy AS exampleEntropy,
       c.exampleEntropyP AS exampleEntropyP, c.classConsistency AS classConsistency
ORDER BY c.position, c.community, c.label
