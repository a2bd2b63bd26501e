//! The header's one-line summary: time, leader, play state.

use yew::prelude::*;

use crate::model::Model;

/// Simulated time, leader and play state.
pub fn status(model: &Model) -> Html {
    let cluster = model.timeline.cluster();
    let leader = match cluster.leader() {
        Some(id) => format!("leader: node {id}"),
        None => "no leader".to_string(),
    };
    let state = if model.paused { "paused" } else { "playing" };
    let live = if model.timeline.now() < model.timeline.head() {
        " (replaying the past)"
    } else {
        ""
    };
    html! {
        <p class="status" role="status" aria-live="polite">
            <span data-testid="sim-time">{ format!("t = {:.2} s", model.timeline.now() as f64 / 1000.0) }</span>
            <span data-testid="leader">{ leader }</span>
            <span>{ format!("{state} at {}×{live}", fmt_speed(model.speed)) }</span>
            <span class="seed">{ format!("seed {} · {} nodes", model.seed, model.nodes) }</span>
        </p>
    }
}

/// `0.1`, `2`, `0.05`.
pub fn fmt_speed(speed: f64) -> String {
    let s = format!("{speed:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}
