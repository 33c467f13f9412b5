//! Following a child process to its end, for every runner that starts one
//! (trial commands, Slurm job steps): it runs in its own process group; its
//! stdout is read as the trial protocol ([`super::protocol`]) with progress
//! passed on, every other line of stdout and stderr goes to an optional log,
//! the last lines of stderr are kept; when the run cancels it or its time
//! limit passes its group gets SIGTERM, then SIGKILL after a grace period;
//! when its main process exits, whatever it left in its group is killed.
//! The pipes are read with `poll` on the caller's thread (no thread per
//! child), and the process is started with `posix_spawn` (no `fork` of this
//! large process).

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::protocol::{self, Final, Line};
use super::reaper::Reaper;
use crate::child::{EpochMetrics, Placement, Progress};

/// How long a process's pipes may stay open after its main process exited
/// (something it started still holds them) before its group is killed.
pub(super) const LINGER: Duration = Duration::from_secs(1);

/// How often a running process's stop flag and time limit are checked.
pub(super) const TICK: Duration = Duration::from_millis(50);

/// The longest line of a child's stdout or stderr that is read whole: 1 MiB.
/// A longer line is cut there: its first MiB goes to the log with a note,
/// the rest is skipped, and it is never read as a report (a report is a
/// short JSON object), so a program that prints without newlines cannot
/// exhaust the memory of the run.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// At most this much is read from one pipe before the stop flag and the
/// time limit are checked again (a process that writes without pause
/// cannot keep the run from stopping it).
const READ_SLICE: usize = 4 * MAX_LINE_BYTES;

/// Why a process was stopped from outside.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stop {
    /// The run cancelled it (Ctrl-C, early stopping).
    Cancelled,
    /// It ran past its time limit, in seconds.
    TimedOut(f64),
}

impl Stop {
    /// The reason, for a failed child's message.
    pub fn reason(&self) -> String {
        match self {
            Stop::Cancelled => "cancelled".into(),
            Stop::TimedOut(t) => {
                format!("timed out after {t} s (child.timeout_s); its process group was killed")
            }
        }
    }
}

/// What a process did, as its runner needs to judge it.
#[derive(Debug, Default)]
pub struct ProcessRun {
    /// `{"node": …, "gpus": …}`: where it ran (Slurm steps).
    pub placement: Option<Placement>,
    pub epochs: Vec<EpochMetrics>,
    /// Its final report.
    pub last: Option<Final>,
    /// A reward reported on a line of its own.
    pub reward: Option<f64>,
    /// The first report line that could not be read, and why.
    pub invalid: Option<String>,
    /// The exit status; `None` when it could not be started or waited for.
    pub status: Option<ExitStatus>,
    /// Why it could not be started or waited for.
    pub error: Option<String>,
    /// The last lines of its stderr.
    pub stderr: Vec<String>,
    /// Stopped by the run.
    pub stopped: Option<Stop>,
}

/// How to follow a process.
pub struct Watch<'a> {
    /// Stop it after this long.
    pub timeout: Option<Duration>,
    /// Between SIGTERM and SIGKILL.
    pub grace: Duration,
    /// Told about the process group, so that it dies with nas-actor.
    pub reaper: Option<&'a Reaper>,
    /// Where log lines go (stdout lines that are not reports, and stderr).
    pub log: Option<&'a mut dyn Write>,
    /// Lines of stderr to keep.
    pub stderr_tail: usize,
}

/// One of a process's output pipes, read without blocking.
pub(super) struct Pipe<R> {
    reader: Option<R>,
    partial: Vec<u8>,
    /// The current line passed [`MAX_LINE_BYTES`]: the rest of it is skipped.
    cut: bool,
}

/// A piece of a pipe's output: a whole line, or the first
/// [`MAX_LINE_BYTES`] of a longer one.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Piece {
    Whole,
    Cut,
}

impl<R: Read + AsRawFd> Pipe<R> {
    pub(super) fn new(reader: Option<R>) -> Pipe<R> {
        if let Some(r) = &reader {
            // SAFETY: fcntl on a descriptor we own.
            unsafe {
                let fd = r.as_raw_fd();
                let flags = libc::fcntl(fd, libc::F_GETFL);
                libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
            }
        }
        Pipe {
            reader,
            partial: Vec::new(),
            cut: false,
        }
    }

    pub(super) fn fd(&self) -> Option<libc::c_int> {
        self.reader.as_ref().map(|r| r.as_raw_fd())
    }

