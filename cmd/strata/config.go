package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"

	"strata/tier"
)

// Config keys: each is a `strata serve` flag, a key of strata.yaml and a
// STRATA_<KEY> environment variable ('-' and '.' become '_').
const (
	keyConfig                 = "config"
	keyDataDir                = "data-dir"
	keyHTTPAddr               = "http-addr"
	keyKafkaAddr              = "kafka-addr"
	keyMQTTAddr               = "mqtt-addr"
	keyMQTTTLSAddr            = "mqtt-tls-addr"
	keyMQTTWSAddr             = "mqtt-ws-addr"
	keyMQTTWSSAddr            = "mqtt-wss-addr"
	keyMQTTTLSCert            = "mqtt-tls-cert"
	keyMQTTTLSKey             = "mqtt-tls-key"
	keyMQTTRefuseSubscribe    = "mqtt-refuse-subscribe"
	keyFlightAddr             = "flight-addr"
	keyRaftAddr               = "raft-addr"
	keyNodeID                 = "node-id"
	keyPeers                  = "peers"
	keyJoin                   = "join"
	keyRetentionCheckInterval = "retention-check-interval"
	keyShutdownTimeout        = "shutdown-timeout"
	keyLogLevel               = "log-level"
	keyLogFormat              = "log-format"
	keyTier                   = "tier"
	keyTierEndpoint           = "tier-endpoint"
	keyCacheDir               = "cache-dir"
	keyCacheMemory            = "cache-memory"
	keyCacheDisk              = "cache-disk"
)

// defaultConfigFile is read from the working directory when --config is
// not given and the file exists.
const defaultConfigFile = "strata.yaml"

// Config is the effective configuration of `strata serve`. The yaml tags are
// the keys of strata.yaml, in the order --print-config shows them.
type Config struct {
	DataDir                string        `yaml:"data-dir"`
	HTTPAddr               string        `yaml:"http-addr"`
	KafkaAddr              string        `yaml:"kafka-addr"`
	MQTTAddr               string        `yaml:"mqtt-addr"`
	MQTTTLSAddr            string        `yaml:"mqtt-tls-addr"`
	MQTTWSAddr             string        `yaml:"mqtt-ws-addr"`
	MQTTWSSAddr            string        `yaml:"mqtt-wss-addr"`
	MQTTTLSCert            string        `yaml:"mqtt-tls-cert"`
	MQTTTLSKey             string        `yaml:"mqtt-tls-key"`
	MQTTRefuseSubscribe    []string      `yaml:"mqtt-refuse-subscribe"`
	FlightAddr             string        `yaml:"flight-addr"`
	RaftAddr               string        `yaml:"raft-addr"`
	NodeID                 uint64        `yaml:"node-id"`
	Peers                  string        `yaml:"peers"`
	Join                   bool          `yaml:"join"`
	RetentionCheckInterval time.Duration `yaml:"retention-check-interval"`
	ShutdownTimeout        time.Duration `yaml:"shutdown-timeout"`
	LogLevel               string        `yaml:"log-level"`
	LogFormat              string        `yaml:"log-format"`
	// Tier is the object tier sealed segments of tiered topics are
	// uploaded to: s3://bucket/prefix, or file:///dir; empty is
	// file://<data-dir>/objects (loadConfig fills it in).
	Tier string `yaml:"tier"`
	// TierEndpoint overrides the S3 endpoint (MinIO, Ceph, R2); empty:
	// the SDK's resolution, which honours AWS_ENDPOINT_URL.
	TierEndpoint string `yaml:"tier-endpoint"`
	// CacheDir is the block cache's SSD level (empty: <data-dir>/cache);
	// CacheMemory and CacheDisk bound its memory and disk levels in bytes.
	// The cache serves reads of offloaded segments.
	CacheDir    string `yaml:"cache-dir"`
	CacheMemory int64  `yaml:"cache-memory"`
	CacheDisk   int64  `yaml:"cache-disk"`
	// KafkaSecurity: SASL, the Kafka TLS listener, anonymous access and
	// ACL super users (kafka_security.go).
	KafkaSecurity KafkaSecurityConfig `yaml:",inline"`
	// MQTTSecurity: anonymous access, client certificates, the ACL
	// default, rate limits and the connection cap (mqtt_security.go).
	MQTTSecurity MQTTSecurityConfig `yaml:",inline"`

	// File is the config file that was read; empty when none was.
	File string `yaml:"-"`
}

