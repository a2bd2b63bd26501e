//! The keyboard shortcut list.

use yew::prelude::*;

use crate::keys::SHORTCUTS;

/// Every shortcut.
pub fn shortcuts() -> Html {
    html! {
        <div class="panel shortcuts">
            <h2>{ "Keyboard" }</h2>
            <dl>
                { for SHORTCUTS.iter().map(|(key, what)| html! { <><dt><kbd>{ *key }</kbd></dt><dd>{ *what }</dd></> }) }
            </dl>
        </div>
    }
}
