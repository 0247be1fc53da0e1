package main

import (
	"fmt"
	"math"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"

	"strata/frontends/kafka"
)

// Config keys of the Kafka listener's security: SASL, the TLS listener,
// anonymous access and ACL super users.
const (
	keyKafkaSASL                = "kafka-sasl"
	keyKafkaSASLSessionLifetime = "kafka-sasl-session-lifetime"
	keyKafkaAllowAnonymous      = "kafka-allow-anonymous"
	keyKafkaSuperUsers          = "kafka-super-users"
	keyKafkaAllowEveryoneNoACL  = "kafka-allow-everyone-if-no-acl-found"
	keyKafkaTLSAddr             = "kafka-tls-addr"
	keyKafkaTLSAdvertisedAddr   = "kafka-tls-advertised-addr"
	keyKafkaTLSCert             = "kafka-tls-cert"
	keyKafkaTLSKey              = "kafka-tls-key"
	keyKafkaTLSClientCA         = "kafka-tls-client-ca"
	keyKafkaTLSRequireClientCrt = "kafka-tls-require-client-cert"

	// Broker keys of the Kafka listener (not security, kept here with the
	// rest of the listener's keys).
	keyKafkaAdvertisedAddr    = "kafka-advertised-addr"
	keyKafkaAutoCreateTopics  = "kafka-auto-create-topics"
	keyKafkaDefaultPartitions = "kafka-default-partitions"
)

// kafkaSecurityKeys may be set in a config file.
var kafkaSecurityKeys = []string{keyKafkaSASL, keyKafkaSASLSessionLifetime, keyKafkaAllowAnonymous, keyKafkaSuperUsers, keyKafkaAllowEveryoneNoACL,
	keyKafkaTLSAddr, keyKafkaTLSAdvertisedAddr, keyKafkaTLSCert, keyKafkaTLSKey, keyKafkaTLSClientCA, keyKafkaTLSRequireClientCrt,
	keyKafkaAdvertisedAddr, keyKafkaAutoCreateTopics, keyKafkaDefaultPartitions}

func init() { fileKeys = append(fileKeys, kafkaSecurityKeys...) }

// KafkaSecurityConfig is the Kafka listener's part of Config (inline in
// strata.yaml): its security, and the broker keys at the end.
type KafkaSecurityConfig struct {
	// KafkaSASL lists the SASL mechanisms offered, comma-separated;
	// empty turns SASL off.
	KafkaSASL string `yaml:"kafka-sasl"`
	// KafkaSASLSessionLifetime: clients re-authenticate on their
	// connections this often (KIP-368; Kafka's
	// connections.max.reauth.ms); 0 = never. Key
	// kafka-sasl-session-lifetime (kafkaSecurityYAML prints it as a
	// duration string).
	KafkaSASLSessionLifetime time.Duration `yaml:"-"`
	// KafkaAllowAnonymous: loopback (clients on 127.0.0.1/::1 need not
	// authenticate), true (nobody needs to) or false (everybody must).
	KafkaAllowAnonymous string `yaml:"kafka-allow-anonymous"`
	// KafkaSuperUsers are principals every ACL check allows,
	// comma-separated ("User:admin").
	KafkaSuperUsers string `yaml:"kafka-super-users"`
	// KafkaAllowEveryoneIfNoACLFound is Kafka's
	// allow.everyone.if.no.acl.found, once any ACL exists.
	KafkaAllowEveryoneIfNoACLFound bool `yaml:"kafka-allow-everyone-if-no-acl-found"`
	// The TLS listener: its address (empty: none), the address its
	// clients are told, the server certificate and key (PEM), and the CA
	// whose client certificates authenticate (principal User:<CN>).
	KafkaTLSAddr              string `yaml:"kafka-tls-addr"`
	KafkaTLSAdvertisedAddr    string `yaml:"kafka-tls-advertised-addr"`
	KafkaTLSCert              string `yaml:"kafka-tls-cert"`
	KafkaTLSKey               string `yaml:"kafka-tls-key"`
	KafkaTLSClientCA          string `yaml:"kafka-tls-client-ca"`
	KafkaTLSRequireClientCert bool   `yaml:"kafka-tls-require-client-cert"`

	// KafkaAdvertisedAddr is the host:port plaintext clients are told to
	// connect to (empty: the listener's address; a wildcard host becomes
	// the host name). KafkaAutoCreateTopics is Kafka's
	// auto.create.topics.enable, KafkaDefaultPartitions its num.partitions.
	KafkaAdvertisedAddr    string `yaml:"kafka-advertised-addr"`
	KafkaAutoCreateTopics  bool   `yaml:"kafka-auto-create-topics"`
	KafkaDefaultPartitions int32  `yaml:"kafka-default-partitions"`
}

