//! The root component: one reducer over the [`Model`], an animation loop on
//! `requestAnimationFrame`, global keyboard shortcuts, and the page layout.

use std::cell::RefCell;
use std::rc::Rc;

use gloo_events::{EventListener, EventListenerOptions};
use gloo_render::{request_animation_frame, AnimationFrame};
use wasm_bindgen::JsCast;
use yew::prelude::*;

use crate::components;
use crate::keys::{focus_owns_keys, key_action};
use crate::model::{Action, Model, Params};

/// The longest wall-time step one frame plays. A hidden tab gets no frames at all: coming back,
/// the run resumes instead of jumping ahead by the time spent away.
const MAX_FRAME_MS: f64 = 500.0;

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

/// The animation loop while the run plays: on every frame the browser draws, the wall time
/// since the last one goes to the model as [`Action::Frame`] (which advances by it × speed),
/// and the next frame is requested. Dropping `frame` cancels the pending request and ends the
/// loop.
struct FrameLoop {
    /// The requested next frame; its callback holds this loop.
    frame: Option<AnimationFrame>,
    /// The last frame's timestamp, on `performance.now()`'s clock.
    last_ms: f64,
}

/// Requests the loop's next frame.
fn request_frame(frames: &Rc<RefCell<FrameLoop>>, dispatch: UseReducerDispatcher<AppState>) {
    let again = Rc::clone(frames);
    let frame = request_animation_frame(move |at_ms| {
        let elapsed = {
            let mut frames = again.borrow_mut();
            let elapsed = (at_ms - frames.last_ms).clamp(0.0, MAX_FRAME_MS);
            frames.last_ms = at_ms;
            elapsed
        };
        dispatch.dispatch(Action::Frame(elapsed));
        request_frame(&again, dispatch);
    });
    frames.borrow_mut().frame = Some(frame);
}

/// The whole page.
#[function_component(App)]
pub fn app() -> Html {
    let state = use_reducer(|| {
        let query = window().location().search().unwrap_or_default();
        let mut params = Params::parse(&query);
        if params.seed.is_none() && params.scenario.is_none() {
            // A scenario keeps the seed that tells its story; free play starts somewhere new.
            params.seed = Some(crate::entropy::seed());
        }
        let model = Model::from_params(&params);
        AppState {
            model: Rc::new(RefCell::new(model)),
            version: 0,
        }
    });
    let dispatch = state.dispatcher();

    // Frames are requested only while the run plays: paused, nothing moves (messages are drawn
    // at the shown time, which only frames advance), and every other action renders by itself.
    // The loop ends with the page component, or when the run pauses.
    {
        let dispatch = dispatch.clone();
        let playing = !state.model.borrow().paused;
        use_effect_with(playing, move |&playing| {
            let frames = Rc::new(RefCell::new(FrameLoop {
                frame: None,
                last_ms: now_ms(),
            }));
            if playing {
                request_frame(&frames, dispatch);
            }
            // Taking the pending frame cancels it and frees its callback, which holds `frames`.
            move || {
                let pending = frames.borrow_mut().frame.take();
                drop(pending);
            }
        });
    }

    // Keyboard shortcuts anywhere on the page, except while a button, field or slider has the
    // focus: the key is then that control's (Space presses a button, arrows move a slider). Not
    // passive (gloo's default): a handled key's default must be prevented, or Space also
    // scrolls the page.
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
                    let control = event
                        .target()
                        .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
                        .is_some_and(|el| {
                            let editable = el
                                .dyn_ref::<web_sys::HtmlElement>()
                                .is_some_and(|h| h.is_content_editable());
                            let role = el.get_attribute("role");
                            focus_owns_keys(&el.tag_name(), role.as_deref(), editable)
                        });
                    if control || event.ctrl_key() || event.meta_key() || event.alt_key() {
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
