//! Spans recorded after the fact. The node knows a span's id before it knows its name or its
//! end (a request's span must parent the work it starts; a write's span must name the
//! `traceparent` that is forwarded before the write's fate is known), so it picks the ids
//! itself and hands the SDK the finished span: ids, parent, kind, times, attributes, status.

use std::time::SystemTime;

use opentelemetry::trace::{
    Span as _, SpanContext, SpanId, SpanKind, Status, TraceContextExt, TraceFlags, TraceId,
    TraceState, Tracer as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator, SdkTracer};

/// The identity of a span about to happen: its own context, and its parent's.
#[derive(Clone, Debug)]
pub struct SpanSlot {
    /// This span's trace, id and flags (its children's parent).
    pub context: SpanContext,
    /// The span it descends from (`None`: the root of a new trace).
    pub parent: Option<SpanContext>,
    /// When it started.
    pub start: SystemTime,
}

impl SpanSlot {
    /// A span starting now, below `parent` (or the root of a new trace).
    pub fn new(parent: Option<SpanContext>) -> Self {
        let ids = RandomIdGenerator::default();
        let (trace_id, flags) = match &parent {
            Some(p) => (p.trace_id(), p.trace_flags()),
            None => (ids.new_trace_id(), TraceFlags::SAMPLED),
        };
        SpanSlot {
            context: child_context(trace_id, ids.new_span_id(), flags),
            parent,
            start: SystemTime::now(),
        }
    }

    /// Hands the finished span to the exporter, ending now.
    pub fn finish(
        self,
        tracer: &SdkTracer,
        name: impl Into<std::borrow::Cow<'static, str>>,
        kind: SpanKind,
        attributes: Vec<KeyValue>,
        status: Status,
    ) {
        self.finish_at(tracer, name, kind, attributes, status, SystemTime::now());
    }

    /// [`SpanSlot::finish`], ending at `end`.
    pub fn finish_at(
        self,
        tracer: &SdkTracer,
        name: impl Into<std::borrow::Cow<'static, str>>,
        kind: SpanKind,
        attributes: Vec<KeyValue>,
        status: Status,
        end: SystemTime,
    ) {
        let parent = match &self.parent {
            Some(p) => Context::new().with_remote_span_context(p.clone()),
            None => Context::new(),
        };
        let mut span = tracer
            .span_builder(name)
            .with_kind(kind)
            .with_trace_id(self.context.trace_id())
            .with_span_id(self.context.span_id())
            .with_start_time(self.start)
            .with_attributes(attributes)
            .with_status(status)
            .start_with_context(tracer, &parent);
        span.end_with_timestamp(end.max(self.start));
    }
}

fn child_context(trace_id: TraceId, span_id: SpanId, flags: TraceFlags) -> SpanContext {
    SpanContext::new(trace_id, span_id, flags, false, TraceState::default())
}
