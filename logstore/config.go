package logstore

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Storage modes (DESIGN.md, "Data model").
const (
	ModeMemory     = "memory"
	ModeHybrid     = "hybrid"
	ModePersistent = "persistent"
	ModeTiered     = "tiered"
)

// Engines.
const (
	EngineSegment = "segment"
	EngineLite    = "lite"
	EngineMemory  = "memory"
)

// Topic config keys. These are the Kafka topic config names where Kafka has
// one, so kcat/kadm users set them the Kafka way.
const (
	KeyStorageMode    = "storage.mode"
	KeyStorageEngine  = "storage.engine"
	KeyRetentionBytes = "retention.bytes"
	KeyRetentionMs    = "retention.ms"
	KeySegmentBytes   = "segment.bytes"
	KeySegmentMs      = "segment.ms"
	KeyFlushMessages  = "flush.messages"
	KeyFlushMs        = "flush.ms"
	// KeyLocalRetentionBytes and KeyLocalRetentionMs bound the local copy
	// of a tiered topic (Kafka's KIP-405 names): sealed segments past them
	// that are safely in the object store are evicted from local disk but
	// stay readable through the cache. -2 means "the same as retention.*".
	KeyLocalRetentionBytes = "local.retention.bytes"
	KeyLocalRetentionMs    = "local.retention.ms"
)

// Defaults. flush.messages=1 is Strata's durable default (Kafka's is
// Long.MAX_VALUE): every append is fsynced before it is acknowledged, with
// concurrent appends sharing one fsync (group commit).
const (
	DefaultRetentionBytes     = -1
	DefaultRetentionMs        = 7 * 24 * 3600 * 1000
	DefaultSegmentBytes       = 1 << 30
	DefaultSegmentMs          = 7 * 24 * 3600 * 1000
	DefaultFlushMessages      = 1
	DefaultFlushMs            = 0
	DefaultMemoryBytes        = 256 << 20 // bound for memory/hybrid logs when retention.bytes is -1
	MinSegmentBytes           = 4 << 10
	MaxSegmentBytes           = 1 << 31 // positions in the index are uint32
	DefaultIndexIntervalBytes = 4096
	// LocalRetentionAsTotal is local.retention.*'s default: follow retention.*.
	LocalRetentionAsTotal = -2
)

// TopicConfig is the parsed, validated per-topic configuration.
type TopicConfig struct {
	Mode           string
	Engine         string
	RetentionBytes int64 // -1 = unlimited
	RetentionMs    int64 // -1 = unlimited
	SegmentBytes   int64
	SegmentMs      int64
	FlushMessages  int64 // fsync once this many messages are unsynced; 1 = every append
	FlushMs        int64 // fsync at least this often; 0 = no timer
	// LocalRetentionBytes and LocalRetentionMs bound the local copy of a
	// tiered topic; -2 = as retention.*, -1 = unlimited.
	LocalRetentionBytes int64
	LocalRetentionMs    int64
}

// LocalLimits returns the effective local retention limits of a tiered
// topic (-1 = unlimited), resolving -2 to retention.*.
func (c TopicConfig) LocalLimits() (bytes, ms int64) {
	bytes, ms = c.LocalRetentionBytes, c.LocalRetentionMs
	if bytes == LocalRetentionAsTotal {
		bytes = c.RetentionBytes
	}
	if ms == LocalRetentionAsTotal {
		ms = c.RetentionMs
	}
	return bytes, ms
}

// ConfigKeys lists every topic config key, sorted.
func ConfigKeys() []string {
	return []string{KeyFlushMessages, KeyFlushMs, KeyLocalRetentionBytes, KeyLocalRetentionMs, KeyRetentionBytes, KeyRetentionMs, KeySegmentBytes, KeySegmentMs, KeyStorageEngine, KeyStorageMode}
}

// DefaultTopicConfig returns the config a topic gets with no overrides.
func DefaultTopicConfig() TopicConfig {
	return TopicConfig{
		Mode:           ModePersistent,
		Engine:         EngineSegment,
		RetentionBytes: DefaultRetentionBytes,
		RetentionMs:    DefaultRetentionMs,
		SegmentBytes:   DefaultSegmentBytes,
		SegmentMs:      DefaultSegmentMs,
		FlushMessages:  DefaultFlushMessages,
		FlushMs:        DefaultFlushMs,

		LocalRetentionBytes: LocalRetentionAsTotal,
		LocalRetentionMs:    LocalRetentionAsTotal,
	}
}