// DefaultConfig is what `strata serve` runs with no file, env or flags.
// Every listener binds to loopback: an operator exposes one deliberately
// (see doc.go, "Ports").
func DefaultConfig() Config {
	return Config{
		DataDir:                "./data",
		HTTPAddr:               "127.0.0.1:8080",
		KafkaAddr:              "127.0.0.1:9092",
		MQTTAddr:               "127.0.0.1:1883",
		MQTTTLSAddr:            "127.0.0.1:8883",
		MQTTWSAddr:             "127.0.0.1:8083",
		MQTTWSSAddr:            "127.0.0.1:8084",
		FlightAddr:             "127.0.0.1:8815",
		RaftAddr:               "127.0.0.1:7100",
		NodeID:                 1,
		RetentionCheckInterval: 5 * time.Minute,
		ShutdownTimeout:        30 * time.Second,
		LogLevel:               "info",
		LogFormat:              "text",
		CacheMemory:            256 << 20,
		CacheDisk:              8 << 30,
		KafkaSecurity:          defaultKafkaSecurity(),
		MQTTSecurity:           defaultMQTTSecurity(),
	}
}

// listener names a listener address for logging.
type listener struct {
	name, key, addr string
}

// listeners returns every listener, in a fixed order.
func (c Config) listeners() []listener {
	return []listener{
		{"http", keyHTTPAddr, c.HTTPAddr},
		{"kafka", keyKafkaAddr, c.KafkaAddr},
		{"mqtt", keyMQTTAddr, c.MQTTAddr},
		{"mqtt-tls", keyMQTTTLSAddr, c.MQTTTLSAddr},
		{"mqtt-ws", keyMQTTWSAddr, c.MQTTWSAddr},
		{"mqtt-wss", keyMQTTWSSAddr, c.MQTTWSSAddr},
		{"flight", keyFlightAddr, c.FlightAddr},
		{"raft", keyRaftAddr, c.RaftAddr},
	}
}

// Validate checks values that would only fail later, naming the key.
func (c Config) Validate() error {
	if c.DataDir == "" {
		return fmt.Errorf("%s is empty", keyDataDir)
	}
	if c.RaftAddr == "" {
		return fmt.Errorf("%s is empty: meta (Dragonboat) needs a raft listener; a single node can use a loopback address such as 127.0.0.1:7100", keyRaftAddr)
	}
	if c.NodeID == 0 {
		return fmt.Errorf("%s=0: node IDs start at 1", keyNodeID)
	}
	peers, err := c.PeerMap()
	if err != nil {
		return err
	}
	if len(peers) > 0 {
		if c.Join {
			return fmt.Errorf("%s and %s are both set: a joining node takes its members from the cluster", keyJoin, keyPeers)
		}
		if a, ok := peers[c.NodeID]; !ok {
			return fmt.Errorf("%s=%q does not list this node (%s=%d)", keyPeers, c.Peers, keyNodeID, c.NodeID)
		} else if a != c.RaftAddr {
			return fmt.Errorf("%s gives node %d the address %s, but %s is %s", keyPeers, c.NodeID, a, keyRaftAddr, c.RaftAddr)
		}
	}
	for _, l := range c.listeners() {
		if l.addr == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(l.addr); err != nil {
			return fmt.Errorf("%s=%q is not host:port (empty disables the listener): %v", l.key, l.addr, err)
		}
	}
	if c.RetentionCheckInterval <= 0 {
		return fmt.Errorf("%s=%v must be positive", keyRetentionCheckInterval, c.RetentionCheckInterval)
	}
	if c.ShutdownTimeout <= 0 {
		return fmt.Errorf("%s=%v must be positive", keyShutdownTimeout, c.ShutdownTimeout)
	}
	if _, err := parseLogLevel(c.LogLevel); err != nil {
		return err
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return fmt.Errorf("%s=%q, want text or json", keyLogFormat, c.LogFormat)
	}
	if _, err := c.TierLocation(); err != nil {
		return err
	}
	if (c.MQTTTLSCert == "") != (c.MQTTTLSKey == "") {
		return fmt.Errorf("%s and %s go together: set both or neither (without them %s and %s stay closed)",
			keyMQTTTLSCert, keyMQTTTLSKey, keyMQTTTLSAddr, keyMQTTWSSAddr)
	}
	if err := c.validateKafkaSecurity(); err != nil {
		return err
	}
	return c.validateMQTTSecurity()
}

