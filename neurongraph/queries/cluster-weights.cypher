// The strongest weights from one cluster to another.
//
// WEIGHT edges from a neuron of cluster `source` to a neuron of cluster `target` of the same
// partition, largest |w| (or conv kernel norm) first, with the signed weight. Edges run from
// earlier to later layers along FEEDS (in a residual network also over a skip connection into
// its sum layer): swap the clusters for the other direction; give the same cluster twice for
// the weights inside it.
//
// @param network: the network's name
// @param method: the partition: spectral-weights, spectral-activations or louvain
// @param source: the label of the cluster the edges leave
// @param target: the label of the cluster the edges enter
// @param limit: how many edges to list (default: 20)
//
// In Neo4j Browser: :params {network: 'digits-mlp', method: 'spectral-weights', source: 0, target: 1, limit: 20}
MATCH (ca:Cluster {network: $network, method: $method})
WHERE toString(ca.label) = toString($source)
MATCH (cb:Cluster {network: $network, method: $method})
WHERE toString(cb.label) = toString($target)
MATCH (ca)<-[:IN_CLUSTER]-(a:Neuron)-[w:WEIGHT]->(b:Neuron)-[:IN_CLUSTER]->(cb)
RETURN a.uid AS source, b.uid AS target, w.weight AS weight, w.signed AS signed
ORDER BY weight DESC, source, target
LIMIT toInteger($limit)
