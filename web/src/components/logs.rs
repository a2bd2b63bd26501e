//! Every node's log as a strip of entries colored by term, with the commit point marked and the
//! compacted (snapshotted) prefix drawn as one hatched block.

use yew::prelude::*;

use crate::model::{Action, Model, NodeView};

use super::send;

/// A readable color for a term (hue steps apart so neighbouring terms differ).
pub fn term_color(term: u64) -> String {
    format!("hsl({}, 70%, 62%)", (term * 47 + 200) % 360)
}

fn strip(view: &NodeView) -> Html {
    let cells = view.entries.iter().map(|&(index, term)| {
        let committed = index <= view.commit;
        let class = classes!("entry", committed.then_some("committed"), (index == view.commit).then_some("commit-point"));
        html! {
            <span class={class} style={format!("background:{}", term_color(term))}
                  title={format!("#{index}, term {term}{}", if committed { ", committed" } else { ", not committed" })}>{ term }</span>
        }
    });
    html! {
        <div class="strip" aria-label={format!("node {} log: last index {}, commit {}", view.id, view.last_index, view.commit)}>
            if view.snapshot_index > 0 {
                <span class="entry snap" title={format!("snapshot: entries up to #{} compacted", view.snapshot_index)}>{ format!("≤{}", view.snapshot_index) }</span>
            }
            { for cells }
        </div>
    }
}

/// The log strips of all nodes.
pub fn logs(model: &Model, on: &Callback<Action>) -> Html {
    let rows = model.node_views().into_iter().map(|view| {
        html! {
            <div class={classes!("log-row", view.role, (model.selected == Some(view.id)).then_some("selected"))}>
                <button class="who" onclick={send(on, Action::Select(view.id))} aria-label={format!("select node {}", view.id)}>{ format!("N{}", view.id) }</button>
                { strip(&view) }
                <span class="idx">{ format!("last #{} · commit #{}", view.last_index, view.commit) }</span>
            </div>
        }
    });
    html! {
        <div class="panel logs">
            <h2>{ "Logs" }</h2>
            <p class="hint">{ "Each box is an entry, labeled and colored by its term; the outlined box is the commit point; faded boxes are not committed yet." }</p>
            { for rows }
        </div>
    }
}
