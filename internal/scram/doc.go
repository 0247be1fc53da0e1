// Package scram is the server side of SCRAM-SHA-256 and SCRAM-SHA-512
// (RFC 5802, RFC 7677), shared by the Kafka frontend (SASL, KIP-84) and
// the MQTT frontend (5.0 enhanced authentication, method SCRAM-SHA-256).
// It owns the exchange's state machine and the message parsers; the
// credentials come from the caller's Lookup (meta's security shard).
//
// Invariants:
//
//  1. Every comparison that involves a secret (the stored key against the
//     one the proof yields, the nonce echo) is constant-time.
//  2. An unknown user gets a made-up credential (a salt stable per user,
//     derived from the user name and the caller's secret; keys that match
//     no password) and fails exactly where a wrong password fails, so the
//     exchange does not tell who exists.
//  3. One try: a failed client-final ends the exchange; a third message is
//     refused.
//  4. No channel binding ("p=" is refused, the gs2 header must be echoed),
//     no mandatory extensions ("m="), no delegation tokens
//     ("tokenauth=true"). An authzid, when given, must be the user name.
//  5. The echoed nonce must end with the server-first nonce (Kafka's
//     rule: librdkafka sends the client nonce again in front of it); the
//     AuthMessage covers the echo verbatim, so the proof still binds it.
//
// Messages (RFC 5802 section 7):
//
//	client-first: gs2-header client-first-bare
//	  gs2-header        = ("n" | "y") "," [ "a=" saslname ] ","
//	  client-first-bare = "n=" saslname ",r=" c-nonce ["," extensions]
//	server-first: "r=" c-nonce s-nonce ",s=" base64(salt) ",i=" iterations
//	client-final: "c=" base64(gs2-header) ",r=" c-nonce s-nonce ["," extensions] ",p=" base64(ClientProof)
//	server-final: "v=" base64(ServerSignature)
//
//	AuthMessage     = client-first-bare "," server-first "," client-final-without-proof
//	ClientSignature = HMAC(StoredKey, AuthMessage);  ClientKey = ClientProof XOR ClientSignature
//	accept iff H(ClientKey) == StoredKey;            ServerSignature = HMAC(ServerKey, AuthMessage)
package scram
