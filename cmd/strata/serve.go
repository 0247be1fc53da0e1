package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"strata/cache"
	"strata/frontends/dataset"
	"strata/frontends/kafka"
	"strata/frontends/mqtt"
	"strata/logstore"
	"strata/meta"
	"strata/tier"
)

func newServeCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the Strata server (store, HTTP API, and every listener that exists so far)",
		Long: `Run the Strata server in the foreground until SIGINT or SIGTERM.

Configuration comes from flags, STRATA_* environment variables (STRATA_HTTP_ADDR
for --http-addr) and strata.yaml (--config, or ./strata.yaml when present), in
that order of precedence. An empty listener address disables that listener.`,
		Example: "  strata serve --data-dir /var/lib/strata\n" +
			"  strata serve --http-addr 0.0.0.0:8080 --kafka-addr ''\n" +
			"  STRATA_LOG_FORMAT=json strata serve --print-config",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd.Flags())
			if err != nil {
				return err
			}
			if printCfg, _ := cmd.Flags().GetBool("print-config"); printCfg {
				out, err := cfg.YAML()
				if err != nil {
					return err
				}
				_, err = cmd.OutOrStdout().Write(out)
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			go func() {
				// After the first signal, restore the default handling: a
				// second Ctrl-C ends a shutdown that hangs.
				<-ctx.Done()
				stop()
			}()
			return serve(ctx, cfg, newLogger(cfg, cmd.ErrOrStderr()))
		},
	}
	addServeFlags(cmd.Flags())
	cmd.Flags().Bool("print-config", false, "print the effective config as YAML and exit")
	return cmd
}

