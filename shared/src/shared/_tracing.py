"""OpenTelemetry tracing: off by default, switched on by the standard OTEL_* variables.

With tracing off nothing is installed and nothing costs anything; W3C `traceparent`
still travels through the gateway untouched. With it on, each service exports its spans
(OTLP over HTTP by default) and joins the caller's trace from `traceparent`."""

import os
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

_ENABLING_VARIABLES = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_TRACES_EXPORTER",
)


def tracing_requested() -> bool:
    """True when the environment asks for traces (and OTEL_SDK_DISABLED is not set)."""
    if os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    if os.environ.get("OTEL_TRACES_EXPORTER", "").lower() == "none":
        return False
    return any(os.environ.get(name) for name in _ENABLING_VARIABLES)


def _exporter_from_env() -> SpanExporter:
    kind = os.environ.get("OTEL_TRACES_EXPORTER", "otlp").lower()
    if kind == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()  # endpoint, headers, timeout from OTEL_EXPORTER_OTLP_*


def configure_tracing(service: str, exporter: SpanExporter | None = None) -> bool:
    """Install a tracer provider for `service` if tracing is requested (or an exporter is
    given, e.g. an in-memory one in tests). Returns whether tracing is on."""
    if exporter is None and not tracing_requested():
        return False
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):  # already configured in this process
        if exporter is not None:
            current.add_span_processor(_processor(exporter))
        return True
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(_processor(exporter or _exporter_from_env()))
    trace.set_tracer_provider(provider)
    return True


def _processor(exporter: SpanExporter) -> Any:
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    # In-memory exporters (tests) want spans at once; real exporters want batches.
    if isinstance(exporter, InMemorySpanExporter):
        return SimpleSpanProcessor(exporter)
    return BatchSpanProcessor(exporter)


def tracing_enabled() -> bool:
    """Whether a real tracer provider is installed in this process."""
    return isinstance(trace.get_tracer_provider(), TracerProvider)


def current_trace_id() -> str | None:
    """The active span's trace id as 32 hex digits, or None outside a recorded trace."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return format(context.trace_id, "032x")


def instrument_httpx_client(client: Any) -> None:
    """Trace an httpx.AsyncClient's calls and inject `traceparent` (when tracing is on)."""
    if tracing_enabled():
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

        HTTPXClientInstrumentor.instrument_client(client)

