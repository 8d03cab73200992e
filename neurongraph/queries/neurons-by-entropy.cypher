// The neurons of one network with the highest firing entropy.
//
// Hidden neurons scored by `analyze entropy`, highest binary firing entropy first (a neuron
// that fires on about half the examples), with their entropy within classes, firing fraction,
// preferred class and selectivity. Neurons at the bottom of the full list (entropy 0) never or
// always fire.
//
// @param network: the network's name
// @param limit: how many neurons to list (default: 20)
//
// In Neo4j Browser: :params {network: 'digits-mlp', limit: 20}
MATCH (n:Neuron {network: $network})
WHERE n.entropy IS NOT NULL
RETURN n.uid AS uid, n.layer AS layer, n.index AS index, n.entropy AS entropy,
       n.classEntropy AS classEntropy, n.fracActive AS fracActive,
       n.preferredClass AS preferredClass, n.selectivity AS selectivity
ORDER BY entropy DESC, n.position, index
LIMIT toInteger($limit)
