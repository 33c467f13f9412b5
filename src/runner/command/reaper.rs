//! The reaper: a small watchdog process that outlives nas-actor by exactly
//! as long as it takes to kill what nas-actor started.
//!
//! Each trial runs in its own process group. A parent-death signal
//! (`PR_SET_PDEATHSIG`) would reach only a trial's first process, not the
//! processes it starts itself (a shell script's `python`, a data loader's
//! workers), and setting one forces a full `fork` of this large process for
//! every child. Instead, [`Reaper::start`] forks one watchdog per run, before
//! any trial starts. nas-actor tells it, through a pipe, the group of every
//! trial it starts and every group it has finished with; when the pipe's
//! write end closes — nas-actor ended, normally or by SIGKILL — the
//! watchdog sends SIGKILL to every group still listed and exits.
//!
//! After `fork` the watchdog only calls async-signal-safe functions (`read`,
//! `kill`, `close`, `open`, `dup2`, `signal`, `_exit`) on memory allocated
//! before the fork.

use std::io;

/// Trial groups the watchdog can track at once (more than any run has slots).
const CAPACITY: usize = 1 << 14;

/// The handle of the run's watchdog.
#[derive(Debug)]
pub struct Reaper {
    /// Write end of the pipe to the watchdog (close-on-exec).
    fd: libc::c_int,
    pid: libc::pid_t,
}

impl Reaper {
    /// Fork the watchdog.
    pub fn start() -> io::Result<Reaper> {
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: pipe2 writes two descriptors into `fds`.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let [read_fd, write_fd] = fds;
        let mut table = vec![0 as libc::pid_t; CAPACITY];
        // SAFETY: the child branch calls only async-signal-safe functions on
        // `table`, which was allocated before the fork, and never returns.
        match unsafe { libc::fork() } {
            -1 => {
                let e = io::Error::last_os_error();
                // SAFETY: both descriptors are ours.
                unsafe {
                    libc::close(read_fd);
                    libc::close(write_fd);
                }
                Err(e)
            }
            0 => unsafe { watch(read_fd, &mut table) },
            pid => {
                // SAFETY: the read end belongs to the watchdog now.
                unsafe { libc::close(read_fd) };
                Ok(Reaper { fd: write_fd, pid })
            }
        }
    }

    /// Kill process group `pgid` if nas-actor ends before [`Reaper::release`].
    pub fn track(&self, pgid: u32) {
        self.send(pgid as libc::pid_t);
    }

    /// Process group `pgid` is finished with.
    pub fn release(&self, pgid: u32) {
        self.send(-(pgid as libc::pid_t));
    }

    fn send(&self, value: libc::pid_t) {
        let bytes = value.to_ne_bytes();
        // A 4-byte write to a pipe is atomic; a full pipe (a watchdog that
        // stopped reading) blocks, which is better than losing a group.
        loop {
            // SAFETY: writes 4 bytes from a live buffer to our descriptor.
            let n = unsafe { libc::write(self.fd, bytes.as_ptr().cast(), bytes.len()) };
            if n >= 0 || io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
                return;
            }
        }
    }
}

impl Drop for Reaper {
    /// Close the pipe (the watchdog kills what is still listed and exits) and reap it.
    fn drop(&mut self) {
        // SAFETY: our descriptor and our child.
        unsafe {
            libc::close(self.fd);
            let mut status = 0;
            while libc::waitpid(self.pid, &mut status, 0) == -1
                && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted
            {}
        }
    }
}

/// The watchdog: read groups until the pipe closes, then kill those left.
///
/// # Safety
/// Only to be called in the child of a `fork`, with the pipe's read end.
unsafe fn watch(read_fd: libc::c_int, table: &mut [libc::pid_t]) -> ! {
    // Terminal and job-control signals are meant for nas-actor, which
    // stops its trials itself; the watchdog waits for it to end.
    for sig in [
        libc::SIGINT,
        libc::SIGTERM,
        libc::SIGHUP,
        libc::SIGQUIT,
        libc::SIGUSR1,
        libc::SIGUSR2,
        libc::SIGPIPE,
    ] {
        libc::signal(sig, libc::SIG_IGN);
    }
    // Hold nothing of nas-actor's open: not its lock, its logs or its
    // terminal (a reader of nas-actor's output sees the end with nas-actor's).
    let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
    if null >= 0 {
        for fd in 0..3 {
            libc::dup2(null, fd);
        }
    }
    close_all_but(read_fd);
    let mut buf = [0u8; 512];
    let mut have = 0usize;
    loop {
        let n = libc::read(read_fd, buf[have..].as_mut_ptr().cast(), buf.len() - have);
        if n < 0 && *libc::__errno_location() == libc::EINTR {
            continue;
        }
        if n <= 0 {
            break;
        }
        have += n as usize;
        let whole = have - have % 4;
        for chunk in buf[..whole].chunks_exact(4) {
            let v = libc::pid_t::from_ne_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
            if v > 0 {
                if let Some(slot) = table.iter_mut().find(|p| **p == 0) {
                    *slot = v;
                }
            } else if let Some(slot) = table.iter_mut().find(|p| **p == -v) {
                *slot = 0;
            }
        }
        buf.copy_within(whole..have, 0);
        have -= whole;
    }
    for &pgid in table.iter() {
        if pgid > 0 {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
    libc::_exit(0)
}

/// Close every descriptor from 3 up except `keep`.
///
/// # Safety
/// Closes descriptors other code may hold: only for the watchdog.
unsafe fn close_all_but(keep: libc::c_int) {
    let ranged = (keep <= 3
        || libc::syscall(libc::SYS_close_range, 3u32, (keep - 1) as u32, 0u32) == 0)
        && libc::syscall(libc::SYS_close_range, (keep + 1) as u32, u32::MAX, 0u32) == 0;
    if !ranged {
        let max_fd = match libc::sysconf(libc::_SC_OPEN_MAX) {
            n if n > 0 => n.min(1 << 16) as libc::c_int,
            _ => 1024,
        };
        for fd in 3..max_fd {
            if fd != keep {
                libc::close(fd);
            }
        }
    }
}
