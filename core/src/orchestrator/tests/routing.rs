//! Routing properties: pure, sticky, weighted, and canary splits that only ever grow.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use proptest::prelude::*;

use super::*;

const KEYS: usize = 20_000;

fn key(i: usize) -> Vec<u8> {
    format!("user-{i}").into_bytes()
}

/// A driver with service `web` holding one instance per weight, ids `i0, i1, ...`.
fn cluster(weights: &[u16], version: impl Fn(usize) -> &'static str) -> Driver {
    let mut d = Driver::new();
    for (n, &w) in weights.iter().enumerate() {
        d.at(0, register("web", &format!("i{n}"), version(n), w, None))
            .unwrap();
    }
    d
}

fn start(d: &mut Driver, steps: &[u8]) {
    let command = Command::StartDeployment {
        service: "web".into(),
        stable_version: "v1".into(),
        canary_version: "v2".into(),
        steps: steps.to_vec(),
    };
    d.at(0, command).unwrap();
}

fn routes(d: &Driver, keys: usize) -> Vec<RouteDecision> {
    (0..keys)
        .map(|i| d.sm.route("web", &key(i)).unwrap())
        .collect()
}

fn shares(decisions: &[RouteDecision]) -> BTreeMap<String, f64> {
    let mut counts = BTreeMap::new();
    for r in decisions {
        *counts.entry(r.instance.instance_id.clone()).or_insert(0.0) += 1.0;
    }
    counts
        .values_mut()
        .for_each(|c| *c /= decisions.len() as f64);
    counts
}

#[test]
fn hashes_are_pinned() {
    // Every node and every release must agree: changing a seed or the hash breaks stickiness.
    assert_eq!(canary_bucket(b"user-42"), canary_bucket(b"user-42"));
    let pinned = (canary_bucket(b""), canary_bucket(b"user-42"));
    assert_eq!(pinned, PINNED_BUCKETS);
    let s = rendezvous_score(b"user-42", "i0", 100);
    assert!(s.is_finite() && s > 0.0);
    assert_eq!(s.to_bits(), PINNED_SCORE_BITS);
}

const PINNED_BUCKETS: (u16, u16) = (7818, 4400);
const PINNED_SCORE_BITS: u64 = 4_642_876_934_104_981_833;

#[test]
fn candidates_are_healthy_with_weight() {
    let mut d = cluster(&[0, 5], |_| "v1");
    assert!((0..200).all(|i| d.sm.route("web", &key(i)).unwrap().instance.instance_id == "i1"));
    d.at(0, register("web", "i2", "v1", 5, Some(10))).unwrap();
    d.at(
        0,
        Command::Deregister {
            service: "web".into(),
            instance_id: "i1".into(),
        },
    )
    .unwrap();
    d.at(11, Command::Tick).unwrap(); // i2 is unhealthy now
    assert_eq!(
        d.sm.route("web", b"k"),
        Err(OrchestratorError::NoHealthyInstance {
            service: "web".into()
        })
    );
    assert_eq!(
        d.sm.route("nope", b"k"),
        Err(OrchestratorError::ServiceNotFound {
            service: "nope".into()
        })
    );
    let r = cluster(&[1], |_| "v1").sm.route("web", b"k").unwrap();
    assert_eq!((r.index, r.canary, r.version.as_str()), (1, false, "v1"));
}

#[test]
fn canary_side_falls_back_and_unknown_versions_count_as_stable() {
    // Only v1 and v3 instances: a canary bucket finds no v2 and falls back to the stable side.
    let mut d = cluster(&[1, 1], |n| ["v1", "v3"][n]);
    start(&mut d, &[100]);
    let rs = routes(&d, 500);
    assert!(rs.iter().all(|r| !r.canary));
    assert_eq!(shares(&rs).len(), 2, "v3 serves as stable");
    // Only v2: stable buckets fall back to the canary.
    let mut d = cluster(&[1], |_| "v2");
    start(&mut d, &[1]);
    assert!(routes(&d, 500).iter().all(|r| r.canary));
}