// kafkaBrokerOptions sets the broker keys on o.
func (c Config) kafkaBrokerOptions(o *kafka.Options) {
	auto := c.KafkaSecurity.KafkaAutoCreateTopics
	o.AdvertisedAddr, o.AutoCreateTopics, o.DefaultPartitions = c.KafkaSecurity.KafkaAdvertisedAddr, &auto, c.KafkaSecurity.KafkaDefaultPartitions
}

func defaultKafkaSecurity() KafkaSecurityConfig {
	return KafkaSecurityConfig{
		KafkaSASL:           strings.Join(kafka.DefaultSASLMechanisms, ","),
		KafkaAllowAnonymous: "loopback",

		KafkaAutoCreateTopics:  true,
		KafkaDefaultPartitions: 1,
	}
}

func addKafkaSecurityFlags(fs *pflag.FlagSet) {
	d := defaultKafkaSecurity()
	fs.String(keyKafkaSASL, d.KafkaSASL, "SASL mechanisms the Kafka listeners offer, comma-separated (empty: SASL off)")
	fs.Duration(keyKafkaSASLSessionLifetime, 0, "how long a SASL login lasts before the client must re-authenticate on its connection (KIP-368); 0 = forever")
	fs.String(keyKafkaAllowAnonymous, d.KafkaAllowAnonymous, "Kafka clients that need not authenticate: loopback, true or false")
	fs.String(keyKafkaSuperUsers, "", "Kafka principals that every ACL allows, comma-separated (User:admin)")
	fs.Bool(keyKafkaAllowEveryoneNoACL, false, "once ACLs exist, allow a resource no ACL names to everyone (Kafka's allow.everyone.if.no.acl.found)")
	fs.String(keyKafkaTLSAddr, "", "Kafka over TLS listener (empty disables; needs kafka-addr, kafka-tls-cert and kafka-tls-key)")
	fs.String(keyKafkaTLSAdvertisedAddr, "", "host:port Kafka TLS clients are told to connect to (default: the TLS listener's)")
	fs.String(keyKafkaTLSCert, "", "PEM certificate (chain) of the Kafka TLS listener")
	fs.String(keyKafkaTLSKey, "", "PEM private key of the Kafka TLS listener")
	fs.String(keyKafkaTLSClientCA, "", "PEM CA whose client certificates authenticate Kafka TLS clients as User:<subject CN>")
	fs.Bool(keyKafkaTLSRequireClientCrt, false, "refuse Kafka TLS clients without a certificate signed by kafka-tls-client-ca")
	fs.String(keyKafkaAdvertisedAddr, "", "host:port Kafka clients are told to connect to (default: the listener's; a wildcard host becomes the host name)")
	fs.Bool(keyKafkaAutoCreateTopics, d.KafkaAutoCreateTopics, "create a topic a Kafka client asks Metadata for when it does not exist (auto.create.topics.enable)")
	fs.Int32(keyKafkaDefaultPartitions, d.KafkaDefaultPartitions, "partitions of an auto-created topic, and of CreateTopics with -1 (num.partitions)")
}

// loadKafkaSecurity reads the keys from v into c.
func loadKafkaSecurity(v *viper.Viper, c *Config) error {
	s := &c.KafkaSecurity
	s.KafkaSASL = strings.TrimSpace(v.GetString(keyKafkaSASL))
	s.KafkaAllowAnonymous = strings.ToLower(strings.TrimSpace(v.GetString(keyKafkaAllowAnonymous)))
	s.KafkaSuperUsers = strings.TrimSpace(v.GetString(keyKafkaSuperUsers))
	s.KafkaTLSAddr = strings.TrimSpace(v.GetString(keyKafkaTLSAddr))
	s.KafkaTLSAdvertisedAddr = strings.TrimSpace(v.GetString(keyKafkaTLSAdvertisedAddr))
	s.KafkaTLSCert = strings.TrimSpace(v.GetString(keyKafkaTLSCert))
	s.KafkaTLSKey = strings.TrimSpace(v.GetString(keyKafkaTLSKey))
	s.KafkaTLSClientCA = strings.TrimSpace(v.GetString(keyKafkaTLSClientCA))
	s.KafkaAdvertisedAddr = strings.TrimSpace(v.GetString(keyKafkaAdvertisedAddr))
	var err error
	if s.KafkaAutoCreateTopics, err = getBool(v, keyKafkaAutoCreateTopics); err != nil {
		return err
	}
	n, err := getUint(v, keyKafkaDefaultPartitions)
	if err != nil {
		return err
	}
	if n < 1 || n > math.MaxInt32 {
		return fmt.Errorf("%s=%d: want 1 to %d", keyKafkaDefaultPartitions, n, math.MaxInt32)
	}
	s.KafkaDefaultPartitions = int32(n)
	if s.KafkaSASLSessionLifetime, err = getDuration(v, keyKafkaSASLSessionLifetime); err != nil {
		return err
	}
	if s.KafkaAllowEveryoneIfNoACLFound, err = getBool(v, keyKafkaAllowEveryoneNoACL); err != nil {
		return err
	}
	if s.KafkaTLSRequireClientCert, err = getBool(v, keyKafkaTLSRequireClientCrt); err != nil {
		return err
	}
	return nil
}

