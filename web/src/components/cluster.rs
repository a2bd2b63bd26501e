//! The cluster as SVG: links (red and dashed where the network is cut), lost messages, messages
//! in flight, and the nodes.

use yew::prelude::*;

use crate::model::{node_position, Action, Model};

use super::node::node;
use super::packet::{packet, packet_info};

/// How long (simulated ms) a lost message's cross stays visible.
const DROP_VISIBLE_MS: u64 = 120;

/// The ring of nodes with everything between them.
pub fn cluster(model: &Model, on: &Callback<Action>) -> Html {
    let c = model.timeline.cluster();
    let n = model.nodes;
    let topology = c.topology();
    let groups = topology.groups();
    let mut links = Vec::new();
    for a in 1..=n {
        for b in (a + 1)..=n {
            let (x1, y1) = node_position(a, n);
            let (x2, y2) = node_position(b, n);
            let up = (topology.can_reach(a, b), topology.can_reach(b, a));
            let class = match up {
                (true, true) => "link",
                (false, false) => "link cut",
                _ => "link half-cut",
            };
            let title = match up {
                (true, true) => format!("{a} ↔ {b}"),
                (false, false) => format!("{a} ✕ {b}: no messages either way"),
                (true, false) => format!("{a} → {b} only ({b} → {a} is cut)"),
                (false, true) => format!("{b} → {a} only ({a} → {b} is cut)"),
            };
            links.push(html! {
                <line class={class} x1={x1.to_string()} y1={y1.to_string()} x2={x2.to_string()} y2={y2.to_string()}>
                    <title>{ title }</title>
                </line>
            });
        }
    }
    let now = c.now();
    let drops = model.timeline.log().drops.iter().filter(|d| d.time <= now && now - d.time < DROP_VISIBLE_MS).map(|d| {
        let (x1, y1) = node_position(d.from, n);
        let (x2, y2) = node_position(d.to, n);
        let (x, y) = (x1 + (x2 - x1) * 0.3, y1 + (y2 - y1) * 0.3);
        html! {
            <path class="drop" d={format!("M {} {} L {} {} M {} {} L {} {}", x - 6.0, y - 6.0, x + 6.0, y + 6.0, x + 6.0, y - 6.0, x - 6.0, y + 6.0)}>
                <title>{ format!("message {} → {} lost ({:?})", d.from, d.to, d.reason) }</title>
            </path>
        }
    });
    let packets = model.packet_views();
    let nodes = model.node_views().into_iter().map(|view| {
        let id = view.id;
        let side_b = groups.get(id as usize - 1).is_some_and(|&g| g != 0);
        node(
            &view,
            node_position(id, n),
            model.selected == Some(id),
            side_b,
            on,
        )
    });
    html! {
        <>
        <svg class="cluster" viewBox="0 0 600 580" role="img" aria-label="the cluster: nodes in a ring with messages in flight">
            <g class="links">{ for links }</g>
            <g class="drops">{ for drops }</g>
            <g class="nodes">{ for nodes }</g>
            <g class="packets">{ for packets.iter().map(|p| packet(p, n, model.selected_packet == Some(p.id), on)) }</g>
            if c.violation().is_some() {
                <text class="violation" x="300" y="575">{ format!("SAFETY VIOLATION: {:?}", c.violation()) }</text>
            }
        </svg>
        if let Some(p) = model.selected_packet_view() {
            { packet_info(&p, on) }
        }
        </>
    }
}
