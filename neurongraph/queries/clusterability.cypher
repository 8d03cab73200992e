// Clusterability of every network.
//
// One row per (network, spectral partition): the n-cut of the partition against the n-cuts
// of shuffled null networks (Filan et al.): their mean and standard deviation, the z-score,
// the percentile of the network's n-cut among them and whether that percentile is at most the
// smallest one the number of shuffles can give (`clusterable`; null without shuffles).
//
// No parameters: runs as-is in Neo4j Browser.
MATCH (net:Network)-[:HAS_PARTITION]->(p:Partition)
WHERE p.ncut IS NOT NULL AND NOT net.name CONTAINS '~'
RETURN net.name AS network, p.method AS method, p.k AS k, p.ncut AS ncut,
       p.nullMean AS nullMean, p.nullStd AS nullStd, p.zScore AS zScore,
       p.percentile AS percentile, p.nShuffles AS nShuffles,
       CASE WHEN p.nShuffles > 0 THEN p.percentile <= p.minPercentile END AS clusterable
ORDER BY network, method
