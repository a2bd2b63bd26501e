//! Orchestration through the cluster: every button is a client request to a chosen node (a
//! follower forwards writes to the leader; watch for the hexagons), with the answers in the
//! event log.

use std::fmt::Write;

use raftorch_core::orchestrator::Command;
use raftorch_core::sim::Consistency;
use yew::prelude::*;

use crate::model::{Action, Burst, Model};

use super::send;

fn text_input(label: &str, value: &str, on: Callback<String>) -> Html {
    let oninput = Callback::from(move |e: InputEvent| {
        let input: web_sys::HtmlInputElement = e.target_unchecked_into();
        on.emit(input.value());
    });
    html! { <input type="text" aria-label={label.to_string()} placeholder={label.to_string()} value={value.to_string()} oninput={oninput} size="8" /> }
}

/// Horizontal bars: keys per instance, canary instances highlighted.
fn chart(burst: &Burst) -> Html {
    let max = burst
        .counts
        .values()
        .map(|(n, _)| *n)
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let rows = burst.counts.iter().enumerate().map(|(i, (id, (n, canary)))| {
        let y = 4.0 + i as f64 * 24.0;
        let w = 180.0 * *n as f64 / max;
        let mut label = String::new();
        let _ = write!(label, "{n}");
        html! {
            <g>
                <text class="bar-label" x="0" y={(y + 14.0).to_string()}>{ id.clone() }</text>
                <rect class={classes!("bar", canary.then_some("canary"))} x="80" y={y.to_string()} width={w.max(1.0).to_string()} height="18" rx="3" />
                <text class="bar-value" x={(86.0 + w).to_string()} y={(y + 14.0).to_string()}>{ label }</text>
            </g>
        }
    });
    let height = 8.0 + burst.counts.len() as f64 * 24.0;
    html! {
        <figure class="chart">
            <svg viewBox={format!("0 0 300 {height}")} role="img" aria-label="keys routed per instance">{ for rows }</svg>
            <figcaption>{ format!("{} of {} keys answered{}; canary instances in orange", burst.answered(), burst.total,
                if burst.failed > 0 { format!(", {} failed", burst.failed) } else { String::new() }) }</figcaption>
        </figure>
    }
}

/// The orchestration panel.
pub fn orchestration(model: &Model, on: &Callback<Action>) -> Html {
    let c = model.timeline.cluster();
    let via_select = {
        let on = on.clone();
        Callback::from(move |e: Event| {
            let select: web_sys::HtmlSelectElement = e.target_unchecked_into();
            on.emit(Action::SetVia(select.value().parse().ok()));
        })
    };
    let consistency_select = {
        let on = on.clone();
        Callback::from(move |e: Event| {
            let select: web_sys::HtmlSelectElement = e.target_unchecked_into();
            let c = match select.value().as_str() {
                "lease" => Consistency::Lease,
                "stale" => Consistency::Stale,
                _ => Consistency::Linearizable,
            };
            on.emit(Action::SetConsistency(c));
        })
    };
    let via = model.via;
    let options = (1..=model.nodes).map(|id| {
        let role = c.node(id).role().map_or("down", |r| r.as_str());
        html! { <option value={id.to_string()} selected={via == Some(id)}>{ format!("node {id} ({role})") }</option> }
    });
    let leader_view = c.leader().and_then(|l| c.node(l).app());
    let instances: Vec<String> = leader_view
        .map(|app| {
            app.instances("web", false)
                .into_iter()
                .map(|i| i.instance_id.clone())
                .collect()
        })
        .unwrap_or_default();
    let deregister = instances.iter().map(|id| {
        let cmd = Command::Deregister { service: "web".into(), instance_id: id.clone() };
        html! { <button onclick={send(on, Action::Write(cmd))} aria-label={format!("deregister {id}")}>{ format!("✕ {id}") }</button> }
    });
    let web = || "web".to_string();
    let start = Command::StartDeployment {
        service: web(),
        stable_version: "v1".into(),
        canary_version: "v2".into(),
        steps: vec![20, 50, 100],
    };
    let key_on = {
        let on = on.clone();
        Callback::from(move |v| on.emit(Action::SetKvKey(v)))
    };
    let value_on = {
        let on = on.clone();
        Callback::from(move |v| on.emit(Action::SetKvValue(v)))
    };
    let burst_on = {
        let on = on.clone();
        Callback::from(move |e: InputEvent| {
            let input: web_sys::HtmlInputElement = e.target_unchecked_into();
            if let Ok(n) = input.value().parse() {
                on.emit(Action::SetBurstSize(n));
            }
        })
    };
    let client = model.timeline.client();
    html! {
        <div class="panel orchestration">
            <h2>{ "Orchestrate" }</h2>
            <div class="row">
                <label>{ "send to " }
                    <select onchange={via_select} aria-label="node that receives client requests">
                        <option value="" selected={via.is_none()}>{ "the leader" }</option>
                        { for options }
                    </select>
                </label>
                <label>{ " reads " }
                    <select onchange={consistency_select} aria-label="read consistency">
                        <option value="linearizable" selected={model.consistency == Consistency::Linearizable}>{ "linearizable" }</option>
                        <option value="lease" selected={model.consistency == Consistency::Lease}>{ "lease" }</option>
                        <option value="stale" selected={model.consistency == Consistency::Stale}>{ "stale (local)" }</option>
                    </select>
                </label>
            </div>
            <h3>{ "Service web" }</h3>
            <div class="row">
                <button onclick={send(on, Action::RegisterInstance("v1".into()))}>{ "+ instance v1" }</button>
                <button onclick={send(on, Action::RegisterInstance("v2".into()))}>{ "+ instance v2" }</button>
                { for deregister }
            </div>
            <div class="row">
                <span class="hint">{ "canary v1→v2:" }</span>
                <button onclick={send(on, Action::Write(start))}>{ "start" }</button>
                <button onclick={send(on, Action::Write(Command::Advance { service: web() }))}>{ "advance" }</button>
                <button onclick={send(on, Action::Write(Command::Promote { service: web() }))}>{ "promote" }</button>
                <button onclick={send(on, Action::Write(Command::Rollback { service: web() }))}>{ "roll back" }</button>
            </div>
            <div class="row">
                <label>{ "route " }<input type="number" min="1" max="1000" value={model.burst_size.to_string()} oninput={burst_on} aria-label="number of request keys" size="4" /></label>
                <button onclick={send(on, Action::RouteBurst(model.burst_size))}>{ "keys" }</button>
            </div>
            { for client.burst.as_ref().map(chart) }
            <h3>{ "Key/value" }</h3>
            <div class="row">
                { text_input("key", &model.kv_key, key_on) }
                { text_input("value", &model.kv_value, value_on) }
                <button onclick={send(on, Action::KvPut)}>{ "put" }</button>
                <button onclick={send(on, Action::KvGet)}>{ "get" }</button>
            </div>
            <h3>{ "Lock" }</h3>
            <div class="row">
                <button onclick={send(on, Action::AcquireLock)}>{ "acquire demo-lock" }</button>
                <span class="token" data-testid="fencing-token">{
                    client.lock.as_ref().map_or("no lock held by this client yet".to_string(), |(name, token)| format!("{name}: fencing token {token}"))
                }</span>
            </div>
        </div>
    }
}
