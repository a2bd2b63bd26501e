//! Each lesson, checked at its narrated steps: the cluster does what the narration says it does
//! (who leads, what is committed, which read or write is refused), not merely what it prints.

use raftorch_core::orchestrator::{Orchestrator, Query, QueryResult, WriteFence};
use raftorch_core::raft::{NodeId, Role};
use raftorch_core::sim::linearizability::{check_kv, KvOp, KvRet, Operation};
use raftorch_core::sim::{Consistency, Outcome};

use super::lessons::{FENCED_KEY, FENCED_LOCK, LESSONS, RESTRICTION_WRITES, STALE_KEY};
use super::*;

fn lesson(id: &str) -> Model {
    assert!(LESSONS.iter().any(|l| l.id == id), "{id} is a lesson");
    Model::from_params(&Params::parse(&format!("?scenario={id}&speed=1")))
}

fn seek(model: &mut Model, at: u64) {
    model.apply(Action::Seek(at));
    assert_eq!(model.timeline.now(), at);
    assert!(
        model.timeline.cluster().violation().is_none(),
        "no safety violation by {at} ms: {:?}",
        model.timeline.cluster().violation()
    );
}

fn sim(model: &Model) -> &Sim {
    model.timeline.cluster()
}

fn term(model: &Model, id: NodeId) -> u64 {
    sim(model).node(id).raw().expect("running").term()
}

/// The follower with the highest id: whom `IsolateFollower` and `RemoveFollower` pick.
fn highest_follower(model: &Model) -> NodeId {
    let leader = sim(model).leader();
    (1..=sim(model).config().nodes)
        .filter(|&id| sim(model).node(id).is_up() && Some(id) != leader)
        .max()
        .expect("a follower")
}

fn value_at(model: &Model, id: NodeId, key: &str) -> Option<String> {
    let app = sim(model).node(id).app()?;
    match app.query(&Query::KvGet { key: key.into() }).result {
        QueryResult::Kv(Some(kv)) => Some(String::from_utf8_lossy(&kv.value).into_owned()),
        _ => None,
    }
}

fn read_value(outcome: &Outcome<Orchestrator>) -> Option<Option<String>> {
    match outcome {
        Outcome::Read { output, .. } => match &output.result {
            QueryResult::Kv(kv) => Some(
                kv.as_ref()
                    .map(|kv| String::from_utf8_lossy(&kv.value).into_owned()),
            ),
            _ => None,
        },
        _ => None,
    }
}

#[test]
fn every_lesson_runs_to_its_end_without_violations() {
    for l in LESSONS {
        let mut model = lesson(l.id);
        let last = l.steps.last().unwrap().at;
        seek(&mut model, last + 2_000);
        assert_eq!(model.timeline.scenario_steps_fired(), l.steps.len());
        assert!(sim(&model).leader().is_some(), "{}: a leader", l.id);
    }
}

#[test]
fn election_restriction_keeps_the_short_log_from_leading() {
    let mut model = lesson("election-restriction");
    seek(&mut model, 1_400);
    let short = highest_follower(&model);
    seek(&mut model, 2_990);
    let first_leader = sim(&model).leader().unwrap();
    let commit = sim(&model).node(first_leader).raw().unwrap().commit_index();
    let short_last = sim(&model).node(short).raw().unwrap().last_index();
    assert!(
        short_last + u64::from(RESTRICTION_WRITES) <= commit,
        "the cut-off log misses the writes: {short_last} vs commit {commit}"
    );
    seek(&mut model, 3_005);
    assert!(
        !sim(&model).node(first_leader).is_up(),
        "the leader crashed"
    );
    // From the heal until a new leader leads, the short log never wins.
    let mut new_leader = None;
    for at in (3_010..6_000).step_by(10) {
        seek(&mut model, at);
        if let Some(l) = sim(&model).leader() {
            new_leader = Some(l);
            break;
        }
    }
    let new_leader = new_leader.expect("a new leader after the crash");
    assert_ne!(new_leader, short, "the node with the short log cannot win");
    assert_ne!(new_leader, first_leader);
    seek(&mut model, 6_500);
    let leader = sim(&model).leader().unwrap();
    for i in 0..RESTRICTION_WRITES {
        let key = format!("key-{i}");
        assert_eq!(value_at(&model, leader, &key), Some(i.to_string()));
        assert_eq!(
            value_at(&model, short, &key),
            Some(i.to_string()),
            "caught up"
        );
    }
}

#[test]
fn a_rejoining_node_does_not_depose_the_leader() {
    let mut model = lesson("rejoin");
    seek(&mut model, 1_400);
    let leader = sim(&model).leader().unwrap();
    let leader_term = term(&model, leader);
    let cut_off = highest_follower(&model);
    seek(&mut model, 6_400);
    assert!(
        !sim(&model).topology().can_reach(cut_off, leader),
        "still cut off"
    );
    assert_eq!(
        term(&model, cut_off),
        leader_term,
        "pre-vote kept its term from rising"
    );
    assert!(
        matches!(
            sim(&model).node(cut_off).role(),
            Some(Role::Follower | Role::PreCandidate)
        ),
        "it never became a candidate"
    );
    seek(&mut model, 8_000);
    assert_eq!(sim(&model).leader(), Some(leader), "same leader");
    assert_eq!(term(&model, leader), leader_term, "same term");
    let raw = sim(&model).node(cut_off).raw().unwrap();
    assert_eq!(raw.leader(), Some(leader), "it follows the leader again");
    assert_eq!(raw.term(), leader_term);
}