    /// Read what is there (at most [`READ_SLICE`]); each line goes to
    /// `line` (invalid UTF-8 replaced by U+FFFD), a line longer than
    /// [`MAX_LINE_BYTES`] as its first MiB, marked [`Piece::Cut`]. At end
    /// of file the last line goes too, with or without its newline, and the
    /// pipe closes.
    pub(super) fn drain(&mut self, mut line: impl FnMut(&str, Piece)) {
        let Some(mut r) = self.reader.take() else {
            return;
        };
        let mut buf = [0u8; 64 * 1024];
        let mut read = 0;
        let eof = loop {
            if read >= READ_SLICE {
                break false;
            }
            match r.read(&mut buf) {
                Ok(0) => break true,
                Ok(n) => {
                    read += n;
                    let mut bytes = &buf[..n];
                    while let Some(i) = bytes.iter().position(|&b| b == b'\n') {
                        self.push(&bytes[..i], &mut line);
                        self.end_line(&mut line);
                        bytes = &bytes[i + 1..];
                    }
                    self.push(bytes, &mut line);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break false,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => break true,
            }
        };
        if eof {
            if !self.partial.is_empty() {
                self.end_line(&mut line);
            }
            self.cut = false;
        } else {
            self.reader = Some(r);
        }
    }

    /// Add bytes of the current line (no newline among them).
    fn push(&mut self, piece: &[u8], line: &mut impl FnMut(&str, Piece)) {
        if self.cut {
            return;
        }
        let room = MAX_LINE_BYTES - self.partial.len();
        if piece.len() <= room {
            self.partial.extend_from_slice(piece);
        } else {
            self.partial.extend_from_slice(&piece[..room]);
            line(&String::from_utf8_lossy(&self.partial), Piece::Cut);
            self.partial.clear();
            self.cut = true;
        }
    }

    /// The current line ended: pass it on (unless it was cut and passed).
    fn end_line(&mut self, line: &mut impl FnMut(&str, Piece)) {
        if self.cut {
            self.cut = false;
        } else {
            line(&String::from_utf8_lossy(&self.partial), Piece::Whole);
            self.partial.clear();
        }
    }
}

/// Stopping a process group: why and since when (once cancelled or past its
/// time limit it got SIGTERM), and whether SIGKILL followed after the grace.
#[derive(Default)]
pub(super) struct Stopping {
    since: Option<(Stop, Instant)>,
    killed: bool,
}

impl Stopping {
    /// SIGTERM group `pgid` once `progress` is cancelled or `timeout` has
    /// passed since `started`; SIGKILL it `grace` after that.
    pub(super) fn check(
        &mut self,
        pgid: u32,
        progress: &mut dyn Progress,
        started: Instant,
        timeout: Option<Duration>,
        grace: Duration,
    ) {
        match &self.since {
            None => {
                let why = if progress.cancelled() {
                    Some(Stop::Cancelled)
                } else {
                    timeout
                        .filter(|t| started.elapsed() >= *t)
                        .map(|t| Stop::TimedOut(t.as_secs_f64()))
                };
                if let Some(why) = why {
                    self.since = Some((why, Instant::now()));
                    signal(pgid, libc::SIGTERM);
                }
            }
            Some((_, at)) if !self.killed && at.elapsed() >= grace => {
                signal(pgid, libc::SIGKILL);
                self.killed = true;
            }
            Some(_) => {}
        }
    }

    /// Why the group was stopped, if it was.
    pub(super) fn reason(&self) -> Option<Stop> {
        self.since.as_ref().map(|(s, _)| *s)
    }
}

/// Signal process group `pgid`.
pub(super) fn signal(pgid: u32, sig: libc::c_int) {
    // SAFETY: kill(2) on a process group we started; its leader is not
    // reaped yet, so the group id cannot have been reused.
    unsafe { libc::kill(-(pgid as libc::pid_t), sig) };
}

/// Whether process `pid` has exited, without reaping it (its process
/// group id stays reserved until it is reaped).
pub(super) fn exited(pid: u32) -> bool {
    // SAFETY: waitid with WNOWAIT only inspects our own child.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        ) == 0
            && info.si_pid() != 0
    }
}

