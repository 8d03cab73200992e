// The partitions computed for one network and their scores.
//
// One row per partition (`analyze spectral`, `analyze louvain`): number of clusters, n-cut and
// its standing against the shuffled null networks (spectral), modularity (Louvain), the seed
// and when it was computed.
//
// @param network: the network's name
//
// In Neo4j Browser: :params {network: 'digits-mlp'}
MATCH (:Network {name: $network})-[:HAS_PARTITION]->(p:Partition)
RETURN p.method AS method, p.k AS k, p.ncut AS ncut, p.nullMean AS nullMean,
       p.zScore AS zScore, p.percentile AS percentile, p.nShuffles AS nShuffles,
       p.modularity AS modularity, p.seed AS seed, p.createdAt AS createdAt
ORDER BY method
