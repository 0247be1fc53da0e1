package mqtt

import "time"

// Message is one application message as the broker holds it: what a
// PUBLISH or a will carried, what Router.Route receives and what
// Server.Inject delivers. A Message is immutable once published: the
// broker shares one *Message among every subscriber it is queued for.
type Message struct {
	Topic   string
	Payload []byte
	QoS     byte
	Retain  bool
	// Props are the 5.0 publish properties that travel with the message
	// (payload format, message expiry, content type, response topic,
	// correlation data, user properties). Topic alias and subscription
	// identifiers are per hop and never stored here.
	Props Properties
	// From is the publishing client's id ("" for injected and $SYS
	// messages); no-local subscriptions compare it.
	From string
	// Created is when the broker accepted the message; with
	// Props.MessageExpiry it gives the expiry (Expired, remaining).
	Created time.Time
}

// Expired reports whether the message expiry interval has passed at now.
func (m *Message) Expired(now time.Time) bool {
	if !m.Props.Has(PropMessageExpiry) {
		return false
	}
	return now.Sub(m.Created) >= time.Duration(m.Props.MessageExpiry)*time.Second
}

// remaining is the expiry interval left at now, rounded up, for the
// forwarded PUBLISH ([MQTT-3.3.2-6]).
func (m *Message) remaining(now time.Time) uint32 {
	left := time.Duration(m.Props.MessageExpiry)*time.Second - now.Sub(m.Created)
	if left <= 0 {
		return 0
	}
	return uint32((left + time.Second - 1) / time.Second)
}

// messageProps keeps the properties of p that travel with the message.
func messageProps(p *Properties) Properties {
	var out Properties
	for _, id := range []PropID{PropPayloadFormat, PropMessageExpiry, PropContentType, PropResponseTopic, PropCorrelationData} {
		if p.Has(id) {
			out.Set(id)
		}
	}
	out.PayloadFormat = p.PayloadFormat
	out.MessageExpiry = p.MessageExpiry
	out.ContentType = p.ContentType
	out.ResponseTopic = p.ResponseTopic
	out.CorrelationData = p.CorrelationData
	out.User = p.User
	return out
}
