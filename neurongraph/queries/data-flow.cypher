// One network's data flow as a graph: its layers and the FEEDS between them.
//
// Returns nodes and relationships (for Neo4j Bloom and Browser's graph view): the Network node,
// its Layers (with their kind: input, linear, conv2d, sum) and every FEEDS relationship between
// them, one row per FEEDS (a layer that feeds nothing, the output, has a row with f and m null).
// A chain is a path; in a residual network every sum layer is fed by two layers, and the FEEDS
// that skips over a block's layers is its skip connection.
//
// @param network: the network's name
// @bloom Data flow of network $network
//
// In Neo4j Browser: :params {network: 'digits-mlp'}
MATCH (net:Network {name: $network})-[h:HAS_LAYER]->(l:Layer)
OPTIONAL MATCH (l)-[f:FEEDS]->(m:Layer)
RETURN net, h, l, f, m
ORDER BY l.position, m.position
