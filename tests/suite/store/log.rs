//! The child log: round trip (NaN losses too), losses never reported left
//! out (and the `"NaN"` of older logs still read), torn last lines, corrupt
//! middle lines.

use std::fs;
use std::io::Write;

use nas_actor::child::ChildStatus;
use nas_actor::store::{ChildRecord, RunDir, StoreError};

use super::{config, new_run, ok, record};

#[test]
fn unreported_losses_are_absent_and_older_nan_logs_still_read() {
    let (_tmp, mut run) = new_run();
    let mut r = record(0, 0.5, ChildStatus::Ok, 24);
    r.epochs[0].train_loss = None;
    r.epochs[0].val_loss = None;
    ok(run.append_child(&r));
    let text = fs::read_to_string(run.path().join("children.jsonl")).unwrap();
    assert!(!text.contains("loss"), "no loss written: {text}");
    assert_eq!(ok(run.read_children()).records, [r.clone()]);
    // A log written before: unreported losses as "NaN" strings.
    let old = text.replace(
        "\"val_metric\"",
        "\"train_loss\":\"NaN\",\"val_loss\":\"NaN\",\"val_metric\"",
    );
    assert_ne!(old, text);
    fs::write(run.path().join("children.jsonl"), old).unwrap();
    let back = ok(run.read_children()).records;
    assert!(back[0].epochs[0].train_loss.is_some_and(f64::is_nan));
    assert!(back[0].epochs[0].val_loss.is_some_and(f64::is_nan));
}

#[test]
fn append_and_read_round_trip_including_nan_losses() {
    let (_tmp, mut run) = new_run();
    assert!(ok(run.read_children()).records.is_empty());
    let mut recs: Vec<ChildRecord> = (0..5)
        .map(|i| record(i, i as f64 * 0.1, ChildStatus::Ok, 24))
        .collect();
    let mut diverged = record(5, 0.0, ChildStatus::Diverged, 36);
    diverged.epochs[0].train_loss = Some(f64::NAN);
    diverged.epochs[0].val_loss = Some(f64::INFINITY);
    diverged.metric = None;
    diverged.message = Some("loss is NaN at epoch 1 batch 3".into());
    recs.push(diverged);
    for r in &recs {
        ok(run.append_child(r));
    }
    let log = ok(run.read_children());
    assert_eq!(log.dropped_tail, None);
    assert_eq!(log.records.len(), 6);
    assert_eq!(log.records[..5], recs[..5]);
    let d = &log.records[5];
    assert!(d.epochs[0].train_loss.is_some_and(f64::is_nan));
    assert_eq!(d.epochs[0].val_loss, Some(f64::INFINITY));
    assert_eq!(d.message, recs[5].message);
    // One line per record.
    let text = fs::read_to_string(run.path().join("children.jsonl")).unwrap();
    assert_eq!(text.lines().count(), 6);
    assert!(text.ends_with('\n'));
}

#[test]
fn torn_last_line_is_dropped_repaired_and_appends_continue() {
    let (_tmp, mut run) = new_run();
    ok(run.append_child(&record(0, 0.5, ChildStatus::Ok, 24)));
    ok(run.append_child(&record(1, 0.6, ChildStatus::Ok, 36)));
    let path = run.path().join("children.jsonl");
    let full = serde_json::to_string(&record(2, 0.7, ChildStatus::Ok, 48)).unwrap();
    let mut f = fs::OpenOptions::new().append(true).open(&path).unwrap();
    f.write_all(&full.as_bytes()[..full.len() / 2]).unwrap();
    drop(f);

    let log = ok(run.read_children());
    assert_eq!(log.records.len(), 2);
    let notice = log.dropped_tail.expect("a torn tail is reported");
    assert!(
        notice.contains("children.jsonl") && notice.contains("line 3"),
        "{notice}"
    );

    // A fresh handle refuses to append onto a torn line.
    let mut other = ok(RunDir::open_resume(run.path(), &config()));
    let err = other
        .append_child(&record(9, 0.1, ChildStatus::Ok, 24))
        .unwrap_err();
    assert!(matches!(err, StoreError::TornTail { .. }), "{err}");

    let repaired = ok(other.repair_tail());
    assert!(repaired.is_some());
    assert_eq!(
        ok(other.repair_tail()),
        None,
        "a second repair has nothing to do"
    );
    ok(other.append_child(&record(2, 0.7, ChildStatus::Ok, 48)));
    let log = ok(other.read_children());
    assert_eq!(log.dropped_tail, None);
    let ids: Vec<u64> = log.records.iter().map(|r| r.spec.id).collect();
    assert_eq!(ids, [0, 1, 2]);
}

#[test]
fn unparsable_last_line_with_newline_is_dropped_too() {
    let (_tmp, mut run) = new_run();
    ok(run.append_child(&record(0, 0.5, ChildStatus::Ok, 24)));
    let path = run.path().join("children.jsonl");
    let mut f = fs::OpenOptions::new().append(true).open(&path).unwrap();
    f.write_all(b"{\"id\": 1, \"repl\n").unwrap();
    drop(f);
    let log = ok(run.read_children());
    assert_eq!(log.records.len(), 1);
    assert!(log.dropped_tail.unwrap().contains("does not parse"));
    assert!(ok(run.repair_tail()).is_some());
    let len = fs::metadata(&path).unwrap().len();
    let first = serde_json::to_string(&record(0, 0.5, ChildStatus::Ok, 24)).unwrap();
    assert_eq!(len as usize, first.len() + 1);
}

#[test]
fn corrupt_middle_line_is_an_error_with_its_line_number() {
    let (_tmp, mut run) = new_run();
    for i in 0..3 {
        ok(run.append_child(&record(i, 0.5, ChildStatus::Ok, 24)));
    }
    let path = run.path().join("children.jsonl");
    let text = fs::read_to_string(&path).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines[1] = "{\"id\": 1, \"reward\": oops}";
    fs::write(&path, lines.join("\n") + "\n").unwrap();
    let err = run.read_children().unwrap_err();
    assert!(
        matches!(err, StoreError::CorruptLine { line: 2, .. }),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("children.jsonl:2") && msg.contains("edited by hand"),
        "{msg}"
    );
    // repair_tail does not paper over it.
    assert!(run.repair_tail().is_err());
}

#[test]
fn a_group_of_records_is_appended_in_order_after_single_ones() {
    let (_tmp, mut run) = new_run();
    ok(run.append_children(&[]));
    assert!(ok(run.read_children()).records.is_empty());
    ok(run.append_child(&record(0, 0.1, ChildStatus::Ok, 24)));
    let group: Vec<ChildRecord> = (1..9)
        .map(|i| record(i, i as f64 * 0.05, ChildStatus::Ok, 36))
        .collect();
    ok(run.append_children(&group));
    ok(run.append_child(&record(9, 0.9, ChildStatus::Failed, 48)));
    let log = ok(run.read_children());
    assert_eq!(log.dropped_tail, None);
    let ids: Vec<u64> = log.records.iter().map(|r| r.spec.id).collect();
    assert_eq!(ids, (0..10).collect::<Vec<u64>>());
    assert_eq!(log.records[1..9], group[..]);
}
