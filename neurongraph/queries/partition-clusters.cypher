// The clusters of one partition with their size, importance and coherence.
//
// One row per cluster: its label, layer (a Louvain community lives in one layer; a spectral
// cluster spans layers: the layers it has neurons in, in data-flow order, and `layerSizes`
// counts them), size, the importance scores written by
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
OPTIONAL MATCH (l:Layer)-[:HAS_NEURON]->(:Neuron)-[:IN_CLUSTER]->(c)
WITH c, l ORDER BY l.position
WITH c, collect(DISTINCT l.name) AS spans
RETURN c.label AS label,
       coalesce(c.layer, reduce(s = '', name IN spans |
                s + CASE WHEN s = '' THEN '' ELSE ', ' END + name)) AS layer, c.size AS size, c.layerSizes AS layerSizes,
       c.importanceDelta AS importanceDelta, c.importanceP AS importanceP,
       c.important AS important, c.visObjectiveP AS visObjectiveP,
       c.visEntropyP AS visEntropyP, c.exampleEntropy AS exampleEntropy,
       c.exampleEntropyP AS exampleEntropyP, c.classConsistency AS classConsistency
ORDER BY c.position, c.community, c.label
