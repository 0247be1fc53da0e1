package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

// mqttClient is a paho.golang (5.0) client on strata serve's MQTT listener.
type mqttClient struct {
	*paho.Client
	msgs    chan *paho.Publish
	present bool
}

func dialMQTT(t *testing.T, addr, id string, clean bool, expiry uint32) *mqttClient {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c := &mqttClient{msgs: make(chan *paho.Publish, 100)}
	c.Client = paho.NewClient(paho.ClientConfig{Conn: nc, OnClientError: func(error) {},
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(r paho.PublishReceived) (bool, error) {
			c.msgs <- r.Packet
			return true, nil
		}}})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ca, err := c.Connect(ctx, &paho.Connect{ClientID: id, CleanStart: clean, KeepAlive: 30, Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry}})
	if err != nil {
		t.Fatalf("connect %s: %v", id, err)
	}
	c.present = ca.SessionPresent
	t.Cleanup(func() { nc.Close() })
	return c
}

func (c *mqttClient) next(t *testing.T) *paho.Publish {
	t.Helper()
	select {
	case m := <-c.msgs:
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no MQTT message within 5s")
		return nil
	}
}

// TestServeMQTTSessionsSurviveKill9: strata serve keeps MQTT sessions and
// retained messages in <data>/mqtt. Messages acknowledged (PUBACK) for an
// offline persistent session, and a QoS 1 retained message, survive
// kill -9; the store's counters are on /metrics; the next start stops
// cleanly (SIGTERM) with the sessions stored.
func TestServeMQTTSessionsSurviveKill9(t *testing.T) {
	dataDir := t.TempDir()
	raft := raftAddrFor(t, dataDir)
	mqttAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	start := func() *server {
		s, err := spawnServer(t, dataDir, fmt.Sprintf("127.0.0.1:%d", freePort(t)), "--raft-addr", raft, "--mqtt-addr", mqttAddr)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.waitReady(15 * time.Second); err != nil {
			t.Fatal(err)
		}
		return s
	}
	srv := start()
	ctx := t.Context()
	dev := dialMQTT(t, mqttAddr, "dev", true, 3600)
	if _, err := dev.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "dev/#", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	if err := dev.Disconnect(&paho.Disconnect{}); err != nil {
		t.Fatal(err)
	}
	// The session is offline once the broker handled the DISCONNECT: a
	// message then is queued (and stored) rather than sent.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, body := httpGet(t, srv.url+"/metrics"); strings.Contains(body, "strata_mqtt_clients_connected 0") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the MQTT client is still connected after DISCONNECT")
		}
	}
	pub := dialMQTT(t, mqttAddr, "pub", true, 0)
	for i := 1; i <= 3; i++ {
		if _, err := pub.Publish(ctx, &paho.Publish{Topic: "dev/in", QoS: 1, Payload: fmt.Appendf(nil, "m%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pub.Publish(ctx, &paho.Publish{Topic: "state", QoS: 1, Retain: true, Payload: []byte("on")}); err != nil {
		t.Fatal(err)
	}
	code, body := httpGet(t, srv.url+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	mustMatch(t, body, `strata_mqtt_store_enqueued_total 3`, `strata_mqtt_messages_dropped_total\{reason="queue"\} 0`, `strata_mqtt_sessions 2`)
	if err := srv.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-srv.exited

	srv = start()
	dev = dialMQTT(t, mqttAddr, "dev", false, 3600)
	if !dev.present {
		t.Fatal("session lost in kill -9")
	}
	for i := 1; i <= 3; i++ {
		if m := dev.next(t); string(m.Payload) != fmt.Sprintf("m%d", i) {
			t.Fatalf("after kill -9: %q, want m%d", m.Payload, i)
		}
	}
	if _, err := dev.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "state", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	if m := dev.next(t); string(m.Payload) != "on" || !m.Retain {
		t.Fatalf("retained after kill -9: %q retain=%v", m.Payload, m.Retain)
	}
	if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-srv.exited:
		if srv.waitErr != nil {
			t.Fatalf("strata serve after SIGTERM: %v\n%s", srv.waitErr, srv.log())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("strata serve did not stop\n%s", srv.log())
	}
	if strings.Contains(srv.log(), "session store") {
		t.Fatalf("session store errors logged:\n%s", srv.log())
	}
}