#[test]
fn a_stale_read_is_not_linearizable_and_a_linearizable_one_refuses_to_be() {
    let mut model = lesson("stale-read");
    seek(&mut model, 9_000);
    let answers = &model.timeline.client().answers;
    let put = |v: &str| {
        answers
            .iter()
            .find(|a| matches!(&a.asked, Asked::Write(Command::Put { value, .. }) if value == v.as_bytes()))
            .unwrap_or_else(|| panic!("put {v} answered"))
    };
    let (put_old, put_new) = (put("old"), put("new"));
    assert!(matches!(
        put_new.outcome,
        Outcome::Written { output: Ok(_), .. }
    ));
    let reads = |c: Consistency| {
        answers
            .iter()
            .filter(move |a| matches!(a.asked, Asked::Read(_, got) if got == c))
    };
    let stale = reads(Consistency::Stale)
        .next()
        .expect("the stale read answered");
    assert_eq!(read_value(&stale.outcome), Some(Some("old".into())));
    assert!(put_new.time < stale.call, "new was acknowledged first");
    // The linearizable read on the cut-off side never answers old.
    let linearizable: Vec<_> = reads(Consistency::Linearizable).collect();
    assert!(linearizable
        .iter()
        .all(|a| read_value(&a.outcome) != Some(Some("old".into()))));
    // On the cut-off side it fails, or waits and answers new once the network heals.
    let heal = 6_500;
    let cut_off_node = stale.node;
    let there: Vec<_> = linearizable
        .iter()
        .filter(|a| a.node == cut_off_node && a.call < heal)
        .collect();
    assert!(!there.is_empty(), "the cut-off side's read answered");
    for a in there {
        let value = read_value(&a.outcome);
        assert!(
            value.is_none() || (a.time >= heal && value == Some(Some("new".into()))),
            "no value from the cut-off side before the heal: {a:?}"
        );
    }
    let after_heal = linearizable
        .iter()
        .find(|a| a.call >= 7_500)
        .expect("the read after the heal answered");
    assert_eq!(read_value(&after_heal.outcome), Some(Some("new".into())));

    // The checker agrees: with the stale answer the history has no linearization.
    let op = |a: &Answer, op, ret| Operation::complete(0, a.call, a.time, op, ret);
    let key = || STALE_KEY.to_string();
    let writes = vec![
        op(put_old, KvOp::Put(key(), "old".to_string()), KvRet::Ok),
        op(put_new, KvOp::Put(key(), "new".to_string()), KvRet::Ok),
    ];
    let mut with_stale = writes.clone();
    with_stale.push(op(
        stale,
        KvOp::Get(key()),
        KvRet::Value(Some("old".into())),
    ));
    assert!(!check_kv(&with_stale, 1_000_000).is_linearizable());
    let mut with_linearizable = writes;
    with_linearizable.push(op(
        after_heal,
        KvOp::Get(key()),
        KvRet::Value(Some("new".into())),
    ));
    assert!(check_kv(&with_linearizable, 1_000_000).is_linearizable());
}

#[test]
fn the_paused_holders_old_token_is_refused() {
    let mut model = lesson("fenced-lock");
    seek(&mut model, 2_400);
    let client = model.timeline.client();
    assert_eq!(client.tokens.len(), 1, "A holds the lock");
    let first = client.tokens[0].1;
    seek(&mut model, 5_400);
    let client = model.timeline.client();
    assert_eq!(
        client.tokens.len(),
        2,
        "B took the lock after A's lease expired"
    );
    let (name, second) = client.tokens[1].clone();
    assert_eq!(name, FENCED_LOCK);
    assert!(second > first, "fencing tokens only grow");
    seek(&mut model, 7_000);
    let fenced = |token: u64| {
        model
            .timeline
            .client()
            .answers
            .iter()
            .find(|a| match &a.asked {
                Asked::Write(Command::Fenced { fence, .. }) => {
                    *fence
                        == WriteFence::Lock {
                            name: FENCED_LOCK.into(),
                            token,
                        }
                }
                _ => false,
            })
            .unwrap_or_else(|| panic!("the write fenced by {token} answered"))
            .outcome
            .clone()
    };
    assert!(
        matches!(fenced(first), Outcome::Written { output: Err(_), .. }),
        "A's write is refused"
    );
    assert!(matches!(
        fenced(second),
        Outcome::Written { output: Ok(_), .. }
    ));
    let leader = sim(&model).leader().unwrap();
    assert_eq!(value_at(&model, leader, FENCED_KEY), Some("from B".into()));
}

#[test]
fn a_voter_is_removed_returns_as_learner_and_is_promoted() {
    let mut model = lesson("membership");
    seek(&mut model, 1_400);
    let removed = highest_follower(&model);
    let conf = |model: &Model| {
        let leader = sim(model).leader().unwrap();
        sim(model).node(leader).raw().unwrap().conf_state().clone()
    };
    seek(&mut model, 2_400);
    let c = conf(&model);
    assert_eq!(c.voters.len(), 4);
    assert!(!c.voters.contains(&removed) && !c.learners.contains(&removed));
    seek(&mut model, 3_400);
    let leader = sim(&model).leader().unwrap();
    let commit = sim(&model).node(leader).raw().unwrap().commit_index();
    assert_eq!(
        value_at(&model, leader, "key-4"),
        Some("4".into()),
        "committed by four voters"
    );
    seek(&mut model, 4_900);
    let c = conf(&model);
    assert!(c.learners.contains(&removed) && !c.voters.contains(&removed));
    assert!(
        sim(&model).node(removed).applied() >= commit,
        "the learner caught up"
    );
    seek(&mut model, 6_500);
    let c = conf(&model);
    assert_eq!(c.voters.len(), 5);
    assert!(c.voters.contains(&removed) && c.learners.is_empty());
}
