package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// TestBenchMQTT runs `strata bench mqtt` small: every workload at QoS 0
// and 1 against Strata's broker process and Mosquitto, and the memory
// figures at two connection counts, and checks the report has each row.
func TestBenchMQTT(t *testing.T) {
	if _, err := os.Stat("/usr/sbin/mosquitto"); err != nil {
		t.Fatal("/usr/sbin/mosquitto not found: install the Debian package mosquitto (apt-get install mosquitto, or scripts/test-deps.sh)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := mqttBenchConfig{duration: 300 * time.Millisecond, latDuration: 300 * time.Millisecond, rate: 400, clients: 4,
		inflight: 4, payloads: []int{64}, qos: []int{0, 1}, workloads: []string{wlFanIn, wlFanOut, wlP2P},
		mosquitto: "/usr/sbin/mosquitto", maxQueued: 10_000, conns: []int{200, 400}, exe: strataBin}
	if err := c.validate(); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := runMQTTBench(ctx, c, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	t.Log("\n" + out.String())
	for _, row := range []string{"fan-in 4>1           0", "fan-in 4>1           1", "fan-out 1>4          0", "fan-out 1>4          1",
		"p2p 4x(1>1)          0", "p2p 4x(1>1)          1", "mosquitto (mosquitto version", "load average",
		"\n200          |", "\n400          |", "strata baseline RSS", "mosquitto baseline RSS"} {
		if !strings.Contains(out.String(), row) {
			t.Fatalf("no %q row in:\n%s", row, out.String())
		}
	}
}

// TestBenchMQTTNoMosquitto: a missing broker binary is a clear error that
// names the package, before anything starts.
func TestBenchMQTTNoMosquitto(t *testing.T) {
	c := mqttBenchConfig{duration: time.Second, latDuration: time.Second, rate: 1, clients: 1, inflight: 1,
		mosquitto: "/nonexistent/mosquitto", maxQueued: 1, exe: strataBin}
	err := runMQTTBench(context.Background(), c, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "apt-get install mosquitto") {
		t.Fatalf("err = %v, want the install hint", err)
	}
}
