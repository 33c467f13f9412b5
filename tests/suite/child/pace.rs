//! The pace of children: the one-time estimate from a slot's first batches.

use std::time::{Duration, Instant};

use nas_actor::child::pace::{Estimate, Pace, PACE_SAMPLE};

fn labels() -> Vec<String> {
    vec!["cpu#0".into(), "cpu#1".into()]
}

#[test]
fn the_estimate_comes_once_after_a_slot_trained_for_the_sample_time() {
    let t0 = Instant::now();
    let mut pace = Pace::new(labels(), Some(35));
    // Child 4 on slot 0 at epoch 1, batch 10 of 1,000.
    assert_eq!(pace.batch(0, 4, (1, 10, 1000), 99, t0), None);
    // Not yet: too soon.
    let soon = t0 + PACE_SAMPLE / 2;
    assert_eq!(pace.batch(0, 4, (1, 20, 1000), 99, soon), None);
    // A new child on the slot starts the watch again.
    assert_eq!(pace.batch(0, 5, (1, 1, 1000), 99, soon), None);
    let later = soon + Duration::from_secs(10);
    let e = pace
        .batch(0, 5, (2, 1, 1000), 98, later)
        .expect("an estimate after 10 s of child 5");
    // 1,000 batches in 10 s: 100 batches/s, 10 s an epoch, 350 s a child.
    assert!((e.batches_per_s - 100.0).abs() < 1e-6, "{e:?}");
    assert!((e.child_s() - 350.0).abs() < 1e-6, "{e:?}");
    // 98 children on 2 slots: 49 children each.
    assert!((e.budget_s() - 49.0 * 350.0).abs() < 1e-3, "{e:?}");
    assert_eq!(e.slot, "cpu#0");
    assert!(e.is_long());
    // Said once: slot 1 gives nothing more.
    assert_eq!(pace.batch(1, 6, (1, 1, 1000), 97, later), None);
    let much_later = later + Duration::from_secs(60);
    assert_eq!(pace.batch(1, 6, (3, 1, 1000), 97, much_later), None);
    assert_eq!(pace.batch(0, 5, (9, 1, 1000), 97, much_later), None);
}

#[test]
fn a_long_budget_suggests_the_quick_start_or_a_gpu() {
    let long = Estimate {
        slot: "cpu#0".into(),
        batches_per_epoch: 1327,
        batches_per_s: 0.5,
        epochs: Some(35),
        children_left: 400,
        slots: 1,
    };
    let line = long.line();
    assert!(
        line.starts_with("estimate: a child (35 epochs) takes about"),
        "{line}"
    );
    assert!(line.contains("the 400 children left need about"), "{line}");
    assert!(line.contains("days"), "{line}");
    assert!(
        line.contains("quick start") && line.contains("NVIDIA GPUs"),
        "{line}"
    );
    // A short one is said without the suggestion; unknown epochs make it a lower bound.
    let short = Estimate {
        batches_per_s: 100.0,
        batches_per_epoch: 60,
        epochs: None,
        children_left: 24,
        slots: 2,
        ..long
    };
    assert!(!short.is_long());
    let line = short.line();
    assert!(
        line.starts_with("estimate: an epoch of a child takes about 1 s"),
        "{line}"
    );
    assert!(
        line.contains("need at least about 7 s on 2 slot(s)"),
        "{line}"
    );
    assert!(!line.contains("quick start"), "{line}");
}
