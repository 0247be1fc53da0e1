package kafka

// ApiVersions: v0-4
//
// Advertises exactly the handler table. A version above 4 is answered in
// conn.unsupported with a v0 response, UNSUPPORTED_VERSION and the table
// (KIP-511), so the client retries at a version it finds there. The
// response header is v0 at every version (no tag byte).
//
// Version notes: v1 throttle; v3 flexible, client software name and
// version (validated as Kafka does); v4 no change on the wire.

import (
	"regexp"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(handler{key: 18, min: 0, max: 4, serve: handleApiVersions})
}

// softwareRE is Kafka's rule for client software name and version.
var softwareRE = regexp.MustCompile(`^[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?$`)

func handleApiVersions(rc *reqCtx, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.ApiVersionsRequest)
	code := int16(0)
	if req.Version >= 3 && (!softwareRE.MatchString(req.ClientSoftwareName) || !softwareRE.MatchString(req.ClientSoftwareVersion)) {
		code = kerr.InvalidRequest.Code
	}
	return apiVersionsResponse(req.Version, code), nil
}

// apiVersionsResponse lists every registered key with its versions.
func apiVersionsResponse(version, code int16) *kmsg.ApiVersionsResponse {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = version
	resp.ErrorCode = code
	for _, k := range apiKeys() {
		h := handlers[k]
		key := kmsg.NewApiVersionsResponseApiKey()
		key.ApiKey, key.MinVersion, key.MaxVersion = h.key, h.min, h.max
		resp.ApiKeys = append(resp.ApiKeys, key)
	}
	return resp
}
