package logstore

import (
	"fmt"
	"time"
)

// TopicMeta is what the catalogue keeps for a topic.
type TopicMeta struct {
	Name string `json:"name"`
	// ID is the topic's 16-byte UUID (Kafka topic id), random at creation.
	ID [16]byte `json:"id"`
	// Seq is a small number unique per topic, never reused; the lite engine
	// uses it as the key prefix so that a key costs 8 bytes, not a name.
	Seq        uint64 `json:"seq"`
	Partitions int32  `json:"partitions"`
	// Configs holds only the keys set explicitly; defaults are not stored so
	// that a changed default reaches old topics.
	Configs   map[string]string `json:"configs,omitempty"`
	CreatedAt time.Time         `json:"created_at"`
}

// Catalog persists topic metadata. The logstore uses it through this
// interface only: until the meta package (Dragonboat) exists, FileCatalog
// keeps it in the data directory; meta will implement the same interface.
type Catalog interface {
	// Load returns every topic.
	Load() ([]TopicMeta, error)
	// Put creates or replaces a topic's entry durably.
	Put(TopicMeta) error
	// Delete removes a topic's entry durably; deleting a missing topic is not an error.
	Delete(name string) error
	// NextSeq returns a sequence number never returned before.
	NextSeq() (uint64, error)
	Close() error
}

// ValidateTopicName applies Kafka's rules: 1 to 249 characters of
// [a-zA-Z0-9._-], and not "." or "..".
func ValidateTopicName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: name is empty", ErrInvalidTopic)
	}
	if name == "." || name == ".." {
		return fmt.Errorf("%w: %q is not allowed", ErrInvalidTopic, name)
	}
	if len(name) > 249 {
		return fmt.Errorf("%w: name is %d characters, the maximum is 249", ErrInvalidTopic, len(name))
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%w: %q has the character %q at %d; only [a-zA-Z0-9._-] are allowed", ErrInvalidTopic, name, c, i)
		}
	}
	return nil
}
