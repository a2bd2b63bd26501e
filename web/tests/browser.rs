//! In-browser tests (wasm-bindgen-test in headless Chromium): mount the app, check its DOM, click
//! and type as a person would.
#![cfg(target_family = "wasm")]

use gloo_timers::future::TimeoutFuture;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use web_sys::{Element, KeyboardEvent, KeyboardEventInit};
use yew::prelude::*;

use raftorch_web::components::node::node;
use raftorch_web::model::{node_position, Action, NodeView, NODES};

wasm_bindgen_test_configure!(run_in_browser);

fn document() -> web_sys::Document {
    web_sys::window()
        .and_then(|w| w.document())
        .expect("a document")
}

/// An app mounted for one test. Dropping it unmounts the app, which ends its animation loop and
/// its window keyboard listener: each test sees only its own app, whatever ran before it.
struct Mounted {
    root: Element,
    app: Option<yew::AppHandle<raftorch_web::App>>,
}

impl core::ops::Deref for Mounted {
    type Target = Element;

    fn deref(&self) -> &Element {
        &self.root
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        if let Some(app) = self.app.take() {
            app.destroy();
        }
        self.root.remove();
    }
}

/// Mounts a fresh app with the given URL query and lets it render.
async fn mount(query: &str) -> Mounted {
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
    let app = yew::Renderer::<raftorch_web::App>::with_root(root.clone()).render();
    TimeoutFuture::new(100).await;
    Mounted {
        root,
        app: Some(app),
    }
}

/// The page's stylesheet, once: sizes and fonts come from it.
fn add_stylesheet() {
    let document = document();
    if document.get_element_by_id("app-style").is_some() {
        return;
    }
    let style = document.create_element("style").expect("a style element");
    style.set_id("app-style");
    style.set_text_content(Some(include_str!("../style.css")));
    document
        .head()
        .expect("a head")
        .append_child(&style)
        .expect("append");
}

/// Presses `key` on `target` (bubbling, as a real key press does).
fn press_on(target: &web_sys::EventTarget, key: &str, shift: bool) {
    let init = KeyboardEventInit::new();
    init.set_key(key);
    init.set_shift_key(shift);
    init.set_bubbles(true);
    init.set_cancelable(true);
    let event = KeyboardEvent::new_with_keyboard_event_init_dict("keydown", &init).unwrap();
    target.dispatch_event(&event).unwrap();
}

/// Presses `key` with nothing focused: the page's shortcuts.
fn press(key: &str, shift: bool) {
    press_on(&web_sys::window().unwrap(), key, shift);
}

fn find(root: &Element, selector: &str) -> Element {
    root.query_selector(selector)
        .unwrap()
        .unwrap_or_else(|| panic!("no {selector}"))
}

fn text(root: &Element, selector: &str) -> String {
    find(root, selector).text_content().unwrap_or_default()
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
    press(" ", false);
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
        press("s", false);
    }
    TimeoutFuture::new(100).await;
    assert_ne!(time(), paused_at, "stepping moves time");
}

/// Wraps `window.requestAnimationFrame` (once per page) to count its calls; returns a reader of
/// the count.
fn frame_request_counter() -> impl Fn() -> u32 {
    js_sys::Function::new_no_args(
        "if (!window.__frameRequests) {
           const request = window.requestAnimationFrame.bind(window);
           window.__frameRequests = { n: 0 };
           window.requestAnimationFrame = (callback) => { window.__frameRequests.n++; return request(callback); };
         }",
    )
    .call0(&wasm_bindgen::JsValue::NULL)
    .expect("wrap requestAnimationFrame");
    let read = js_sys::Function::new_no_args("return window.__frameRequests.n");
    move || {
        read.call0(&wasm_bindgen::JsValue::NULL)
            .ok()
            .and_then(|n| n.as_f64())
            .unwrap_or(0.0) as u32
    }
}