// serve runs the server until ctx is done, then shuts down in order:
// readyz turns 503, the HTTP listener stops accepting and in-flight
// requests drain (up to ShutdownTimeout), then the store flushes and closes
// every log. A clean shutdown returns nil, so the process exits 0.
func serve(ctx context.Context, cfg Config, log *slog.Logger) error {
	v, rev, gv := buildInfo()
	log.Info("strata starting", "version", v, "commit", rev, "go", gv, "data_dir", cfg.DataDir, "config_file", cfg.File)

	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{Namespace: "strata"}),
		buildInfoCollector(v, rev, gv),
	)
	// HTTP opens first, so that /healthz answers and /readyz says 503
	// while meta waits for its quorum (the other nodes of a new cluster
	// may take minutes to come up); the full API is swapped in once ready.
	var handler atomic.Pointer[http.Handler]
	starting := startingHandler(reg)
	handler.Store(&starting)
	var srv *http.Server
	httpErr := make(chan error, 1)
	if cfg.HTTPAddr != "" {
		ln, err := net.Listen("tcp", cfg.HTTPAddr)
		if err != nil {
			return fmt.Errorf("%s: %w", keyHTTPAddr, err)
		}
		srv = &http.Server{
			Handler:           http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*handler.Load()).ServeHTTP(w, r) }),
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		}
		go func() { httpErr <- srv.Serve(ln) }()
		log.Info("listening", "listener", "http", "addr", ln.Addr().String())
	}
	started := false
	defer func() {
		if !started && srv != nil {
			srv.Close() // a start-up failure: no graceful drain needed
		}
	}()

	node, catalog, err := openMeta(ctx, cfg, log)
	if err != nil || node == nil {
		return err // node == nil: stopped by a signal while waiting for a quorum
	}
	manifests := meta.NewManifests(node)
	var objects tier.ObjectStore
	if node.SoleMember(meta.ShardManifests) {
		if objects, err = openTier(ctx, cfg, log); err != nil {
			return errors.Join(err, catalog.Close(), node.Close())
		}
	} else {
		log.Info("the object tier is not used in a multi-node cluster: sealed segments stay local until partition data is replicated")
	}
	var blocks *cache.Cache
	if objects != nil {
		if blocks, err = openCache(cfg, objects, reg, log); err != nil {
			return errors.Join(err, catalog.Close(), node.Close())
		}
	}
	var segObjects *logstore.SegmentObjects
	if objects != nil {
		if segObjects, err = logstore.NewSegmentObjects(objects, tier.RetryOptions{}); err != nil {
			return errors.Join(err, closeCache(blocks), catalog.Close(), node.Close())
		}
	}
	offloader, err := meta.NewManifestOffloader(manifests, meta.ManifestOffloaderOptions{Logger: log, Owns: ownsManifests(node), Objects: segObjects})
	if err != nil {
		return errors.Join(err, closeCache(blocks), catalog.Close(), node.Close())
	}
	closeMeta := func() error {
		// The offloader first: its worker proposes through the node.
		return errors.Join(offloader.Close(), closeCache(blocks), catalog.Close(), node.Close())
	}
	var remote logstore.RemoteReader
	if blocks != nil {
		remote = blocks // not a typed nil: without a tier the Store has no Remote
	}
	store, err := logstore.OpenStore(logstore.StoreOptions{
		Dir:                    cfg.DataDir,
		Catalog:                catalog,
		Offloader:              offloader,
		Remote:                 remote,
		Logger:                 log,
		RetentionCheckInterval: cfg.RetentionCheckInterval,
		Registerer:             reg,
	})
	if err != nil {
		return errors.Join(err, closeMeta())
	}
	if node.SoleMember(meta.ShardManifests) {
		if err := reconcileManifests(ctx, cfg.DataDir, store, manifests, objects, log); err != nil {
			return errors.Join(err, store.Close(), closeMeta())
		}
	} else {
		log.Info("segment manifests are not recorded in a multi-node cluster: each node keeps its own log of every partition until partition data is replicated")
	}
	// Topics created, changed or deleted through another node: open or
	// remove their partitions here. Runs on the node's notifier goroutine.
	node.OnTopicsChanged(func() {
		if err := store.Reconcile(); err != nil && !errors.Is(err, logstore.ErrClosed) {
			log.Error("reconciling the store with the meta catalogue", "err", err)
		}
	})

	var ready atomic.Bool
	datasets, err := openDatasets(cfg, node, store, reg, log)
	if err != nil {
		return errors.Join(err, store.Close(), closeMeta())
	}
	defer datasets.Close() // after the listeners that read through it
	api := &httpAPI{store: store, node: node, gatherer: reg, log: log, ready: &ready, datasets: datasets}
	full := api.handler()
	handler.Store(&full)
	var kafkaSrv *kafka.Server
	var flightSrv *dataset.FlightServer
	var mqttSrv *mqtt.Server
	// The unified pipeline (pipeline.go): MQTT's Router, fed by Kafka's OnAppend.
	pipe, err := openPipeline(store, node, reg, log)
	if err != nil {
		return errors.Join(err, store.Close(), closeMeta())
	}
	defer pipe.Close()
	// MQTT security (mqtt_security.go): users, client certificates, ACL rules, rate limits.
	mqttSec, err := cfg.openMQTTSecurity(node, reg, log)
	if err != nil {
		return errors.Join(err, store.Close(), closeMeta())
	}
	defer mqttSec.Close() // after the MQTT server, which asks it
	// MQTT persistent sessions and retained messages (frontends/mqtt/pebblestore.go), opened with the first MQTT listener.
	var mqttStore *mqtt.PebbleStore
	defer func() {
		if mqttStore != nil {
			mqttStore.Close() // after the MQTT server, which stores every session on Close
		}
	}()
	for _, l := range cfg.listeners()[1:] {
		if l.key == keyRaftAddr {
			continue // meta's, open since openMeta
		}
		if l.addr == "" {
			log.Info("listener disabled", "listener", l.name)
			continue
		}
		if l.key == keyKafkaAddr {
			// Security: SASL, TLS and ACL options (kafka_security.go).
			var sec kafka.SecurityOptions
			sec, err = cfg.kafkaSecurityOptions()
			if err == nil {
				kopts := kafka.Options{Store: store, Node: node, Logger: log, DataDir: cfg.DataDir,
					ShutdownTimeout: cfg.ShutdownTimeout, Registerer: reg, Security: sec, OnAppend: pipe.onAppend}
				cfg.kafkaBrokerOptions(&kopts)
				kafkaSrv, err = kafka.NewServer(kopts)
			}
			if err == nil {
				_, err = kafkaSrv.Listen(l.addr)
			}
			if err == nil && cfg.KafkaSecurity.KafkaTLSAddr != "" {
				_, err = kafkaSrv.ListenTLS(cfg.KafkaSecurity.KafkaTLSAddr)
			}
			if err != nil {
				return errors.Join(fmt.Errorf("%s: %w", keyKafkaAddr, err), store.Close(), closeMeta())
			}
			continue
		}
		if isMQTTKey(l.key) {
			if mqttStore == nil {
				mqttStore, err = mqtt.OpenPebbleStore(mqtt.PebbleStoreOptions{Dir: filepath.Join(cfg.DataDir, mqtt.StoreDirName), Logger: log})
			}
			if err == nil {
				mqttSrv, err = listenMQTT(mqttSrv, cfg, l, store, node, log, pipe, mqttSec, mqttStore)
			}
			if err != nil {
				return errors.Join(fmt.Errorf("%s: %w", l.key, err), closeMQTT(mqttSrv), closeKafka(kafkaSrv), store.Close(), closeMeta())
			}
			continue
		}
		if l.key == keyFlightAddr {
			if flightSrv, err = datasets.ListenFlight(l.addr); err != nil {
				return errors.Join(fmt.Errorf("%s: %w", keyFlightAddr, err), closeMQTT(mqttSrv), closeKafka(kafkaSrv), store.Close(), closeMeta())
			}
			continue
		}
		log.Info("frontend for this listener is not built yet; nothing is opened", "listener", l.name, "addr", l.addr)
	}
	if mqttSrv != nil {
		registerMQTTMetrics(reg, mqttSrv, mqttStore, log) // strata_mqtt_* (mqtt_metrics.go)
	}
	started = true
	ready.Store(true)
	log.Info("strata ready")

	var runErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down", "cause", context.Cause(ctx))
	case err := <-httpErr:
		runErr = fmt.Errorf("http server: %w", err)
		log.Error("http server failed; shutting down", "err", err)
	}

	ready.Store(false)
	if srv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		if err := srv.Shutdown(sctx); err != nil {
			log.Warn("http requests still running at the shutdown timeout; closing them", "err", err)
			srv.Close()
		}
		cancel()
	}
	if kafkaSrv != nil {
		kafkaSrv.Close() // in-flight requests finish before the store closes
	}
	if mqttSrv != nil {
		mqttSrv.Close() // clients are disconnected and sessions stored before the store closes
	}
	if flightSrv != nil {
		flightSrv.Close() // running streams are cancelled before the store closes
	}
	if err := store.Close(); err != nil {
		runErr = errors.Join(runErr, fmt.Errorf("close store: %w", err))
	}
	if err := closeMeta(); err != nil {
		runErr = errors.Join(runErr, fmt.Errorf("close meta: %w", err))
	}
	log.Info("strata stopped")
	return runErr
}

