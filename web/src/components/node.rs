//! One node in the ring: a circle colored by role (with the role written under the id), the
//! election timer as an arc that empties toward the timeout, term and commit index. It is a
//! button: a click, or Enter or Space while it has the keyboard focus, kills or restarts it; a
//! ring around it shows that focus.

use std::fmt::Write;

use yew::prelude::*;

use crate::keys::node_key_action;
use crate::model::{role_label, Action, NodeView, FOCUS_RING_RADIUS, NODE_RADIUS};

/// Circle radius.
pub const R: f64 = NODE_RADIUS;

/// An SVG arc path around `(cx, cy)` covering `fraction` of a circle, clockwise from the top.
pub fn arc_path(cx: f64, cy: f64, r: f64, fraction: f64) -> String {
    let mut d = String::new();
    let f = fraction.clamp(0.0, 0.9999);
    let end = core::f64::consts::TAU * f - core::f64::consts::FRAC_PI_2;
    let (x, y) = (cx + r * end.cos(), cy + r * end.sin());
    let large = u8::from(f > 0.5);
    let _ = write!(
        d,
        "M {cx:.1} {:.1} A {r} {r} 0 {large} 1 {x:.1} {y:.1}",
        cy - r
    );
    d
}

/// Draws a node at `(x, y)`; clicking it, or Enter or Space on it, kills or restarts it.
pub fn node(
    view: &NodeView,
    (x, y): (f64, f64),
    selected: bool,
    side_b: bool,
    on: &Callback<Action>,
) -> Html {
    let id = view.id;
    let onclick = super::send(on, Action::ToggleNode(id));
    let onkeydown = {
        let on = on.clone();
        Callback::from(move |e: KeyboardEvent| {
            if let Some(action) = node_key_action(&e.key(), id) {
                // Space would scroll the page and, on the window, pause the run.
                e.prevent_default();
                e.stop_propagation();
                on.emit(action);
            }
        })
    };
    let class = classes!(
        "node",
        view.role,
        selected.then_some("selected"),
        view.paused.then_some("paused")
    );
    let label = format!(
        "node {}, {}{}, term {}, commit {}. Click or press Enter to {}.",
        view.id,
        view.role,
        if view.paused { " (paused)" } else { "" },
        view.term,
        view.commit,
        if view.role == "down" {
            "restart"
        } else {
            "crash"
        }
    );
    let timer = view.timer_left.map(|left| {
        html! { <path class="timer" d={arc_path(x, y, R + 7.0, left)} /> }
    });
    let role_text = match view.role {
        "precandidate" => "pre-candidate",
        other => other,
    };
    // Two bars over the id: the node is frozen (alive, processing nothing).
    let paused = view.paused.then(|| {
        let bar = |dx: f64| html! { <rect class="pause-bar" x={(x + dx).to_string()} y={(y - 40.0).to_string()} width="4" height="11" rx="1" /> };
        html! { <g class="paused-mark">{ bar(-6.0) }{ bar(2.0) }</g> }
    });
    html! {
        <g class={class} data-testid={format!("node-{}", view.id)} data-role={view.role}
           data-term={view.term.to_string()} data-commit={view.commit.to_string()}
           role="button" tabindex="0" aria-label={label} onclick={onclick} onkeydown={onkeydown}>
            <title>{ format!("node {} — {role_text}{}; click to {}", view.id, if view.paused { ", paused" } else { "" }, if view.role == "down" { "restart" } else { "crash" }) }</title>
            <circle class="timer-track" cx={x.to_string()} cy={y.to_string()} r={(R + 7.0).to_string()} />
            { for timer }
            <circle class="body" cx={x.to_string()} cy={y.to_string()} r={R.to_string()} />
            if side_b { <circle class="side-b" cx={x.to_string()} cy={y.to_string()} r={(R + 14.0).to_string()} /> }
            // Shown by CSS while the node has the keyboard focus: an outline would be a rectangle.
            <circle class="focus-ring" cx={x.to_string()} cy={y.to_string()} r={FOCUS_RING_RADIUS.to_string()} />
            <text class="id" x={x.to_string()} y={(y - 10.0).to_string()}>{ format!("N{}", view.id) }</text>
            { for paused }
            <text class="role" x={x.to_string()} y={(y + 8.0).to_string()}>{ role_label(view.role) }</text>
            <text class="term" x={x.to_string()} y={(y + 24.0).to_string()}>{ format!("T{} · c{}", view.term, view.commit) }</text>
            if view.role == "down" {
                <path class="cross" d={format!("M {} {} L {} {} M {} {} L {} {}", x - 20.0, y - 20.0, x + 20.0, y + 20.0, x + 20.0, y - 20.0, x - 20.0, y + 20.0)} />
            }
        </g>
    }
}
