//! Write errors (not a directory, full disk, read-only directory) name their path.

use std::fs;
use std::path::Path;

use nas_actor::child::ChildStatus;
use nas_actor::store::RunDir;

use super::{fake_checkpoint, new_run, ok, record, FakeCheckpoint};

#[test]
fn write_errors_name_the_path() {
    let (_tmp, mut run) = new_run();
    // children.jsonl as a directory: opening it for appending fails (also as root).
    fs::create_dir(run.path().join("children.jsonl")).unwrap();
    let err = run
        .append_child(&record(0, 0.5, ChildStatus::Ok, 24))
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("cannot write") && msg.contains("children.jsonl"),
        "{msg}"
    );
    assert!(msg.contains("last checkpoint is intact"), "{msg}");
    // checkpoint/ as a file: the checkpoint cannot be written.
    fs::remove_dir(run.path().join("checkpoint")).unwrap();
    fs::write(run.path().join("checkpoint"), b"not a dir").unwrap();
    let msg = run
        .write_checkpoint(&fake_checkpoint(10))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("checkpoint/.state.bin"), "{msg}");
}

#[test]
fn full_disk_on_append_names_the_file() {
    if !Path::new("/dev/full").exists() {
        crate::common::skip("no /dev/full on this machine");
        return;
    }
    let (_tmp, mut run) = new_run();
    std::os::unix::fs::symlink("/dev/full", run.path().join("children.jsonl")).unwrap();
    let msg = run
        .append_child(&record(0, 0.5, ChildStatus::Ok, 24))
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("children.jsonl") && msg.contains("No space left"),
        "{msg}"
    );
}

#[test]
fn read_only_directory_errors_name_the_path() {
    use std::os::unix::fs::PermissionsExt;
    let (_tmp, mut run) = new_run();
    let ck_dir = run.path().join("checkpoint");
    ok(run.write_checkpoint(&fake_checkpoint(10)));
    for d in [run.path(), ck_dir.as_path()] {
        fs::set_permissions(d, fs::Permissions::from_mode(0o555)).unwrap();
    }
    let restore = |run: &RunDir| {
        for d in [run.path().to_path_buf(), ck_dir.clone()] {
            fs::set_permissions(&d, fs::Permissions::from_mode(0o755)).unwrap();
        }
    };
    if fs::write(run.path().join("probe"), b"x").is_ok() {
        restore(&run);
        crate::common::skip("the read-only check: running as root, chmod does not stop writes");
        return;
    }
    let append = run.append_child(&record(0, 0.5, ChildStatus::Ok, 24));
    let ck = run.write_checkpoint(&fake_checkpoint(10));
    restore(&run);
    let msg = append.unwrap_err().to_string();
    assert!(
        msg.contains("children.jsonl") && msg.contains("Permission denied"),
        "{msg}"
    );
    let msg = ck.unwrap_err().to_string();
    assert!(
        msg.contains("checkpoint") && msg.contains("Permission denied"),
        "{msg}"
    );
    // The earlier checkpoint is intact.
    assert_eq!(
        ok(run.read_checkpoint::<FakeCheckpoint>()),
        Some(fake_checkpoint(10))
    );
}