// MetaDirName is meta's directory (the Dragonboat NodeHost) under the data directory.
const MetaDirName = "meta"

// quorumLogInterval is how often start-up says it is still waiting for a
// meta quorum (the other nodes of a cluster are not up yet).
const quorumLogInterval = 5 * time.Second

// openMeta starts this node's meta replica, waits until it reaches a
// quorum (a single node: its own election, about a second), and imports
// a pre-meta catalog.json. A signal while waiting returns nil, nil, nil.
func openMeta(ctx context.Context, cfg Config, log *slog.Logger) (*meta.Node, *meta.Catalog, error) {
	peers, err := cfg.PeerMap()
	if err != nil {
		return nil, nil, err
	}
	node, err := meta.OpenNode(meta.NodeOptions{
		NodeID:   cfg.NodeID,
		RaftAddr: cfg.RaftAddr,
		Peers:    peers,
		Join:     cfg.Join,
		Dir:      filepath.Join(cfg.DataDir, MetaDirName),
		ClientAddrs: map[string]string{
			meta.ProtoHTTP: cfg.HTTPAddr, meta.ProtoKafka: cfg.KafkaAddr, meta.ProtoMQTT: cfg.MQTTAddr, meta.ProtoFlight: cfg.FlightAddr,
		},
		Logger: log,
	})
	if err != nil {
		return nil, nil, err
	}
	log.Info("listening", "listener", "raft", "addr", cfg.RaftAddr)
	// A topic deleted through this node also loses its manifests, group
	// offsets and placements, proposed here once (not by every node).
	catalog, err := meta.NewCatalog(node, meta.CatalogOptions{DropOnDelete: true, Logger: log})
	if err != nil {
		return nil, nil, errors.Join(err, node.Close())
	}
	start := time.Now()
	for {
		rctx, cancel := context.WithTimeout(ctx, quorumLogInterval)
		ok := node.Ready(rctx) && allShardsLed(rctx, node)
		cancel()
		if ok {
			break
		}
		if ctx.Err() != nil {
			log.Info("shutting down", "cause", context.Cause(ctx))
			err := errors.Join(catalog.Close(), node.Close())
			log.Info("strata stopped")
			return nil, nil, err
		}
		log.Warn("waiting for a meta quorum (are the other nodes up?)", "node_id", cfg.NodeID, "peers", cfg.Peers,
			"waited", time.Since(start).Round(time.Second))
	}
	log.Info("meta ready", "node_id", cfg.NodeID, "after", time.Since(start).Round(time.Millisecond))
	if _, err := catalog.ImportFile(nil, cfg.DataDir, log); err != nil {
		return nil, nil, errors.Join(err, catalog.Close(), node.Close())
	}
	return node, catalog, nil
}

