//! Progress bars for long CLI work (`raftorch sim`, `raftorch bench`). On a terminal they draw
//! on stderr; when stderr is not a terminal (CI, pipes) the bar is hidden and the caller prints
//! plain progress lines instead, so logs stay readable.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// A bar counting `total` items (e.g. seeds).
pub(crate) fn counter(total: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{{spinner}} [{{elapsed_precise}}] {{wide_bar}} {{pos}}/{{len}} {what} (eta {{eta}})"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// A bar that fills over `duration` of wall time (a timed load run); the caller ticks it.
pub(crate) fn timed(duration: Duration, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(duration.as_millis().max(1) as u64);
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{{spinner}} {what} [{{elapsed_precise}}] {{wide_bar}} {{msg}}"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}