// ParseTopicConfig applies overrides (key -> value, as a user types them) to
// the defaults and validates the result. An unknown key or bad value gives
// an ErrInvalidConfig naming the key.
func ParseTopicConfig(overrides map[string]string) (TopicConfig, error) {
	c := DefaultTopicConfig()
	engineSet := false
	for _, k := range slices.Sorted(maps.Keys(overrides)) {
		v := strings.TrimSpace(overrides[k])
		var err error
		switch k {
		case KeyStorageMode:
			c.Mode = v
		case KeyStorageEngine:
			c.Engine, engineSet = v, true
		case KeyRetentionBytes:
			c.RetentionBytes, err = parseInt(k, v, -1)
		case KeyRetentionMs:
			c.RetentionMs, err = parseInt(k, v, -1)
		case KeySegmentBytes:
			c.SegmentBytes, err = parseInt(k, v, MinSegmentBytes)
			if err == nil && c.SegmentBytes > MaxSegmentBytes {
				err = fmt.Errorf("%w: %s=%s is above the maximum %d", ErrInvalidConfig, k, v, int64(MaxSegmentBytes))
			}
		case KeySegmentMs:
			c.SegmentMs, err = parseInt(k, v, 1)
		case KeyFlushMessages:
			c.FlushMessages, err = parseInt(k, v, 1)
		case KeyFlushMs:
			c.FlushMs, err = parseInt(k, v, 0)
		case KeyLocalRetentionBytes:
			c.LocalRetentionBytes, err = parseInt(k, v, LocalRetentionAsTotal)
		case KeyLocalRetentionMs:
			c.LocalRetentionMs, err = parseInt(k, v, LocalRetentionAsTotal)
		default:
			err = fmt.Errorf("%w: unknown key %q (known: %s)", ErrInvalidConfig, k, strings.Join(ConfigKeys(), ", "))
		}
		if err != nil {
			return c, err
		}
	}
	if !engineSet {
		c.Engine = DefaultEngine(c.Mode)
	}
	return c, c.Validate()
}

// DefaultEngine is the engine a mode uses when storage.engine is not set.
func DefaultEngine(mode string) string {
	switch mode {
	case ModeMemory, ModeHybrid:
		return EngineMemory
	default:
		return EngineSegment
	}
}

// Validate checks that mode and engine go together.
func (c TopicConfig) Validate() error {
	ok := false
	switch c.Mode {
	case ModeMemory, ModeHybrid:
		ok = c.Engine == EngineMemory
	case ModePersistent:
		ok = c.Engine == EngineSegment || c.Engine == EngineLite
	case ModeTiered:
		ok = c.Engine == EngineSegment
	default:
		return fmt.Errorf("%w: %s=%q, want one of memory, hybrid, persistent, tiered", ErrInvalidConfig, KeyStorageMode, c.Mode)
	}
	if !ok {
		return fmt.Errorf("%w: %s=%s cannot use %s=%s (memory and hybrid use memory; persistent uses segment or lite; tiered uses segment)",
			ErrInvalidConfig, KeyStorageMode, c.Mode, KeyStorageEngine, c.Engine)
	}
	// Kafka's rule: the local copy cannot be kept longer than the log.
	if c.RetentionBytes >= 0 && c.LocalRetentionBytes > c.RetentionBytes {
		return fmt.Errorf("%w: %s=%d is above %s=%d", ErrInvalidConfig, KeyLocalRetentionBytes, c.LocalRetentionBytes, KeyRetentionBytes, c.RetentionBytes)
	}
	if c.RetentionMs >= 0 && c.LocalRetentionMs > c.RetentionMs {
		return fmt.Errorf("%w: %s=%d is above %s=%d", ErrInvalidConfig, KeyLocalRetentionMs, c.LocalRetentionMs, KeyRetentionMs, c.RetentionMs)
	}
	return nil
}

// Map renders every key of c as strings, as DescribeConfigs shows them.
func (c TopicConfig) Map() map[string]string {
	return map[string]string{
		KeyStorageMode:    c.Mode,
		KeyStorageEngine:  c.Engine,
		KeyRetentionBytes: strconv.FormatInt(c.RetentionBytes, 10),
		KeyRetentionMs:    strconv.FormatInt(c.RetentionMs, 10),
		KeySegmentBytes:   strconv.FormatInt(c.SegmentBytes, 10),
		KeySegmentMs:      strconv.FormatInt(c.SegmentMs, 10),
		KeyFlushMessages:  strconv.FormatInt(c.FlushMessages, 10),
		KeyFlushMs:        strconv.FormatInt(c.FlushMs, 10),

		KeyLocalRetentionBytes: strconv.FormatInt(c.LocalRetentionBytes, 10),
		KeyLocalRetentionMs:    strconv.FormatInt(c.LocalRetentionMs, 10),
	}
}

// MemoryBound is the byte bound of a memory or hybrid log.
func (c TopicConfig) MemoryBound() int64 {
	if c.RetentionBytes > 0 {
		return c.RetentionBytes
	}
	return DefaultMemoryBytes
}

// SegmentDuration is segment.ms as a duration.
func (c TopicConfig) SegmentDuration() time.Duration {
	return time.Duration(c.SegmentMs) * time.Millisecond
}

func parseInt(k, v string, minimum int64) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %s=%q is not an integer", ErrInvalidConfig, k, v)
	}
	if n < minimum {
		return 0, fmt.Errorf("%w: %s=%d is below the minimum %d", ErrInvalidConfig, k, n, minimum)
	}
	return n, nil
}
