//! The checkpoint writer: one thread that writes `checkpoint/state.bin` off
//! the ParamStore's actor thread, so that a write (serialisation and two
//! fsyncs) never delays a pull or a push. Only the newest checkpoint
//! matters: one submitted while another is being written replaces any
//! that is still waiting. `flush` waits until the newest is on disk.

use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use actix::Recipient;

use super::end::RunFailure;
use super::messages::Fatal;
use crate::search::Checkpoint;
use crate::store::{write_checkpoint_at, StoreError};

/// The checkpoint could not be written (its file is named in the cause).
/// Shared: the first write error is answered to every later flush and is
/// also the run's fatal error.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{source}")]
pub struct CheckpointWriteError {
    #[source]
    pub source: Arc<StoreError>,
}

/// What the writer thread and the ParamStore share.
#[derive(Default)]
struct State {
    /// The newest checkpoint not yet taken by the thread, and its number.
    waiting: Option<(u64, Checkpoint)>,
    /// Number of the last checkpoint submitted.
    submitted: u64,
    /// Number of the last checkpoint on disk.
    written: u64,
    /// The first write error; nothing more is written after it.
    error: Option<CheckpointWriteError>,
    closed: bool,
}

/// Handle on the writer thread (owned by the ParamStore).
pub struct CheckpointWriter {
    shared: Arc<(Mutex<State>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

impl CheckpointWriter {
    /// Start the thread writing to `path` (the run's checkpoint file); a
    /// write error is also sent to `fatal`.
    pub fn start(path: PathBuf, fatal: Recipient<Fatal>) -> std::io::Result<CheckpointWriter> {
        let shared = Arc::new((Mutex::new(State::default()), Condvar::new()));
        let theirs = shared.clone();
        let thread = std::thread::Builder::new()
            .name("checkpoint".into())
            .spawn(move || write_loop(&theirs, &path, &fatal))?;
        Ok(CheckpointWriter {
            shared,
            thread: Some(thread),
        })
    }

    /// Hand over a checkpoint to write; it replaces one still waiting.
    pub fn submit(&self, checkpoint: Checkpoint) {
        let (m, cv) = &*self.shared;
        let mut s = lock(m);
        s.submitted += 1;
        s.waiting = Some((s.submitted, checkpoint));
        cv.notify_all();
    }

    /// Wait until the last submitted checkpoint is on disk (or a write failed).
    pub fn flush(&self) -> Result<(), CheckpointWriteError> {
        let (m, cv) = &*self.shared;
        let mut s = lock(m);
        loop {
            if let Some(e) = &s.error {
                return Err(e.clone());
            }
            if s.written >= s.submitted {
                return Ok(());
            }
            s = match cv.wait(s) {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
        }
    }
}

impl Drop for CheckpointWriter {
    fn drop(&mut self) {
        {
            let (m, cv) = &*self.shared;
            lock(m).closed = true;
            cv.notify_all();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn write_loop(shared: &(Mutex<State>, Condvar), path: &std::path::Path, fatal: &Recipient<Fatal>) {
    let (m, cv) = shared;
    loop {
        let (number, checkpoint) = {
            let mut s = lock(m);
            loop {
                if let Some(w) = s.waiting.take() {
                    break w;
                }
                if s.closed {
                    return;
                }
                s = match cv.wait(s) {
                    Ok(g) => g,
                    Err(p) => p.into_inner(),
                };
            }
        };
        let written = write_checkpoint_at(path, &checkpoint);
        let mut s = lock(m);
        match written {
            Ok(()) => s.written = number,
            Err(e) => {
                let e = CheckpointWriteError {
                    source: Arc::new(e),
                };
                fatal.do_send(Fatal(RunFailure::Checkpoint(e.clone())));
                s.error = Some(e);
                s.closed = true;
                cv.notify_all();
                return;
            }
        }
        cv.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ControllerConfig;
    use crate::controller::Adam;
    use crate::store::checkpoint::decode;

    /// A `Fatal` recipient that nobody reads.
    struct Sink;
    impl actix::Actor for Sink {
        type Context = actix::Context<Self>;
    }
    impl actix::Handler<Fatal> for Sink {
        type Result = ();
        fn handle(&mut self, _: Fatal, _: &mut actix::Context<Self>) {}
    }
    fn sink() -> Recipient<Fatal> {
        actix::AsyncContext::address(&actix::Context::<Sink>::new()).recipient()
    }

    fn checkpoint(version: u64) -> Checkpoint {
        let cfg = ControllerConfig::default();
        let mut c = Checkpoint::fresh(vec![version as f32; 40], 4, |n| Adam::new(n, &cfg, 0.1));
        c.version = version;
        c
    }

    #[test]
    fn flush_waits_for_the_newest_checkpoint() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.bin");
        let writer = CheckpointWriter::start(path.clone(), sink()).expect("start");
        for v in 1..=20 {
            writer.submit(checkpoint(v));
        }
        writer.flush().expect("written");
        let bytes = std::fs::read(&path).expect("the checkpoint file");
        let back: Checkpoint = decode(&bytes).expect("decodes");
        assert_eq!(back.version, 20);
        assert_eq!(back.weights, vec![20.0; 40]);
        // Nothing newer submitted: flush returns at once.
        writer.flush().expect("still written");
    }

    #[test]
    fn a_write_error_is_returned_by_flush() {
        let dir = tempfile::tempdir().expect("tempdir");
        // The checkpoint's directory is a file: the write must fail.
        let blocker = dir.path().join("checkpoint");
        std::fs::write(&blocker, b"not a directory").expect("write");
        let writer = CheckpointWriter::start(blocker.join("state.bin"), sink()).expect("start");
        writer.submit(checkpoint(1));
        let err = writer.flush().expect_err("the write fails");
        assert!(err.to_string().contains("checkpoint"), "{err}");
        // The cause is kept: the store's error naming the file, and the I/O error under it.
        match &*err.source {
            StoreError::Write { path, source } => {
                assert!(path.starts_with(&blocker), "{}", path.display());
                assert_eq!(source.kind(), std::io::ErrorKind::NotADirectory, "{source}");
            }
            other => panic!("expected a write error, got {other:?}"),
        }
        // Later submissions do not hang flush.
        writer.submit(checkpoint(2));
        assert!(writer.flush().is_err());
    }
}
