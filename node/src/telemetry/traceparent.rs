//! The W3C `traceparent` header (<https://www.w3.org/TR/trace-context/>): parsed leniently
//! enough to accept any version's first four fields, strictly enough that hostile input is
//! refused (`None`) rather than trusted.

use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};

/// Parses `00-<32 hex trace id>-<16 hex span id>-<2 hex flags>` into a remote span context.
/// All-zero ids, version `ff`, upper-case hex and wrong lengths are refused; a future version
/// may append fields after a `-`, which are ignored.
pub fn parse(header: &str) -> Option<SpanContext> {
    let mut parts = header.trim().splitn(5, '-');
    let version = parts.next()?;
    let trace = parts.next()?;
    let span = parts.next()?;
    let flags = parts.next()?;
    if !lower_hex(version, 2) || version == "ff" || !lower_hex(trace, 32) {
        return None;
    }
    if !lower_hex(span, 16) || !lower_hex(flags, 2) {
        return None;
    }
    // Version 00 has exactly four fields.
    if version == "00" && parts.next().is_some() {
        return None;
    }
    let trace_id = TraceId::from_hex(trace).ok()?;
    let span_id = SpanId::from_hex(span).ok()?;
    if trace_id == TraceId::INVALID || span_id == SpanId::INVALID {
        return None;
    }
    let flags = u8::from_str_radix(flags, 16).ok()? & TraceFlags::SAMPLED.to_u8();
    Some(SpanContext::new(
        trace_id,
        span_id,
        TraceFlags::new(flags),
        true,
        TraceState::default(),
    ))
}

/// The `traceparent` naming `context` (version 00).
pub fn format(context: &SpanContext) -> String {
    format!(
        "00-{}-{}-{:02x}",
        context.trace_id(),
        context.span_id(),
        context.trace_flags().to_u8()
    )
}

fn lower_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    #[test]
    fn round_trips_the_spec_example() {
        let context = parse(EXAMPLE).expect("valid");
        assert_eq!(
            context.trace_id(),
            TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap()
        );
        assert!(context.is_sampled() && context.is_remote());
        assert_eq!(format(&context), EXAMPLE);
    }

    #[test]
    fn refuses_malformed_headers() {
        for bad in [
            "",
            "00",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
            "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
            "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
            "00-0af7651916cd43dd8448eb211c8031-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b71692033xx-01",
            "00-é€651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        ] {
            assert!(parse(bad).is_none(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn a_later_version_may_carry_more_fields() {
        let later = format!("01-{}-more", &EXAMPLE[3..]);
        assert!(parse(&later).is_some());
    }
}
