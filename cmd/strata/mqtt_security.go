package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"

	"strata/frontends/mqtt"
	"strata/meta"
)

// Config keys of the MQTT listeners' security: anonymous access, client
// certificates, the ACL default, rate limits and the connection cap.
// Users are `strata user`'s (the same SCRAM credentials as Kafka's); ACL
// rules are `strata mqtt acl`'s.
const (
	keyMQTTAllowAnonymous     = "mqtt-allow-anonymous"
	keyMQTTTLSClientCA        = "mqtt-tls-client-ca"
	keyMQTTTLSRequireClientCr = "mqtt-tls-require-client-cert"
	keyMQTTTLSCertPrincipal   = "mqtt-tls-cert-principal"
	keyMQTTACLNoMatch         = "mqtt-acl-no-match"
	keyMQTTConnectRate        = "mqtt-connect-rate"
	keyMQTTConnectBurst       = "mqtt-connect-burst"
	keyMQTTPublishRate        = "mqtt-publish-rate"
	keyMQTTPublishBurst       = "mqtt-publish-burst"
	keyMQTTMaxConnections     = "mqtt-max-connections"
)

// mqttSecurityKeys may be set in a config file.
var mqttSecurityKeys = []string{keyMQTTAllowAnonymous, keyMQTTTLSClientCA, keyMQTTTLSRequireClientCr, keyMQTTTLSCertPrincipal,
	keyMQTTACLNoMatch, keyMQTTConnectRate, keyMQTTConnectBurst, keyMQTTPublishRate, keyMQTTPublishBurst, keyMQTTMaxConnections}

func init() { fileKeys = append(fileKeys, mqttSecurityKeys...) }

// MQTTSecurityConfig is the MQTT security part of Config (inline in
// strata.yaml).
type MQTTSecurityConfig struct {
	// MQTTAllowAnonymous: loopback (clients on 127.0.0.1/::1 need no
	// credentials), true (nobody needs them) or false (everybody does).
	MQTTAllowAnonymous string `yaml:"mqtt-allow-anonymous"`
	// MQTTTLSClientCA: client certificates signed by this CA are
	// verified when offered on the TLS and WSS listeners (required with
	// MQTTTLSRequireClientCert); with MQTTTLSCertPrincipal a verified
	// certificate authenticates as its subject CN.
	MQTTTLSClientCA          string `yaml:"mqtt-tls-client-ca"`
	MQTTTLSRequireClientCert bool   `yaml:"mqtt-tls-require-client-cert"`
	MQTTTLSCertPrincipal     bool   `yaml:"mqtt-tls-cert-principal"`
	// MQTTACLNoMatch decides a request no ACL rule matches: allow or deny.
	MQTTACLNoMatch string `yaml:"mqtt-acl-no-match"`
	// Rate limits (0 = none): connections per second per source address
	// and PUBLISH packets per second per client id, with their bursts
	// (0 = the rate, at least 1).
	MQTTConnectRate  float64 `yaml:"mqtt-connect-rate"`
	MQTTConnectBurst uint64  `yaml:"mqtt-connect-burst"`
	MQTTPublishRate  float64 `yaml:"mqtt-publish-rate"`
	MQTTPublishBurst uint64  `yaml:"mqtt-publish-burst"`
	// MQTTMaxConnections caps connected MQTT clients (0 = the broker's
	// default, about a million).
	MQTTMaxConnections uint64 `yaml:"mqtt-max-connections"`
}

func defaultMQTTSecurity() MQTTSecurityConfig {
	return MQTTSecurityConfig{MQTTAllowAnonymous: "loopback", MQTTTLSCertPrincipal: true, MQTTACLNoMatch: "allow"}
}

func addMQTTSecurityFlags(fs *pflag.FlagSet) {
	d := defaultMQTTSecurity()
	fs.String(keyMQTTAllowAnonymous, d.MQTTAllowAnonymous, "MQTT clients that may connect without credentials: loopback, true or false")
	fs.String(keyMQTTTLSClientCA, "", "PEM CA whose client certificates are verified on the MQTT TLS and WSS listeners")
	fs.Bool(keyMQTTTLSRequireClientCr, false, "refuse MQTT TLS clients without a certificate signed by mqtt-tls-client-ca")
	fs.Bool(keyMQTTTLSCertPrincipal, d.MQTTTLSCertPrincipal, "a verified MQTT client certificate authenticates as its subject CN (no password needed)")
	fs.String(keyMQTTACLNoMatch, d.MQTTACLNoMatch, "what an MQTT request that no ACL rule matches gets: allow or deny")
	fs.Float64(keyMQTTConnectRate, 0, "MQTT connections per second allowed from one source address (0: unlimited)")
	fs.Uint64(keyMQTTConnectBurst, 0, "MQTT connections one source address may open at once (0: the rate, at least 1)")
	fs.Float64(keyMQTTPublishRate, 0, "MQTT PUBLISH packets per second allowed per client (0: unlimited; over it: DISCONNECT 0x96)")
	fs.Uint64(keyMQTTPublishBurst, 0, "MQTT PUBLISH packets one client may send at once (0: the rate, at least 1)")
	fs.Uint64(keyMQTTMaxConnections, 0, "most MQTT clients connected at once (0: the broker's default)")
}

