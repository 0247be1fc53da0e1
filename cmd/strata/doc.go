// Command strata is the Strata binary: it wires the layers below it into one
// server process (`strata serve`) and carries the operator commands
// (`strata topic ...`, `strata version`, and the tools/ subcommands).
//
// # What it owns
//
//   - the command tree (cobra): serve, version, topic create|list|describe|alter|delete,
//     group list|describe|commit|delete, cluster status|add-node|remove-node,
//     user add|list|remove, acl add|list|remove (security_api.go has their routes),
//     route add|list|remove (routes_api.go: /api/v1/routes);
//   - the unified pipeline (pipeline.go): the MQTT server's Router is an
//     mqtt.TopicRouter over meta's routing rules, and the Kafka server's
//     OnAppend feeds its Kafka -> MQTT delivery into the MQTT server's Inject;
//   - configuration: flags, STRATA_* environment variables and strata.yaml;
//   - the HTTP server: /healthz, /readyz, /metrics and the JSON admin API
//     under /api/v1 that the topic, group and cluster commands call;
//   - wiring meta (package meta: a Dragonboat node in <data>/meta) under the
//     store: the Store's topic catalogue is meta.Catalog, its Offloader is
//     meta.ManifestOffloader (sealed segments recorded in the manifest, and
//     removed when retention deletes them);
//   - process lifecycle: start-up order, signal handling, graceful shutdown.
//
// # Configuration
//
// Every key of strata.yaml is also a `strata serve` flag of the same name and
// an environment variable STRATA_<KEY> with '-' and '.' turned into '_'
// (http-addr, --http-addr, STRATA_HTTP_ADDR). Precedence, highest first:
//
//  1. a flag given on the command line;
//  2. a STRATA_* environment variable (set to the empty string, it still counts);
//  3. the config file: --config PATH (or STRATA_CONFIG), else ./strata.yaml
//     when it exists; an unknown key in the file is an error;
//  4. the built-in default.
//
// `strata serve --print-config` prints the effective result as YAML and exits.
// The topic, group and cluster commands read only --server (or
// STRATA_SERVER), -o and --timeout.
//
// # Meta: one node or a cluster
//
// Every server runs a meta node (Dragonboat) with its raft listener at
// raft-addr, which is required: meta cannot run without it (a single node
// uses a loopback address, the default 127.0.0.1:7100). The raft address
// is part of <data>/meta's identity: restart a node with the same one.
//
//	node-id   this node's ID, 1 and up (default 1)
//	peers     initial members "1=host:7101,2=host:7102,3=host:7103", this
//	          node included; empty: a single node at raft-addr. First start only.
//	join      first start of a node that `strata cluster add-node` added to a
//	          running cluster (no peers)
//
// A three-node cluster on one machine:
//
//	strata serve --data-dir d1 --node-id 1 --raft-addr 127.0.0.1:7101 --http-addr 127.0.0.1:8081 \
//	    --peers 1=127.0.0.1:7101,2=127.0.0.1:7102,3=127.0.0.1:7103 --kafka-addr '' ...
//	(nodes 2 and 3 likewise, with their own data dir, raft and client addresses)
//
// Meta replicates metadata only: each node keeps a local log for every
// partition of every topic (a topic created through one node is opened on
// all of them); replicating the records themselves is a later issue.
// A pre-meta <data>/catalog.json is imported into meta once, on the first
// start, and renamed catalog.json.imported.
//
// Segment manifests (meta shard 3) hold one segment list per partition, so
// only a single node records them: until partition data is replicated each
// node of a cluster has its own, different log of every partition, and a
// cluster records no manifest (logged at start-up). A topic deleted through
// a node loses its manifests, every group's offsets for it and its
// placements, proposed by that node once.
//
// # Consumer group offsets
//
// `strata group` reads and writes meta's groups shard through any node:
//
//	strata group list                          GROUP STATE MEMBERS OFFSETS
//	strata group describe GROUP                state, generation, offsets per partition
//	strata group commit GROUP --offset topic:partition=offset ... [--metadata S]
//	                                           every --offset in one raft proposal, all or nothing;
//	                                           each topic and partition must exist
//	strata group delete GROUP                  refused (409) while the group has members
//
// # Ports
//
// The defaults are DESIGN.md's port numbers, bound to 127.0.0.1:
//
//	http-addr      127.0.0.1:8080  /healthz /readyz /metrics /api/v1
//	kafka-addr     127.0.0.1:9092
//	mqtt-addr      127.0.0.1:1883
//	mqtt-tls-addr  127.0.0.1:8883
//	mqtt-ws-addr   127.0.0.1:8083  (path /mqtt)
//	flight-addr    127.0.0.1:8815
//	raft-addr      127.0.0.1:7100  meta (Dragonboat); required
//
// Loopback, because nothing here is authenticated yet: the admin API can
// delete every topic. As with Mosquitto 2, exposing a listener is a
// deliberate act (--http-addr 0.0.0.0:8080 or :8080). An empty address
// disables a listener, so several nodes can share one machine. Listeners
// whose frontend is not built yet are logged at start-up and not opened.
//
// # Start-up and shutdown order
//
// Start: load config; open the HTTP listener with a start-up handler
// (/healthz 200, /metrics, /readyz and everything else 503 "starting"), so
// that orchestrators can tell a starting node from a dead one; start the
// meta node (raft listener, <data>/meta) and wait until it has a quorum and
// every shard knows its leader (logged every 5s while the other nodes of a
// cluster are not up); import catalog.json if any; open the store
// (directory lock, catalogue from meta, every partition's recovery); on a
// single node, reconcile the segment manifests with <data>/topics
// (meta.ReconcileTopicsDir over the catalogued segment-backed partitions,
// before anything uploads: each action logged at info, lost or damaged
// segments at error level); swap in the full HTTP API; mark ready. /readyz
// is then 200 while the server runs and meta has a quorum (a linearizable
// read succeeds within 2s), 503 otherwise.
//
// On SIGINT or SIGTERM:
//
//  1. /readyz turns 503, so load balancers stop sending traffic;
//  2. the HTTP server stops accepting and waits for in-flight requests
//     (up to shutdown-timeout, then closes them);
//  3. the store stops its retention loop, then flushes and closes every
//     log, the lite database and the catalogue, and releases the lock;
//  4. the meta node stops (its raft log is durable at every acknowledged
//     change);
//  5. the process exits 0 (1 if any step failed).
//
// A second SIGINT or SIGTERM during shutdown kills the process at once.
//
// # Metrics (/metrics)
//
//	strata_topics, strata_partitions
//	strata_log_{bytes,high_watermark,start_offset,segments}{topic,partition,engine}   (not for lite)
//	strata_engine_{partitions,log_bytes}{engine}
//	strata_log_{append_batches,append_records,append_bytes,append_errors,read_bytes,read_errors}_total
//	strata_log_{retention_runs,retention_errors}_total
//	strata_build_info{version,commit,goversion}, strata_process_*, go_*
//
// # Admin API
//
//	GET    /api/v1/topics                    {"topics": [topic...]}
//	POST   /api/v1/topics                    {"name", "partitions" (default 1), "configs"} -> 201 topic
//	GET    /api/v1/topics/{name}             topic
//	PATCH  /api/v1/topics/{name}             {"set": {k: v}, "delete": [k]} -> topic
//	DELETE /api/v1/topics/{name}             204
//	POST   /api/v1/topics/{name}/partitions  {"count": total} -> topic
//	GET    /api/v1/cluster                   {"node_id", "raft_addr", "ready", "has_leader",
//	                                          "shards": [{shard_id, name, members, leader_id, term, applied, leader_applied, lag}],
//	                                          "nodes": [{id, raft_addr, addrs, registered_at, last_seen, applied, alive}]}
//	POST   /api/v1/cluster/nodes             {"id", "raft_addr"} -> 201 (then start that node with --join)
//	DELETE /api/v1/cluster/nodes/{id}        204
//	GET    /api/v1/groups                    {"groups": [{group, protocol_type, state, members, offsets}]}
//	GET    /api/v1/groups/{group}/offsets    {"group", "state", "metadata"?, "offsets": [{topic, partition, offset,
//	                                          leader_epoch, metadata, commit_time_ms}]}; 404 unknown_group
//	POST   /api/v1/groups/{group}/offsets    {"offsets": [{topic, partition, offset, metadata}]} -> {"group", "committed"}
//	                                          one proposal (meta.Groups.CommitOffsets); 404 unknown_topic,
//	                                          400 invalid_partitions or bad_request
//	DELETE /api/v1/groups/{group}            204; 404 unknown_group, 409 group_not_empty
//
// Errors are {"error": message, "code": code} with 400 (invalid_topic,
// invalid_config, invalid_partitions, bad_request), 404 (unknown_topic,
// unknown_group, not_found), 409 (topic_exists, membership,
// group_not_empty), 503 (unavailable, no_quorum:
// this node cannot reach a meta majority) or 500 (internal).
package main
