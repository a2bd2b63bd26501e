//! In-browser tests (wasm-bindgen-test in headless Chromium): mount the app, check its DOM, click
//! and type as a person would.
#![cfg(target_family = "wasm")]

use gloo_timers::future::TimeoutFuture;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use web_sys::{Element, KeyboardEvent, KeyboardEventInit};

wasm_bindgen_test_configure!(run_in_browser);

fn document() -> web_sys::Document {
    web_sys::window()
        .and_then(|w| w.document())
        .expect("a document")
}

/// Mounts a fresh app with the given URL query and lets it render.
async fn mount(query: &str) -> Element {
    let window = web_sys::window().expect("a window");
    let path = window.location().pathname().unwrap_or_default();
    let history = window.history().expect("history");
    history
        .replace_state_with_url(
            &wasm_bindgen::JsValue::NULL,
            "",
            Some(&format!("{path}{query}")),
        )
        .expect("set the URL");
    let root = document().create_element("div").expect("a div");
    document()
        .body()
        .expect("a body")
        .append_child(&root)
        .expect("append");
    yew::Renderer::<raftorch_web::App>::with_root(root.clone()).render();
    TimeoutFuture::new(100).await;
    root
}

fn roles(root: &Element) -> Vec<(String, String)> {
    let nodes = root.query_selector_all("g.node").expect("query");
    (0..nodes.length())
        .filter_map(|i| nodes.item(i))
        .filter_map(|n| n.dyn_into::<Element>().ok())
        .map(|e| {
            (
                e.get_attribute("data-testid").unwrap_or_default(),
                e.get_attribute("data-role").unwrap_or_default(),
            )
        })
        .collect()
}

async fn wait_for_leader(root: &Element) -> String {
    for _ in 0..200 {
        if let Some((id, _)) = roles(root).into_iter().find(|(_, r)| r == "leader") {
            return id;
        }
        TimeoutFuture::new(50).await;
    }
    panic!("no leader: {:?}", roles(root));
}

#[wasm_bindgen_test]
async fn renders_every_node_with_test_hooks() {
    let root = mount("?seed=1&nodes=7&speed=0.05").await;
    let roles = roles(&root);
    let ids: Vec<&str> = roles.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(
        ids,
        ["node-1", "node-2", "node-3", "node-4", "node-5", "node-6", "node-7"]
    );
    let valid = ["leader", "follower", "candidate", "precandidate", "down"];
    assert!(
        roles.iter().all(|(_, r)| valid.contains(&r.as_str())),
        "{roles:?}"
    );
    let node = root
        .query_selector("[data-testid='node-1']")
        .unwrap()
        .unwrap();
    // Term 1 holds the bootstrap membership entries; the first election is for term 2.
    assert_eq!(node.get_attribute("data-term").as_deref(), Some("1"));
    // The legend and the shortcut list are on the page.
    let text = root.text_content().unwrap_or_default();
    assert!(
        text.contains("vote request") && text.contains("forwarded write"),
        "legend"
    );
    assert!(text.contains("kill / restart selected node"), "shortcuts");
}

#[wasm_bindgen_test]
async fn clicking_the_leader_kills_it() {
    let root = mount("?seed=2&nodes=5&speed=2").await;
    let leader = wait_for_leader(&root).await;
    let node = root
        .query_selector(&format!("[data-testid='{leader}']"))
        .unwrap()
        .unwrap();
    node.dyn_ref::<web_sys::HtmlElement>()
        .map(|h| h.click())
        .unwrap_or_else(|| {
            let event = web_sys::MouseEvent::new_with_mouse_event_init_dict("click", &{
                let init = web_sys::MouseEventInit::new();
                init.set_bubbles(true);
                init
            })
            .unwrap();
            node.dispatch_event(&event).unwrap();
        });
    TimeoutFuture::new(100).await;
    let node = root
        .query_selector(&format!("[data-testid='{leader}']"))
        .unwrap()
        .unwrap();
    assert_eq!(node.get_attribute("data-role").as_deref(), Some("down"));
    let text = root.text_content().unwrap_or_default();
    assert!(text.contains("crashed"), "the event log tells");
}

#[wasm_bindgen_test]
async fn space_pauses_and_s_steps() {
    let root = mount("?seed=3&nodes=3&speed=1").await;
    let press = |key: &str| {
        let init = KeyboardEventInit::new();
        init.set_key(key);
        init.set_bubbles(true);
        let event = KeyboardEvent::new_with_keyboard_event_init_dict("keydown", &init).unwrap();
        web_sys::window().unwrap().dispatch_event(&event).unwrap();
    };
    press(" ");
    TimeoutFuture::new(100).await;
    let time = || {
        root.query_selector("[data-testid='sim-time']")
            .unwrap()
            .unwrap()
            .text_content()
            .unwrap_or_default()
    };
    let paused_at = time();
    assert!(root.text_content().unwrap_or_default().contains("paused"));
    TimeoutFuture::new(300).await;
    assert_eq!(time(), paused_at, "time stands still while paused");
    for _ in 0..50 {
        press("s");
    }
    TimeoutFuture::new(100).await;
    assert_ne!(time(), paused_at, "stepping moves time");
}

#[wasm_bindgen_test]
async fn a_scenario_narrates() {
    let root = mount("?scenario=leader-crash&speed=1").await;
    let narration = root
        .query_selector("[data-testid='narration']")
        .unwrap()
        .expect("narration shown");
    assert!(narration
        .text_content()
        .unwrap_or_default()
        .contains("election timer"));
}
