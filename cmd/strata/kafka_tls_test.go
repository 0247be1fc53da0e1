package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeCert writes a certificate and its key as PEM files named
// <name>.pem and <name>.key in dir, signed by parent (self-signed when
// parent is nil, as a CA).
func writeCert(t *testing.T, dir, name, cn string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, server bool) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	switch {
	case parent == nil:
		tmpl.IsCA, tmpl.BasicConstraintsValid, tmpl.KeyUsage = true, true, x509.KeyUsageCertSign
		parent, parentKey = tmpl, key
	case server:
		tmpl.KeyUsage, tmpl.ExtKeyUsage = x509.KeyUsageDigitalSignature, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	default:
		tmpl.KeyUsage, tmpl.ExtKeyUsage = x509.KeyUsageDigitalSignature, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return cert, key
}

// TestKafkaTLSServe starts `strata serve` with the Kafka TLS listener from
// the config keys and drives it with kcat (librdkafka): a client
// certificate authenticates (SSL), SASL works over TLS (SASL_SSL), and a
// client with neither is refused where anonymous access is off.
func TestKafkaTLSServe(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatal("kcat is not installed: run scripts/test-deps.sh (Debian: apt-get install kcat)")
	}
	certs := t.TempDir()
	ca, caKey := writeCert(t, certs, "ca", "strata test CA", nil, nil, false)
	writeCert(t, certs, "server", "127.0.0.1", ca, caKey, true)
	writeCert(t, certs, "client", "carol", ca, caKey, false)
	p := func(name string) string { return filepath.Join(certs, name) }

	dir := t.TempDir()
	httpAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	tlsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	s, err := spawnServer(t, dir, httpAddr, "--raft-addr", raftAddrFor(t, dir),
		"--kafka-addr", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "--kafka-allow-anonymous", "false",
		"--kafka-tls-addr", tlsAddr, "--kafka-tls-cert", p("server.pem"), "--kafka-tls-key", p("server.key"),
		"--kafka-tls-client-ca", p("ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.waitReady(15 * time.Second); err != nil {
		t.Fatal(err)
	}
	if r := runStrataStdin(t, "dan-pw\n", "user", "add", "dan", "--password-stdin", "--server", s.url); r.code != 0 {
		t.Fatalf("user add: %s", r.stderr)
	}
	kcatRun := func(stdin string, args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, kcat, append([]string{"-b", tlsAddr, "-X", "ssl.ca.location=" + p("ca.pem")}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	cert := []string{"-X", "security.protocol=SSL", "-X", "ssl.certificate.location=" + p("client.pem"), "-X", "ssl.key.location=" + p("client.key")}
	if out, err := kcatRun("a\nb\n", append(cert, "-P", "-t", "tls-topic")...); err != nil {
		t.Fatalf("kcat SSL with a client certificate: %v\n%s", err, out)
	}
	sasl := []string{"-X", "security.protocol=SASL_SSL", "-X", "sasl.mechanisms=SCRAM-SHA-512", "-X", "sasl.username=dan", "-X", "sasl.password=dan-pw"}
	out, err := kcatRun("", append(sasl, "-C", "-t", "tls-topic", "-o", "beginning", "-e", "-q")...)
	if err != nil || out != "a\nb\n" {
		t.Fatalf("kcat SASL_SSL consume: %v %q", err, out)
	}
	if out, err := kcatRun("", "-X", "security.protocol=SSL", "-L", "-m", "3"); err == nil {
		t.Fatalf("kcat SSL without a certificate or SASL got metadata:\n%s", out)
	}
	s.stop(t)
	if log := s.log(); !strings.Contains(log, "principal=User:carol") {
		t.Fatalf("the server log (debug) does not name the certificate's principal:\n%s", log)
	}
}
