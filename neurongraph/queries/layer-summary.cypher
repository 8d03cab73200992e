// Layer by layer summary of one network.
//
// One row per layer in data-flow order, input first: kind (input, linear, conv2d, sum), width,
// activation and the layers that feed it (`inputs`, from FEEDS: one for a layer of a chain, two
// for the sum layer of a residual connection); how many of its neurons never fire
// (`fracActive` = 0) and their mean firing fraction and class selectivity (with activations
// recorded); the mean firing entropies (`analyze entropy`) and the number of Louvain
// communities found in the layer (`analyze louvain`).
//
// @param network: the network's name
//
// In Neo4j Browser: :params {network: 'digits-mlp'}
MATCH (:Network {name: $network})-[:HAS_LAYER]->(l:Layer)
OPTIONAL MATCH (source:Layer)-[:FEEDS]->(l)
WITH l, source ORDER BY source.position
WITH l, collect(source.name) AS inputs
OPTIONAL MATCH (l)-[:HAS_NEURON]->(n:Neuron)
WITH l, inputs, count(n) AS neurons, avg(n.fracActive) AS meanFracActive,
     avg(n.selectivity) AS meanSelectivity,
     sum(CASE WHEN n.fracActive = 0 THEN 1 ELSE 0 END) AS silent
OPTIONAL MATCH (c:Cluster {network: $network, method: 'louvain', position: l.position})
WITH l, inputs, neurons, meanFracActive, meanSelectivity, silent, count(c) AS communities
RETURN l.position AS position, l.name AS layer, l.kind AS kind, l.width AS width,
       l.activation AS activation, inputs, neurons, silent, meanFracActive, meanSelectivity,
       l.entropyMean AS entropyMean, l.classEntropyMean AS classEntropyMean,
       communities AS louvainCommunities
ORDER BY position
