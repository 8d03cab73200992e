// The most important clusters across all networks.
//
// Clusters scored by `analyze importance`, most significant first (lowest percentile against
// random same-size groups, then largest accuracy drop when lesioned). A spectral cluster spans
// layers and is lesioned layer by layer: its scores, and its `layer`, are those of its most
// significant part.
//
// @param limit: how many clusters to list (default: 20)
//
// In Neo4j Browser: :params {limit: 20}
MATCH (c:Cluster)
WHERE c.importanceP IS NOT NULL
WITH c, [i IN range(0, size(coalesce(c.importanceLayers, [])) - 1)
         WHERE c.importanceLayerP[i] = c.importanceP
           AND c.importanceLayerDelta[i] = c.importanceDelta | c.importanceLayers[i]] AS best
RETURN c.network AS network, c.method AS method, c.label AS label,
       coalesce(c.layer, best[0]) AS layer,
       c.size AS size, c.importanceDelta AS importanceDelta, c.importanceP AS importanceP,
       c.important AS important
ORDER BY importanceP, importanceDelta, network, method, c.uid
LIMIT toInteger($limit)