// loadMQTTSecurity reads the keys from v into c.
func loadMQTTSecurity(v *viper.Viper, c *Config) error {
	s := &c.MQTTSecurity
	s.MQTTAllowAnonymous = strings.ToLower(strings.TrimSpace(v.GetString(keyMQTTAllowAnonymous)))
	s.MQTTTLSClientCA = strings.TrimSpace(v.GetString(keyMQTTTLSClientCA))
	s.MQTTACLNoMatch = strings.ToLower(strings.TrimSpace(v.GetString(keyMQTTACLNoMatch)))
	var err error
	if s.MQTTTLSRequireClientCert, err = getBool(v, keyMQTTTLSRequireClientCr); err != nil {
		return err
	}
	if s.MQTTTLSCertPrincipal, err = getBool(v, keyMQTTTLSCertPrincipal); err != nil {
		return err
	}
	if s.MQTTConnectRate, err = getRate(v, keyMQTTConnectRate); err != nil {
		return err
	}
	if s.MQTTPublishRate, err = getRate(v, keyMQTTPublishRate); err != nil {
		return err
	}
	for key, dst := range map[string]*uint64{keyMQTTConnectBurst: &s.MQTTConnectBurst, keyMQTTPublishBurst: &s.MQTTPublishBurst, keyMQTTMaxConnections: &s.MQTTMaxConnections} {
		if *dst, err = getUint(v, key); err != nil {
			return err
		}
	}
	return nil
}

// getRate parses a non-negative rate (a float) strictly.
func getRate(v *viper.Viper, key string) (float64, error) {
	var f float64
	var err error
	switch x := v.Get(key).(type) {
	case float64:
		f = x
	case int:
		f = float64(x)
	case string:
		f, err = strconv.ParseFloat(strings.TrimSpace(x), 64)
	default:
		err = fmt.Errorf("%T", x)
	}
	if err != nil || f < 0 || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("%s=%v is not a non-negative number (per second)", key, v.Get(key))
	}
	return f, nil
}

// validateMQTTSecurity checks the keys without reading files.
func (c Config) validateMQTTSecurity() error {
	s := c.MQTTSecurity
	if _, err := mqtt.ParseAnonymousPolicy(s.MQTTAllowAnonymous); err != nil {
		return fmt.Errorf("%s=%q: want loopback, true or false", keyMQTTAllowAnonymous, s.MQTTAllowAnonymous)
	}
	if s.MQTTACLNoMatch != "allow" && s.MQTTACLNoMatch != "deny" {
		return fmt.Errorf("%s=%q: want allow or deny", keyMQTTACLNoMatch, s.MQTTACLNoMatch)
	}
	if s.MQTTTLSRequireClientCert && s.MQTTTLSClientCA == "" {
		return fmt.Errorf("%s needs %s", keyMQTTTLSRequireClientCr, keyMQTTTLSClientCA)
	}
	if s.MQTTTLSClientCA != "" && c.MQTTTLSCert == "" {
		return fmt.Errorf("%s is set but %s is not: client certificates need the TLS listeners", keyMQTTTLSClientCA, keyMQTTTLSCert)
	}
	for key, n := range map[string]uint64{keyMQTTConnectBurst: s.MQTTConnectBurst, keyMQTTPublishBurst: s.MQTTPublishBurst, keyMQTTMaxConnections: s.MQTTMaxConnections} {
		if n > math.MaxInt32 {
			return fmt.Errorf("%s=%d is too large", key, n)
		}
	}
	return nil
}

// openMQTTSecurity starts the MQTT frontend's Security over meta (users,
// ACL rules) and puts its counters on /metrics; close it after the MQTT
// server.
func (c Config) openMQTTSecurity(node *meta.Node, reg prometheus.Registerer, log *slog.Logger) (*mqtt.Security, error) {
	s := c.MQTTSecurity
	anon, err := mqtt.ParseAnonymousPolicy(s.MQTTAllowAnonymous)
	if err != nil {
		return nil, err
	}
	opts := mqtt.SecurityOptions{
		Anonymous: anon, CertificatePrincipal: s.MQTTTLSCertPrincipal && s.MQTTTLSClientCA != "", ACLDeny: s.MQTTACLNoMatch == "deny",
		ConnectRate: s.MQTTConnectRate, ConnectBurst: int(s.MQTTConnectBurst),
		PublishRate: s.MQTTPublishRate, PublishBurst: int(s.MQTTPublishBurst), Logger: log,
	}
	if node != nil {
		opts.Users = meta.NewSecurity(node)
	}
	sec, err := mqtt.NewSecurity(opts)
	if err != nil {
		return nil, err
	}
	if reg != nil {
		registerMQTTSecurityMetrics(reg, sec, log)
	}
	log.Info("MQTT security", "anonymous", s.MQTTAllowAnonymous, "client_ca", s.MQTTTLSClientCA != "", "acl_no_match", s.MQTTACLNoMatch,
		"connect_rate", s.MQTTConnectRate, "publish_rate", s.MQTTPublishRate)
	return sec, nil
}

