//! Elections, commits, faults, snapshots and client answers, newest first, with simulated times.

use yew::prelude::*;

use crate::model::Model;

/// How many lines are shown.
const SHOWN: usize = 150;

/// The event log.
pub fn event_log(model: &Model) -> Html {
    let lines = &model.timeline.log().lines;
    // Keyed by position in the log: a new line inserts one row instead of rewriting every row's
    // text below it (newest first).
    let rows = lines.iter().enumerate().rev().take(SHOWN).map(|(i, line)| {
        html! {
            <li class={classes!("ev", line.kind.as_str())} key={i}>
                <span class="t">{ format!("{:>7.3}s", line.time as f64 / 1000.0) }</span>
                <span class="txt">{ line.text.clone() }</span>
            </li>
        }
    });
    html! {
        <div class="panel events">
            <h2>{ format!("Events ({})", lines.len()) }</h2>
            <ol class="event-list" aria-live="off" data-testid="event-log">{ for rows }</ol>
        </div>
    }
}
