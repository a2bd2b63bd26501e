//! Small inline SVG icons for buttons. Text glyphs such as ⏸ or ▶ depend on the fonts a machine
//! has (a headless or minimal system draws an empty box); a path draws the same everywhere. The
//! icons are decoration: each button says what it does in its text and `aria-label`.

use yew::prelude::*;

/// A 1em square icon from a path in a 16×16 box, filled with the text color.
fn icon(class: &'static str, d: &'static str) -> Html {
    html! {
        <svg class={classes!("icon", class)} viewBox="0 0 16 16" width="16" height="16" aria-hidden="true" focusable="false">
            <path d={d} />
        </svg>
    }
}

/// A right-pointing triangle.
pub fn play() -> Html {
    icon("icon-play", "M4 2 L14 8 L4 14 Z")
}

/// Two bars.
pub fn pause() -> Html {
    icon("icon-pause", "M3 2 H7 V14 H3 Z M9 2 H13 V14 H9 Z")
}

/// A triangle against a bar: one step forward.
pub fn step() -> Html {
    icon("icon-step", "M2 2 L11 8 L2 14 Z M11 2 H14 V14 H11 Z")
}

/// A left-pointing triangle.
pub fn back() -> Html {
    icon("icon-back", "M12 2 L2 8 L12 14 Z")
}
