//! What the shapes and colors mean.

use yew::prelude::*;

use crate::model::PacketKind;

use super::packet::shape;

/// The legend of message kinds and node roles.
pub fn legend() -> Html {
    let kinds = PacketKind::ALL.iter().map(|&kind| {
        html! {
            <li><svg viewBox="0 0 24 24" width="22" height="22" aria-hidden="true">{ shape(kind, 12.0, 12.0) }</svg>{ kind.label() }</li>
        }
    });
    let roles = ["leader", "candidate", "precandidate", "follower", "down"]
        .iter()
        .map(|&role| {
            let name = match role {
                "precandidate" => "pre-candidate",
                other => other,
            };
            html! { <li><span class={classes!("swatch", role)}></span>{ name }</li> }
        });
    html! {
        <div class="panel legend">
            <h2>{ "Legend" }</h2>
            <ul class="roles">{ for roles }</ul>
            <ul class="kinds">{ for kinds }</ul>
            <p class="hint">{ "The arc around a node is its election timer: when it empties, the node campaigns. Filled shapes are requests, hollow ones answers." }</p>
        </div>
    }
}
