//! A trial's stdout: every line is read as the protocol or logged, never a
//! panic; the first unreadable report is named by its line number; a line
//! past `MAX_LINE_BYTES` is cut and logged, never read as a report; a final
//! line without a newline counts; a million progress lines pass in seconds.

use std::process::Command;
use std::time::{Duration, Instant};

use nas_actor::child::{EpochMetrics, Progress};
use nas_actor::runner::process::{run as follow, ProcessRun, Watch, MAX_LINE_BYTES};
use nas_actor::runner::protocol::{self, Line};
use proptest::prelude::*;

use super::{figures, tried};

/// Counts what a process reported.
#[derive(Default)]
struct Counted {
    batches: usize,
    epochs: usize,
}

impl Progress for Counted {
    fn on_batch(&mut self, _: usize, _: usize, _: usize, _: f64) {
        self.batches += 1;
    }
    fn on_epoch(&mut self, _: &EpochMetrics) {
        self.epochs += 1;
    }
}

/// `cat` the bytes as a child's stdout; what was read, the log, the counts.
fn through_a_process(bytes: &[u8]) -> (ProcessRun, String, Counted) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("stdout");
    std::fs::write(&file, bytes).expect("write the output");
    let mut log: Vec<u8> = Vec::new();
    let mut counted = Counted::default();
    let run = follow(
        Command::new("cat").arg(&file),
        Watch {
            timeout: Some(Duration::from_secs(120)),
            grace: Duration::from_secs(1),
            reaper: None,
            log: Some(&mut log),
            stderr_tail: 5,
        },
        &mut counted,
    );
    (run, String::from_utf8_lossy(&log).into_owned(), counted)
}

/// A line a trial might print: JSON reports with odd values, or anything.
fn line() -> impl Strategy<Value = Vec<u8>> {
    let value = prop_oneof![
        Just("NaN".to_string()),
        Just("-Infinity".to_string()),
        Just("1e400".to_string()),
        Just("-1e999999".to_string()),
        Just("18446744073709551616".to_string()),
        Just("null".to_string()),
        any::<f64>().prop_map(|f| format!("{f:?}")),
        any::<i64>().prop_map(|i| i.to_string()),
        "\\PC{0,12}".prop_map(|s| serde_json::Value::from(s).to_string()),
        (1usize..300).prop_map(|d| format!("{}1{}", "[".repeat(d), "]".repeat(d))),
        (1usize..300).prop_map(|d| "{\"a\":".repeat(d) + "1" + &"}".repeat(d)),
    ];
    let key = prop_oneof![
        Just("metric"),
        Just("epoch"),
        Just("reward"),
        Just("batch"),
        Just("batches"),
        Just("loss"),
        Just("train_loss"),
        Just("val_loss"),
        Just("seconds"),
        Just("params"),
        Just("status"),
        Just("node"),
        Just("gpus"),
    ];
    let report = prop::collection::vec((key, value), 0..5).prop_map(|fields| {
        let body: Vec<String> = fields
            .iter()
            .map(|(k, v)| format!("\"{k}\": {v}"))
            .collect();
        format!("{{{}}}", body.join(", ")).into_bytes()
    });
    prop_oneof![
        3 => report,
        1 => prop::collection::vec(any::<u8>().prop_filter("no newline", |b| *b != b'\n'), 0..200),
        1 => "\\PC{0,80}".prop_map(String::into_bytes),
    ]
}

#[test]
fn arbitrary_trial_stdout_is_read_or_logged_and_never_panics() {
    // The protocol alone: many lines, cheaply.
    let parsed = tried(3000, line(), |bytes| {
        let text = String::from_utf8_lossy(&bytes);
        match protocol::parse(&text) {
            Line::Invalid(why) => prop_assert!(!why.to_string().is_empty()),
            Line::Epoch(m) => prop_assert!(m.epoch >= 1),
            _ => {}
        }
        Ok(())
    });
    // Through a process: lines joined, with or without a final newline.
    let outputs = (prop::collection::vec(line(), 0..12), any::<bool>());
    let processes = tried(40, outputs, |(lines, final_newline)| {
        let mut bytes = lines.join(&b'\n');
        if final_newline && !lines.is_empty() {
            bytes.push(b'\n');
        }
        let (run, log, counted) = through_a_process(&bytes);
        prop_assert!(run.status.is_some_and(|s| s.success()), "{:?}", run.error);
        // Each line, as the reader split it, parsed the same way here.
        let text: Vec<String> = if bytes.is_empty() {
            Vec::new()
        } else {
            let body = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
            body.split(|b| *b == b'\n')
                .map(|l| String::from_utf8_lossy(l).into_owned())
                .collect()
        };
        let mut logged = 0;
        let mut first_invalid = None;
        let (mut batches, mut epochs) = (0, 0);
        for (i, l) in text.iter().enumerate() {
            match protocol::parse(l) {
                Line::Log => logged += 1,
                Line::Invalid(_) => {
                    logged += 1;
                    first_invalid.get_or_insert(i + 1);
                }
                Line::Batch { .. } => batches += 1,
                Line::Epoch(_) => epochs += 1,
                _ => {}
            }
        }
        // Nothing is lost: every line that is not a report is in the log.
        prop_assert_eq!(log.lines().count(), logged, "{}", log);
        prop_assert_eq!((counted.batches, counted.epochs), (batches, epochs));
        match (first_invalid, &run.invalid) {
            (Some(n), Some(why)) => {
                let want = format!("stdout line {n} ");
                prop_assert!(why.starts_with(&want), "{}", why)
            }
            (None, None) => {}
            (want, got) => prop_assert!(false, "invalid line {:?}, reader said {:?}", want, got),
        }
        Ok(())
    });
    figures(
        "inputs_trial_stdout",
        &[format!(
            "arbitrary stdout lines: {parsed} parsed, {processes} outputs through a process (no panic; the first bad report named by its line)"
        )],
    );
}

