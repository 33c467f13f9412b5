//! A one-node Slurm cluster on localhost for the tests, in a temporary
//! directory: its own munge key and socket, `slurm.conf` and `gres.conf`
//! (GPUs as `gres` on dummy character devices), free ports below the
//! kernel's ephemeral range, state in the directory, and job credentials
//! that expire after 5 s (so that a requeued job starts again after 5 s, not
//! Slurm's default 120 s). munged, slurmctld and slurmd run in the
//! foreground as this process's children; [`Cluster`]'s `Drop` cancels what
//! is left of the cluster's jobs and stops exactly those three processes, by
//! pid, whatever the test's outcome. Clusters are started one at a time (a
//! lock); daemons that do not come up are started again, at most
//! three times, the failed attempt's files kept in `/tmp/nas-slurm*.failed`.
//!
//! Needs root (munged, slurmd, the device nodes) and Debian's
//! `slurmctld slurmd slurm-client munge` (`scripts/setup.sh`); without them a
//! test prints `SKIPPED` (and fails under `CI=true`).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rand::Rng;

use crate::common::require;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The size of the cluster's one node.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub cpus: usize,
    pub gpus: usize,
}

/// A running one-node cluster.
pub struct Cluster {
    dir: tempfile::TempDir,
    daemons: Vec<(&'static str, Child)>,
    pub shape: Shape,
    _turn: MutexGuard<'static, ()>,
}

/// A program in the PATH or in the sbin directories (where Debian puts daemons).
pub fn program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// How many times [`Cluster::start`] tries to bring the daemons up.
const BOOT_ATTEMPTS: u32 = 3;

fn cluster_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("nas-slurm")
        .tempdir_in("/tmp")
        .expect("tempdir")
}

/// The first port of the kernel's ephemeral range (32768 unless set otherwise).
fn ephemeral_start() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(32768)
}

/// Two distinct free ports below the ephemeral range. A port taken from
/// that range (`bind` to port 0) is only free until the daemon binds it:
/// in between, any outgoing connection on the machine may be given it
/// (the suite's own `sinfo`, `srun` and children connect all the time),
/// and the daemon then fails with "Address already in use". Ports below
/// the range are never handed out by the kernel.
fn free_ports() -> (u16, u16) {
    let top = ephemeral_start().max(12_000);
    let mut rng = rand::rng();
    let mut free = (0..10_000)
        .map(|_| rng.random_range(10_000..top))
        .filter(|&p| TcpListener::bind(("0.0.0.0", p)).is_ok());
    let ctld = free.next();
    match (ctld, free.find(|&p| Some(p) != ctld)) {
        (Some(a), Some(b)) => (a, b),
        _ => panic!("no two free ports between 10000 and {top}"),
    }
}

