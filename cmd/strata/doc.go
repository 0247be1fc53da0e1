// Command strata is the Strata binary: it wires the layers below it into one
// server process (`strata serve`) and carries the operator commands
// (`strata topic ...`, `strata version`, and the tools/ subcommands).
//
// # What it owns
//
//   - the command tree (cobra): serve, version, topic create|list|describe|alter|delete;
//   - configuration: flags, STRATA_* environment variables and strata.yaml;
//   - the HTTP server: /healthz, /readyz, /metrics and the JSON admin API
//     under /api/v1 that the topic commands call;
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
// The topic commands read only --server (or STRATA_SERVER), -o and --timeout.
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
//	raft-addr      127.0.0.1:7100
//
// Loopback, because nothing here is authenticated yet: the admin API can
// delete every topic. As with Mosquitto 2, exposing a listener is a
// deliberate act (--http-addr 0.0.0.0:8080 or :8080). An empty address
// disables a listener, so several nodes can share one machine. Listeners
// whose frontend is not built yet are logged at start-up and not opened.
//
// # Start-up and shutdown order
//
// Start: load config; open the store (directory lock, catalogue, every
// partition's recovery); open the HTTP listener; mark ready (/readyz 200).
//
// On SIGINT or SIGTERM:
//
//  1. /readyz turns 503, so load balancers stop sending traffic;
//  2. the HTTP server stops accepting and waits for in-flight requests
//     (up to shutdown-timeout, then closes them);
//  3. the store stops its retention loop, then flushes and closes every
//     log, the lite database and the catalogue, and releases the lock;
//  4. the process exits 0 (1 if any step failed).
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
//
// Errors are {"error": message, "code": code} with 400 (invalid_topic,
// invalid_config, invalid_partitions, bad_request), 404 (unknown_topic,
// not_found), 409 (topic_exists), 503 (unavailable) or 500 (internal).
package main
