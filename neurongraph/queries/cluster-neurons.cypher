// The neurons of one cluster with their scores.
//
// One row per member neuron, by layer and index: its own lesion importance, firing entropy
// (overall and per class), selectivity and preferred class, firing fraction, mean activation
// and Louvain community. Scores of analyses not run yet are null.
//
// @param network: the network's name
// @param method: the partition: spectral-weights, spectral-activations or louvain
// @param label: the cluster's label (a number for spectral clusters, LAYER:COMMUNITY for Louvain)
//
// In Neo4j Browser: :params {network: 'digits-mlp', method: 'spectral-weights', label: 0}
MATCH (c:Cluster {network: $network, method: $method})
WHERE toString(c.label) = toString($label)
MATCH (n:Neuron)-[:IN_CLUSTER]->(c)
RETURN n.uid AS uid, n.layer AS layer, n.index AS index, n.importance AS importance,
       n.entropy AS entropy, n.classEntropy AS classEntropy, n.selectivity AS selectivity,
       n.preferredClass AS preferredClass, n.fracActive AS fracActive, n.actMean AS actMean,
       n.louvainCommunity AS louvainCommunity
ORDER BY n.position, index
