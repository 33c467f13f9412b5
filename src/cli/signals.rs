//! SIGUSR1 at the binary's edge: Slurm sends it to the batch step before the
//! time limit (`--signal=B:USR1@120`). It stops the run as Ctrl-C does
//! (dispatching stops, running children are cancelled, the checkpoint is
//! written); inside a Slurm job the job is then requeued
//! (`scontrol requeue`), and the requeued job resumes the run.

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::actors::Interrupter;

/// Set by the signal handler (async-signal-safe: one atomic store).
static USR1: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    USR1.store(true, Ordering::SeqCst);
}

/// Whether SIGUSR1 arrived.
pub struct Usr1 {
    seen: Arc<AtomicBool>,
}

impl Usr1 {
    pub fn received(&self) -> bool {
        self.seen.load(Ordering::SeqCst)
    }
}

/// Stop the run of `interrupter` on SIGUSR1; a watcher thread hands the
/// signal on once the run is attached.
pub fn on_usr1(interrupter: Interrupter) -> Usr1 {
    let seen = Arc::new(AtomicBool::new(false));
    let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: the handler only stores to an atomic.
    if unsafe { libc::signal(libc::SIGUSR1, handler) } == libc::SIG_ERR {
        eprintln!("warning: SIGUSR1 will not checkpoint the run (cannot install its handler)");
        return Usr1 { seen };
    }
    let flag = seen.clone();
    let watcher = std::thread::Builder::new()
        .name("usr1-watcher".into())
        .spawn(move || loop {
            if USR1.load(Ordering::SeqCst) {
                if !flag.swap(true, Ordering::SeqCst) {
                    eprintln!(
                        "SIGUSR1: stopping, cancelling running children, writing the checkpoint"
                    );
                }
                if interrupter.interrupt() {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        });
    if let Err(e) = watcher {
        eprintln!("warning: SIGUSR1 will not checkpoint the run: {e}");
    }
    Usr1 { seen }
}

/// Inside a Slurm job: requeue it (the checkpoint is written). The notice
/// comes first: Slurm ends this process as it requeues the job. Returns a
/// warning when the job could not be requeued.
pub fn requeue_slurm_job() -> Option<String> {
    let job = std::env::var("SLURM_JOB_ID").ok()?;
    eprintln!(
        "requeueing Slurm job {job}: when it starts again it resumes this run (--auto-resume)"
    );
    let done = Command::new("scontrol").args(["requeue", &job]).output();
    match done {
        Ok(o) if o.status.success() => None,
        Ok(o) => Some(format!(
            "warning: `scontrol requeue {job}` failed ({}): submit the job again to resume",
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Err(e) => Some(format!(
            "warning: cannot run scontrol to requeue job {job} ({e}): submit the job again to resume"
        )),
    }
}
