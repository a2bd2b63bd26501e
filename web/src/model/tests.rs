//! The model on the host: playback, faults, time travel, scenarios.

use super::*;
use raftorch_core::raft::Role;
use raftorch_core::sim::TraceEvent;

fn run(model: &mut Model, sim_ms: u64) {
    // Frames of 100 real ms at the model's speed.
    let frames = (sim_ms as f64 / (100.0 * model.speed)).ceil() as u64;
    for _ in 0..frames {
        model.apply(Action::Frame(100.0));
    }
}

fn leader(model: &Model) -> Option<NodeId> {
    model.timeline.cluster().leader()
}

#[test]
fn elects_a_leader_and_shows_it() {
    let mut model = Model::new(1, 5, None);
    run(&mut model, 2_000);
    let leader = leader(&model).expect("a leader within 2 s");
    let views = model.node_views();
    assert_eq!(views.len(), 5);
    assert_eq!(views[leader as usize - 1].role, "leader");
    assert!(views.iter().filter(|v| v.role == "follower").count() >= 3);
    assert!(model
        .timeline
        .log()
        .lines
        .iter()
        .any(|l| l.text.contains("became LEADER")));
}

#[test]
fn killing_the_leader_elects_another() {
    let mut model = Model::new(2, 5, None);
    run(&mut model, 2_000);
    let old = leader(&model).unwrap();
    model.apply(Action::ToggleNode(old));
    assert_eq!(model.node_views()[old as usize - 1].role, "down");
    run(&mut model, 3_000);
    let new = leader(&model).expect("a new leader");
    assert_ne!(new, old);
    model.apply(Action::ToggleNode(old));
    assert_ne!(model.node_views()[old as usize - 1].role, "down");
}

#[test]
fn packets_fly_between_nodes() {
    let mut model = Model::new(3, 5, None);
    run(&mut model, 1_500);
    let packets = model.packet_views();
    assert!(!packets.is_empty());
    assert!(packets
        .iter()
        .all(|p| (0.0..=1.0).contains(&p.progress) && p.from != p.to));
}

#[test]
fn scrubbing_back_and_forth_replays_exactly() {
    let mut model = Model::new(4, 5, None);
    run(&mut model, 1_500);
    let l = leader(&model).unwrap();
    model.apply(Action::ToggleNode(l));
    model.apply(Action::Write(raftorch_core::orchestrator::Command::Tick));
    run(&mut model, 2_000);
    let end = model.timeline.now();
    let views = model.node_views();
    let log_len = model.timeline.log().lines.len();

    model.apply(Action::Seek(1_000));
    assert_eq!(model.timeline.now(), 1_000);
    assert!(
        model.node_views().iter().all(|v| v.role != "down"),
        "before the crash"
    );
    model.apply(Action::Seek(end));
    assert_eq!(model.node_views(), views);
    assert_eq!(model.timeline.log().lines.len(), log_len);
}

#[test]
fn rewinding_and_replaying_logs_the_same_lines() {
    let mut model = Model::new(4, 5, None);
    run(&mut model, 1_500);
    model.apply(Action::ToggleNode(leader(&model).unwrap()));
    run(&mut model, 1_500);
    let lines = model.timeline.log().lines.clone();
    // Back past the crash (to a checkpoint where the crashed leader's commits were logged), then
    // forward in small steps.
    model.apply(Action::Scrub(-2_000));
    while model.timeline.now() < model.timeline.head() {
        model.apply(Action::Scrub(100));
    }
    assert_eq!(model.timeline.log().lines, lines);
}

#[test]
fn single_step_advances_one_event() {
    let mut model = Model::new(5, 3, None);
    let before = model.timeline.cluster().events_processed();
    model.apply(Action::Step);
    assert!(model.paused);
    assert_eq!(model.timeline.cluster().events_processed(), before + 1);
    assert!(model.timeline.log().last_event.is_some());
}

