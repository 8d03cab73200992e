// One cluster as a graph: the cluster, its neurons and the weights among them.
//
// Returns nodes and relationships (for Neo4j Bloom and Browser's graph view) in one row: the
// Cluster node `c`, its member Neurons (`neurons`) with their IN_CLUSTER edges (`members`), the
// WEIGHT edges between members (`weights`) and, in the same order, their ends as uid pairs
// (`edges`: [source, target]), so that the JSON output says which neurons each weight joins.
//
// @param network: the network's name
// @param method: the partition: spectral-weights, spectral-activations or louvain
// @param label: the cluster's label (a number for spectral clusters, LAYER:COMMUNITY for Louvain)
// @bloom Cluster $label of partition $method in network $network
//
// In Neo4j Browser: :params {network: 'digits-mlp', method: 'spectral-weights', label: 0}
MATCH (c:Cluster {network: $network, method: $method})
WHERE toString(c.label) = toString($label)
OPTIONAL MATCH (c)<-[:IN_CLUSTER]-(a:Neuron)-[w:WEIGHT]->(b:Neuron)-[:IN_CLUSTER]->(c)
WITH c, collect(w) AS weights,
     collect(CASE WHEN w IS NULL THEN null ELSE [a.uid, b.uid] END) AS edges
MATCH (n:Neuron)-[m:IN_CLUSTER]->(c)
WITH c, weights, edges, collect(n) AS neurons, collect(m) AS members
RETURN c, neurons, members, weights, edges
