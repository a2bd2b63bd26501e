//! The page's parts. Each file renders one part from the [`crate::model::Model`] and turns its
//! clicks into [`crate::model::Action`]s; SVG shapes are plain render functions.

pub mod cluster;
pub mod controls;
pub mod event_log;
pub mod icon;
pub mod legend;
pub mod logs;
pub mod node;
pub mod node_state;
pub mod orchestration;
pub mod packet;
pub mod scenarios;
pub mod shortcuts;
pub mod status;
pub mod timeline;

use yew::{Callback, MouseEvent};

use crate::model::Action;

/// A click handler that sends `action`.
pub(crate) fn send(on: &Callback<Action>, action: Action) -> Callback<MouseEvent> {
    let on = on.clone();
    Callback::from(move |_| on.emit(action.clone()))
}