// TierLocation parses Tier (empty: file://<data-dir>/objects). mem:// is
// refused: its objects would vanish with the process while the manifest
// says they are offloaded.
func (c Config) TierLocation() (tier.Location, error) {
	raw := c.Tier
	if raw == "" {
		raw = defaultTier(c.DataDir)
	}
	loc, err := tier.ParseURL(raw)
	if err != nil {
		return tier.Location{}, fmt.Errorf("%s=%q: %v", keyTier, raw, err)
	}
	if loc.Scheme == "mem" {
		return tier.Location{}, fmt.Errorf("%s=%q: an in-memory tier loses its objects at exit; use s3:// or file://", keyTier, raw)
	}
	if c.TierEndpoint != "" && loc.Scheme != "s3" {
		return tier.Location{}, fmt.Errorf("%s=%q is set, but %s=%q is not s3://", keyTierEndpoint, c.TierEndpoint, keyTier, raw)
	}
	return loc, nil
}

// defaultTier is the tier when none is configured: <data-dir>/objects.
func defaultTier(dataDir string) string {
	return "file://" + filepath.ToSlash(filepath.Join(dataDir, "objects"))
}

// PeerMap parses Peers, "1=host:port,2=host:port", into node ID -> raft
// address; empty gives an empty map (a single node).
func (c Config) PeerMap() (map[uint64]string, error) {
	out := map[uint64]string{}
	if strings.TrimSpace(c.Peers) == "" {
		return out, nil
	}
	for _, part := range strings.Split(c.Peers, ",") {
		idStr, addr, ok := strings.Cut(strings.TrimSpace(part), "=")
		id, err := strconv.ParseUint(strings.TrimSpace(idStr), 10, 64)
		if !ok || err != nil || id == 0 {
			return nil, fmt.Errorf("%s=%q: %q is not ID=host:port with an ID from 1", keyPeers, c.Peers, part)
		}
		addr = strings.TrimSpace(addr)
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, fmt.Errorf("%s=%q: node %d: %q is not host:port", keyPeers, c.Peers, id, addr)
		}
		if _, dup := out[id]; dup {
			return nil, fmt.Errorf("%s=%q: node %d is listed twice", keyPeers, c.Peers, id)
		}
		out[id] = addr
	}
	return out, nil
}

// YAML renders c as a strata.yaml, durations as Go duration strings.
func (c Config) YAML() ([]byte, error) {
	type printable struct {
		DataDir                string `yaml:"data-dir"`
		HTTPAddr               string `yaml:"http-addr"`
		KafkaAddr              string `yaml:"kafka-addr"`
		MQTTAddr               string `yaml:"mqtt-addr"`
		MQTTTLSAddr            string `yaml:"mqtt-tls-addr"`
		MQTTWSAddr             string `yaml:"mqtt-ws-addr"`
		FlightAddr             string `yaml:"flight-addr"`
		RaftAddr               string `yaml:"raft-addr"`
		NodeID                 uint64 `yaml:"node-id"`
		Peers                  string `yaml:"peers"`
		Join                   bool   `yaml:"join"`
		RetentionCheckInterval string `yaml:"retention-check-interval"`
		ShutdownTimeout        string `yaml:"shutdown-timeout"`
		LogLevel               string `yaml:"log-level"`
		LogFormat              string `yaml:"log-format"`
		Tier                   string `yaml:"tier"`
		TierEndpoint           string `yaml:"tier-endpoint"`
		CacheDir               string `yaml:"cache-dir"`
		CacheMemory            string `yaml:"cache-memory"`
		CacheDisk              string `yaml:"cache-disk"`
	}
	out, err := yaml.Marshal(printable{
		DataDir: c.DataDir, HTTPAddr: c.HTTPAddr, KafkaAddr: c.KafkaAddr, MQTTAddr: c.MQTTAddr,
		MQTTTLSAddr: c.MQTTTLSAddr, MQTTWSAddr: c.MQTTWSAddr, FlightAddr: c.FlightAddr, RaftAddr: c.RaftAddr,
		NodeID: c.NodeID, Peers: c.Peers, Join: c.Join,
		RetentionCheckInterval: c.RetentionCheckInterval.String(), ShutdownTimeout: c.ShutdownTimeout.String(),
		LogLevel: c.LogLevel, LogFormat: c.LogFormat, Tier: c.Tier, TierEndpoint: c.TierEndpoint,
		CacheDir: c.CacheDir, CacheMemory: humanize.IBytes(uint64(c.CacheMemory)), CacheDisk: humanize.IBytes(uint64(c.CacheDisk)),
	})
	if err != nil {
		return nil, err
	}
	sec, err := kafkaSecurityYAML(c)
	if err != nil {
		return nil, err
	}
	out = append(out, sec...)
	mq, err := yaml.Marshal(struct {
		WSSAddr         string   `yaml:"mqtt-wss-addr"`
		TLSCert         string   `yaml:"mqtt-tls-cert"`
		TLSKey          string   `yaml:"mqtt-tls-key"`
		RefuseSubscribe []string `yaml:"mqtt-refuse-subscribe"`
	}{c.MQTTWSSAddr, c.MQTTTLSCert, c.MQTTTLSKey, c.MQTTRefuseSubscribe})
	if err != nil {
		return nil, err
	}
	out = append(out, mq...)
	if mq, err = mqttSecurityYAML(c); err != nil {
		return nil, err
	}
	out = append(out, mq...)
	file := c.File
	if file == "" {
		file = "none"
	}
	header := "# effective config: flags > STRATA_* env > config file (" + file + ") > defaults\n"
	return append([]byte(header), out...), nil
}

