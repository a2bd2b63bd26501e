//! The keyboard shortcut list.

use yew::prelude::*;

use crate::keys::SHORTCUTS;

/// Every shortcut, and when they do not apply.
pub fn shortcuts() -> Html {
    html! {
        <div class="panel shortcuts">
            <h2>{ "Keyboard" }</h2>
            <dl>
                { for SHORTCUTS.iter().map(|(key, what)| html! { <><dt><kbd>{ *key }</kbd></dt><dd>{ *what }</dd></> }) }
            </dl>
            <p class="hint">{ "While a button, field or slider has the focus, keys are its own: click the page's background to give them back." }</p>
        </div>
    }
}