#[test]
fn huge_lines_deep_json_big_numbers_and_a_million_progress_lines() {
    let mut lines = Vec::new();
    // A 5 MiB line (no newline for its whole length) is cut, logged, skipped.
    let mut bytes = vec![b'x'; 5 * MAX_LINE_BYTES];
    bytes.extend_from_slice(b"\n{\"metric\": 0.5}");
    let (run, log, _) = through_a_process(&bytes);
    assert_eq!(
        run.last.map(|f| f.metric),
        Some(0.5),
        "the final line without newline"
    );
    assert!(
        log.contains("stdout line 1 cut at 1048576 bytes"),
        "{}",
        &log[log.len() - 200..]
    );
    assert!(
        log.len() < 2 * MAX_LINE_BYTES,
        "the rest of the line is not kept"
    );
    // A huge report is not a report: cut, not invalid.
    let mut bytes = b"{\"metric\": 0.5, \"pad\": \"".to_vec();
    bytes.extend(std::iter::repeat_n(b'y', 2 * MAX_LINE_BYTES));
    bytes.extend_from_slice(b"\"}\n");
    let (run, _, _) = through_a_process(&bytes);
    assert!(
        run.last.is_none() && run.invalid.is_none(),
        "{:?}",
        run.invalid
    );
    lines.push(format!(
        "lines over {MAX_LINE_BYTES} bytes: cut there and logged, the rest skipped, never read as a report"
    ));

    // Deeply nested JSON, numbers beyond f64, invalid UTF-8: named errors.
    let deep = format!(
        "{{\"metric\": {}0.5{}}}\n",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("nested 100,000 deep", deep.into_bytes()),
        ("1e400", b"{\"epoch\": 1, \"metric\": 1e400}\n".to_vec()),
        (
            "epoch 2^70",
            b"{\"epoch\": 1180591620717411303424, \"metric\": 0.5}\n".to_vec(),
        ),
    ];
    for (what, bytes) in &cases {
        let mut out = b"log line\n".to_vec();
        out.extend_from_slice(bytes);
        let (run, _, _) = through_a_process(&out);
        let why = run.invalid.unwrap_or_default();
        assert!(
            why.starts_with("stdout line 2 is not a valid report"),
            "{what}: {why}"
        );
    }
    let (run, log, _) =
        through_a_process(b"caf\xe9 \xff\xfe\n{\"metric\": 0.25, \"note\": \"\xff\"}\n");
    assert_eq!(
        run.last.map(|f| f.metric),
        Some(0.25),
        "invalid UTF-8 is replaced, not fatal"
    );
    assert!(log.contains("caf\u{fffd}"), "{log}");
    lines.push(
        "deep JSON (100,000 levels), numbers beyond f64 and u64: refused as the report of their stdout line; invalid UTF-8 replaced".into(),
    );

    // A million progress lines, then a final line without a newline.
    let mut bytes = Vec::with_capacity(60_000_000);
    for b in 1..=1_000_000 {
        bytes.extend_from_slice(
            format!("{{\"epoch\": 1, \"batch\": {b}, \"batches\": 1000000, \"loss\": 0.5}}\n")
                .as_bytes(),
        );
    }
    bytes.extend_from_slice(b"{\"epoch\": 1, \"metric\": 0.5, \"loss\": 0.25}\n{\"metric\": 0.5}");
    let started = Instant::now();
    let (run, log, counted) = through_a_process(&bytes);
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(counted.batches, 1_000_000);
    assert_eq!(
        run.epochs.first().and_then(|e| e.train_loss),
        Some(0.25),
        "a reported loss is kept"
    );
    assert_eq!(run.last.map(|f| f.metric), Some(0.5));
    assert!(log.is_empty(), "reports are not logged");
    lines.push(format!(
        "1,000,000 progress lines and a final line without newline: read in {seconds:.1} s"
    ));
    figures("inputs_trial_stdout_limits", &lines);
}