/// Start `command` in a process group of its own and follow it to its end.
pub fn run(command: &mut Command, watch: Watch<'_>, progress: &mut dyn Progress) -> ProcessRun {
    let mut run = ProcessRun::default();
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = match command.spawn() {
        Ok(c) => c,
        Err(e) => {
            run.error = Some(format!(
                "cannot start {}: {e}",
                command.get_program().to_string_lossy()
            ));
            return run;
        }
    };
    let pgid = child.id();
    if let Some(r) = watch.reaper {
        r.track(pgid);
    }
    let Watch {
        timeout,
        grace,
        reaper,
        mut log,
        stderr_tail,
    } = watch;
    let mut out = Pipe::new(child.stdout.take());
    let mut err = Pipe::new(child.stderr.take());
    let mut tail = VecDeque::with_capacity(stderr_tail);
    let started = Instant::now();
    let mut last_epoch_at = started;
    let mut stop = Stopping::default();
    let mut exited_at: Option<Instant> = None;
    let mut wait = Duration::from_micros(100);
    let mut stdout_lines = 0usize;
    loop {
        let mut fds: Vec<libc::pollfd> = [out.fd(), err.fd()]
            .into_iter()
            .flatten()
            .map(|fd| libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        if fds.is_empty() {
            // Both pipes closed: the process is exiting; wait for it in
            // short, growing steps (usually a matter of microseconds).
            std::thread::sleep(wait);
            wait = (wait * 2).min(TICK);
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
        out.drain(|line, piece| {
            stdout_lines += 1;
            let mut to_log = false;
            let parsed = match piece {
                Piece::Whole => protocol::parse(line),
                Piece::Cut => {
                    if let Some(l) = log.as_mut() {
                        let _ = writeln!(
                            l,
                            "{line}\n# nas-actor: stdout line {stdout_lines} cut at {MAX_LINE_BYTES} bytes (the longest line read); the rest of it was skipped"
                        );
                    }
                    Line::Log
                }
            };
            match parsed {
                Line::Placement(p) => {
                    progress.on_placed(&p);
                    run.placement = Some(p);
                }
                Line::Batch {
                    epoch,
                    batch,
                    batches,
                    loss,
                } => progress.on_batch(epoch, batch, batches, loss),
                Line::Epoch(mut m) => {
                    let now = Instant::now();
                    if !m.seconds.is_finite() {
                        m.seconds = (now - last_epoch_at).as_secs_f64();
                    }
                    last_epoch_at = now;
                    progress.on_epoch(&m);
                    run.epochs.push(m);
                }
                Line::Final(f) => run.last = Some(f),
                Line::Reward(r) => run.reward = Some(r),
                Line::Invalid(why) => {
                    to_log = true;
                    run.invalid.get_or_insert_with(|| {
                        format!(
                            "stdout line {stdout_lines} is not a valid report ({why}): {}",
                            clip(line)
                        )
                    });
                }
                Line::Log => to_log = piece == Piece::Whole,
            }
            if to_log {
                if let Some(l) = log.as_mut() {
                    let _ = writeln!(l, "{line}");
                }
            }
        });
        err.drain(|line, piece| {
            stderr_line(line, piece, log.as_deref_mut(), &mut tail, stderr_tail)
        });
        if exited_at.is_none() && exited(pgid) {
            exited_at = Some(Instant::now());
        }
        if let Some(at) = exited_at {
            let closed = out.fd().is_none() && err.fd().is_none();
            if closed || at.elapsed() >= LINGER {
                break;
            }
        }
        stop.check(pgid, progress, started, timeout, grace);
    }
    // Nothing the process started outlives it.
    signal(pgid, libc::SIGKILL);
    match child.wait() {
        Ok(s) => run.status = Some(s),
        Err(e) => run.error = Some(format!("cannot wait for the process: {e}")),
    }
    if let Some(r) = reaper {
        r.release(pgid);
    }
    if let Some(l) = log.as_mut() {
        let _ = l.flush();
    }
    run.stderr = tail.into_iter().collect();
    run.stopped = stop.reason();
    run
}

/// A line of stderr: to the log, and the last `keep` non-empty ones to `tail`.
pub(super) fn stderr_line<W: Write + ?Sized>(
    line: &str,
    piece: Piece,
    log: Option<&mut W>,
    tail: &mut VecDeque<String>,
    keep: usize,
) {
    if let Some(l) = log {
        let _ = writeln!(l, "{line}");
        if piece == Piece::Cut {
            let _ = writeln!(
                l,
                "# nas-actor: stderr line cut at {MAX_LINE_BYTES} bytes; the rest of it was skipped"
            );
        }
    }
    if keep > 0 && !line.trim().is_empty() {
        if tail.len() == keep {
            tail.pop_front();
        }
        tail.push_back(clip(line));
    }
}

/// A line cut to a readable length.
pub fn clip(line: &str) -> String {
    const MAX: usize = 200;
    match line.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &line[..i]),
        None => line.to_string(),
    }
}

/// A signal's name, for a failure message.
pub fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL (out of memory, or killed)",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGTERM => "SIGTERM",
        _ => "signal",
    }
}
