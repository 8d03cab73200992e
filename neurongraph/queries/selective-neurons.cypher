// The most class-selective neurons of one network.
//
// Neurons with activations recorded (`ingest --data`, `activations`), largest selectivity first:
// the largest |Pearson r| between a neuron's activation and a one-hot class indicator, and that
// class. The input and output layers are left out.
//
// @param network: the network's name
// @param limit: how many neurons (default: 10)
//
// In Neo4j Browser: :params {network: 'digits-mlp', limit: 10}
MATCH (net:Network {name: $network})
MATCH (n:Neuron {network: $network})
WHERE n.selectivity IS NOT NULL AND n.position > 0 AND n.position < net.nLayers - 1
RETURN n.uid AS neuron, n.layer AS layer, n.preferredClass AS class,
       n.selectivity AS selectivity
ORDER BY selectivity DESC, neuron
LIMIT toInteger($limit)
