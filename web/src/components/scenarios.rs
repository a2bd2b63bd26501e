//! Scenario presets with narration.

use yew::prelude::*;

use crate::model::lessons::LESSONS;
use crate::model::{Action, Model, Scenario, SCENARIOS};

use super::send;

/// The preset buttons and the current narration.
pub fn scenarios(model: &Model, on: &Callback<Action>) -> Html {
    let current = model.scenario.map(|s| s.id);
    let button = |s: &Scenario| {
        let action = Action::Reset {
            seed: s.seed,
            nodes: s.nodes,
            scenario: Some(s.id.to_string()),
        };
        html! {
            <button class={classes!("scenario", (current == Some(s.id)).then_some("on"))} onclick={send(on, action)}
                    data-scenario={s.id} aria-pressed={(current == Some(s.id)).to_string()}>{ s.title }</button>
        }
    };
    let buttons = SCENARIOS.iter().map(button);
    let lessons = LESSONS.iter().map(button);
    let free = Action::Reset {
        seed: model.seed,
        nodes: model.nodes,
        scenario: None,
    };
    let sizes = (crate::model::NODES.0..=crate::model::NODES.1).map(|n| {
        let action = Action::Reset { seed: model.seed, nodes: n, scenario: None };
        html! { <button class={classes!("size", (model.nodes == n && current.is_none()).then_some("on"))} onclick={send(on, action)}
                        aria-label={format!("restart with {n} nodes")}>{ n }</button> }
    });
    let reseed = {
        let (on, nodes, scenario) = (on.clone(), model.nodes, current.map(String::from));
        Callback::from(move |_: MouseEvent| {
            on.emit(Action::Reset {
                seed: crate::entropy::seed(),
                nodes,
                scenario: scenario.clone(),
            })
        })
    };
    let narration = model.narration();
    html! {
        <nav class="scenarios" aria-label="scenarios">
            <span class="hint">{ "Scenarios:" }</span>
            { for buttons }
            <button class={classes!("scenario", current.is_none().then_some("on"))} onclick={send(on, free)}>{ "Free play" }</button>
            <span class="hint">{ "Lessons:" }</span>
            { for lessons }
            <span class="hint">{ "nodes:" }</span>{ for sizes }
            <button onclick={reseed} data-testid="new-seed" title="same setup, another seed">{ "new seed" }</button>
            if !narration.is_empty() {
                <p class="narration" data-testid="narration">{ narration }</p>
            }
        </nav>
    }
}
