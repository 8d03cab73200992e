// One layer as a graph: the layer and its neurons.
//
// Returns nodes and relationships (for Neo4j Bloom and Browser's graph view): the Layer node and
// its Neurons with their HAS_NEURON edges.
//
// @param network: the network's name
// @param layer: the layer's name (its module path, e.g. 0 or features.3; input; a sum: layer1.add)
// @bloom Layer $layer of network $network
//
// In Neo4j Browser: :params {network: 'digits-mlp', layer: '0'}
MATCH (l:Layer {network: $network, name: toString($layer)})-[h:HAS_NEURON]->(n:Neuron)
RETURN l, h, n