// ownsManifests is the ManifestOffloader's Owns: the manifest holds one
// segment list per partition, and until partition data is replicated every
// node of a cluster has its own log of every partition, so only a single
// node records (and a cluster records nothing).
func ownsManifests(node *meta.Node) func(string, int32) bool {
	return func(string, int32) bool { return node.SoleMember(meta.ShardManifests) }
}

// tierHeadTimeout bounds one Head of start-up reconciliation.
const tierHeadTimeout = 10 * time.Second

// openTier opens the object store cfg.Tier names (file://<data-dir>/objects
// by default). An s3:// tier takes its endpoint from tier-endpoint (then
// addressed path-style, as MinIO-like servers want) or from the SDK's
// resolution (AWS_ENDPOINT_URL, also path-style, or AWS itself), and its
// credentials from the AWS chain.
func openTier(ctx context.Context, cfg Config, log *slog.Logger) (tier.ObjectStore, error) {
	loc, err := cfg.TierLocation()
	if err != nil {
		return nil, err
	}
	opts := tier.S3Options{Endpoint: cfg.TierEndpoint}
	opts.PathStyle = opts.Endpoint != "" || os.Getenv("AWS_ENDPOINT_URL") != "" || os.Getenv("AWS_ENDPOINT_URL_S3") != ""
	store, err := tier.Open(ctx, loc, opts)
	if err != nil {
		return nil, fmt.Errorf("%s=%s: %w", keyTier, loc, err)
	}
	log.Info("object tier", "location", loc.String(), "endpoint", cfg.TierEndpoint)
	return store, nil
}

