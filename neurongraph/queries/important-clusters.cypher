// The most important clusters across all networks.
//
// Clusters scored by `analyze importance`, most significant first (lowest percentile against
// random same-size groups, then largest accuracy drop when lesioned).
//
// @param limit: how many clusters to list (default: 20)
//
// In Neo4j Browser: :params {limit: 20}
MATCH (c:Cluster)
WHERE c.importanceP IS NOT NULL
RETURN c.network AS network, c.method AS method, c.label AS label, c.layer AS layer,
       c.size AS size, c.importanceDelta AS importanceDelta, c.importanceP AS importanceP,
       c.important AS important
ORDER BY importanceP, importanceDelta, network, method, c.uid
LIMIT toInteger($limit)