#[test]
fn an_input_in_the_past_replaces_the_future() {
    let mut model = Model::new(6, 5, None);
    run(&mut model, 2_000);
    model.apply(Action::Seek(500));
    model.apply(Action::ToggleNode(1));
    assert_eq!(model.timeline.head(), 500);
    run(&mut model, 500);
    assert_eq!(model.node_views()[0].role, "down");
}

#[test]
fn writes_at_a_follower_are_forwarded_and_commit() {
    let mut model = Model::new(7, 5, None);
    run(&mut model, 2_000);
    let l = leader(&model).unwrap();
    let follower = if l == 1 { 2 } else { 1 };
    model.apply(Action::SetVia(Some(follower)));
    model.apply(Action::RegisterInstance("v1".into()));
    let mut saw_forward = false;
    for _ in 0..40 {
        run(&mut model, 10);
        saw_forward |= model
            .packet_views()
            .iter()
            .any(|p| p.kind == PacketKind::Forward(false));
    }
    assert!(saw_forward, "the forward is visible in flight");
    let app = model
        .timeline
        .cluster()
        .node(l)
        .app()
        .expect("the leader is up");
    assert_eq!(app.instances("web", false).len(), 1);
    assert!(model
        .timeline
        .log()
        .lines
        .iter()
        .any(|line| line.kind == LineKind::Client && line.text.contains("ok")));
}

#[test]
fn route_burst_tallies_and_lock_gets_a_token() {
    let mut model = Model::new(8, 5, None);
    run(&mut model, 2_000);
    model.apply(Action::RegisterInstance("v1".into()));
    model.apply(Action::RegisterInstance("v1".into()));
    run(&mut model, 500);
    model.apply(Action::RouteBurst(50));
    model.apply(Action::AcquireLock);
    run(&mut model, 1_500);
    let burst = model.timeline.client().burst.clone().unwrap();
    assert_eq!(burst.answered(), 50);
    assert_eq!(burst.counts.len(), 2);
    assert!(model.timeline.client().lock.is_some());
}

#[test]
fn every_scenario_runs_without_violations() {
    for scenario in SCENARIOS {
        let mut model = Model::from_params(&Params::parse(&format!(
            "?scenario={}&speed=10",
            scenario.id
        )));
        let last = scenario.steps.last().unwrap().at;
        run(&mut model, last + 2_000);
        let c = model.timeline.cluster();
        assert!(
            c.violation().is_none(),
            "{}: {:?}",
            scenario.id,
            c.violation()
        );
        assert!(c.leader().is_some(), "{}: a leader at the end", scenario.id);
        assert!(!model.narration().is_empty());
    }
}

#[test]
fn partition_scenario_never_has_two_committing_leaders() {
    let mut model = Model::from_params(&Params::parse("?scenario=partition&speed=10"));
    run(&mut model, 9_000);
    let lines = &model.timeline.log().lines;
    assert!(lines
        .iter()
        .any(|l| l.text.starts_with("network partitioned")));
    assert!(model.timeline.cluster().violation().is_none());
}

#[test]
fn canary_scenario_shifts_traffic_to_v2() {
    let mut model = Model::from_params(&Params::parse("?scenario=canary&speed=10"));
    run(&mut model, 10_500);
    let burst = model.timeline.client().burst.clone().expect("bursts ran");
    assert_eq!(burst.answered(), 100);
    // Promoted, v2 is the stable version: web-3, the one v2 instance, takes every key.
    assert_eq!(
        burst.counts.get("web-3").map(|c| c.0),
        Some(100),
        "after promote every key goes to v2: {burst:?}"
    );
}

