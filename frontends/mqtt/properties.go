package mqtt

import (
	"encoding/binary"
	"unicode/utf8"
)

// PropID is an MQTT 5 property identifier.
type PropID byte

// Property identifiers (MQTT 5.0 section 2.2.2.2).
const (
	PropPayloadFormat        PropID = 0x01
	PropMessageExpiry        PropID = 0x02
	PropContentType          PropID = 0x03
	PropResponseTopic        PropID = 0x08
	PropCorrelationData      PropID = 0x09
	PropSubscriptionID       PropID = 0x0B
	PropSessionExpiry        PropID = 0x11
	PropAssignedClientID     PropID = 0x12
	PropServerKeepAlive      PropID = 0x13
	PropAuthMethod           PropID = 0x15
	PropAuthData             PropID = 0x16
	PropRequestProblemInfo   PropID = 0x17
	PropWillDelay            PropID = 0x18
	PropRequestResponseInfo  PropID = 0x19
	PropResponseInfo         PropID = 0x1A
	PropServerReference      PropID = 0x1C
	PropReasonString         PropID = 0x1F
	PropReceiveMaximum       PropID = 0x21
	PropTopicAliasMaximum    PropID = 0x22
	PropTopicAlias           PropID = 0x23
	PropMaximumQoS           PropID = 0x24
	PropRetainAvailable      PropID = 0x25
	PropUserProperty         PropID = 0x26
	PropMaximumPacketSize    PropID = 0x27
	PropWildcardSubAvailable PropID = 0x28
	PropSubIDAvailable       PropID = 0x29
	PropSharedSubAvailable   PropID = 0x2A
)

// propKind is how a property's value is encoded.
type propKind byte

const (
	kByte propKind = iota
	kUint16
	kUint32
	kVarint
	kString
	kBinary
	kPair
)

// propAllowed says which packets may carry which property. Will
// properties are marked with the pseudo type willProps.
const willProps PacketType = 16

type propSpec struct {
	kind    propKind
	packets uint32 // bit per PacketType (and willProps)
}

func bits(ts ...PacketType) uint32 {
	var b uint32
	for _, t := range ts {
		b |= 1 << t
	}
	return b
}

var propSpecs = [0x2B]propSpec{
	PropPayloadFormat:        {kByte, bits(PUBLISH, willProps)},
	PropMessageExpiry:        {kUint32, bits(PUBLISH, willProps)},
	PropContentType:          {kString, bits(PUBLISH, willProps)},
	PropResponseTopic:        {kString, bits(PUBLISH, willProps)},
	PropCorrelationData:      {kBinary, bits(PUBLISH, willProps)},
	PropSubscriptionID:       {kVarint, bits(PUBLISH, SUBSCRIBE)},
	PropSessionExpiry:        {kUint32, bits(CONNECT, CONNACK, DISCONNECT)},
	PropAssignedClientID:     {kString, bits(CONNACK)},
	PropServerKeepAlive:      {kUint16, bits(CONNACK)},
	PropAuthMethod:           {kString, bits(CONNECT, CONNACK, AUTH)},
	PropAuthData:             {kBinary, bits(CONNECT, CONNACK, AUTH)},
	PropRequestProblemInfo:   {kByte, bits(CONNECT)},
	PropWillDelay:            {kUint32, bits(willProps)},
	PropRequestResponseInfo:  {kByte, bits(CONNECT)},
	PropResponseInfo:         {kString, bits(CONNACK)},
	PropServerReference:      {kString, bits(CONNACK, DISCONNECT)},
	PropReasonString:         {kString, bits(CONNACK, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK, UNSUBACK, DISCONNECT, AUTH)},
	PropReceiveMaximum:       {kUint16, bits(CONNECT, CONNACK)},
	PropTopicAliasMaximum:    {kUint16, bits(CONNECT, CONNACK)},
	PropTopicAlias:           {kUint16, bits(PUBLISH)},
	PropMaximumQoS:           {kByte, bits(CONNACK)},
	PropRetainAvailable:      {kByte, bits(CONNACK)},
	PropUserProperty:         {kPair, bits(CONNECT, CONNACK, PUBLISH, willProps, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, DISCONNECT, AUTH)},
	PropMaximumPacketSize:    {kUint32, bits(CONNECT, CONNACK)},
	PropWildcardSubAvailable: {kByte, bits(CONNACK)},
	PropSubIDAvailable:       {kByte, bits(CONNACK)},
	PropSharedSubAvailable:   {kByte, bits(CONNACK)},
}

// UserProperty is one name/value pair; order and duplicates are kept.
type UserProperty struct{ Key, Value string }