// openCache opens the block cache that serves reads of offloaded segments:
// memory (cache-memory), SSD (cache-dir, cache-disk), then the object tier
// with retries (a few quick ones: a consumer's read waits on them, and its
// next fetch retries anyway).
func openCache(cfg Config, objects tier.ObjectStore, reg prometheus.Registerer, log *slog.Logger) (*cache.Cache, error) {
	opts := cache.Options{
		Store:      tier.WithRetry(objects, tier.RetryOptions{MaxAttempts: 3, Timeout: 10 * time.Second}),
		L1Bytes:    cfg.CacheMemory,
		Registerer: reg,
		Logger:     log,
	}
	if cfg.CacheDisk > 0 {
		opts.L2Dir, opts.L2Bytes = cfg.CacheDir, cfg.CacheDisk
	}
	c, err := cache.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("block cache: %w", err)
	}
	return c, nil
}

func closeCache(c *cache.Cache) error {
	if c == nil {
		return nil
	}
	return c.Close()
}

// manifestReconcileTimeout bounds the start-up reconciliation (one read of
// every manifest, then a proposal per action).
const manifestReconcileTimeout = 2 * time.Minute

// reconcileManifests brings the segment manifests and the files of
// <data>/topics back into agreement after a crash (meta.ReconcileTopicsDir),
// for the segment-backed partitions of the catalogued topics: after the
// Store opened (recovery has cut torn tails); the offloader's uploads may
// already run, which Apply allows for. With an object tier, objects are
// looked up with Head. Each action is logged at info; a report's problems (data lost or
// damaged, which no proposal repairs) at error level. Only I/O and
// proposal failures stop the start.
func reconcileManifests(ctx context.Context, dataDir string, store *logstore.Store, manifests *meta.Manifests, objects tier.ObjectStore, log *slog.Logger) error {
	segmentBacked := map[string]bool{}
	parts := map[string]int32{}
	for _, t := range store.Topics() {
		c := t.Config
		if c.Mode != logstore.ModeMemory && (c.Mode == logstore.ModeHybrid || c.Engine == logstore.EngineSegment) {
			segmentBacked[t.Name] = true
			parts[t.Name] = t.Partitions
		}
	}
	include := func(topic string, p int32) bool { return segmentBacked[topic] && p < parts[topic] }
	ctx, cancel := context.WithTimeout(ctx, manifestReconcileTimeout)
	defer cancel()
	// Without an object tier no object exists. With one, a Head that
	// fails counts as absent: an uploading entry whose file is there is
	// reset and uploaded again, and an offloaded entry whose object cannot
	// be seen is reported, never dropped.
	exists := func(string) bool { return false }
	if objects != nil {
		exists = func(key string) bool {
			hctx, hcancel := context.WithTimeout(ctx, tierHeadTimeout)
			defer hcancel()
			_, err := objects.Head(hctx, key)
			return err == nil
		}
	}
	start := time.Now()
	reports, err := meta.ReconcileTopicsDir(ctx, filepath.Join(dataDir, logstore.TopicsDirName), manifests, exists, include)
	if err != nil {
		return fmt.Errorf("reconcile segment manifests: %w", err)
	}
	actions, problems := 0, 0
	for _, r := range reports {
		for _, a := range r.Actions {
			actions++
			log.Info("segment manifest reconciled", "topic", r.Topic, "partition", r.Partition, "action", a.Kind,
				"base", a.Segment.Base, "last", a.Segment.Last, "reason", a.Reason)
		}
		if err := r.Err(); err != nil {
			problems += len(r.Problems)
			log.Error("segment manifest and files disagree", "topic", r.Topic, "partition", r.Partition, "err", err)
		}
	}
	log.Info("segment manifests reconciled", "partitions", len(reports), "actions", actions, "problems", problems,
		"took", time.Since(start).Round(time.Millisecond))
	return nil
}

