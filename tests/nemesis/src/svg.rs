//! The timeline picture: faults as shaded bands across the run; above, each write's latency as a
//! dot (log scale; indeterminate writes in red at the top); below, answered operations per
//! 100 ms as a line. Plain string formatting, no drawing library.

use std::fmt::Write as _;

use crate::nemesis::{Fault, FaultKind};
use crate::routing::Recorded;
use crate::watch::Stream;
use crate::workload::{Kind, Record};

const WIDTH: f64 = 1200.0;
const LEFT: f64 = 60.0;
const RIGHT: f64 = 20.0;
/// The latency panel's top and bottom.
const LAT_TOP: f64 = 30.0;
const LAT_BOTTOM: f64 = 260.0;
/// The throughput panel's top and bottom.
const TPUT_TOP: f64 = 290.0;
const TPUT_BOTTOM: f64 = 400.0;
const HEIGHT: f64 = 430.0;
/// Latency axis: 0.1 ms to 10 s, log scale.
const LAT_MIN_MS: f64 = 0.1;
const LAT_MAX_MS: f64 = 10_000.0;

fn color(kind: FaultKind) -> &'static str {
    match kind {
        FaultKind::PartitionHalves => "#f4c542",
        FaultKind::PartitionLeaderMinority => "#f49b42",
        FaultKind::IsolateLeader => "#e8743b",
        FaultKind::PartitionBridge => "#c9a0dc",
        FaultKind::KillLeader => "#e05d5d",
        FaultKind::KillTwo => "#b03a3a",
        FaultKind::PauseLeader => "#5d9be0",
        FaultKind::SkewedLeader => "#4cb8a4",
        FaultKind::MembershipUnderPause => "#8a8a8a",
        FaultKind::OneWayLeader => "#7fbf3f",
        FaultKind::OneWayLinks => "#b5d98a",
    }
}

/// A throughput line: `times` (µs) counted per 100 ms bucket, scaled to `max`.
fn line(times: impl Iterator<Item = u64>, end_us: u64, max: f64, x: impl Fn(u64) -> f64) -> String {
    let buckets = (end_us / 100_000 + 1) as usize;
    let mut counts = vec![0_u64; buckets];
    for t in times {
        if let Some(c) = counts.get_mut((t / 100_000) as usize) {
            *c += 1;
        }
    }
    let mut path = String::new();
    for (i, &c) in counts.iter().enumerate() {
        let px = x(i as u64 * 100_000);
        let py = TPUT_BOTTOM - (TPUT_BOTTOM - TPUT_TOP) * (c as f64 / max).min(1.0);
        let _ = write!(path, "{}{px:.1},{py:.1} ", if i == 0 { "M" } else { "L" });
    }
    path
}