// Properties are the MQTT 5 properties of one packet. Present has a bit
// per property id that was set (numeric properties whose zero value is
// meaningful need it); strings and byte slices are present when the bit
// is set too. User and SubscriptionIDs are present when non-empty.
type Properties struct {
	Present uint64

	PayloadFormat        byte
	MessageExpiry        uint32
	ContentType          string
	ResponseTopic        string
	CorrelationData      []byte
	SubscriptionIDs      []uint32
	SessionExpiry        uint32
	AssignedClientID     string
	ServerKeepAlive      uint16
	AuthMethod           string
	AuthData             []byte
	RequestProblemInfo   byte
	WillDelay            uint32
	RequestResponseInfo  byte
	ResponseInfo         string
	ServerReference      string
	ReasonString         string
	ReceiveMaximum       uint16
	TopicAliasMaximum    uint16
	TopicAlias           uint16
	MaximumQoS           byte
	RetainAvailable      byte
	MaximumPacketSize    uint32
	WildcardSubAvailable byte
	SubIDAvailable       byte
	SharedSubAvailable   byte
	User                 []UserProperty
}

// Has reports whether property id is present.
func (p *Properties) Has(id PropID) bool {
	switch id {
	case PropUserProperty:
		return len(p.User) > 0
	case PropSubscriptionID:
		return len(p.SubscriptionIDs) > 0
	}
	return p.Present&(1<<id) != 0
}

// Set marks property id present (set its field too).
func (p *Properties) Set(id PropID) { p.Present |= 1 << id }

// Clear marks property id absent.
func (p *Properties) Clear(id PropID) {
	p.Present &^= 1 << id
	switch id {
	case PropUserProperty:
		p.User = nil
	case PropSubscriptionID:
		p.SubscriptionIDs = nil
	}
}

// decodeProperties reads a property length and the properties of a packet
// of type t. Errors: MalformedPacket for bad lengths, encodings and
// duplicates; ProtocolError for a property the packet may not carry or a
// value outside its range.
func decodeProperties(b []byte, t PacketType, p *Properties) (int, error) {
	n, used, err := decodeVarint(b)
	if err != nil {
		return 0, err
	}
	if n > len(b)-used {
		return 0, MalformedPacket
	}
	body := b[used : used+n]
	for len(body) > 0 {
		id := PropID(body[0])
		body = body[1:]
		if int(id) >= len(propSpecs) || propSpecs[id].packets == 0 {
			return 0, MalformedPacket
		}
		spec := propSpecs[id]
		if spec.packets&(1<<t) == 0 {
			return 0, ProtocolError
		}
		if id != PropUserProperty && !(id == PropSubscriptionID && t == PUBLISH) && p.Has(id) {
			return 0, ProtocolError // [MQTT-2.2.2-2]: only user properties repeat
		}
		var (
			u   uint32
			s   string
			bin []byte
			k   int
		)
		switch spec.kind {
		case kByte:
			if len(body) < 1 {
				return 0, MalformedPacket
			}
			u, k = uint32(body[0]), 1
		case kUint16:
			if len(body) < 2 {
				return 0, MalformedPacket
			}
			u, k = uint32(binary.BigEndian.Uint16(body)), 2
		case kUint32:
			if len(body) < 4 {
				return 0, MalformedPacket
			}
			u, k = binary.BigEndian.Uint32(body), 4
		case kVarint:
			v, m, err := decodeVarint(body)
			if err != nil {
				return 0, err
			}
			u, k = uint32(v), m
		case kString:
			s, k, err = decodeString(body)
		case kBinary:
			bin, k, err = decodeBinary(body)
		case kPair:
			var key, val string
			var m int
			key, k, err = decodeString(body)
			if err == nil {
				val, m, err = decodeString(body[k:])
				k += m
			}
			p.User = append(p.User, UserProperty{key, val})
		}
		if err != nil {
			return 0, err
		}
		body = body[k:]
		if id != PropUserProperty && id != PropSubscriptionID {
			p.Set(id)
		}
		switch id {
		case PropPayloadFormat, PropRequestProblemInfo, PropRequestResponseInfo, PropMaximumQoS,
			PropRetainAvailable, PropWildcardSubAvailable, PropSubIDAvailable, PropSharedSubAvailable:
			if u > 1 {
				return 0, ProtocolError
			}
		}
		switch id {
		case PropPayloadFormat:
			p.PayloadFormat = byte(u)
		case PropMessageExpiry:
			p.MessageExpiry = u
		case PropContentType:
			p.ContentType = s
		case PropResponseTopic:
			p.ResponseTopic = s
		case PropCorrelationData:
			p.CorrelationData = bin
		case PropSubscriptionID:
			if u == 0 {
				return 0, ProtocolError
			}
			p.SubscriptionIDs = append(p.SubscriptionIDs, u)
		case PropSessionExpiry:
			p.SessionExpiry = u
		case PropAssignedClientID:
			p.AssignedClientID = s
		case PropServerKeepAlive:
			p.ServerKeepAlive = uint16(u)
		case PropAuthMethod:
			p.AuthMethod = s
		case PropAuthData:
			p.AuthData = bin
		case PropRequestProblemInfo:
			p.RequestProblemInfo = byte(u)
		case PropWillDelay:
			p.WillDelay = u
		case PropRequestResponseInfo:
			p.RequestResponseInfo = byte(u)
		case PropResponseInfo:
			p.ResponseInfo = s
		case PropServerReference:
			p.ServerReference = s
		case PropReasonString:
			p.ReasonString = s
		case PropReceiveMaximum:
			if u == 0 {
				return 0, ProtocolError
			}
			p.ReceiveMaximum = uint16(u)
		case PropTopicAliasMaximum:
			p.TopicAliasMaximum = uint16(u)
		case PropTopicAlias:
			p.TopicAlias = uint16(u)
		case PropMaximumQoS:
			p.MaximumQoS = byte(u)
		case PropRetainAvailable:
			p.RetainAvailable = byte(u)
		case PropMaximumPacketSize:
			if u == 0 {
				return 0, ProtocolError
			}
			p.MaximumPacketSize = u
		case PropWildcardSubAvailable:
			p.WildcardSubAvailable = byte(u)
		case PropSubIDAvailable:
			p.SubIDAvailable = byte(u)
		case PropSharedSubAvailable:
			p.SharedSubAvailable = byte(u)
		}
	}
	return used + n, nil
}

