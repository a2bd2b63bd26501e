//! Playback and fault controls: pause, step, speed, loss, duplication, latency, node crashes and
//! pauses, partitions, one-way cuts, heal, leadership transfer.

use yew::prelude::*;

use crate::model::{Action, Model, DUPLICATE_MAX, SPEED};

use super::status::fmt_speed;
use super::{icon, send};

fn slider(label: &str, min: f64, max: f64, step: f64, value: f64, on: Callback<f64>) -> Html {
    let oninput = Callback::from(move |e: InputEvent| {
        let input: web_sys::HtmlInputElement = e.target_unchecked_into();
        if let Ok(v) = input.value().parse::<f64>() {
            on.emit(v);
        }
    });
    html! {
        <input type="range" aria-label={label.to_string()} min={min.to_string()} max={max.to_string()}
               step={step.to_string()} value={value.to_string()} oninput={oninput} />
    }
}

/// The control panel.
pub fn controls(model: &Model, on: &Callback<Action>) -> Html {
    let c = model.timeline.cluster();
    let config = c.config();
    // Speed on a log scale: slider position = log10(speed).
    let speed = {
        let on = on.clone();
        slider(
            "speed",
            SPEED.0.log10(),
            SPEED.1.log10(),
            0.01,
            model.speed.log10(),
            Callback::from(move |v: f64| on.emit(Action::SetSpeed(10f64.powf(v)))),
        )
    };
    let drop = {
        let on = on.clone();
        slider(
            "message loss",
            0.0,
            500.0,
            10.0,
            config.drop_per_mille as f64,
            Callback::from(move |v: f64| on.emit(Action::SetDropRate(v as u32))),
        )
    };
    let duplicate = {
        let on = on.clone();
        slider(
            "message duplication",
            0.0,
            DUPLICATE_MAX as f64,
            10.0,
            config.duplicate_per_mille as f64,
            Callback::from(move |v: f64| on.emit(Action::SetDuplicateRate(v as u32))),
        )
    };
    let max_latency = config.max_latency_ms;
    let latency = {
        let on = on.clone();
        slider(
            "latency",
            5.0,
            200.0,
            5.0,
            max_latency as f64,
            Callback::from(move |v: f64| {
                let hi = v as u64;
                on.emit(Action::SetLatency(hi / 2, hi));
            }),
        )
    };
    let selected = model.selected;
    let sides = (1..=model.nodes).map(|id| {
        let side = model.sides[id as usize - 1];
        let label = if side == 0 { "A" } else { "B" };
        html! {
            <button class={classes!("side", if side == 0 { "a" } else { "b" })} onclick={send(on, Action::ToggleSide(id))}
                    aria-label={format!("node {id} on side {label}; click to switch")}>{ format!("{id}:{label}") }</button>
        }
    });
    let cut_targets = (1..=model.nodes).filter(|&id| Some(id) != selected).map(|id| {
        html! { <button onclick={send(on, Action::CutLink(id))} aria-label={format!("cut the link from the selected node to node {id}")}>{ format!("→{id}") }</button> }
    });
    let (pause_icon, pause_label) = if model.paused {
        (icon::play(), "play")
    } else {
        (icon::pause(), "pause")
    };
    // The selected node's pause button: "resume" while it is paused; nothing to do while down.
    let selected_node = selected.map(|id| c.node(id));
    let node_paused = selected_node.is_some_and(|n| n.paused);
    let node_up = selected_node.is_some_and(|n| n.is_up());
    html! {
        <div class="panel controls">
            <h2>{ "Controls" }</h2>
            <div class="row">
                <button class="icon-button" onclick={send(on, Action::TogglePause)} data-testid="pause"
                        aria-label={pause_label} title={format!("{pause_label} (space)")}>{ pause_icon }{ pause_label }</button>
                <button class="icon-button" onclick={send(on, Action::Step)} aria-label="step"
                        title="process the next event (s)">{ icon::step() }{ "step" }</button>
            </div>
            { model.timeline.log().last_event.clone().filter(|_| model.paused).map(|e| html! { <p class="last-event">{ e }</p> }) }
            <label class="slider">{ format!("speed {}×", fmt_speed(model.speed)) }{ speed }</label>
            <label class="slider">{ format!("message loss {:.0}%", config.drop_per_mille as f64 / 10.0) }{ drop }</label>
            <label class="slider">{ format!("message duplication {:.0}%", config.duplicate_per_mille as f64 / 10.0) }{ duplicate }</label>
            <label class="slider">{ format!("latency {}–{} ms", config.min_latency_ms, max_latency) }{ latency }</label>
            <h3>{ "Selected node" }</h3>
            <div class="row">
                { for (1..=model.nodes).map(|id| html! {
                    <button class={classes!("pick", (selected == Some(id)).then_some("on"))} onclick={send(on, Action::Select(id))}
                            aria-pressed={(selected == Some(id)).to_string()} aria-label={format!("select node {id}")}>{ id }</button>
                }) }
            </div>
            <div class="row">
                <button disabled={selected.is_none()} onclick={selected.map(|id| send(on, Action::ToggleNode(id)))}>{ "kill / restart" }</button>
                <button disabled={!node_up} onclick={selected.map(|id| send(on, Action::TogglePauseNode(id)))} data-testid="pause-node"
                        aria-pressed={node_paused.to_string()} title="freeze the node: alive, processing nothing (f)">{ if node_paused { "resume node" } else { "pause node" } }</button>
                <button disabled={selected.is_none()} onclick={send(on, Action::TransferToSelected)}>{ "make leader" }</button>
                <button disabled={selected.is_none()} onclick={send(on, Action::IsolateSelected)}>{ "isolate" }</button>
            </div>
            if selected.is_some() {
                <div class="row"><span class="hint">{ "cut one way:" }</span>{ for cut_targets }</div>
            }
            <h3>{ "Partition" }</h3>
            <div class="row">{ for sides }</div>
            <div class="row">
                <button onclick={send(on, Action::ApplyPartition)}>{ "split A | B" }</button>
                <button onclick={send(on, Action::Heal)} data-testid="heal">{ "heal all" }</button>
            </div>
        </div>
    }
}
