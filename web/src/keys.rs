//! Keyboard shortcuts: one key per action, listed on the page by `components::shortcuts`.

use raftorch_core::raft::NodeId;

use crate::model::{Action, Model, DUPLICATE_MAX};

/// Every shortcut: (key, what it does), in the order the page lists them.
pub const SHORTCUTS: &[(&str, &str)] = &[
    ("1–7", "select node"),
    ("k", "kill / restart selected node"),
    ("enter / space", "kill / restart the focused node (tab)"),
    ("f", "pause (freeze) / resume selected node"),
    ("space", "pause / resume"),
    ("s", "step one event"),
    ("← / →", "scrub 100 ms (shift: 1 s)"),
    ("end", "jump to live"),
    ("+ / −", "faster / slower"),
    ("d / shift+d", "duplicate 5% more / fewer messages"),
    ("i", "isolate selected node"),
    ("p", "apply the partition editor"),
    ("h", "heal the network"),
    ("t", "transfer leadership to selected"),
    ("w", "write the key/value form"),
    ("r", "route a burst of keys"),
];

/// How much one `d` press changes the duplication rate, per mille.
pub const DUPLICATE_STEP: u32 = 50;

/// The action for a key press on a focused node: Enter and Space kill or restart it, as a click
/// does (the key then goes no further, so Space does not also pause the page).
pub fn node_key_action(key: &str, node: NodeId) -> Option<Action> {
    matches!(key, "Enter" | " ").then_some(Action::ToggleNode(node))
}

/// Whether a key pressed while `element` has the focus is the element's own, not a page
/// shortcut: buttons (Space and Enter activate them), form fields and sliders (typing, arrows).
/// `tag` is the element's tag name in any case, `role` its ARIA role. A node (an SVG group with
/// the button role) is not one: it handles Enter and Space itself and leaves the other keys to
/// the page.
pub fn focus_owns_keys(tag: &str, role: Option<&str>, editable: bool) -> bool {
    const CONTROLS: [&str; 4] = ["button", "input", "select", "textarea"];
    editable
        || CONTROLS.iter().any(|c| tag.eq_ignore_ascii_case(c))
        || matches!(role, Some("slider" | "textbox" | "spinbutton" | "combobox"))
}

/// The action for a key press, if any.
pub fn key_action(key: &str, shift: bool, model: &Model) -> Option<Action> {
    let step = if shift { 1_000 } else { 100 };
    Some(match key {
        "1" | "2" | "3" | "4" | "5" | "6" | "7" => Action::Select(key.parse().ok()?),
        "k" | "K" => Action::ToggleNode(model.selected?),
        "f" | "F" => Action::TogglePauseNode(model.selected?),
        " " => Action::TogglePause,
        "s" | "S" => Action::Step,
        "ArrowLeft" => Action::Scrub(-step),
        "ArrowRight" => Action::Scrub(step),
        "End" => Action::Seek(model.timeline.head()),
        "+" | "=" => Action::SetSpeed(model.speed * 2.0),
        "-" | "_" => Action::SetSpeed(model.speed / 2.0),
        "d" | "D" => {
            let now = model.timeline.cluster().config().duplicate_per_mille;
            let pm = if shift || key == "D" {
                now.saturating_sub(DUPLICATE_STEP)
            } else {
                (now + DUPLICATE_STEP).min(DUPLICATE_MAX)
            };
            Action::SetDuplicateRate(pm)
        }
        "i" | "I" => Action::IsolateSelected,
        "p" | "P" => Action::ApplyPartition,
        "h" | "H" => Action::Heal,
        "t" | "T" => Action::TransferToSelected,
        "w" | "W" => Action::KvPut,
        "r" | "R" => Action::RouteBurst(model.burst_size),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enter_and_space_on_a_node_toggle_it() {
        assert_eq!(node_key_action("Enter", 3), Some(Action::ToggleNode(3)));
        assert_eq!(node_key_action(" ", 5), Some(Action::ToggleNode(5)));
        assert_eq!(node_key_action("k", 5), None);
        assert_eq!(node_key_action("Tab", 5), None);
    }

    #[test]
    fn controls_keep_their_keys_and_nodes_pass_the_others_on() {
        for tag in ["BUTTON", "INPUT", "SELECT", "TEXTAREA", "button"] {
            assert!(focus_owns_keys(tag, None, false), "{tag}");
        }
        assert!(
            focus_owns_keys("DIV", Some("slider"), false),
            "an ARIA slider"
        );
        assert!(focus_owns_keys("DIV", None, true), "editable text");
        assert!(!focus_owns_keys("g", Some("button"), false), "a node");
        assert!(!focus_owns_keys("BODY", None, false), "nothing focused");
    }

    #[test]
    fn f_pauses_the_selected_node_and_d_changes_duplication() {
        let mut model = Model::new(1, 3, None);
        assert_eq!(key_action("f", false, &model), None, "no node selected");
        model.apply(Action::Select(2));
        assert_eq!(
            key_action("f", false, &model),
            Some(Action::TogglePauseNode(2))
        );
        assert_eq!(
            key_action("d", false, &model),
            Some(Action::SetDuplicateRate(DUPLICATE_STEP))
        );
        assert_eq!(
            key_action("D", true, &model),
            Some(Action::SetDuplicateRate(0))
        );
        model.apply(Action::SetDuplicateRate(DUPLICATE_MAX));
        assert_eq!(
            key_action("d", false, &model),
            Some(Action::SetDuplicateRate(DUPLICATE_MAX))
        );
        assert_eq!(
            key_action("D", true, &model),
            Some(Action::SetDuplicateRate(DUPLICATE_MAX - DUPLICATE_STEP))
        );
    }

    #[test]
    fn every_shortcut_key_is_listed() {
        let listed: String = SHORTCUTS.iter().map(|(k, _)| *k).collect();
        for key in ["f", "d", "k", "enter / space"] {
            assert!(listed.contains(key), "{key} is not in SHORTCUTS");
        }
    }
}
