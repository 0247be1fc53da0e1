// Package faultproxy is a TCP proxy that injects network faults between a
// client and a real server, for tests: added latency, refused connections,
// cut in-flight connections, connections cut after some bytes, then heal.
//
// The proxy listens on a loopback port and forwards each accepted
// connection to the target with two copy goroutines. Refuse closes the
// listener, so a dial is refused by the kernel as if the server were down;
// Heal listens on the same address again.
package faultproxy