// addServeFlags defines every config key as a flag, with the defaults.
func addServeFlags(fs *pflag.FlagSet) {
	d := DefaultConfig()
	fs.String(keyConfig, "", "config file (default: ./"+defaultConfigFile+" if it exists; env STRATA_CONFIG)")
	fs.String(keyDataDir, d.DataDir, "data directory")
	fs.String(keyHTTPAddr, d.HTTPAddr, "HTTP listener: /healthz, /readyz, /metrics, /api/v1 (empty disables)")
	fs.String(keyKafkaAddr, d.KafkaAddr, "Kafka listener (empty disables)")
	fs.String(keyMQTTAddr, d.MQTTAddr, "MQTT listener (empty disables)")
	fs.String(keyMQTTTLSAddr, d.MQTTTLSAddr, "MQTT over TLS listener (empty disables)")
	fs.String(keyMQTTWSAddr, d.MQTTWSAddr, "MQTT over WebSocket listener, path /mqtt (empty disables)")
	fs.String(keyMQTTWSSAddr, d.MQTTWSSAddr, "MQTT over WebSocket over TLS listener, path /mqtt (empty disables; needs mqtt-tls-cert and mqtt-tls-key)")
	fs.String(keyMQTTTLSCert, "", "PEM certificate (chain) of the MQTT TLS and WSS listeners (without it they stay closed)")
	fs.String(keyMQTTTLSKey, "", "PEM private key of the MQTT TLS and WSS listeners")
	fs.StringArray(keyMQTTRefuseSubscribe, nil, "MQTT topic filter whose subscriptions are refused with reason 0x80 (repeatable)")
	fs.String(keyFlightAddr, d.FlightAddr, "Arrow Flight listener (empty disables)")
	fs.String(keyRaftAddr, d.RaftAddr, "Raft listener of meta (Dragonboat); required, and the address other nodes reach this one at")
	fs.Uint64(keyNodeID, d.NodeID, "this node's ID in the meta cluster (1 and up, unique per cluster)")
	fs.String(keyPeers, d.Peers, "initial cluster members, ID=raft-addr comma-separated, this node included (empty: a single node); used on the first start only")
	fs.Bool(keyJoin, d.Join, "join a running cluster that `strata cluster add-node` added this node to; first start only")
	fs.Duration(keyRetentionCheckInterval, d.RetentionCheckInterval, "how often retention runs on every log")
	fs.Duration(keyShutdownTimeout, d.ShutdownTimeout, "how long shutdown waits for HTTP requests to finish")
	fs.String(keyLogLevel, d.LogLevel, "log level: debug, info, warn, error")
	fs.String(keyLogFormat, d.LogFormat, "log format: text or json")
	fs.String(keyTier, d.Tier, "object tier for sealed segments of tiered topics: s3://bucket/prefix or file:///dir (default file://<data-dir>/objects)")
	fs.String(keyTierEndpoint, d.TierEndpoint, "S3 endpoint of the tier, for MinIO, Ceph, R2 (buckets addressed path-style); empty: AWS_ENDPOINT_URL or AWS's")
	fs.String(keyCacheDir, d.CacheDir, "SSD level of the block cache that serves reads of offloaded segments (default <data-dir>/cache)")
	fs.String(keyCacheMemory, humanize.IBytes(uint64(d.CacheMemory)), "memory level of the block cache, in bytes (256MiB, 1GiB, ...)")
	fs.String(keyCacheDisk, humanize.IBytes(uint64(d.CacheDisk)), "SSD level of the block cache, in bytes (0 disables it)")
	addKafkaSecurityFlags(fs)
	addMQTTSecurityFlags(fs)
}

