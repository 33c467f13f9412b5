//! The page in a real browser (headless Chromium, Debian's `chromium`) on
//! a running synthetic search started with `run --dashboard=0`: the
//! overview's chart drawn, the child count and best metric in the DOM as in
//! the log, the count rising, and screenshots under `target/`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nas_actor::store::{top_records, ChildRecord};

use crate::common::{require, root};
use crate::orchestrator::read_jsonl;

const CHROMIUM: &str = "/usr/bin/chromium";

/// Kills the search it holds (exactly that process) when dropped.
struct Search(Child);

impl Drop for Search {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Run headless Chromium on `url` with `action` (`--dump-dom` or
/// `--screenshot=…`), letting the page run `budget_ms` of virtual time.
fn chromium(url: &str, action: &str, budget_ms: u32) -> String {
    let profile = tempfile::tempdir().expect("a fresh profile directory");
    let out = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--window-size=1280,1000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--virtual-time-budget={budget_ms}"))
        .arg(action)
        .arg(url)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .expect("run chromium");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The text of the element with `id` in a dumped DOM, and its `data-value`.
fn element(dom: &str, id: &str) -> (String, Option<String>) {
    let at = dom
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in the page:\n{dom}"));
    let open_start = dom[..at].rfind('<').expect("tag start");
    let open_end = at + dom[at..].find('>').expect("tag end");
    let tag = &dom[open_start..open_end];
    let attr = |name: &str| {
        let key = format!("{name}=\"");
        tag.find(&key).map(|i| {
            let v = &tag[i + key.len()..];
            v[..v.find('"').unwrap_or(v.len())].to_string()
        })
    };
    let text_end = open_end + 1 + dom[open_end + 1..].find('<').unwrap_or(0);
    (dom[open_end + 1..text_end].to_string(), attr("data-value"))
}

fn attribute(dom: &str, id: &str, name: &str) -> Option<String> {
    let at = dom.find(&format!("id=\"{id}\""))?;
    let open_start = dom[..at].rfind('<')?;
    let tag = &dom[open_start..at + dom[at..].find('>')?];
    let key = format!("{name}=\"");
    let v = &tag[tag.find(&key)? + key.len()..];
    Some(v[..v.find('"')?].to_string())
}

/// Check one dumped overview against the log; returns the child count it shows.
fn check_overview(dom: &str, log: &Path) -> usize {
    let (done, _) = element(dom, "done");
    let done: usize = done
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("#done is {done:?}"));
    let records: Vec<ChildRecord> = read_jsonl(log);
    assert!(
        records.len() >= done,
        "the page shows more children than the log has"
    );
    assert_eq!(
        attribute(dom, "overview-chart", "data-drawn").as_deref(),
        Some("1"),
        "the chart was not drawn"
    );
    assert_eq!(
        attribute(dom, "overview-chart", "data-points"),
        Some(done.to_string()),
        "the chart does not have one point per child"
    );
    if let Some(best) = top_records(&records[..done], 1).first() {
        let (_, value) = element(dom, "best-metric");
        let shown: f64 = value
            .as_deref()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("#best-metric has no number: {value:?}"));
        assert_eq!(
            Some(shown),
            best.metric,
            "best metric of the first {done} children"
        );
        let (id, _) = element(dom, "best-id");
        assert_eq!(id, best.spec.id.to_string());
    }
    done
}

#[test]
fn the_overview_in_headless_chromium_follows_a_running_search() {
    if !require(
        Path::new(CHROMIUM).exists(),
        "chromium is missing (scripts/setup.sh installs it as root: apt-get install chromium)",
    ) {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("run");
    // configs/declared_synthetic.toml (a space too large for the cache to
    // answer many children) on 2 slots: 300 children of 60 ms, about 9 s.
    let text = std::fs::read_to_string(root().join("configs/declared_synthetic.toml"))
        .expect("configs/declared_synthetic.toml");
    let mut edited = text.clone();
    for (from, to) in [
        (
            "output_dir = \"runs/declared-synthetic\"".to_string(),
            format!("output_dir = {:?}", dir.display().to_string()),
        ),
        ("budget = 960".into(), "budget = 300".into()),
        ("cpu_workers = 8".into(), "cpu_workers = 2".into()),
        ("delay_ms = 5".into(), "delay_ms = 60\nepochs = 3".into()),
    ] {
        assert!(
            edited.contains(&from),
            "declared_synthetic.toml has no `{from}`"
        );
        edited = edited.replace(&from, &to);
    }
    let config_path = tmp.path().join("search.toml");
    std::fs::write(&config_path, edited).expect("write config");
    let mut child = Command::new(env!("CARGO_BIN_EXE_nas-actor"))
        .args(["run", "--dashboard=0"])
        .arg(&config_path)
        .current_dir(root())
        .env("NAS_ACTOR_PLAIN", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the search");
    let stdout = child.stdout.take().expect("stdout");
    let search = Search(child);
    let mut lines = BufReader::new(stdout).lines();
    let url = loop {
        let line = lines
            .next()
            .and_then(Result::ok)
            .expect("the search printed no dashboard address");
        if let Some(u) = line.strip_prefix("dashboard: http://") {
            break format!("http://{}", u.trim());
        }
    };
    // Keep reading stdout so the search never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    let log = dir.join("children.jsonl");
    let t = Instant::now();
    while read_jsonl::<ChildRecord>(&log).len() < 5 {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "the search records no children"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    let first = check_overview(&chromium(&url, "--dump-dom", 4000), &log);
    assert!(first >= 5, "the page shows {first} children");
    std::thread::sleep(Duration::from_millis(1500));
    let shot = target().join("dashboard-overview.png");
    let dom = chromium(&url, "--dump-dom", 4000);
    let second = check_overview(&dom, &log);
    assert!(
        second > first,
        "the count did not rise: {first} then {second}"
    );
    chromium(&url, &format!("--screenshot={}", shot.display()), 4000);
    let png = std::fs::read(&shot).expect("the screenshot");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    chromium(
        &format!("{url}#children"),
        &format!(
            "--screenshot={}",
            target().join("dashboard-children.png").display()
        ),
        4000,
    );
    drop(search);
}

fn target() -> PathBuf {
    let t = root().join("target");
    std::fs::create_dir_all(&t).expect("target/");
    t
}