/// The split-vote preset's seed must really split a vote: some term with two candidates and no
/// leader. This finds one if the constant ever stops working.
#[test]
fn split_vote_seed_splits_a_vote() {
    let splits = |seed: u64| {
        // The scenario's story: the leader crashes at 1.5 s.
        let mut sim = Sim::new(demo_config(4, seed));
        sim.run_until(1_500);
        if let Some(l) = sim.leader() {
            sim.crash(l);
        }
        sim.run_until(6_000);
        let records = sim.take_trace_records();
        let mut candidates: std::collections::BTreeMap<u64, Vec<u64>> = Default::default();
        let mut leaders = std::collections::BTreeSet::new();
        for r in &records {
            if let TraceEvent::RoleChanged {
                node, role, term, ..
            } = r.event
            {
                if r.time >= 1_500 && role == Role::Candidate {
                    candidates.entry(term).or_default().push(node);
                }
                if role == Role::Leader {
                    leaders.insert(term);
                }
            }
        }
        candidates
            .iter()
            .any(|(term, c)| c.len() >= 2 && !leaders.contains(term))
    };
    if !splits(scenario::SPLIT_VOTE_SEED) {
        let found = (1..500).find(|&s| splits(s));
        panic!("SPLIT_VOTE_SEED no longer splits a vote; try {found:?}");
    }
}

#[test]
fn role_labels_fit_inside_a_node() {
    let roles = [
        Role::Leader,
        Role::Follower,
        Role::Candidate,
        Role::PreCandidate,
    ];
    for role in roles.iter().map(|r| r.as_str()).chain(["down"]) {
        let label = role_label(role);
        assert!(
            label.chars().count() <= ROLE_LABEL_MAX,
            "{role}: {label:?} is longer than {ROLE_LABEL_MAX} characters"
        );
    }
    assert_eq!(role_label("precandidate"), "pre-cand.");
}

#[test]
fn nodes_have_room_on_the_ring_at_every_size() {
    // The outermost ring drawn around a node: the keyboard focus ring, with half its stroke.
    let outer = FOCUS_RING_RADIUS + 1.5;
    for n in NODES.0..=NODES.1 {
        for id in 1..=n {
            let (x, y) = node_position(id, n);
            let (nx, ny) = node_position(id % n + 1, n);
            let gap = ((nx - x).powi(2) + (ny - y).powi(2)).sqrt();
            assert!(gap > 2.0 * outer, "{n} nodes: {id} and its neighbour touch");
            // Inside the cluster's viewBox (600 × 580).
            assert!(x - outer >= 0.0 && x + outer <= 600.0, "{n} nodes: {id}");
            assert!(y - outer >= 0.0 && y + outer <= 580.0, "{n} nodes: {id}");
        }
    }
}

/// Everything a run shows at its current moment.
fn snapshot(model: &Model) -> (u64, Vec<NodeView>, Vec<LogLine>, usize) {
    (
        model.timeline.now(),
        model.node_views(),
        model.timeline.log().lines.clone(),
        model.timeline.scenario_steps_fired(),
    )
}

fn scenario_model(id: &str) -> Model {
    Model::from_params(&Params::parse(&format!("?scenario={id}&speed=1")))
}

#[test]
fn scenario_steps_fire_the_same_whether_played_stepped_or_scrubbed() {
    // Past the leader crash (2.5 s) and the write at a follower (5 s).
    const END: u64 = 5_300;
    let mut seeked = scenario_model("leader-crash");
    seeked.apply(Action::Seek(END));
    let expected = snapshot(&seeked);
    assert_eq!(expected.3, 4, "the steps up to 5 s fired");

    let mut played = scenario_model("leader-crash");
    while played.timeline.now() < END - 100 {
        played.apply(Action::Frame(30.0));
    }
    played.apply(Action::Seek(END));

    let mut stepped = scenario_model("leader-crash");
    while stepped.timeline.now() < END - 100 {
        stepped.apply(Action::Step);
    }
    assert!(stepped.paused);
    stepped.apply(Action::Seek(END));

    let mut scrubbed = scenario_model("leader-crash");
    while scrubbed.timeline.now() + 100 <= END {
        scrubbed.apply(Action::Scrub(100));
    }
    scrubbed.apply(Action::Seek(END));

    for (how, model) in [
        ("played", &played),
        ("stepped", &stepped),
        ("scrubbed", &scrubbed),
    ] {
        assert!(snapshot(model) == expected, "{how} differs from one seek");
    }
    let crashes = |m: &Model| {
        m.timeline
            .log()
            .lines
            .iter()
            .filter(|l| l.text.ends_with(" crashed"))
            .count()
    };
    assert_eq!(crashes(&stepped), 1, "the leader crash fired once");
}

