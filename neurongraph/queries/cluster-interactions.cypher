// How pairs of clusters of one partition interact when lesioned together.
//
// One row per pair of groups lesioned together by `analyze importance --double`: the accuracy
// change of the joint lesion (points), the interaction (joint change minus the two single
// changes; negative when the pair matters more together than apart) and its percentile against
// random pairs, strongest interactions first.
//
// @param network: the network's name
// @param method: the partition: spectral-weights, spectral-activations or louvain
//
// In Neo4j Browser: :params {network: 'digits-mlp', method: 'spectral-weights'}
MATCH (a:Cluster {network: $network, method: $method})-[i:INTERACTS]->(b:Cluster)
RETURN a.label AS first, i.firstLayer AS firstLayer, b.label AS second,
       i.secondLayer AS secondLayer, i.delta AS delta, i.interaction AS interaction, i.p AS p
ORDER BY p, interaction, toString(first), firstLayer, toString(second), secondLayer
