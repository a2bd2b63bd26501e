//! The root component: one reducer over the [`Model`], an animation timer, global keyboard
//! shortcuts, and the page layout.

use std::cell::RefCell;
use std::rc::Rc;

use gloo_events::{EventListener, EventListenerOptions};
use gloo_timers::callback::Interval;
use wasm_bindgen::JsCast;
use yew::prelude::*;

use crate::components;
use crate::keys::key_action;
use crate::model::{Action, Model, Params};

/// Milliseconds between animation frames.
const FRAME_MS: u32 = 33;

/// The reducer's state. The model sits behind a shared `RefCell` and is changed in place: cloning
/// a whole cluster on every frame would cost more than drawing it. `version` makes each action a
/// new state, so yew re-renders.
pub(crate) struct AppState {
    model: Rc<RefCell<Model>>,
    version: u64,
}

impl PartialEq for AppState {
    fn eq(&self, other: &Self) -> bool {
        self.version == other.version
    }
}

impl Reducible for AppState {
    type Action = Action;

    fn reduce(self: Rc<Self>, action: Action) -> Rc<Self> {
        self.model.borrow_mut().apply(action);
        Rc::new(AppState {
            model: Rc::clone(&self.model),
            version: self.version + 1,
        })
    }
}

fn window() -> web_sys::Window {
    web_sys::window().expect("a browser window")
}

fn now_ms() -> f64 {
    window().performance().map_or(0.0, |p| p.now())
}

/// The whole page.
#[function_component(App)]
pub fn app() -> Html {
    let state = use_reducer(|| {
        let query = window().location().search().unwrap_or_default();
        let model = Model::from_params(&Params::parse(&query));
        AppState {
            model: Rc::new(RefCell::new(model)),
            version: 0,
        }
    });
    let dispatch = state.dispatcher();

    // The animation timer lives exactly as long as the page component.
    {
        let dispatch = dispatch.clone();
        use_effect_with((), move |_| {
            let mut last = now_ms();
            let interval = Interval::new(FRAME_MS, move || {
                let t = now_ms();
                // A hidden tab throttles timers: never jump more than half a second at once.
                dispatch.dispatch(Action::Frame((t - last).min(500.0)));
                last = t;
            });
            move || drop(interval)
        });
    }

    // Keyboard shortcuts anywhere on the page, except while typing in a field. Not passive (gloo's
    // default): a handled key's default must be prevented, or Space also scrolls the page.
    {
        let dispatch = dispatch.clone();
        let model = Rc::clone(&state.model);
        use_effect_with((), move |_| {
            let options = EventListenerOptions::enable_prevent_default();
            let listener =
                EventListener::new_with_options(&window(), "keydown", options, move |event| {
                    let Some(event) = event.dyn_ref::<web_sys::KeyboardEvent>() else {
                        return;
                    };
                    let typing = event
                        .target()
                        .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
                        .is_some_and(|el| {
                            matches!(el.tag_name().as_str(), "INPUT" | "SELECT" | "TEXTAREA")
                        });
                    if typing || event.ctrl_key() || event.meta_key() || event.alt_key() {
                        return;
                    }
                    let action = key_action(&event.key(), event.shift_key(), &model.borrow());
                    if let Some(action) = action {
                        event.prevent_default();
                        dispatch.dispatch(action);
                    }
                });
            move || drop(listener)
        });
    }

    // Keep the URL reproducing the run (seed, size, speed, scenario).
    let query = state.model.borrow().url_query();
    use_effect_with(query, |query| {
        if let Ok(history) = window().history() {
            let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(query));
        }
    });

    let on_action = Callback::from(move |action: Action| dispatch.dispatch(action));
    let model = state.model.borrow();
    html! {
        <div class="page">
            <header class="top">
                <h1>{ "raftorch" }<span class="sub">{ " — Raft and orchestration, live in your browser" }</span></h1>
                { components::status::status(&model) }
            </header>
            { components::scenarios::scenarios(&model, &on_action) }
            <main class="layout">
                <section class="stage" aria-label="cluster">
                    { components::cluster::cluster(&model, &on_action) }
                    { components::timeline::timeline(&model, &on_action) }
                </section>
                <aside class="side">
                    { components::controls::controls(&model, &on_action) }
                    { components::legend::legend() }
                </aside>
            </main>
            <section class="panels">
                { components::logs::logs(&model, &on_action) }
                { components::node_state::node_state(&model) }
                { components::orchestration::orchestration(&model, &on_action) }
                { components::event_log::event_log(&model) }
                { components::shortcuts::shortcuts() }
            </section>
        </div>
    }
}
