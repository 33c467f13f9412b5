//! [`Persistent`]: one long-lived trial process per slot
//! (`child.command.persistent = true`), so that a trial pays its
//! framework's start-up (Python, torch, the data) once per slot, not once
//! per child, and may keep weights between children.
//!
//! The process is started on the slot's first child, in a process group
//! of its own that the run's [`super::Reaper`] knows, with the slot's
//! environment of an ordinary trial (`NAS_RUN_DIR`, `NAS_SLOT`,
//! `NAS_EPOCHS`, `CUDA_VISIBLE_DEVICES`, thread counts, `PYTHONPATH`,
//! `child.command.env`) and `NAS_PERSISTENT=1`. Each child is one request,
//! a JSON line on its stdin:
//!
//! ```json
//! {"child": 7, "architecture": {…}, "seed": 123, "epochs": 2,
//!  "arch_file": "RUN/children/7/arch.json", "output_dir": "RUN/children/7",
//!  "run_dir": "RUN", "slot": "cpu#0"}
//! ```
//!
//! (`"epochs"` only when `child.command.epochs` is set): what an ordinary
//! trial finds in its `NAS_*` variables. The process answers with the
//! usual report lines ([`crate::runner::protocol`]), each tagged
//! `"child": 7`; the tagged final line ends the child. Every other line of
//! stdout and stderr goes to the child's `trial.log`, as for an ordinary
//! trial.
//!
//! A report for another child, an untagged report or an unreadable one is
//! a protocol error; a request that runs past `child.timeout_s` or is
//! cancelled, and a process that exits while serving a child, all fail the
//! child. In every such case the process is no longer trusted: its group
//! is killed and the next child starts a new process. At the end of the
//! run (the runner is dropped) its stdin is closed, so that its request
//! loop ends; after `child.command.kill_grace_s` its group gets SIGTERM,
//! after as long again SIGKILL.

