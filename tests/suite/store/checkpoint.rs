//! Checkpoints (round trip, damage, stale temp files) and the run lock.

use std::fs;

use nas_actor::store::{RunDir, StoreError};

use super::{config, fake_checkpoint, new_run, ok, FakeCheckpoint};

#[test]
fn checkpoint_round_trip_is_exact_and_compact() {
    let (_tmp, run) = new_run();
    assert_eq!(ok(run.read_checkpoint::<FakeCheckpoint>()), None);
    let ck = fake_checkpoint(50_000);
    let start = std::time::Instant::now();
    let rounds = 20;
    for _ in 0..rounds {
        ok(run.write_checkpoint(&ck));
    }
    let per_write = start.elapsed() / rounds;
    eprintln!("checkpoint of 150k f32: {per_write:?} per write (incl. 2 fsyncs)");
    let back: Option<FakeCheckpoint> = ok(run.read_checkpoint());
    assert_eq!(back.as_ref(), Some(&ck));
    let size = fs::metadata(run.checkpoint_path()).unwrap().len();
    // 3 × 50k × 4 bytes plus small change: binary, not JSON.
    assert!(size < 600_200, "checkpoint is {size} bytes");
    // No temporary files are left behind.
    let names: Vec<_> = fs::read_dir(run.path().join("checkpoint"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["state.bin"]);
}

#[test]
fn damaged_checkpoint_is_detected_and_named() {
    let (_tmp, run) = new_run();
    let ck = fake_checkpoint(1000);
    ok(run.write_checkpoint(&ck));
    let path = run.checkpoint_path();
    let good = fs::read(&path).unwrap();
    // Flip one bit anywhere (header or body), or cut the file short.
    for at in [0, 9, 14, 21, 30, good.len() / 2, good.len() - 1] {
        let mut bad = good.clone();
        bad[at] ^= 0x10;
        fs::write(&path, &bad).unwrap();
        let err = run.read_checkpoint::<FakeCheckpoint>().unwrap_err();
        assert!(
            matches!(err, StoreError::CorruptCheckpoint { .. }),
            "byte {at}: {err}"
        );
        assert!(err.to_string().contains("state.bin"), "{err}");
    }
    fs::write(&path, &good[..good.len() - 7]).unwrap();
    let err = run.read_checkpoint::<FakeCheckpoint>().unwrap_err();
    assert!(err.to_string().contains("truncated"), "{err}");
}

#[test]
fn torn_temp_file_does_not_affect_reading_and_is_cleaned_under_the_lock() {
    let (_tmp, run) = new_run();
    let ck = fake_checkpoint(100);
    ok(run.write_checkpoint(&ck));
    let temp = run.path().join("checkpoint/.state.bin.999.0.tmp");
    fs::write(&temp, b"NASACKPT half a checkpoint").unwrap();
    assert_eq!(
        ok(run.read_checkpoint::<FakeCheckpoint>()),
        Some(ck.clone())
    );
    ok(run.write_checkpoint(&ck));
    let lock = ok(run.lock());
    assert!(
        !temp.exists(),
        "a stale temp file is removed once the lock is held"
    );
    drop(lock);
    assert_eq!(ok(run.read_checkpoint::<FakeCheckpoint>()), Some(ck));
}

#[test]
fn lock_is_exclusive_until_dropped() {
    let (_tmp, run) = new_run();
    let first = ok(run.lock());
    let pid = fs::read_to_string(run.path().join("run.lock")).unwrap();
    assert_eq!(pid.trim(), std::process::id().to_string());
    let again = ok(RunDir::open_resume(run.path(), &config()));
    let err = again.lock().unwrap_err();
    match &err {
        StoreError::Locked { pid, .. } => assert_eq!(*pid, Some(std::process::id())),
        other => panic!("expected Locked, got {other}"),
    }
    let msg = err.to_string();
    assert!(msg.contains(&run.path().display().to_string()), "{msg}");
    assert!(msg.contains(&std::process::id().to_string()), "{msg}");

    // Another process sees the lock too (util-linux `flock`, when installed).
    let lock_file = run.path().join("run.lock");
    let other = std::process::Command::new("flock")
        .args(["-n", "-E", "75"])
        .arg(&lock_file)
        .arg("true")
        .status();
    match other {
        Ok(status) => assert_eq!(status.code(), Some(75), "flock(1) got the lock"),
        Err(e) => {
            crate::common::require(
                false,
                &format!("the cross-process check needs flock(1) (util-linux): {e}"),
            );
        }
    }

    drop(first);
    let second = ok(again.lock());
    drop(second);
    if let Ok(status) = std::process::Command::new("flock")
        .arg("-n")
        .arg(&lock_file)
        .arg("true")
        .status()
    {
        assert!(status.success(), "the lock is free after drop");
    }
}