// applyMQTTSecurity plugs sec into the MQTT server's options and adds
// client certificate verification to its TLS config.
func (c Config) applyMQTTSecurity(opts *mqtt.Options, sec *mqtt.Security) error {
	s := c.MQTTSecurity
	if sec != nil {
		opts.Authenticator, opts.Authorizer, opts.Limiter = sec, sec, sec
	}
	opts.MaxConnections = int(s.MQTTMaxConnections)
	if s.MQTTTLSClientCA == "" || opts.TLSConfig == nil {
		return nil
	}
	pem, err := os.ReadFile(s.MQTTTLSClientCA)
	if err != nil {
		return fmt.Errorf("%s: %w", keyMQTTTLSClientCA, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return fmt.Errorf("%s %s: no PEM certificate in it", keyMQTTTLSClientCA, s.MQTTTLSClientCA)
	}
	opts.TLSConfig.ClientCAs = pool
	opts.TLSConfig.ClientAuth = tls.VerifyClientCertIfGiven
	if s.MQTTTLSRequireClientCert {
		opts.TLSConfig.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return nil
}

// mqttSecurityYAML renders the keys for --print-config.
func mqttSecurityYAML(c Config) ([]byte, error) {
	return yaml.Marshal(c.MQTTSecurity)
}

// registerMQTTSecurityMetrics puts the MQTT security refusals on /metrics:
//
//	strata_mqtt_auth_failures_total{reason}   password (wrong or unknown user), anonymous (refused), scram (5.0 AUTH)
//	strata_mqtt_acl_denied_total{action}      publish, subscribe, retain, receive (a delivery dropped)
//	strata_mqtt_rate_limited_total{limit}     connect (CONNACK 0x9F), publish (DISCONNECT 0x96)
//
// A name already registered is logged and skipped.
func registerMQTTSecurityMetrics(reg prometheus.Registerer, sec *mqtt.Security, log *slog.Logger) {
	for _, m := range []struct {
		name, help, label, value string
		get                      func(mqtt.SecurityStats) int64
	}{
		{"strata_mqtt_auth_failures_total", "MQTT connections refused by authentication, by reason.", "reason", "password", func(s mqtt.SecurityStats) int64 { return s.BadPassword }},
		{"strata_mqtt_auth_failures_total", "MQTT connections refused by authentication, by reason.", "reason", "anonymous", func(s mqtt.SecurityStats) int64 { return s.Anonymous }},
		{"strata_mqtt_auth_failures_total", "MQTT connections refused by authentication, by reason.", "reason", "scram", func(s mqtt.SecurityStats) int64 { return s.SCRAM }},
		{"strata_mqtt_acl_denied_total", "MQTT requests denied by the ACL rules, by action.", "action", "publish", func(s mqtt.SecurityStats) int64 { return s.DeniedPublish }},
		{"strata_mqtt_acl_denied_total", "MQTT requests denied by the ACL rules, by action.", "action", "subscribe", func(s mqtt.SecurityStats) int64 { return s.DeniedSubscribe }},
		{"strata_mqtt_acl_denied_total", "MQTT requests denied by the ACL rules, by action.", "action", "retain", func(s mqtt.SecurityStats) int64 { return s.DeniedRetain }},
		{"strata_mqtt_acl_denied_total", "MQTT requests denied by the ACL rules, by action.", "action", "receive", func(s mqtt.SecurityStats) int64 { return s.DeniedReceive }},
		{"strata_mqtt_rate_limited_total", "MQTT connections and publishes refused by the rate limits.", "limit", "connect", func(s mqtt.SecurityStats) int64 { return s.ConnectsLimited }},
		{"strata_mqtt_rate_limited_total", "MQTT connections and publishes refused by the rate limits.", "limit", "publish", func(s mqtt.SecurityStats) int64 { return s.PublishesLimited }},
	} {
		get := m.get
		c := prometheus.NewCounterFunc(prometheus.CounterOpts{Name: m.name, Help: m.help, ConstLabels: prometheus.Labels{m.label: m.value}},
			func() float64 { return float64(get(sec.Stats())) })
		if err := reg.Register(c); err != nil {
			log.Warn("mqtt security metrics", "err", err)
		}
	}
}
