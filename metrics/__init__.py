"""What the engine tells Prometheus.

- `domain.business_metrics` (not here: the workflows may import only the domain): the catalogue
  of business metrics the workflows emit (names, labels, histogram buckets), through the Temporal
  SDK's replay-safe workflow meter.
- `metrics.runtime`: the worker's Prometheus endpoint: a Temporal runtime that exports the SDK's
  own metrics and the business ones.
- `metrics.intake`: the webhook intake's metrics (prometheus_client), served on its `/metrics`.

Labels are low-cardinality identifiers (an ATS source, an outcome): never a name, an email
address or an application id.
"""