use std::collections::VecDeque;
use std::io::{ErrorKind, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{ChildFiles, CommandShared, TrialError, STDERR_TAIL};
use crate::child::{ChildSpec, Progress};
use crate::devices::Slot;
use crate::runner::process::{
    clip, exited, signal, signal_name, stderr_line, Piece, Pipe, ProcessRun, Stopping, LINGER,
    MAX_LINE_BYTES, TICK,
};
use crate::runner::protocol::{parse_tagged, Line};
use crate::space::Architecture;

/// A slot's persistent trial process, started on its first request.
#[derive(Default)]
pub struct Persistent {
    server: Option<Server>,
    /// The log of the last child served, for what the process prints when it is stopped.
    last_log: Option<PathBuf>,
}

/// The running process.
struct Server {
    child: Child,
    /// Its pid, which is its process group's id.
    pgid: u32,
    stdin: Option<ChildStdin>,
    out: Pipe<ChildStdout>,
    err: Pipe<ChildStderr>,
    /// Children it has answered.
    served: usize,
}

/// How serving one request ended.
enum End {
    /// The tagged final line came: the process serves the next child too.
    Answered,
    /// The process exited (or was stopped and has exited).
    Exited,
    /// It broke the protocol: why (its group is killed).
    Broken(String),
}

impl Persistent {
    /// Serve `spec` on `slot`: write its files, start the process if there
    /// is none (or it has ended), send the request, follow the answer.
    pub(super) fn serve(
        &mut self,
        shared: &CommandShared,
        spec: &ChildSpec,
        slot: &Slot,
        progress: &mut dyn Progress,
    ) -> Result<ProcessRun, TrialError> {
        let ChildFiles {
            dir,
            arch_file,
            mut log,
        } = ChildFiles::create(shared, spec)?;
        self.last_log = Some(dir.join("trial.log"));
        let request = request_line(shared, spec, slot, &dir, &arch_file)?;
        let mut server = match self.server.take() {
            Some(mut s) if exited(s.pgid) => {
                let status = s.finish(shared, Some(&mut log));
                let _ = writeln!(
                    log,
                    "# nas-actor: the persistent trial process (pid {}) had ended between children ({}); starting a new one",
                    s.pgid,
                    describe(status)
                );
                None
            }
            other => other,
        };
        let mut server = match server.take() {
            Some(s) => s,
            None => {
                let s = Server::start(shared, slot)?;
                let _ = writeln!(
                    log,
                    "# nas-actor: started the persistent trial process (pid {}) on {} at unix time {:.0}: {}",
                    s.pgid,
                    slot.label,
                    crate::store::unix_now(),
                    argv(shared).join(" ")
                );
                s
            }
        };
        let _ = writeln!(
            log,
            "# nas-actor: child {} on {} at unix time {:.0}: request {} to the persistent trial process (pid {})",
            spec.id,
            slot.label,
            crate::store::unix_now(),
            server.served + 1,
            server.pgid
        );
        let (end, mut run) = server.follow(shared, spec.id, request, &mut log, progress);
        match end {
            End::Answered => {
                server.served += 1;
                self.server = Some(server);
                let _ = log.flush();
                return Ok(run);
            }
            End::Broken(why) => {
                signal(server.pgid, libc::SIGKILL);
                run.error = Some(format!(
                    "{why}; the persistent trial process (pid {}) was killed and is started again for the next child",
                    server.pgid
                ));
            }
            End::Exited => {}
        }
        let status = server.finish(shared, Some(&mut log));
        if run.error.is_none() && run.stopped.is_none() {
            run.error = Some(format!(
                "the persistent trial process (pid {}) {} while serving child {} (after {} children){}; it is started again for the next child",
                server.pgid,
                describe(status),
                spec.id,
                server.served,
                if status.is_some_and(|s| s.code() == Some(0)) {
                    "; a persistent trial serves requests until its stdin closes (`for req in nas_trial.requests()`)"
                } else {
                    ""
                }
            ));
        }
        if let Some(stop) = run.stopped {
            let _ = writeln!(
                log,
                "# nas-actor: child {} {}; the persistent trial process (pid {}) is started again for the next child",
                spec.id,
                stop.reason(),
                server.pgid
            );
        }
        run.status = status;
        let _ = log.flush();
        Ok(run)
    }

    /// End the process, if there is one: close its stdin, wait
    /// `kill_grace_s` for it to exit, then SIGTERM its group, then SIGKILL.
    pub(super) fn stop(&mut self, shared: &CommandShared) {
        let Some(mut s) = self.server.take() else {
            return;
        };
        let mut log = self.last_log.as_ref().and_then(|p| {
            std::fs::OpenOptions::new()
                .append(true)
                .open(p)
                .ok()
                .map(std::io::BufWriter::new)
        });
        s.stdin = None;
        let grace = Duration::from_secs_f64(shared.config.child.command.kill_grace_s);
        let t0 = Instant::now();
        let mut sent = None;
        loop {
            s.drain(log.as_mut());
            if exited(s.pgid) {
                break;
            }
            match sent {
                None if t0.elapsed() >= grace => {
                    signal(s.pgid, libc::SIGTERM);
                    sent = Some(Instant::now());
                }
                Some(at) if at.elapsed() >= grace => {
                    signal(s.pgid, libc::SIGKILL);
                    break;
                }
                _ => s.wait_readable(),
            }
        }
        let _ = s.finish(shared, log.as_mut());
    }
}

/// The program and its arguments.
fn argv(shared: &CommandShared) -> Vec<String> {
    let cmd = &shared.command;
    let mut argv = vec![cmd.program.display().to_string()];
    argv.extend(cmd.args.iter().cloned());
    argv
}

/// How a process ended, for a message.
fn describe(status: Option<ExitStatus>) -> String {
    match status {
        None => "ended (its status could not be read)".into(),
        Some(s) => match (s.signal(), s.code()) {
            (Some(sig), _) => format!("was killed by signal {sig} ({})", signal_name(sig)),
            (None, Some(c)) => format!("exited with code {c}"),
            (None, None) => format!("ended with {s}"),
        },
    }
}

/// The architecture as the request carries it: a declared space's
/// decisions, or a built-in space's architecture.
fn architecture_value(arch: &Architecture) -> Result<Value, serde_json::Error> {
    match arch {
        Architecture::Custom { decisions } => serde_json::to_value(decisions),
        other => serde_json::to_value(other),
    }
}

/// The request for `spec`: one line of JSON, newline included.
fn request_line(
    shared: &CommandShared,
    spec: &ChildSpec,
    slot: &Slot,
    dir: &std::path::Path,
    arch_file: &std::path::Path,
) -> Result<Vec<u8>, TrialError> {
    let mut request = json!({
        "child": spec.id,
        "architecture": architecture_value(&spec.arch).map_err(TrialError::ArchitectureJson)?,
        "seed": spec.seed,
        "arch_file": arch_file,
        "output_dir": dir,
        "run_dir": shared.run_dir,
        "slot": slot.label,
    });
    if let (Some(n), Some(o)) = (shared.config.child.command.epochs, request.as_object_mut()) {
        o.insert("epochs".into(), n.into());
    }
    let mut line = request.to_string().into_bytes();
    line.push(b'\n');
    Ok(line)
}

impl Server {
    /// Start the trial command in a process group of its own, its stdin a pipe.
    fn start(shared: &CommandShared, slot: &Slot) -> Result<Server, TrialError> {
        let argv = argv(shared);
        let mut command = Command::new(&argv[0]);
        command.args(&argv[1..]);
        shared.slot_command(&mut command, slot, false)?;
        command
            .env("NAS_PERSISTENT", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let mut child = command.spawn().map_err(|source| TrialError::Start {
            program: argv[0].clone(),
            source,
        })?;
        let pgid = child.id();
        shared.reaper.track(pgid);
        let stdin = child.stdin.take();
        if let Some(w) = &stdin {
            // SAFETY: fcntl on a descriptor we own.
            unsafe {
                let fd = w.as_raw_fd();
                let flags = libc::fcntl(fd, libc::F_GETFL);
                libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
            }
        }
        Ok(Server {
            out: Pipe::new(child.stdout.take()),
            err: Pipe::new(child.stderr.take()),
            child,
            pgid,
            stdin,
            served: 0,
        })
    }

    /// Wait (at most [`TICK`]) until one of its pipes has something to read.
    fn wait_readable(&self) {
        self.poll(false);
    }

    /// Poll its pipes for reading, and its stdin for writing when `write`.
    fn poll(&self, write: bool) {
        let mut fds: Vec<libc::pollfd> = [self.out.fd(), self.err.fd()]
            .into_iter()
            .flatten()
            .map(|fd| (fd, libc::POLLIN))
            .chain(
                self.stdin
                    .as_ref()
                    .filter(|_| write)
                    .map(|w| (w.as_raw_fd(), libc::POLLOUT)),
            )
            .map(|(fd, events)| libc::pollfd {
                fd,
                events,
                revents: 0,
            })
            .collect();
        if fds.is_empty() {
            std::thread::sleep(TICK);
        } else {
            // SAFETY: poll on descriptors we own, for at most TICK.
            unsafe {
                libc::poll(
                    fds.as_mut_ptr(),
                    fds.len() as libc::nfds_t,
                    TICK.as_millis() as libc::c_int,
                )
            };
        }
    }

    /// Read what its pipes hold into `log` (reports included: nobody is asking).
    fn drain<W: Write + ?Sized>(&mut self, mut log: Option<&mut W>) {
        let mut tail = VecDeque::new();
        self.out.drain(|line, _| {
            if let Some(l) = log.as_mut() {
                let _ = writeln!(l, "{line}");
            }
        });
        self.err
            .drain(|line, piece| stderr_line(line, piece, log.as_deref_mut(), &mut tail, 0));
    }

    /// Send request `request` for child `id` and follow the process until
    /// it answers with a tagged final line, exits, breaks the protocol, or
    /// is stopped (cancelled, timed out: then it is signalled until it exits).
    fn follow(
        &mut self,
        shared: &CommandShared,
        id: u64,
        request: Vec<u8>,
        log: &mut dyn Write,
        progress: &mut dyn Progress,
    ) -> (End, ProcessRun) {
        let mut run = ProcessRun::default();
        let timeout = shared.config.child.timeout_s.map(Duration::from_secs_f64);
        let grace = Duration::from_secs_f64(shared.config.child.command.kill_grace_s);
        let mut pending: &[u8] = &request;
        let mut tail = VecDeque::with_capacity(STDERR_TAIL);
        let started = Instant::now();
        let mut last_epoch_at = started;
        let mut stop = Stopping::default();
        let mut exited_at: Option<Instant> = None;
        let mut stdout_lines = 0usize;
        let mut answered = false;
        let mut broken: Option<String> = None;
        loop {
            self.poll(!pending.is_empty());
            if !pending.is_empty() {
                if let Some(w) = &mut self.stdin {
                    match w.write(pending) {
                        Ok(n) => pending = &pending[n..],
                        Err(e)
                            if matches!(
                                e.kind(),
                                ErrorKind::WouldBlock | ErrorKind::Interrupted
                            ) => {}
                        // It closed its stdin (or is gone): its exit tells the rest.
                        Err(_) => {
                            self.stdin = None;
                            pending = &[];
                        }
                    }
                }
            }
            self.out.drain(|line, piece| {
                stdout_lines += 1;
                if piece == Piece::Cut {
                    let _ = writeln!(
                        log,
                        "{line}\n# nas-actor: stdout line {stdout_lines} cut at {MAX_LINE_BYTES} bytes (the longest line read); the rest of it was skipped"
                    );
                    return;
                }
                if answered || broken.is_some() {
                    // After the answer: log (a report the next request would
                    // have asked for cannot come before it).
                    let _ = writeln!(log, "{line}");
                    return;
                }
                let bad = |why: String| {
                    format!(
                        "stdout line {stdout_lines} of the persistent trial process breaks the protocol ({why}): {}",
                        clip(line)
                    )
                };
                match parse_tagged(line) {
                    (_, Line::Log) | (_, Line::Placement(_)) => {
                        let _ = writeln!(log, "{line}");
                    }
                    (_, Line::Invalid(why)) => {
                        let _ = writeln!(log, "{line}");
                        broken = Some(bad(format!("not a valid report: {why}")));
                    }
                    (None, _) => {
                        broken = Some(bad(format!(
                            "a report without \"child\": {id}; a persistent trial tags every report with its child's id (req.report, req.final)"
                        )))
                    }
                    (Some(other), _) if other != id => {
                        broken = Some(bad(format!(
                            "a report for child {other} while child {id} is being served"
                        )))
                    }
                    (Some(_), Line::Batch {
                        epoch,
                        batch,
                        batches,
                        loss,
                    }) => progress.on_batch(epoch, batch, batches, loss),
                    (Some(_), Line::Epoch(mut m)) => {
                        let now = Instant::now();
                        if !m.seconds.is_finite() {
                            m.seconds = (now - last_epoch_at).as_secs_f64();
                        }
                        last_epoch_at = now;
                        progress.on_epoch(&m);
                        run.epochs.push(m);
                    }
                    (Some(_), Line::Reward(r)) => run.reward = Some(r),
                    (Some(_), Line::Final(f)) => {
                        run.last = Some(f);
                        answered = true;
                    }
                }
            });
            self.err.drain(|line, piece| {
                stderr_line(line, piece, Some(&mut *log), &mut tail, STDERR_TAIL)
            });
            run.stderr = tail.iter().cloned().collect();
            if answered {
                return (End::Answered, run);
            }
            if let Some(why) = broken.take() {
                return (End::Broken(why), run);
            }
            if exited_at.is_none() && exited(self.pgid) {
                exited_at = Some(Instant::now());
            }
            if let Some(at) = exited_at {
                let closed = self.out.fd().is_none() && self.err.fd().is_none();
                if closed || at.elapsed() >= LINGER {
                    run.stopped = stop.reason();
                    return (End::Exited, run);
                }
            }
            stop.check(self.pgid, progress, started, timeout, grace);
        }
    }

    /// The process has ended or is to end: kill what is left of its group,
    /// reap it, pass what its pipes still hold to `log`, release its group.
    fn finish<W: Write + ?Sized>(
        &mut self,
        shared: &CommandShared,
        mut log: Option<&mut W>,
    ) -> Option<ExitStatus> {
        self.stdin = None;
        self.drain(log.as_deref_mut());
        // Nothing the process started outlives it.
        signal(self.pgid, libc::SIGKILL);
        let status = self.child.wait().ok();
        shared.reaper.release(self.pgid);
        if let Some(l) = log {
            let _ = l.flush();
        }
        status
    }
}