// allShardsLed waits until every shard on this node knows a leader (or ctx
// ends). Shards elect independently: Ready proves the topics shard only, and
// without this the first group commit or topic delete (which drops offsets
// and manifests) after start-up would wait out another shard's election
// while holding the Store's admin lock.
func allShardsLed(ctx context.Context, node *meta.Node) bool {
	for !node.Status().HasLeader {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(10 * time.Millisecond):
		}
	}
	return true
}

// buildInfoCollector exports strata_build_info{version,commit,goversion} 1.
func buildInfoCollector(v, rev, gv string) prometheus.Collector {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "strata_build_info",
		Help:        "Build of the running binary; always 1.",
		ConstLabels: prometheus.Labels{"version": v, "commit": rev, "goversion": gv},
	})
	g.Set(1)
	return g
}

// startingHandler serves the HTTP listener until the node is ready:
// /healthz 200 (the process is up), /metrics, and 503 for everything else,
// /readyz included, with the reason.
func startingHandler(reg prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "not ready: starting (waiting for a meta quorum, then opening the store)\n")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusServiceUnavailable, codeUnavailable, "starting: waiting for a meta quorum, then opening the store")
	})
	return mux
}

// isMQTTKey reports whether key is one of the MQTT listeners.
func isMQTTKey(key string) bool {
	return key == keyMQTTAddr || key == keyMQTTTLSAddr || key == keyMQTTWSAddr || key == keyMQTTWSSAddr
}

// listenMQTT opens one MQTT listener, creating the server on the first
// (srv nil). TLS and WSS need mqtt-tls-cert and mqtt-tls-key; without
// them those listeners stay closed, with a log line.
func listenMQTT(srv *mqtt.Server, cfg Config, l listener, store *logstore.Store, node *meta.Node, log *slog.Logger, pipe *pipeline, sec *mqtt.Security, ms *mqtt.PebbleStore) (*mqtt.Server, error) {
	tlsListener := l.key == keyMQTTTLSAddr || l.key == keyMQTTWSSAddr
	if tlsListener && cfg.MQTTTLSCert == "" {
		log.Info("MQTT TLS listener not opened: set mqtt-tls-cert and mqtt-tls-key", "listener", l.name, "addr", l.addr)
		return srv, nil
	}
	if srv == nil {
		opts := mqtt.Options{Store: store, Node: node, Logger: log, RefuseSubscribe: cfg.MQTTRefuseSubscribe, ShutdownTimeout: cfg.ShutdownTimeout,
			Router: pipe.mqttRouter()}
		opts.Sessions, opts.Retained = ms.Sessions(), ms.Retained() // durable: <data>/mqtt
		if cfg.MQTTTLSCert != "" {
			cert, err := tls.LoadX509KeyPair(cfg.MQTTTLSCert, cfg.MQTTTLSKey)
			if err != nil {
				return nil, fmt.Errorf("%s/%s: %w", keyMQTTTLSCert, keyMQTTTLSKey, err)
			}
			opts.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		}
		if err := cfg.applyMQTTSecurity(&opts, sec); err != nil {
			return nil, err
		}
		var err error
		if srv, err = mqtt.NewServer(opts); err != nil {
			return nil, err
		}
		pipe.attach(srv) // Kafka -> MQTT reverse delivery
	}
	var err error
	switch l.key {
	case keyMQTTAddr:
		_, err = srv.Listen(l.addr)
	case keyMQTTTLSAddr:
		_, err = srv.ListenTLS(l.addr)
	case keyMQTTWSAddr:
		_, err = srv.ListenWebSocket(l.addr)
	case keyMQTTWSSAddr:
		_, err = srv.ListenWebSocketTLS(l.addr)
	}
	return srv, err
}

// closeMQTT closes an MQTT server that may not have been opened.
func closeMQTT(s *mqtt.Server) error {
	if s == nil {
		return nil
	}
	return s.Close()
}
