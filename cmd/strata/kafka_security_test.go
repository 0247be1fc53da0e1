package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestKafkaSecurityConfig: the security keys through --print-config (file,
// env and flag), and their errors.
func TestKafkaSecurityConfig(t *testing.T) {
	dir := t.TempDir()
	writeIf(t, filepath.Join(dir, "strata.yaml"), "kafka-sasl: SCRAM-SHA-512\nkafka-super-users: User:admin,User:ops\n")
	r := runStrata(t, dir, cleanEnv("STRATA_KAFKA_ALLOW_ANONYMOUS=false"), "serve", "--print-config",
		"--kafka-allow-everyone-if-no-acl-found", "--kafka-sasl-session-lifetime", "1h")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{"kafka-sasl: SCRAM-SHA-512", "kafka-super-users: User:admin,User:ops",
		"kafka-allow-anonymous: \"false\"", "kafka-allow-everyone-if-no-acl-found: true", `kafka-tls-addr: ""`, "kafka-sasl-session-lifetime: 1h0m0s"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("--print-config lacks %q:\n%s", want, r.stdout)
		}
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"bad mechanism", []string{"--kafka-sasl", "PLAIN,GSSAPI"}, `"GSSAPI" is not one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512`},
		{"negative lifetime", []string{"--kafka-sasl-session-lifetime", "-1s"}, "kafka-sasl-session-lifetime=-1s must not be negative"},
		{"bad lifetime", []string{"--kafka-sasl-session-lifetime", "soon"}, "kafka-sasl-session-lifetime"},
		{"bad anonymous", []string{"--kafka-allow-anonymous", "sometimes"}, `kafka-allow-anonymous="sometimes": want loopback, true or false`},
		{"bad super user", []string{"--kafka-super-users", "admin"}, `"admin" is not a principal like User:admin`},
		{"tls without cert", []string{"--kafka-tls-addr", "127.0.0.1:9093"}, "needs kafka-tls-cert and kafka-tls-key"},
		{"tls without kafka", []string{"--kafka-addr=", "--kafka-tls-addr", "127.0.0.1:9093", "--kafka-tls-cert", "c", "--kafka-tls-key", "k"}, "kafka-addr is empty"},
		{"tls bad address", []string{"--kafka-tls-addr", "9093"}, `kafka-tls-addr="9093" is not host:port`},
		{"require without ca", []string{"--kafka-tls-addr", "127.0.0.1:9093", "--kafka-tls-cert", "c", "--kafka-tls-key", "k",
			"--kafka-tls-require-client-cert"}, "kafka-tls-require-client-cert needs kafka-tls-client-ca"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runStrata(t, t.TempDir(), cleanEnv(), append([]string{"serve", "--print-config"}, tc.args...)...)
			if r.code != 1 || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q; want exit 1 and %q", r.code, r.stderr, tc.want)
			}
		})
	}
}