// appendProperties appends the property length and the properties, in
// id order (user properties last, in their order).
func appendProperties(dst []byte, p *Properties) []byte {
	var body []byte
	if p != nil {
		body = appendPropertyBody(make([]byte, 0, 64), p)
	}
	dst = appendVarint(dst, len(body))
	return append(dst, body...)
}

func appendPropertyBody(b []byte, p *Properties) []byte {
	for id := PropID(1); int(id) < len(propSpecs); id++ {
		if id == PropUserProperty || propSpecs[id].packets == 0 {
			continue
		}
		if id == PropSubscriptionID {
			for _, v := range p.SubscriptionIDs {
				b = append(b, byte(id))
				b = appendVarint(b, int(v))
			}
			continue
		}
		if !p.Has(id) {
			continue
		}
		b = append(b, byte(id))
		switch id {
		case PropPayloadFormat:
			b = append(b, p.PayloadFormat)
		case PropMessageExpiry:
			b = binary.BigEndian.AppendUint32(b, p.MessageExpiry)
		case PropContentType:
			b = appendString(b, p.ContentType)
		case PropResponseTopic:
			b = appendString(b, p.ResponseTopic)
		case PropCorrelationData:
			b = appendBinary(b, p.CorrelationData)
		case PropSessionExpiry:
			b = binary.BigEndian.AppendUint32(b, p.SessionExpiry)
		case PropAssignedClientID:
			b = appendString(b, p.AssignedClientID)
		case PropServerKeepAlive:
			b = binary.BigEndian.AppendUint16(b, p.ServerKeepAlive)
		case PropAuthMethod:
			b = appendString(b, p.AuthMethod)
		case PropAuthData:
			b = appendBinary(b, p.AuthData)
		case PropRequestProblemInfo:
			b = append(b, p.RequestProblemInfo)
		case PropWillDelay:
			b = binary.BigEndian.AppendUint32(b, p.WillDelay)
		case PropRequestResponseInfo:
			b = append(b, p.RequestResponseInfo)
		case PropResponseInfo:
			b = appendString(b, p.ResponseInfo)
		case PropServerReference:
			b = appendString(b, p.ServerReference)
		case PropReasonString:
			b = appendString(b, p.ReasonString)
		case PropReceiveMaximum:
			b = binary.BigEndian.AppendUint16(b, p.ReceiveMaximum)
		case PropTopicAliasMaximum:
			b = binary.BigEndian.AppendUint16(b, p.TopicAliasMaximum)
		case PropTopicAlias:
			b = binary.BigEndian.AppendUint16(b, p.TopicAlias)
		case PropMaximumQoS:
			b = append(b, p.MaximumQoS)
		case PropRetainAvailable:
			b = append(b, p.RetainAvailable)
		case PropMaximumPacketSize:
			b = binary.BigEndian.AppendUint32(b, p.MaximumPacketSize)
		case PropWildcardSubAvailable:
			b = append(b, p.WildcardSubAvailable)
		case PropSubIDAvailable:
			b = append(b, p.SubIDAvailable)
		case PropSharedSubAvailable:
			b = append(b, p.SharedSubAvailable)
		}
	}
	for _, u := range p.User {
		b = append(b, byte(PropUserProperty))
		b = appendString(b, u.Key)
		b = appendString(b, u.Value)
	}
	return b
}

// validUTF8 reports whether s is an MQTT UTF-8 string: well-formed, no
// U+0000 ([MQTT-1.5.4-1], [MQTT-1.5.4-2]).
func validUTF8(s []byte) bool {
	if !utf8.Valid(s) {
		return false
	}
	for _, c := range s {
		if c == 0 {
			return false
		}
	}
	return true
}
