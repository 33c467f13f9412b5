//! The NAS-Bench-Graph benchmark's trial (`bench/nbg/trial.sh`, BENCHMARKS.md
//! §5 (d)) against ten rows of the benchmark shipped in `bench/nbg/rows.tsv`:
//! a table in the layout `bench/nbg/precompute.py` writes is made from
//! them, and a search of the declared space of `bench/nbg/nbg.toml` records
//! each architecture with its row's validation accuracy. The package itself
//! is not needed.

use std::collections::HashMap;
use std::path::Path;

use nas_actor::actors::{run, RunOptions};
use nas_actor::child::ChildStatus;
use nas_actor::config::Config;

use crate::common::root;
use crate::strategies::records;

const RECORD: usize = 32;
const LINKS: [&str; 9] = [
    "0000", "0001", "0011", "0012", "0013", "0111", "0112", "0122", "0123",
];
const OPS: [&str; 9] = [
    "gat", "gcn", "gin", "cheb", "sage", "arma", "graph", "fc", "skip",
];

/// The shipped rows: tokens (link, 4 ops) → validation accuracy.
fn shipped() -> HashMap<Vec<usize>, f64> {
    let text = std::fs::read_to_string(root().join("bench/nbg/rows.tsv")).expect("rows.tsv");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let w: Vec<&str> = l.split('\t').collect();
            let pos = |list: &[&str], x: &str| list.iter().position(|y| *y == x).expect(x);
            let mut tokens = vec![pos(&LINKS, w[0])];
            tokens.extend(w[1..5].iter().map(|o| pos(&OPS, o)));
            (tokens, w[5].parse::<f64>().expect("valid"))
        })
        .collect()
}

/// A table of every token sequence: the shipped rows' values, 0.5 for the
/// others, "- -" (not in the table) for 4 skip connections.
fn write_table(path: &Path, rows: &HashMap<Vec<usize>, f64>) {
    let mut out = Vec::with_capacity(59049 * RECORD);
    for i in 0..59049usize {
        let mut t = vec![0; 5];
        let mut k = i;
        for slot in t.iter_mut().rev() {
            *slot = k % 9;
            k /= 9;
        }
        let line = match rows.get(&t) {
            Some(v) => format!("{v:.6} 0.5"),
            None if t[1..] == [8, 8, 8, 8] => "- -".to_string(),
            None => "0.500000 0.5".to_string(),
        };
        out.extend(format!("{line:<31}\n").bytes());
    }
    std::fs::write(path, out).expect("table");
}

#[test]
fn the_nbg_trial_answers_from_the_table_in_the_declared_space() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let table = tmp.path().join("t.tbl");
    let rows = shipped();
    assert_eq!(rows.len(), 10);
    write_table(&table, &rows);
    let mut c = Config::load(&root().join("bench/nbg/nbg.toml")).expect("bench/nbg/nbg.toml");
    let dir = tmp.path().join("run");
    c.experiment.output_dir = dir.clone();
    c.experiment.budget = 20;
    c.search.strategy = nas_actor::config::Strategy::Random;
    c.child.command.argv = vec![root().join("bench/nbg/trial.sh").display().to_string()];
    c.child
        .command
        .env
        .insert("NBG_TABLE".into(), table.display().to_string());
    // A random search of 20 children checks the table's layout on 20
    // architectures; the shipped rows are checked one by one below.
    run(c.clone(), &RunOptions::default()).expect("run");
    for r in records(&dir) {
        assert_eq!(r.status, ChildStatus::Ok, "{:?}", r.message);
        let expected = rows.get(&r.spec.tokens).copied().unwrap_or(0.5);
        assert_eq!(r.metric, Some(expected), "{:?}", r.spec.tokens);
    }
    // Each shipped architecture, through the trial as a search runs it.
    let space = nas_actor::space::SearchSpace::from_config(&c).expect("space");
    for (tokens, valid) in &rows {
        let arch = space.decode(tokens).expect("decode");
        let json = nas_actor::runner::command::architecture_json(&arch).expect("json");
        let file = tmp.path().join("arch.json");
        std::fs::write(&file, json).expect("arch.json");
        let o = std::process::Command::new(root().join("bench/nbg/trial.sh"))
            .env("NBG_TABLE", &table)
            .env("NAS_ARCH_FILE", &file)
            .output()
            .expect("trial.sh");
        let stdout = String::from_utf8_lossy(&o.stdout);
        assert!(
            o.status.success(),
            "{stdout} {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(stdout.trim(), format!("{{\"metric\": {valid:.6}}}"));
    }
}