#[test]
fn promote_and_rollback() {
    let mut d = cluster(&[1, 1, 1, 1], |n| ["v1", "v2"][n % 2]);
    start(&mut d, &[50]);
    d.at(
        0,
        Command::Promote {
            service: "web".into(),
        },
    )
    .unwrap();
    let rs = routes(&d, 1_000);
    assert!(
        rs.iter().all(|r| r.version == "v2" && !r.canary),
        "all on the new stable"
    );
    start(&mut d, &[50]);
    d.at(
        0,
        Command::Rollback {
            service: "web".into(),
        },
    )
    .unwrap();
    assert!(routes(&d, 1_000)
        .iter()
        .all(|r| r.version == "v1" && !r.canary));
}

fn weights() -> impl Strategy<Value = Vec<u16>> {
    proptest::collection::vec(1u16..=1000, 2..7)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn same_state_and_key_same_answer(ws in weights(), keys in proptest::collection::vec(any::<Vec<u8>>(), 1..50)) {
        let (a, b) = (cluster(&ws, |_| "v1"), cluster(&ws, |_| "v1"));
        for k in &keys {
            let first = a.sm.route("web", k).unwrap();
            prop_assert_eq!(&first, &a.sm.route("web", k).unwrap());
            prop_assert_eq!(&first, &b.sm.route("web", k).unwrap());
        }
    }

    #[test]
    fn removing_an_instance_moves_only_its_keys(ws in weights(), gone in 0usize..6) {
        let gone = format!("i{}", gone % ws.len());
        let mut d = cluster(&ws, |_| "v1");
        let before = routes(&d, 2_000);
        d.at(0, Command::Deregister { service: "web".into(), instance_id: gone.clone() }).unwrap();
        for (b, a) in before.iter().zip(routes(&d, 2_000)) {
            if b.instance.instance_id != gone {
                prop_assert_eq!(&b.instance.instance_id, &a.instance.instance_id);
            }
        }
    }

    #[test]
    fn shares_follow_weights(ws in weights()) {
        let d = cluster(&ws, |_| "v1");
        let got = shares(&routes(&d, KEYS));
        let total: f64 = ws.iter().map(|&w| f64::from(w)).sum();
        for (n, &w) in ws.iter().enumerate() {
            let share = got.get(&format!("i{n}")).copied().unwrap_or(0.0);
            let want = f64::from(w) / total;
            prop_assert!((share - want).abs() <= 0.03, "i{} got {:.4}, want {:.4}", n, share, want);
        }
    }

    #[test]
    fn canary_share_follows_percentage(p in 1u8..=100) {
        let mut d = cluster(&[1, 1, 1, 1], |n| ["v1", "v2"][n % 2]);
        start(&mut d, &[p]);
        let rs = routes(&d, KEYS);
        let share = rs.iter().filter(|r| r.canary).count() as f64 / KEYS as f64;
        prop_assert!((share - f64::from(p) / 100.0).abs() <= 0.02, "p={} share={:.4}", p, share);
        prop_assert!(rs.iter().all(|r| r.canary == (r.version == "v2")));
    }

    #[test]
    fn raising_the_percentage_only_moves_stable_to_canary(a in 1u8..100, b in 1u8..=100) {
        prop_assume!(a < b);
        let mut d = cluster(&[3, 1, 2, 5], |n| ["v1", "v2"][n % 2]);
        start(&mut d, &[a, b]);
        let before = routes(&d, 5_000);
        d.at(0, Command::Advance { service: "web".into() }).unwrap();
        for (x, y) in before.iter().zip(routes(&d, 5_000)) {
            prop_assert!(!x.canary || y.canary, "a key never moves from canary back to stable");
            if x.canary {
                prop_assert_eq!(&x.instance, &y.instance, "a canary key stays where it was");
            } else if !y.canary {
                prop_assert_eq!(&x.instance, &y.instance, "a stable key that stays stable does not move");
            }
        }
    }
}