// splitList splits a comma-separated value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// validateKafkaSecurity checks the keys without reading files.
func (c Config) validateKafkaSecurity() error {
	s := c.KafkaSecurity
	for _, m := range splitList(s.KafkaSASL) {
		if !slices.Contains(kafka.DefaultSASLMechanisms, strings.ToUpper(m)) {
			return fmt.Errorf("%s=%q: %q is not one of %s", keyKafkaSASL, s.KafkaSASL, m, strings.Join(kafka.DefaultSASLMechanisms, ", "))
		}
	}
	if s.KafkaSASLSessionLifetime < 0 {
		return fmt.Errorf("%s=%v must not be negative", keyKafkaSASLSessionLifetime, s.KafkaSASLSessionLifetime)
	}
	if _, err := kafka.ParseAnonymousPolicy(s.KafkaAllowAnonymous); err != nil {
		return fmt.Errorf("%s=%q: want loopback, true or false", keyKafkaAllowAnonymous, s.KafkaAllowAnonymous)
	}
	for _, p := range splitList(s.KafkaSuperUsers) {
		if i := strings.IndexByte(p, ':'); i <= 0 || i == len(p)-1 {
			return fmt.Errorf("%s: %q is not a principal like User:admin", keyKafkaSuperUsers, p)
		}
	}
	for key, addr := range map[string]string{keyKafkaTLSAddr: s.KafkaTLSAddr, keyKafkaTLSAdvertisedAddr: s.KafkaTLSAdvertisedAddr} {
		if addr == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return fmt.Errorf("%s=%q is not host:port: %v", key, addr, err)
		}
	}
	if s.KafkaTLSAddr == "" {
		return nil
	}
	switch {
	case c.KafkaAddr == "":
		return fmt.Errorf("%s is set but %s is empty: the TLS listener is a second listener of the Kafka frontend (bind %s to loopback to keep plaintext local)",
			keyKafkaTLSAddr, keyKafkaAddr, keyKafkaAddr)
	case s.KafkaTLSCert == "" || s.KafkaTLSKey == "":
		return fmt.Errorf("%s is set: it needs %s and %s", keyKafkaTLSAddr, keyKafkaTLSCert, keyKafkaTLSKey)
	case s.KafkaTLSRequireClientCert && s.KafkaTLSClientCA == "":
		return fmt.Errorf("%s needs %s", keyKafkaTLSRequireClientCrt, keyKafkaTLSClientCA)
	}
	return nil
}

// kafkaSecurityOptions builds the Kafka frontend's security options,
// loading the TLS files.
func (c Config) kafkaSecurityOptions() (kafka.SecurityOptions, error) {
	s := c.KafkaSecurity
	anon, err := kafka.ParseAnonymousPolicy(s.KafkaAllowAnonymous)
	if err != nil {
		return kafka.SecurityOptions{}, err
	}
	mechs := []string{}
	for _, m := range splitList(s.KafkaSASL) {
		mechs = append(mechs, strings.ToUpper(m))
	}
	opts := kafka.SecurityOptions{
		SASLMechanisms: mechs, Anonymous: anon, SuperUsers: splitList(s.KafkaSuperUsers),
		AllowEveryoneIfNoACLFound: s.KafkaAllowEveryoneIfNoACLFound, TLSAdvertisedAddr: s.KafkaTLSAdvertisedAddr,
		SessionLifetime: s.KafkaSASLSessionLifetime,
	}
	if s.KafkaTLSAddr != "" {
		opts.TLS, err = kafka.LoadTLSConfig(s.KafkaTLSCert, s.KafkaTLSKey, s.KafkaTLSClientCA, s.KafkaTLSRequireClientCert)
		if err != nil {
			return kafka.SecurityOptions{}, err
		}
	}
	return opts, nil
}

// kafkaSecurityYAML renders the keys for --print-config, durations as Go
// duration strings.
func kafkaSecurityYAML(c Config) ([]byte, error) {
	type printable struct {
		KafkaSecurityConfig      `yaml:",inline"`
		KafkaSASLSessionLifetime string `yaml:"kafka-sasl-session-lifetime"`
	}
	p := printable{KafkaSecurityConfig: c.KafkaSecurity, KafkaSASLSessionLifetime: c.KafkaSecurity.KafkaSASLSessionLifetime.String()}
	return yaml.Marshal(p)
}