fn short_hostname() -> String {
    let out = Command::new("hostname")
        .arg("-s")
        .output()
        .expect("hostname");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

impl Cluster {
    /// Start a cluster of `shape`, or `None` (after a SKIPPED line) when this
    /// machine cannot run one.
    #[track_caller]
    pub fn start(shape: Shape) -> Option<Cluster> {
        let root = unsafe { libc::geteuid() } == 0;
        let missing: Vec<&str> = [
            "munged",
            "slurmctld",
            "slurmd",
            "srun",
            "sbatch",
            "scontrol",
        ]
        .into_iter()
        .filter(|p| program(p).is_none())
        .collect();
        if !require(
            missing.is_empty(),
            &format!(
                "Slurm is not installed (missing {}): run scripts/setup.sh as root",
                missing.join(", ")
            ),
        ) || !require(
            root,
            "a local Slurm cluster needs root (munged, slurmd, device nodes)",
        ) {
            return None;
        }
        let turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
        let mut cluster = Cluster {
            dir: cluster_dir(),
            daemons: Vec::new(),
            shape,
            _turn: turn,
        };
        // The daemons are the fixture, not what the tests check: one that
        // does not come up is started again, on new ports in a new
        // directory, with the failed attempt's logs printed and kept.
        for attempt in 1.. {
            cluster.configure();
            match cluster.boot() {
                Ok(()) => break,
                Err(why) if attempt == BOOT_ATTEMPTS => panic!("{why}"),
                Err(why) => {
                    eprintln!(
                        "the local Slurm cluster did not start (attempt {attempt} of \
                         {BOOT_ATTEMPTS}), starting it again:\n{why}"
                    );
                    cluster.stop_daemons();
                    cluster.dir = cluster_dir();
                }
            }
        }
        Some(cluster)
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The cluster's `slurm.conf` (every Slurm command gets it as `SLURM_CONF`).
    pub fn conf(&self) -> PathBuf {
        self.path().join("slurm.conf")
    }

    fn configure(&self) {
        let d = self.path();
        for sub in ["state", "spool", "log"] {
            std::fs::create_dir_all(d.join(sub)).expect("mkdir");
        }
        let key: Vec<u8> = (0..1024)
            .map(|i| (i * 7919 % 251) as u8 ^ std::process::id() as u8)
            .collect();
        let key_path = d.join("munge.key");
        std::fs::write(&key_path, key).expect("munge key");
        std::os::unix::fs::PermissionsExt::set_mode(
            &mut std::fs::metadata(&key_path).expect("key").permissions(),
            0o400,
        );
        std::fs::set_permissions(
            &key_path,
            std::os::unix::fs::PermissionsExt::from_mode(0o400),
        )
        .expect("chmod key");
        for g in 0..self.shape.gpus {
            let p = d.join(format!("gpu{g}"));
            let c = std::ffi::CString::new(p.display().to_string()).expect("path");
            // A character device like /dev/null: slurmd accepts only devices as GPU files.
            let made =
                unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(1, 3)) };
            assert_eq!(
                made,
                0,
                "mknod {}: {}",
                p.display(),
                std::io::Error::last_os_error()
            );
        }
        let host = short_hostname();
        let (ctld, slurmd) = free_ports();
        let d = d.display();
        let gres = if self.shape.gpus > 0 {
            format!(" Gres=gpu:{}", self.shape.gpus)
        } else {
            String::new()
        };
        let conf = format!(
            "ClusterName=nastest\n\
             SlurmctldHost={host}(127.0.0.1)\n\
             SlurmctldPort={ctld}\nSlurmdPort={slurmd}\n\
             SlurmUser=root\nSlurmdUser=root\n\
             AuthType=auth/munge\nCredType=cred/munge\nAuthInfo=socket={d}/munge.sock,cred_expire=5\n\
             StateSaveLocation={d}/state\nSlurmdSpoolDir={d}/spool\n\
             SlurmctldPidFile={d}/slurmctld.pid\nSlurmdPidFile={d}/slurmd.pid\n\
             SlurmctldLogFile={d}/log/slurmctld.log\nSlurmdLogFile={d}/log/slurmd.log\n\
             ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\n\
             SelectType=select/cons_tres\nSelectTypeParameters=CR_Core_Memory\n\
             SlurmdParameters=config_overrides\n\
             JobAcctGatherType=jobacct_gather/none\nAccountingStorageType=accounting_storage/none\n\
             MpiDefault=none\nReturnToService=2\nSchedulerType=sched/builtin\nSchedulerParameters=sched_interval=1\n\
             KillWait=5\nMinJobAge=600\n\
             GresTypes=gpu\n\
             NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory=64000{gres} State=UNKNOWN\n\
             PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP\n",
            cpus = self.shape.cpus,
        );
        std::fs::write(self.conf(), conf).expect("slurm.conf");
        let gres_conf = match self.shape.gpus {
            0 => String::new(),
            1 => format!("Name=gpu File={d}/gpu0\n"),
            n => format!("Name=gpu File={d}/gpu[0-{}]\n", n - 1),
        };
        std::fs::write(self.path().join("gres.conf"), gres_conf).expect("gres.conf");
    }

    fn daemon(&mut self, name: &'static str, args: &[String]) {
        let log = std::fs::File::create(self.path().join(format!("log/{name}.out"))).expect("log");
        let child = Command::new(program(name).expect("daemon"))
            .args(args)
            .env("SLURM_CONF", self.conf())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        self.daemons.push((name, child));
    }

    fn boot(&mut self) -> Result<(), String> {
        let d = self.path().display().to_string();
        self.daemon(
            "munged",
            &[
                "-F".into(),
                "-f".into(),
                format!("--key-file={d}/munge.key"),
                format!("--socket={d}/munge.sock"),
                format!("--pid-file={d}/munged.pid"),
                format!("--seed-file={d}/munge.seed"),
                format!("--log-file={d}/log/munged.log"),
            ],
        );
        self.try_wait_for("the munge socket", |c| c.path().join("munge.sock").exists())?;
        self.daemon("slurmctld", &["-D".into(), "-i".into()]);
        self.daemon("slurmd", &["-D".into()]);
        self.try_wait_for("the node to be idle in sinfo", |c| {
            let o = c.command("sinfo").args(["-h", "-o", "%t"]).output();
            o.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "idle")
        })
    }

    /// Wait (at most a minute) until `ready`; otherwise the daemons' logs,
    /// which daemon exited or what did not come, and where the cluster's
    /// files are kept.
    fn try_wait_for(&mut self, what: &str, ready: impl Fn(&Cluster) -> bool) -> Result<(), String> {
        let t = Instant::now();
        while !ready(self) {
            let exited = self
                .daemons
                .iter_mut()
                .find_map(|(name, child)| Some((*name, child.try_wait().ok()??)));
            let why = match exited {
                Some((name, s)) => format!("{name} exited ({s}) while waiting for {what}"),
                None if t.elapsed() > Duration::from_secs(60) => format!("no {what} after 60s"),
                None => {
                    std::thread::sleep(Duration::from_millis(100));
                    continue;
                }
            };
            let kept = keep_files(self.path());
            return Err(format!(
                "{}\n{why}; the cluster's files are in {kept}",
                self.logs()
            ));
        }
        Ok(())
    }

    /// A Slurm client command for this cluster.
    pub fn command(&self, program_name: &str) -> Command {
        let mut c = Command::new(program(program_name).unwrap_or_else(|| program_name.into()));
        c.env("SLURM_CONF", self.conf());
        c
    }

    /// Run a client command; its output.
    pub fn run(&self, program_name: &str, args: &[&str]) -> Output {
        self.command(program_name)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("{program_name}: {e}"))
    }

    /// Submit `script` with sbatch; the job id.
    pub fn sbatch(&self, script: &Path, env: &[(&str, &str)]) -> String {
        let mut c = self.command("sbatch");
        c.arg("--parsable").arg(script);
        for (k, v) in env {
            c.env(k, v);
        }
        let o = c.output().expect("sbatch");
        assert!(
            o.status.success(),
            "sbatch: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    }

    /// `Key=Value` of `scontrol show job ID`.
    pub fn job_field(&self, job: &str, key: &str) -> Option<String> {
        let o = self.run("scontrol", &["-o", "show", "job", job]);
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        text.split_whitespace()
            .find_map(|kv| kv.strip_prefix(&format!("{key}=")).map(str::to_string))
    }

    /// Wait until job `job` is in a state `done` accepts (at most `limit`); the state.
    pub fn wait_job(&self, job: &str, limit: Duration, done: impl Fn(&str) -> bool) -> String {
        let t = Instant::now();
        loop {
            let state = self.job_field(job, "JobState").unwrap_or_default();
            if done(&state) {
                return state;
            }
            assert!(
                t.elapsed() < limit,
                "job {job} still {state} after {limit:?}:\n{}",
                self_logs(self.path())
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Wait until job `job` has ended; its state.
    pub fn wait_end(&self, job: &str, limit: Duration) -> String {
        self.wait_job(job, limit, |s| {
            [
                "COMPLETED",
                "FAILED",
                "CANCELLED",
                "TIMEOUT",
                "NODE_FAIL",
                "OUT_OF_MEMORY",
            ]
            .contains(&s)
        })
    }
}

impl Cluster {
    /// The tails of the daemons' logs, for a failure message.
    pub fn logs(&self) -> String {
        self_logs(self.path())
    }
}

/// A copy of a failed cluster's directory that outlives the test (its
/// `TempDir` is removed on drop); the copy's path, for the failure message.
fn keep_files(dir: &Path) -> String {
    let kept = dir.with_extension("failed");
    match Command::new("cp").arg("-a").arg(dir).arg(&kept).status() {
        Ok(s) if s.success() => kept.display().to_string(),
        _ => format!("{} (not kept: cp failed)", dir.display()),
    }
}

/// The tails of the daemons' logs, for a failure message.
fn self_logs(dir: &Path) -> String {
    [
        "log/munged.out",
        "log/slurmctld.out",
        "log/slurmctld.log",
        "log/slurmd.out",
        "log/slurmd.log",
    ]
    .iter()
    .map(|f| {
        let text = std::fs::read_to_string(dir.join(f)).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(25).collect();
        format!(
            "--- {f}\n{}",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        )
    })
    .collect::<Vec<_>>()
    .join("\n")
}

impl Cluster {
    /// Jobs first (their steps end with them), then the daemons this
    /// cluster started, in reverse order, by pid.
    fn stop_daemons(&mut self) {
        let _ = self
            .command("scancel")
            .args(["--full", "--user=root"])
            .output();
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(15) {
            let o = self.command("squeue").args(["-h", "-o", "%i"]).output();
            if o.map_or(true, |o| !o.status.success() || o.stdout.is_empty()) {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        for (_, child) in self.daemons.iter_mut().rev() {
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
            let t = Instant::now();
            while matches!(child.try_wait(), Ok(None)) && t.elapsed() < Duration::from_secs(10) {
                std::thread::sleep(Duration::from_millis(50));
            }
            if matches!(child.try_wait(), Ok(None)) {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
        self.daemons.clear();
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop_daemons();
    }
}