#[test]
fn single_stepping_fires_a_step_before_the_next_event() {
    let mut model = scenario_model("leader-crash");
    let crash_step = scenario::find("leader-crash").unwrap().steps[2];
    assert_eq!(crash_step.act, scenario::Act::CrashLeader);
    while model.timeline.scenario_steps_fired() < 3 {
        model.apply(Action::Step);
    }
    // The step that fired the crash stopped exactly at its time and says so.
    assert_eq!(model.timeline.now(), crash_step.at);
    let last = model.timeline.log().last_event.clone().unwrap_or_default();
    assert!(last.contains("scenario step 3"), "{last}");
    assert!(model.node_views().iter().any(|v| v.role == "down"));
    assert_eq!(model.narration(), crash_step.say);
}

#[test]
fn scrubbing_back_and_forth_never_fires_a_step_twice() {
    let mut model = scenario_model("leader-crash");
    model.apply(Action::Seek(3_000));
    let once = snapshot(&model);
    for _ in 0..3 {
        model.apply(Action::Scrub(-1_000));
        model.apply(Action::Scrub(-1_000));
        for _ in 0..20 {
            model.apply(Action::Scrub(100));
        }
        let again = snapshot(&model);
        assert_eq!((again.0, again.3), (once.0, once.3));
        assert_eq!(again.1, once.1);
        assert_eq!(again.2, once.2);
    }
    // A new input before a step's time replaces the future: the step fires again, once, on the
    // new run.
    model.apply(Action::Seek(2_000));
    model.apply(Action::SetDropRate(0));
    assert_eq!(model.timeline.scenario_steps_fired(), 2);
    model.apply(Action::Seek(3_000));
    assert_eq!(model.timeline.scenario_steps_fired(), 3);
    let crashes = model
        .timeline
        .log()
        .lines
        .iter()
        .filter(|l| l.text.ends_with(" crashed"))
        .count();
    assert_eq!(crashes, 1);
}

#[test]
fn a_paused_leader_is_replaced_and_resumes_as_follower() {
    let mut model = Model::new(9, 5, None);
    run(&mut model, 2_000);
    let old = leader(&model).unwrap();
    model.apply(Action::TogglePauseNode(old));
    assert_eq!(model.selected, Some(old));
    let view = &model.node_views()[old as usize - 1];
    assert!(view.paused && view.role == "leader", "{view:?}");
    run(&mut model, 3_000);
    let others: Vec<_> = model
        .node_views()
        .into_iter()
        .filter(|v| v.id != old && v.role == "leader")
        .collect();
    assert_eq!(others.len(), 1, "the others elect a leader");
    model.apply(Action::TogglePauseNode(old));
    run(&mut model, 1_000);
    let view = &model.node_views()[old as usize - 1];
    assert!(!view.paused && view.role == "follower", "{view:?}");
    assert!(model.timeline.cluster().violation().is_none());
    let log = &model.timeline.log().lines;
    assert!(log.iter().any(|l| l.text == format!("node {old} paused")));
    assert!(log.iter().any(|l| l.text == format!("node {old} resumed")));
}

#[test]
fn a_down_node_cannot_be_paused() {
    let mut model = Model::new(9, 3, None);
    model.apply(Action::ToggleNode(2));
    model.apply(Action::TogglePauseNode(2));
    assert!(!model.timeline.cluster().node(2).paused);
    assert_eq!(model.node_views()[1].role, "down");
}