/// The SVG document for a run that lasted `end_us`.
pub fn timeline(
    records: &[Record],
    faults: &[Fault],
    end_us: u64,
    routing: &Recorded,
    streams: &[Stream],
) -> String {
    let span = end_us.max(1) as f64;
    let x = |us: u64| LEFT + (WIDTH - LEFT - RIGHT) * us as f64 / span;
    let lat_y = |ms: f64| {
        let t = (ms.clamp(LAT_MIN_MS, LAT_MAX_MS).log10() - LAT_MIN_MS.log10())
            / (LAT_MAX_MS.log10() - LAT_MIN_MS.log10());
        LAT_BOTTOM - t * (LAT_BOTTOM - LAT_TOP)
    };
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    for f in faults {
        let (x0, x1) = (x(f.start_us), x(f.end_us));
        let _ = writeln!(
            s,
            r#"<rect x="{x0:.1}" y="{LAT_TOP}" width="{:.1}" height="{:.1}" fill="{}" opacity="0.35"><title>{} {}</title></rect>"#,
            (x1 - x0).max(1.0),
            TPUT_BOTTOM - LAT_TOP,
            color(f.kind),
            f.kind.name(),
            f.detail
        );
        let _ = writeln!(
            s,
            r#"<text x="{x0:.1}" y="{}" transform="rotate(-20 {x0:.1} {})" font-size="9">{}</text>"#,
            LAT_TOP - 4.0,
            LAT_TOP - 4.0,
            f.kind.name()
        );
    }
    // Axes and labels.
    for ms in [1.0, 10.0, 100.0, 1_000.0] {
        let y = lat_y(ms);
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text x="4" y="{:.1}">{ms} ms</text>"##,
            WIDTH - RIGHT,
            y + 4.0
        );
    }
    let _ = writeln!(
        s,
        r#"<text x="{LEFT}" y="{}">write latency (log scale; red: indeterminate)</text>"#,
        LAT_BOTTOM + 14.0
    );
    for r in records.iter().filter(|r| r.kind != Kind::Get) {
        let ms = (r.ret_us - r.call_us) as f64 / 1e3;
        let (fill, y) = match r.outcome.label() {
            "ok" => ("#1f5fa8", lat_y(ms)),
            "info" => ("#d62728", LAT_TOP + 2.0),
            _ => continue,
        };
        let _ = writeln!(
            s,
            r#"<circle cx="{:.1}" cy="{y:.1}" r="1.4" fill="{fill}"/>"#,
            x(r.call_us)
        );
    }
    // Throughput: answered operations per 100 ms bucket.
    let buckets = (end_us / 100_000 + 1) as usize;
    let mut counts = vec![0_u64; buckets];
    for r in records.iter().filter(|r| r.outcome.label() == "ok") {
        if let Some(c) = counts.get_mut((r.ret_us / 100_000) as usize) {
            *c += 1;
        }
    }
    let max = counts.iter().copied().max().unwrap_or(1).max(1) as f64;
    let mut path = String::new();
    for (i, &c) in counts.iter().enumerate() {
        let px = x(i as u64 * 100_000);
        let py = TPUT_BOTTOM - (TPUT_BOTTOM - TPUT_TOP) * c as f64 / max;
        let _ = write!(path, "{}{px:.1},{py:.1} ", if i == 0 { "M" } else { "L" });
    }
    let _ = writeln!(
        s,
        r##"<path d="{path}" fill="none" stroke="#2ca02c" stroke-width="1"/>"##
    );
    // The registry workload's route answers and the watch events delivered, on the same scale.
    let routes = line(routing.routes.iter().map(|r| r.ret_us), end_us, max, x);
    let events = line(
        streams
            .iter()
            .flat_map(|s| &s.segments)
            .flat_map(|g| g.events.iter().map(|e| e.at_us)),
        end_us,
        max,
        x,
    );
    let _ = writeln!(
        s,
        r##"<path d="{routes}" fill="none" stroke="#9467bd" stroke-width="1"/><path d="{events}" fill="none" stroke="#ff7f0e" stroke-width="1"/>"##
    );
    let _ = writeln!(
        s,
        r##"<text x="{:.1}" y="{}" text-anchor="end"><tspan fill="#2ca02c">kv ops</tspan> <tspan fill="#9467bd">route answers</tspan> <tspan fill="#ff7f0e">watch events</tspan></text>"##,
        WIDTH - RIGHT,
        TPUT_BOTTOM + 14.0
    );
    let _ = writeln!(
        s,
        r##"<line x1="{LEFT}" x2="{:.1}" y1="{TPUT_BOTTOM}" y2="{TPUT_BOTTOM}" stroke="#888"/>"##,
        WIDTH - RIGHT
    );
    let _ = writeln!(
        s,
        r#"<text x="4" y="{}">{max} ops</text><text x="{LEFT}" y="{}">answered operations per 100 ms</text>"#,
        TPUT_TOP + 4.0,
        TPUT_BOTTOM + 14.0
    );
    let mut t = 0;
    while t <= end_us / 1_000_000 {
        let px = x(t * 1_000_000);
        let _ = writeln!(
            s,
            r#"<text x="{px:.1}" y="{}" text-anchor="middle" font-size="9">{t}s</text>"#,
            TPUT_BOTTOM + 26.0
        );
        t += 10;
    }
    s.push_str("</svg>\n");
    s
}
