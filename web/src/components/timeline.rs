//! The timeline: scrub over every moment reached so far; buttons step in time.

use yew::prelude::*;

use crate::model::{Action, Model};

use super::{icon, send};

/// The scrubber under the cluster.
pub fn timeline(model: &Model, on: &Callback<Action>) -> Html {
    let (now, head) = (model.timeline.now(), model.timeline.head());
    let oninput = {
        let on = on.clone();
        Callback::from(move |e: InputEvent| {
            let input: web_sys::HtmlInputElement = e.target_unchecked_into();
            if let Ok(t) = input.value().parse::<u64>() {
                on.emit(Action::Seek(t));
            }
        })
    };
    html! {
        <div class="timeline">
            <button onclick={send(on, Action::Scrub(-1000))} aria-label="back one second" title="back 1 s (shift+←)">{ "−1 s" }</button>
            <button onclick={send(on, Action::Scrub(-100))} aria-label="back 100 ms" title="back 100 ms (←)">{ icon::back() }</button>
            <input type="range" min="0" max={head.max(1).to_string()} value={now.to_string()} step="10"
                   aria-label="timeline: scrub simulated time" oninput={oninput} data-testid="scrubber" />
            <button onclick={send(on, Action::Scrub(100))} aria-label="forward 100 ms" title="forward 100 ms (→)">{ icon::play() }</button>
            <button onclick={send(on, Action::Seek(head))} aria-label="jump to live" title="jump to live (end)">{ "live" }</button>
            <span class="time">{ format!("{:.2} / {:.2} s", now as f64 / 1000.0, head as f64 / 1000.0) }</span>
        </div>
    }
}