// fileKeys are the keys a config file may set: every config key but
// "config" itself.
var fileKeys = []string{keyDataDir, keyHTTPAddr, keyKafkaAddr, keyMQTTAddr, keyMQTTTLSAddr, keyMQTTWSAddr, keyFlightAddr,
	keyMQTTWSSAddr, keyMQTTTLSCert, keyMQTTTLSKey, keyMQTTRefuseSubscribe,
	keyRaftAddr, keyNodeID, keyPeers, keyJoin, keyRetentionCheckInterval, keyShutdownTimeout, keyLogLevel, keyLogFormat,
	keyTier, keyTierEndpoint, keyCacheDir, keyCacheMemory, keyCacheDisk}

// loadConfig resolves the effective config: flag > STRATA_* env > config
// file (--config, or ./strata.yaml if present) > default.
func loadConfig(flags *pflag.FlagSet) (Config, error) {
	v := viper.New()
	v.SetEnvPrefix("STRATA")
	v.SetEnvKeyReplacer(strings.NewReplacer("-", "_", ".", "_"))
	// An empty STRATA_KAFKA_ADDR= disables the listener, as an empty flag does.
	v.AllowEmptyEnv(true)
	v.AutomaticEnv()
	if err := v.BindPFlags(flags); err != nil {
		return Config{}, err
	}
	path := v.GetString(keyConfig)
	explicit := path != ""
	if !explicit {
		path = defaultConfigFile
	}
	switch _, err := os.Stat(path); {
	case err == nil:
		v.SetConfigFile(path)
		v.SetConfigType("yaml")
		if err := v.ReadInConfig(); err != nil {
			return Config{}, fmt.Errorf("config file %s: %w", path, err)
		}
		if err := checkFileKeys(path); err != nil {
			return Config{}, err
		}
	case explicit || !errors.Is(err, os.ErrNotExist):
		return Config{}, fmt.Errorf("config file: %w", err)
	}
	c := Config{
		DataDir:      v.GetString(keyDataDir),
		HTTPAddr:     v.GetString(keyHTTPAddr),
		KafkaAddr:    v.GetString(keyKafkaAddr),
		MQTTAddr:     v.GetString(keyMQTTAddr),
		MQTTTLSAddr:  v.GetString(keyMQTTTLSAddr),
		MQTTWSAddr:   v.GetString(keyMQTTWSAddr),
		FlightAddr:   v.GetString(keyFlightAddr),
		RaftAddr:     v.GetString(keyRaftAddr),
		Peers:        v.GetString(keyPeers),
		LogLevel:     strings.ToLower(v.GetString(keyLogLevel)),
		LogFormat:    strings.ToLower(v.GetString(keyLogFormat)),
		Tier:         strings.TrimSpace(v.GetString(keyTier)),
		TierEndpoint: strings.TrimSpace(v.GetString(keyTierEndpoint)),
		CacheDir:     strings.TrimSpace(v.GetString(keyCacheDir)),
	}
	c.MQTTWSSAddr = v.GetString(keyMQTTWSSAddr)
	c.MQTTTLSCert = strings.TrimSpace(v.GetString(keyMQTTTLSCert))
	c.MQTTTLSKey = strings.TrimSpace(v.GetString(keyMQTTTLSKey))
	c.MQTTRefuseSubscribe = v.GetStringSlice(keyMQTTRefuseSubscribe)
	if c.Tier == "" && c.DataDir != "" {
		c.Tier = defaultTier(c.DataDir)
	}
	if c.CacheDir == "" && c.DataDir != "" {
		c.CacheDir = filepath.Join(c.DataDir, "cache")
	}
	if v.ConfigFileUsed() != "" {
		c.File = path
	}
	var err error
	if c.NodeID, err = getUint(v, keyNodeID); err != nil {
		return Config{}, err
	}
	if c.Join, err = getBool(v, keyJoin); err != nil {
		return Config{}, err
	}
	if c.RetentionCheckInterval, err = getDuration(v, keyRetentionCheckInterval); err != nil {
		return Config{}, err
	}
	if c.ShutdownTimeout, err = getDuration(v, keyShutdownTimeout); err != nil {
		return Config{}, err
	}
	if c.CacheMemory, err = getBytes(v, keyCacheMemory); err != nil {
		return Config{}, err
	}
	if c.CacheDisk, err = getBytes(v, keyCacheDisk); err != nil {
		return Config{}, err
	}
	if err := loadKafkaSecurity(v, &c); err != nil {
		return Config{}, err
	}
	if err := loadMQTTSecurity(v, &c); err != nil {
		return Config{}, err
	}
	return c, c.Validate()
}

