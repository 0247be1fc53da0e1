package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"

	"strata/cache"
	"strata/frontends/dataset"
	"strata/frontends/kafka"
	"strata/logstore"
	"strata/meta"
	"strata/tier"
)

// openDatasets builds the dataset service of `strata serve`. Each
// dataset's objects are read from the store its source names (an s3://
// bucket or a file:// directory), opened on first use like --tier's: the
// endpoint from tier-endpoint or AWS_ENDPOINT_URL (then path-style), the
// credentials from the AWS chain. Each store gets its own block cache
// sized like the tier's (cache-memory; cache-disk under
// <cache-dir>/datasets), its metrics labelled by store.
func openDatasets(cfg Config, node *meta.Node, store *logstore.Store, reg prometheus.Registerer, log *slog.Logger) (*dataset.Service, error) {
	open := func(ctx context.Context, loc tier.Location) (tier.ObjectStore, error) {
		opts := tier.S3Options{Endpoint: cfg.TierEndpoint}
		opts.PathStyle = opts.Endpoint != "" || os.Getenv("AWS_ENDPOINT_URL") != "" || os.Getenv("AWS_ENDPOINT_URL_S3") != ""
		return tier.Open(ctx, loc, opts)
	}
	copts := cache.Options{L1Bytes: cfg.CacheMemory}
	if cfg.CacheDisk > 0 && cfg.CacheDir != "" {
		copts.L2Dir, copts.L2Bytes = filepath.Join(cfg.CacheDir, "datasets"), cfg.CacheDisk
	}
	return dataset.New(dataset.Options{
		Datasets:   meta.NewDatasets(node),
		Topics:     store,
		OpenStore:  open,
		Cache:      copts,
		Registerer: reg,
		Logger:     log,
	})
}

// closeKafka closes a Kafka server that may not have been opened.
func closeKafka(k *kafka.Server) error {
	if k == nil {
		return nil
	}
	return k.Close()
}