#[wasm_bindgen_test]
async fn the_run_plays_on_animation_frames_and_requests_none_while_paused() {
    let requests = frame_request_counter();
    let root = mount("?seed=8&nodes=3&speed=1").await;
    let time = || text(&root, "[data-testid='sim-time']");
    let (from, started_at) = (requests(), time());
    TimeoutFuture::new(300).await;
    assert!(requests() >= from + 3, "frames requested while playing");
    assert_ne!(time(), started_at, "time moves on animation frames");

    press(" ", false);
    TimeoutFuture::new(100).await;
    let (paused_requests, paused_at) = (requests(), time());
    TimeoutFuture::new(300).await;
    assert_eq!(
        requests(),
        paused_requests,
        "no frame requested while paused"
    );
    assert_eq!(time(), paused_at, "time stands still");

    press(" ", false);
    TimeoutFuture::new(300).await;
    assert!(requests() > paused_requests, "frames again once playing");
    assert_ne!(time(), paused_at, "time moves again");
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

#[derive(Properties, PartialEq)]
struct RingProps {
    nodes: u64,
}

/// A ring of `nodes` nodes drawn as the page draws them, cycling through every role.
#[function_component(Ring)]
fn ring(props: &RingProps) -> Html {
    const ROLES: [&str; 5] = ["precandidate", "candidate", "follower", "leader", "down"];
    let n = props.nodes;
    let on = Callback::from(|_: Action| ());
    let views = (1..=n).map(|id| NodeView {
        id,
        role: ROLES[(id as usize - 1) % ROLES.len()],
        paused: id == 2,
        term: 12,
        commit: 345,
        applied: 345,
        last_index: 345,
        snapshot_index: 0,
        timer_left: Some(0.5),
        leader: None,
        vote: None,
        entries: vec![],
    });
    html! {
        <svg class="cluster" viewBox="0 0 600 580" style="width: 600px">
            { for views.map(|v| node(&v, node_position(v.id, n), false, false, &on)) }
        </svg>
    }
}

#[wasm_bindgen_test]
async fn every_role_label_fits_inside_its_circle_at_every_size() {
    add_stylesheet();
    for n in NODES.0..=NODES.1 {
        let root = document().create_element("div").unwrap();
        document().body().unwrap().append_child(&root).unwrap();
        yew::Renderer::<Ring>::with_root_and_props(root.clone(), RingProps { nodes: n }).render();
        TimeoutFuture::new(50).await;
        let nodes = root.query_selector_all("g.node").unwrap();
        assert_eq!(nodes.length() as u64, n);
        for i in 0..nodes.length() {
            let g: Element = nodes.item(i).unwrap().dyn_into().unwrap();
            let circle = find(&g, "circle.body").get_bounding_client_rect();
            let (cx, cy) = (
                circle.x() + circle.width() / 2.0,
                circle.y() + circle.height() / 2.0,
            );
            let r = circle.width() / 2.0;
            for selector in ["text.id", "text.role", "text.term"] {
                let label = find(&g, selector);
                let b = label.get_bounding_client_rect();
                assert!(b.width() > 0.0, "{selector} is drawn");
                // Every corner of the text's box lies inside the circle.
                for (x, y) in [
                    (b.left(), b.top()),
                    (b.right(), b.top()),
                    (b.left(), b.bottom()),
                    (b.right(), b.bottom()),
                ] {
                    let d = ((x - cx).powi(2) + (y - cy).powi(2)).sqrt();
                    assert!(
                        d <= r + 0.5,
                        "{n} nodes, {:?} {selector} {:?} overflows its circle ({d:.1} > {r:.1})",
                        g.get_attribute("data-role"),
                        label.text_content()
                    );
                }
            }
        }
        root.remove();
    }
}

#[wasm_bindgen_test]
async fn enter_or_space_on_a_focused_node_toggles_it() {
    let root = mount("?seed=4&nodes=3&speed=0.5").await;
    let node: web_sys::SvgElement = find(&root, "[data-testid='node-2']").dyn_into().unwrap();
    node.focus().unwrap();
    let focused = document().active_element().expect("a focused element");
    assert_eq!(
        focused.get_attribute("data-testid").as_deref(),
        Some("node-2"),
        "a node takes the keyboard focus"
    );
    press_on(&focused, "Enter", false);
    TimeoutFuture::new(100).await;
    let node = find(&root, "[data-testid='node-2']");
    assert_eq!(node.get_attribute("data-role").as_deref(), Some("down"));
    // Space restarts it, and does not also pause the run (the key stops at the node).
    press_on(&node, " ", false);
    TimeoutFuture::new(100).await;
    let node = find(&root, "[data-testid='node-2']");
    assert_ne!(node.get_attribute("data-role").as_deref(), Some("down"));
    assert_eq!(
        find(&root, "[data-testid='pause']")
            .get_attribute("aria-label")
            .as_deref(),
        Some("pause"),
        "still playing"
    );
}

#[wasm_bindgen_test]
async fn the_pause_button_has_an_icon_and_says_what_it_does() {
    let root = mount("?seed=5&nodes=3&speed=0.5").await;
    let button = find(&root, "[data-testid='pause']");
    assert_eq!(button.get_attribute("aria-label").as_deref(), Some("pause"));
    assert!(
        button.query_selector("svg path").unwrap().is_some(),
        "an SVG icon"
    );
    button.dyn_ref::<web_sys::HtmlElement>().unwrap().click();
    TimeoutFuture::new(100).await;
    let button = find(&root, "[data-testid='pause']");
    assert_eq!(button.get_attribute("aria-label").as_deref(), Some("play"));
    assert!(button.text_content().unwrap_or_default().contains("play"));
}

#[wasm_bindgen_test]
async fn f_pauses_the_selected_node_and_d_duplicates_messages() {
    let root = mount("?seed=6&nodes=3&speed=0.5").await;
    press("2", false);
    press("f", false);
    TimeoutFuture::new(100).await;
    let node = find(&root, "[data-testid='node-2']");
    let class = node.get_attribute("class").unwrap_or_default();
    assert!(class.contains("paused"), "{class}");
    assert!(node.query_selector(".paused-mark").unwrap().is_some());
    let button = find(&root, "[data-testid='pause-node']");
    assert_eq!(button.text_content().as_deref(), Some("resume node"));
    button.dyn_ref::<web_sys::HtmlElement>().unwrap().click();
    TimeoutFuture::new(100).await;
    let class = find(&root, "[data-testid='node-2']")
        .get_attribute("class")
        .unwrap_or_default();
    assert!(!class.contains("paused"), "{class}");

    let slider = || find(&root, "input[aria-label='message duplication']");
    assert_eq!(
        slider()
            .dyn_into::<web_sys::HtmlInputElement>()
            .unwrap()
            .value(),
        "0"
    );
    press("d", false);
    press("d", false);
    TimeoutFuture::new(100).await;
    assert_eq!(
        slider()
            .dyn_into::<web_sys::HtmlInputElement>()
            .unwrap()
            .value(),
        "100"
    );
    assert!(root
        .text_content()
        .unwrap_or_default()
        .contains("message duplication 10%"));
}

#[wasm_bindgen_test]
async fn scrubbing_forward_fires_a_scenario_step() {
    let root = mount("?scenario=leader-crash&speed=0.05").await;
    press(" ", false);
    // Three seconds forward with the keyboard, paused: past the leader crash at 2.5 s.
    for _ in 0..3 {
        press("ArrowRight", true);
    }
    TimeoutFuture::new(100).await;
    assert!(text(&root, "[data-testid='sim-time']").contains("3.0"));
    assert!(
        text(&root, "[data-testid='narration']").contains("The leader crashes"),
        "{}",
        text(&root, "[data-testid='narration']")
    );
    let down: Vec<_> = roles(&root)
        .into_iter()
        .filter(|(_, role)| role == "down")
        .collect();
    assert_eq!(down.len(), 1, "the scenario crashed the leader once");
}

#[wasm_bindgen_test]
async fn a_new_event_line_leaves_the_rows_below_it_alone() {
    let root = mount("?seed=7&nodes=3&speed=1").await;
    press(" ", false);
    // Past the 150 rows shown: from then on each new line also pushes the oldest row out.
    for i in 0..160 {
        press(if i % 2 == 0 { "d" } else { "D" }, i % 2 == 1);
    }
    TimeoutFuture::new(100).await;
    let newest = find(&root, ".event-list li");
    let text = newest.text_content();
    press("d", false);
    TimeoutFuture::new(100).await;
    // The row is the same element with the same text, now below the new one: one row was
    // inserted, not every row rewritten.
    assert!(newest.is_connected());
    assert_eq!(newest.text_content(), text);
    let above = newest.previous_element_sibling().expect("a new row above");
    assert!(above
        .text_content()
        .unwrap_or_default()
        .contains("message duplication set to 5.0%"));
}

#[wasm_bindgen_test]
async fn keys_on_a_focused_button_or_slider_are_not_page_shortcuts() {
    let root = mount("?seed=9&nodes=3&speed=0.5").await;
    let playing = || {
        find(&root, "[data-testid='pause']")
            .get_attribute("aria-label")
            .as_deref()
            == Some("pause")
    };
    // Space on a focused button is the button's (a real one presses it); the run does not
    // pause on the way, and neither does `s` step it.
    for selector in [
        "[data-testid='pause']",
        "button[aria-label='forward 100 ms']",
        "input[aria-label='message duplication']",
        "[data-testid='scrubber']",
    ] {
        let control: web_sys::HtmlElement = find(&root, selector).dyn_into().unwrap();
        control.focus().unwrap();
        assert!(
            document().active_element().as_ref() == Some(control.as_ref()),
            "{selector} takes the focus"
        );
        press_on(&control, " ", false);
        press_on(&control, "s", false);
        TimeoutFuture::new(100).await;
        assert!(playing(), "a key on {selector} paused the run");
        control.blur().unwrap();
    }
    // With the focus on a node, the keys it does not handle are still shortcuts.
    let node: web_sys::SvgElement = find(&root, "[data-testid='node-2']").dyn_into().unwrap();
    node.focus().unwrap();
    press_on(&node, "2", false);
    press_on(&node, "f", false);
    TimeoutFuture::new(100).await;
    assert!(find(&root, "[data-testid='node-2']")
        .query_selector(".paused-mark")
        .unwrap()
        .is_some());
    // And with nothing focused, Space pauses.
    node.blur().unwrap();
    press(" ", false);
    TimeoutFuture::new(100).await;
    assert!(!playing(), "Space with nothing focused pauses");
}

/// The computed value of CSS `property` on `element`.
fn style_of(element: &Element, property: &str) -> String {
    web_sys::window()
        .unwrap()
        .get_computed_style(element)
        .unwrap()
        .expect("a computed style")
        .get_property_value(property)
        .unwrap()
}

#[wasm_bindgen_test]
async fn a_focused_node_shows_a_ring_around_its_circle_not_a_box() {
    add_stylesheet();
    let root = mount("?seed=10&nodes=5&speed=0.05").await;
    let node: web_sys::SvgElement = find(&root, "[data-testid='node-3']").dyn_into().unwrap();
    let ring = || find(&root, "[data-testid='node-3'] .focus-ring");
    assert_eq!(
        style_of(&ring(), "visibility"),
        "hidden",
        "no ring unfocused"
    );

    node.focus().unwrap();
    TimeoutFuture::new(50).await;
    let node = find(&root, "[data-testid='node-3']");
    assert!(
        node.matches(":focus-visible").unwrap(),
        "a focus from the keyboard (or script) is shown"
    );
    assert_eq!(style_of(&node, "outline-style"), "none", "no outline box");
    let ring = ring();
    assert_eq!(style_of(&ring, "visibility"), "visible", "the ring shows");
    // A circle, centred on the node's circle and around it.
    let body = find(&node, "circle.body").get_bounding_client_rect();
    let around = ring.get_bounding_client_rect();
    let centre = |r: &web_sys::DomRect| (r.x() + r.width() / 2.0, r.y() + r.height() / 2.0);
    let ((bx, by), (rx, ry)) = (centre(&body), centre(&around));
    assert!((bx - rx).abs() < 1.0 && (by - ry).abs() < 1.0, "centred");
    assert!((around.width() - around.height()).abs() < 1.0, "round");
    assert!(around.width() > body.width() * 1.2, "around the circle");

    node.dyn_ref::<web_sys::SvgElement>()
        .unwrap()
        .blur()
        .unwrap();
    TimeoutFuture::new(50).await;
    assert_eq!(
        style_of(
            &find(&root, "[data-testid='node-3'] .focus-ring"),
            "visibility"
        ),
        "hidden",
        "gone with the focus"
    );
}

/// The `seed` the page wrote into its URL.
fn url_seed() -> Option<u64> {
    let search = web_sys::window()?.location().search().ok()?;
    search
        .trim_start_matches('?')
        .split('&')
        .find_map(|pair| pair.strip_prefix("seed="))
        .and_then(|s| s.parse().ok())
}

/// The URL's `seed` once the page wrote one other than `previous`: the page writes it from an
/// effect, which a loaded machine may run a while after the first render. Polls for up to 5 s.
async fn url_seed_other_than(previous: Option<u64>) -> Option<u64> {
    for _ in 0..100 {
        let seed = url_seed();
        if seed.is_some() && seed != previous {
            return seed;
        }
        TimeoutFuture::new(50).await;
    }
    url_seed()
}

#[wasm_bindgen_test]
async fn a_first_visit_and_new_seed_draw_the_seed_from_the_browsers_entropy() {
    let first = mount("?nodes=3&speed=0.5").await;
    let seed = url_seed_other_than(None)
        .await
        .expect("the page wrote its seed into the URL");
    drop(first);
    let second = mount("?nodes=3&speed=0.5").await;
    let other = url_seed_other_than(Some(seed)).await.expect("a seed");
    // Two draws of 32 bits agree once in four billion visits.
    assert_ne!(seed, other, "each visit without ?seed= starts a new run");
    find(&second, "[data-testid='new-seed']")
        .dyn_ref::<web_sys::HtmlElement>()
        .unwrap()
        .click();
    let fresh = url_seed_other_than(Some(other)).await.expect("a seed");
    assert_ne!(fresh, other, "new seed draws another one");
}

#[wasm_bindgen_test]
async fn a_lesson_has_its_button_and_narrates() {
    let root = mount("?scenario=fenced-lock&speed=1").await;
    let button = find(&root, "button[data-scenario='fenced-lock']");
    assert_eq!(
        button.get_attribute("aria-pressed").as_deref(),
        Some("true")
    );
    assert!(!text(&root, "[data-testid='narration']").is_empty());
    let lesson = raftorch_web::model::scenario::find("fenced-lock").unwrap();
    assert_eq!(
        url_seed(),
        Some(lesson.seed),
        "a lesson keeps the seed that tells its story"
    );
}
