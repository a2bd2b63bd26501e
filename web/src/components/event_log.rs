//! Elections, commits, faults, snapshots and client answers, newest first, with simulated times.

use yew::prelude::*;

use crate::model::Model;

/// How many lines are shown.
const SHOWN: usize = 150;

/// The event log.
pub fn event_log(model: &Model) -> Html {
    let lines = &model.timeline.log().lines;
    let rows = lines.iter().rev().take(SHOWN).map(|line| {
        html! {
            <li class={classes!("ev", line.kind.as_str())}>
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
