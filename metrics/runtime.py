"""The worker's Prometheus endpoint: a Temporal runtime that exports metrics.

The SDK's metrics (workflow and activity completions, failures, latencies, slots, polls, cache)
and the business metrics of domain.business_metrics come out of the same runtime, at
http://<address>/metrics. A runtime belongs to the clients created with it, and a worker reports
through its client's runtime, so the worker commands install it as the default before they
connect (`install_default`).
"""

from __future__ import annotations

from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from domain.business_metrics import HISTOGRAM_BUCKETS


class MetricsEndpointError(RuntimeError):
    """The metrics endpoint could not be served (the address is taken or not ours)."""


def prometheus_runtime(address: str) -> Runtime:
    """A runtime serving Prometheus metrics on `address` (host:port) from now on."""
    try:
        return Runtime(
            telemetry=TelemetryConfig(
                metrics=PrometheusConfig(bind_address=address, histogram_bucket_overrides=HISTOGRAM_BUCKETS)
            )
        )
    except ValueError as error:  # the core reports a failed bind this way
        raise MetricsEndpointError(f"cannot serve the worker's metrics on {address}: {error}") from None


def install_default(address: str) -> Runtime:
    """Make every client this process creates from now on report to a Prometheus endpoint on
    `address`. Call before the first client is connected."""
    runtime = prometheus_runtime(address)
    Runtime.set_default(runtime, error_if_already_set=True)
    return runtime
