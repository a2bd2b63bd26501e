//! raftorch's browser visualizer: the core's deterministic simulator, driven on animation frames
//! (`requestAnimationFrame`) and drawn as SVG with yew. Everything a person can do goes through
//! one reducer over a plain-Rust [`model::Model`], which is tested on the host; the DOM side
//! exists only on wasm.
//!
//! ```text
//! every animation frame:  model.apply(Action::Frame(elapsed_ms))   // sim time += elapsed × speed
//! every click or key:      model.apply(Action::ToggleNode(3))       // recorded on the timeline
//! render:                  model.node_views(), model.packet_views() → SVG
//! ```
#![allow(clippy::std_instead_of_core, clippy::alloc_instead_of_core)] // a std host, like xtask

pub mod keys;
pub mod model;

#[cfg(target_family = "wasm")]
mod app;
#[cfg(target_family = "wasm")]
pub mod components;
#[cfg(target_family = "wasm")]
mod entropy;

#[cfg(target_family = "wasm")]
pub use app::App;

/// Mounts the app on the page's body.
#[cfg(target_family = "wasm")]
pub fn start() {
    yew::Renderer::<App>::new().render();
}
