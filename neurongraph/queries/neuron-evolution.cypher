// How one neuron changed across a checkpoint series.
//
// For the neuron at (`layer`, `index`) in every network of the series (networks named
// SERIES@EPOCH, from `ingest --series`), by epoch: the network's accuracy, the neuron's
// spectral clusters, Louvain community, firing entropy, lesion importance, selectivity and
// preferred class. Scores of analyses not run on a checkpoint are null.
//
// @param series: the series name (the part before @)
// @param layer: the layer's name (its module path, e.g. 0 or features.3)
// @param index: the neuron's index in its layer
//
// In Neo4j Browser: :params {series: 'digits-mlp', layer: '0', index: 0}
MATCH (net:Network)
WHERE (net.series = $series OR net.name STARTS WITH $series + '@')
  AND NOT net.name CONTAINS '~'
MATCH (n:Neuron {uid: net.name + '/' + toString($layer) + '/' + toString($index)})
RETURN net.name AS network, coalesce(net.epoch, toInteger(split(net.name, '@')[1])) AS epoch,
       net.accuracy AS accuracy, n.spectralWeightsCluster AS spectralWeightsCluster,
       n.spectralActivationsCluster AS spectralActivationsCluster,
       n.louvainCommunity AS louvainCommunity, n.entropy AS entropy,
       n.classEntropy AS classEntropy, n.importance AS importance,
       n.selectivity AS selectivity, n.preferredClass AS preferredClass
ORDER BY epoch, network
