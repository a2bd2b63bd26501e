//! The orchestrator's state as one node sees it: services, instances, the deployment, keys, the
//! lock. Different nodes can disagree until they apply the same entries.

use yew::prelude::*;

use crate::model::Model;

/// The selected node's (else the leader's) replica of the orchestrator.
pub fn node_state(model: &Model) -> Html {
    let c = model.timeline.cluster();
    let id = model.selected.or(c.leader()).unwrap_or(1);
    let node = c.node(id);
    let body = if let Some(app) = node.app() {
        let services = app.services().into_iter().map(|service| {
            let instances = app.instances(service, false).into_iter().map(|i| {
                html! { <li>{ format!("{} · {} · {}:{}{}", i.instance_id, i.version, i.address, i.port, if i.healthy { "" } else { " (unhealthy)" }) }</li> }
            });
            let deployment = app.deployment(service).map(|d| {
                html! { <p class="deploy">{ format!("deployment {} → {}: {} ({}% canary)", d.stable_version, d.canary_version, d.state, d.canary_percent()) }</p> }
            });
            html! { <div><h3>{ format!("service {service}") }</h3><ul>{ for instances }</ul>{ for deployment }</div> }
        });
        let kv = app.kv_range("");
        let keys = kv.iter().take(10).map(|(k, v)| {
            html! { <li>{ format!("{k} = {} (rev {})", String::from_utf8_lossy(&v.value), v.mod_revision) }</li> }
        });
        let more = (kv.len() > 10)
            .then(|| html! { <li class="hint">{ format!("… {} more", kv.len() - 10) }</li> });
        let lock = app.lock_holder("demo-lock").map(|h| {
            html! { <p>{ format!("lock demo-lock: held by lease {}, fencing token {}", h.lease_id, h.fencing_token) }</p> }
        });
        html! {
            <>
                <p class="hint">{ format!("applied up to #{} · clock {} ms", node.applied(), app.now_ms()) }</p>
                if app.services().is_empty() { <p class="hint">{ "no services registered" }</p> }
                { for services }
                <h3>{ format!("keys ({})", kv.len()) }</h3>
                <ul class="kv">{ for keys }{ for more }</ul>
                { for lock }
            </>
        }
    } else {
        html! { <p class="hint">{ "This node is down: its state machine is gone until it restarts and replays its log." }</p> }
    };
    html! {
        <div class="panel node-state" data-testid="node-state">
            <h2>{ format!("Node {id}'s view of the orchestrator") }</h2>
            { body }
        </div>
    }
}
