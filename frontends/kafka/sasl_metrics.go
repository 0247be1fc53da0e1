package kafka

import "github.com/prometheus/client_golang/prometheus"

// securityMetrics count logins and denials (part of serverMetrics, so
// registered with Options.Registerer alongside the rest):
//
//	strata_kafka_authentications_total{mechanism, result}   result: ok, failed, reauth
//	strata_kafka_authorization_denied_total{resource_type}  ACL checks that said no
type securityMetrics struct {
	authn  *prometheus.CounterVec
	denied *prometheus.CounterVec
}

func newSecurityMetrics() securityMetrics {
	return securityMetrics{
		authn: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "strata_kafka_authentications_total",
			Help: "Kafka SASL authentications, by mechanism and result (ok, failed, reauth)."}, []string{"mechanism", "result"}),
		denied: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "strata_kafka_authorization_denied_total",
			Help: "Kafka ACL checks that denied an operation, by resource type."}, []string{"resource_type"}),
	}
}

func (m securityMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.authn, m.denied}
}