// getBytes parses a size key: a plain byte count or one with a unit
// (256MiB, 1GB).
func getBytes(v *viper.Viper, key string) (int64, error) {
	raw := strings.TrimSpace(fmt.Sprint(v.Get(key)))
	n, err := humanize.ParseBytes(raw)
	if err != nil || n > math.MaxInt64 {
		return 0, fmt.Errorf("%s=%q is not a size in bytes (like 268435456, 256MiB or 1GB)", key, raw)
	}
	return int64(n), nil
}

// getDuration parses a duration key strictly: viper's GetDuration turns a
// typo into 0 without a word.
func getDuration(v *viper.Viper, key string) (time.Duration, error) {
	switch x := v.Get(key).(type) {
	case time.Duration:
		return x, nil
	case string:
		d, err := time.ParseDuration(strings.TrimSpace(x))
		if err != nil {
			return 0, fmt.Errorf("%s=%q is not a duration (like 30s or 5m): %v", key, x, err)
		}
		return d, nil
	default:
		return 0, fmt.Errorf("%s=%v is not a duration (like 30s or 5m)", key, x)
	}
}

// getUint parses an unsigned integer key strictly.
func getUint(v *viper.Viper, key string) (uint64, error) {
	switch x := v.Get(key).(type) {
	case uint64:
		return x, nil
	case int:
		if x >= 0 {
			return uint64(x), nil
		}
	case string:
		n, err := strconv.ParseUint(strings.TrimSpace(x), 10, 64)
		if err == nil {
			return n, nil
		}
	}
	return 0, fmt.Errorf("%s=%v is not a non-negative integer", key, v.Get(key))
}

// getBool parses a boolean key strictly.
func getBool(v *viper.Viper, key string) (bool, error) {
	switch x := v.Get(key).(type) {
	case bool:
		return x, nil
	case string:
		b, err := strconv.ParseBool(strings.TrimSpace(x))
		if err == nil {
			return b, nil
		}
	}
	return false, fmt.Errorf("%s=%v is not true or false", key, v.Get(key))
}

// checkFileKeys rejects keys in the config file that no flag defines, so a
// typo fails loudly instead of being ignored.
func checkFileKeys(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var m map[string]any
	if err := yaml.Unmarshal(data, &m); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	var unknown []string
	for k := range m {
		if !slices.Contains(fileKeys, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return fmt.Errorf("config file %s: unknown key %s (known: %s)", path, strings.Join(unknown, ", "),
			strings.Join(slices.Sorted(slices.Values(fileKeys)), ", "))
	}
	return nil
}

func parseLogLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "info", "":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("%s=%q, want debug, info, warn or error", keyLogLevel, s)
}

// newLogger builds the process logger from the config.
func newLogger(c Config, w io.Writer) *slog.Logger {
	level, _ := parseLogLevel(c.LogLevel)
	opts := &slog.HandlerOptions{Level: level}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
