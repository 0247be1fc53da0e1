package mqtt

import "context"

// This file holds the routing seam between MQTT and the log (the MQTT
// in / Kafka out pipeline). The default Router does nothing: messages go
// only to MQTT subscribers.

// Router receives every accepted PUBLISH (and every will that is
// published), after authorization and before it is acknowledged or
// delivered to subscribers.
//
// Route returns when the message is durable in every topic it routes to
// (as durable as that topic's flush policy makes an append). The broker
// sends PUBACK / PUBREC only after Route returned nil, so a QoS 1/2
// publish is acknowledged only once it is in the log. An error refuses
// the message: a ReasonCode error goes to the client in PUBACK/PUBREC
// (5.0), any other error as UnspecifiedError; a 3.x client, which cannot
// be told, is disconnected so that it resends. A QoS 0 message whose
// Route fails is dropped and counted.
//
// Route is called on the publishing connection's read goroutine, one
// message at a time per connection, in the order the client sent them;
// it may block (the connection then stops being read: backpressure). It
// must not call Server.Inject for the same message (reverse delivery of
// what Route wrote is the Kafka side's business, and it must skip
// records that came from MQTT, see Message.From).
type Router interface {
	Route(ctx context.Context, from *ClientInfo, msg *Message) error
}

// NopRouter routes nothing.
type NopRouter struct{}

// Route does nothing.
func (NopRouter) Route(context.Context, *ClientInfo, *Message) error { return nil }

// Inject delivers msg to the MQTT subscribers of msg.Topic as if a client
// had published it: retained when msg.Retain (an empty payload clears the
// retained message), QoS capped by each subscription, message expiry
// honoured. It is the entry for Kafka -> MQTT reverse delivery and for
// other server-side publishers. It does not call the Router. msg.From is
// normally "" (no client); Created defaults to now. It returns
// TopicNameInvalid for a topic with wildcards or an invalid name, and
// ServerUnavailable after Close.
//
// Inject does not block on slow subscribers: QoS 0 copies are dropped
// and counted when a subscriber's queue is full, QoS 1/2 copies wait in
// each session's bounded queue (full: drop the oldest, counted).
func (s *Server) Inject(_ context.Context, msg Message) error {
	if s.isClosed() {
		return ServerUnavailable
	}
	if err := validTopicName(msg.Topic); err != nil {
		return err
	}
	if msg.QoS > 2 {
		return QoSNotSupported
	}
	if msg.Created.IsZero() {
		msg.Created = s.now()
	}
	m := msg
	s.publish(&m)
	return nil
}
