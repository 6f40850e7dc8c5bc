// Package topology is the console's live picture of the estate: it ingests
// sensor reports (POST /api/v1/sensor/reports), derives nodes (hosts,
// processes, containers, images, pods, namespaces, clusters and the
// internet pseudo-nodes) and connection edges from them, persists what
// changed in one transaction per batch of reports (group commit), keeps the
// current graph in memory for queries (rebuilt from the store at start),
// marks nodes gone when no live sensor reports them and prunes them after a
// retention period, and serves the topology API (graph views with
// aggregation, a node table, node details) and Exposure for the risk engine.
// docs/topology.md documents the API, the pseudo-nodes and NAT handling.
package topology
