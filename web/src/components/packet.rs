//! A message in flight: a shape per kind (legend in `legend.rs`), moving from sender to receiver.

use yew::prelude::*;

use crate::model::{node_position, Action, PacketKind, PacketView};

use super::node::R;

/// The shape of a kind, centred on `(x, y)`.
pub fn shape(kind: PacketKind, x: f64, y: f64) -> Html {
    let class = classes!("pkt", kind.class());
    let (xs, ys) = (x.to_string(), y.to_string());
    match kind {
        PacketKind::VoteRequest => {
            let d = format!(
                "M {x} {} L {} {y} L {x} {} L {} {y} Z",
                y - 9.0,
                x + 9.0,
                y + 9.0,
                x - 9.0
            );
            html! { <path class={class} d={d} /> }
        }
        PacketKind::VoteResponse(_) | PacketKind::ReadIndex => {
            html! { <circle class={class} cx={xs} cy={ys} r="6" /> }
        }
        PacketKind::Heartbeat | PacketKind::HeartbeatResponse => {
            html! { <circle class={class} cx={xs} cy={ys} r="4" /> }
        }
        PacketKind::Append | PacketKind::AppendResponse => {
            html! { <rect class={class} x={(x - 7.0).to_string()} y={(y - 7.0).to_string()} width="14" height="14" rx="2" /> }
        }
        PacketKind::Snapshot => {
            html! { <rect class={class} x={(x - 11.0).to_string()} y={(y - 11.0).to_string()} width="22" height="22" /> }
        }
        PacketKind::TimeoutNow => {
            let d = format!(
                "M {x} {} L {} {} L {} {} Z",
                y - 10.0,
                x + 9.0,
                y + 7.0,
                x - 9.0,
                y + 7.0
            );
            html! { <path class={class} d={d} /> }
        }
        PacketKind::Forward(_) => {
            let d = format!(
                "M {} {y} L {} {} L {} {} L {} {y} L {} {} L {} {} Z",
                x - 9.0,
                x - 4.5,
                y - 8.0,
                x + 4.5,
                y - 8.0,
                x + 9.0,
                x + 4.5,
                y + 8.0,
                x - 4.5,
                y + 8.0
            );
            html! { <path class={class} d={d} /> }
        }
    }
}

/// Where a packet is drawn: along its link, from rim to rim, shifted to the right of its travel
/// direction so a request and its answer on the same link do not overlap.
pub fn position(p: &PacketView, n: u64) -> (f64, f64) {
    let (x1, y1) = node_position(p.from, n);
    let (x2, y2) = node_position(p.to, n);
    let (dx, dy) = (x2 - x1, y2 - y1);
    let len = (dx * dx + dy * dy).sqrt().max(1.0);
    let (ux, uy) = (dx / len, dy / len);
    let start = (x1 + ux * R, y1 + uy * R);
    let travel = (len - 2.0 * R).max(0.0) * p.progress;
    (
        start.0 + ux * travel - uy * 7.0,
        start.1 + uy * travel + ux * 7.0,
    )
}

/// Draws a packet in flight; clicking it shows its fields (and a button that drops it).
pub fn packet(p: &PacketView, n: u64, selected: bool, on: &Callback<Action>) -> Html {
    let (x, y) = position(p, n);
    let id = p.id;
    let onclick = on.reform(move |e: MouseEvent| {
        e.stop_propagation();
        Action::SelectPacket(Some(id))
    });
    let count = (p.kind == PacketKind::Append && p.entries > 1).then(|| {
        html! { <text class="pkt-count" x={(x + 10.0).to_string()} y={(y - 8.0).to_string()}>{ p.entries }</text> }
    });
    html! {
        <g class={classes!("packet", selected.then_some("selected"))} data-kind={p.kind.class()} data-packet={p.id.to_string()} key={p.id.to_string()} {onclick}>
            <title>{ p.title.clone() }</title>
            // A larger, invisible target: the shapes are a few pixels across.
            <circle class="pkt-hit" cx={x.to_string()} cy={y.to_string()} r="13" />
            { shape(p.kind, x, y) }
            { for count }
        </g>
    }
}

/// The shown message's fields, with a button that drops it before it arrives.
pub fn packet_info(p: &PacketView, on: &Callback<Action>) -> Html {
    let rows = p.fields.iter().map(|(name, value)| {
        html! { <><dt>{ *name }</dt><dd>{ value.clone() }</dd></> }
    });
    html! {
        <div class="packet-info panel" data-testid="packet-info" aria-live="polite">
            <h3>{ p.title.clone() }</h3>
            <dl>{ for rows }</dl>
            <div class="row">
                <button data-testid="drop-packet" onclick={on.reform(|_| Action::DropSelectedPacket)}>{ "drop it" }</button>
                <button onclick={on.reform(|_| Action::SelectPacket(None))}>{ "close" }</button>
            </div>
        </div>
    }
}