#[test]
fn the_duplication_rate_is_on_the_timeline() {
    let mut model = Model::new(10, 5, None);
    run(&mut model, 1_000);
    model.apply(Action::SetDuplicateRate(300));
    assert_eq!(model.timeline.cluster().config().duplicate_per_mille, 300);
    run(&mut model, 2_000);
    assert!(model.timeline.cluster().violation().is_none());
    assert!(leader(&model).is_some(), "duplicates do not stop Raft");
    let log = &model.timeline.log().lines;
    assert!(log
        .iter()
        .any(|l| l.text == "message duplication set to 30.0%"));
    // Scrubbing back before the change shows the rate of that moment.
    model.apply(Action::Seek(500));
    assert_eq!(model.timeline.cluster().config().duplicate_per_mille, 0);
    model.apply(Action::Seek(2_500));
    assert_eq!(model.timeline.cluster().config().duplicate_per_mille, 300);
}

/// Plays `model` in frames of `frame_ms` real ms until simulated time `end` is near, then
/// seeks exactly to `end`.
fn play_in_frames(mut model: Model, frame_ms: f64, end: u64) -> Model {
    while model.timeline.now() + 100 < end {
        model.apply(Action::Frame(frame_ms));
    }
    model.apply(Action::Seek(end));
    model
}

#[test]
fn the_run_does_not_depend_on_the_frame_rate() {
    // The page advances once per animation frame: 60 or 144 Hz displays, the old 33 ms timer,
    // a slow machine's 100 ms frames. Time moves by wall time × speed, so the run is the same.
    const FRAMES_MS: [f64; 4] = [1000.0 / 60.0, 1000.0 / 144.0, 33.0, 100.0];
    for (what, end, fresh) in [
        ("seed 9, 5 nodes", 4_000, Model::new(9, 5, None)),
        ("leader-crash", 5_300, scenario_model("leader-crash")),
    ] {
        let mut fresh = fresh;
        fresh.speed = 1.0;
        let expected = snapshot(&play_in_frames(fresh.clone(), FRAMES_MS[0], end));
        assert!(expected.2.len() > 10, "{what}: the run did something");
        for frame_ms in &FRAMES_MS[1..] {
            let played = play_in_frames(fresh.clone(), *frame_ms, end);
            assert!(
                snapshot(&played) == expected,
                "{what}: frames of {frame_ms:.1} ms give another run"
            );
        }
    }
}

#[test]
fn a_selected_message_shows_its_fields_and_dropping_it_means_it_never_arrives() {
    let mut model = Model::new(3, 5, None);
    run(&mut model, 1_500);
    model.apply(Action::TogglePause);
    let id = model.packet_views()[0].id;
    model.apply(Action::SelectPacket(Some(id)));
    let shown = model.selected_packet_view().expect("its fields");
    let field = |name: &str| {
        shown
            .fields
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(field("message"), Some(format!("#{id}")));
    assert!(field("kind").is_some() && field("from → to").is_some());
    let (from, to) = (shown.from, shown.to);
    model.apply(Action::DropSelectedPacket);
    assert_eq!(model.selected_packet, None);
    model.apply(Action::TogglePause);
    run(&mut model, 500);
    // The simulator traces each message once as delivered or as dropped: dropped by hand here.
    let dropped_by_hand = |model: &Model| {
        model.timeline.log().drops.iter().any(|d| {
            d.reason == raftorch_core::sim::DropReason::ByHand && (d.from, d.to) == (from, to)
        })
    };
    assert!(dropped_by_hand(&model), "lost instead of delivered");
    assert!(
        model.packet_views().iter().all(|p| p.id != id),
        "no longer in flight"
    );
    assert!(model
        .timeline
        .log()
        .lines
        .iter()
        .any(|l| l.text.contains(&format!("dropped message #{id}"))));
    // Scrubbing back and forth replays the drop.
    let end = model.timeline.now();
    model.apply(Action::Seek(1_000));
    assert!(!dropped_by_hand(&model), "before the drop");
    model.apply(Action::Seek(end));
    assert!(dropped_by_hand(&model), "replayed: dropped again");
}
