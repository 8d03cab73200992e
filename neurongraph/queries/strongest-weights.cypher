// The strongest weights into one layer of a network.
//
// WEIGHT edges into the neurons of the layer at `position` (0 is the input; the demo MLP's
// output layer is 5), largest |w| first, with the signed weight.
//
// @param network: the network's name
// @param position: the layer's position in data-flow order
// @param limit: how many edges (default: 10)
//
// In Neo4j Browser: :params {network: 'digits-mlp', position: 5, limit: 10}
MATCH (a:Neuron)-[w:WEIGHT]->(b:Neuron {network: $network, position: toInteger($position)})
RETURN a.uid AS source, b.uid AS target, w.signed AS weight
ORDER BY w.weight DESC, source, target
LIMIT toInteger($limit)
