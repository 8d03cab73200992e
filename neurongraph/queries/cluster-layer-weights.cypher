// Summed weights between the layer parts of one partition's clusters.
//
// One row per pair of (layer, cluster) parts joined by WEIGHT edges: the sum of |w| (or conv
// kernel norms) and the number of edges from the neurons of cluster `source` in layer
// `sourceLayer` to those of cluster `target` in layer `targetLayer`. Edges run from earlier to
// later layers along FEEDS, so each row joins adjacent layers of the data flow (in a residual
// network also a skip connection into its sum layer). `neurongraph view` draws these as the
// edges between the parts that `cluster-layers` lists.
//
// @param network: the network's name
// @param method: the partition: spectral-weights, spectral-activations or louvain
//
// In Neo4j Browser: :params {network: 'digits-mlp', method: 'spectral-weights'}
MATCH (:Network {name: $network})-[:HAS_PARTITION]->(:Partition {method: $method})
      -[:HAS_CLUSTER]->(ca:Cluster)<-[:IN_CLUSTER]-(a:Neuron)
MATCH (a)-[w:WEIGHT]->(b:Neuron)-[:IN_CLUSTER]->(cb:Cluster {partition: ca.partition})
WITH a.layer AS sourceLayer, ca.label AS source, b.layer AS targetLayer, cb.label AS target,
     sum(w.weight) AS weight, count(w) AS edges
RETURN sourceLayer, source, targetLayer, target, weight, edges
ORDER BY weight DESC, sourceLayer, toString(source), targetLayer, toString(target)
