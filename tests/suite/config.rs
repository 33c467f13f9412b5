//! Tests of `config`: every shipped config parses; each malformed config in
//! tests/configs/bad gives its exact message, naming the file (and the line).

use std::path::Path;

use nas_actor::actors::{run, RunOptions};
use nas_actor::config::{Config, SpaceKind};

use crate::common::root;

#[test]
fn shipped_configs_parse() {
    for name in [
        "ptb",
        "cifar10",
        "quickstart",
        "fashion_mnist",
        "slurm_quickstart",
    ] {
        let path = root().join("configs").join(format!("{name}.toml"));
        let c = Config::load(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(c.experiment.name, name);
    }
}

#[test]
fn shipped_configs_follow_the_paper() {
    let ptb = Config::load(&root().join("configs/ptb.toml")).expect("ptb.toml");
    assert_eq!(ptb.search.space, SpaceKind::Cell);
    assert_eq!(
        (
            ptb.search.shards,
            ptb.search.replicas,
            ptb.search.children_per_replica
        ),
        (20, 400, 1)
    );
    assert_eq!(ptb.space.cell.base, 8);
    assert_eq!(ptb.controller_learning_rate(), 0.0005);
    assert_eq!((ptb.controller.hidden_size, ptb.controller.layers), (35, 2));
    assert_eq!(ptb.child.lm.epochs, 35);
    assert_eq!(ptb.reward.perplexity_c, 80.0);
    assert_eq!(
        ptb.controller.baseline_init,
        nas_actor::config::BaselineInit::Zero,
        "the paper's reference implementations start the baseline at 0"
    );
    assert_eq!(ptb.search.repeats, nas_actor::config::Repeats::Spend);
    let cifar = Config::load(&root().join("configs/cifar10.toml")).expect("cifar10.toml");
    assert_eq!(
        (
            cifar.search.shards,
            cifar.search.replicas,
            cifar.search.children_per_replica
        ),
        (20, 100, 8)
    );
    assert_eq!(cifar.controller_learning_rate(), 0.0006);
    assert_eq!(cifar.experiment.budget, 12800);
    assert_eq!(cifar.space.cnn.filter_heights, vec![1, 3, 5, 7]);
    assert_eq!(cifar.space.cnn.num_filters, vec![24, 36, 48, 64]);
    assert_eq!(cifar.child.cnn.epochs, 50);
    assert_eq!(
        (
            cifar.child.cnn.learning_rate,
            cifar.child.cnn.momentum,
            cifar.child.cnn.weight_decay
        ),
        (0.1, 0.9, 1e-4)
    );
    assert!(cifar.child.cnn.nesterov);
    assert_eq!(
        (cifar.reward.accuracy_window, cifar.reward.accuracy_exponent),
        (5, 3.0)
    );
    // Growth schedule: 6 layers, +2 every 1,600 sampled architectures.
    assert_eq!(cifar.space.cnn.layers_at(0), 6);
    assert_eq!(cifar.space.cnn.layers_at(1599), 6);
    assert_eq!(cifar.space.cnn.layers_at(1600), 8);
    assert_eq!(cifar.space.cnn.layers_at(12799), 15);
}

#[test]
fn defaults_fill_missing_tables() {
    let text = "[experiment]\nname = \"x\"\noutput_dir = \"o\"\nbudget = 2\n[search]\nspace = \"cell\"\n[data]\ndataset = \"ptb\"\ndir = \"d\"\n";
    let c = Config::from_toml(text, Path::new("x.toml")).expect("minimal config");
    assert_eq!(c.controller.hidden_size, 35);
    assert_eq!(c.controller.init_range, 0.08);
    assert_eq!(c.controller_learning_rate(), 0.0005);
    assert_eq!(c.search.replicas, 1);
    assert_eq!(c.space.cell.base, 8);
    // The resolved config round-trips through TOML.
    let again = Config::from_toml(
        &c.to_toml().expect("serialise config"),
        Path::new("resolved.toml"),
    )
    .expect("resolved");
    assert_eq!(again, c);
}

/// The malformed configs and their exact messages.
#[test]
fn malformed_configs_give_their_messages() {
    let dir = root().join("tests/configs/bad");
    let mut cases: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/configs/bad")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 30, "only {} malformed configs", cases.len());
    for path in cases {
        let expect_path = path.with_extension("expect");
        let expected = std::fs::read_to_string(&expect_path).expect("a .expect file per case");
        let expected = expected.trim_end_matches('\n');
        let err = match Config::load(&path) {
            Ok(_) => panic!("{} parsed but must fail", path.display()),
            Err(e) => e,
        };
        let shown = err.to_string();
        assert!(
            shown.starts_with(&path.display().to_string()),
            "{}: the message must name the file: {shown}",
            path.display()
        );
        assert!(
            shown.contains(expected),
            "{}: expected {expected:?} in {shown:?}",
            path.display()
        );
        // Key errors say which line the key is on (when the file sets it).
        let text = std::fs::read_to_string(&path).expect("read case");
        let key = err
            .message
            .strip_prefix('`')
            .and_then(|m| m.split('`').next())
            .unwrap_or("");
        let leaf = key.rsplit('.').next().unwrap_or("");
        let set_in_file =
            !leaf.is_empty() && text.lines().any(|l| l.trim_start().starts_with(leaf));
        if set_in_file || err.message.contains("unknown field") {
            assert!(
                err.line.is_some(),
                "{}: no line in {shown:?}",
                path.display()
            );
        }
    }
}

#[test]
fn the_line_of_a_bad_value_is_reported() {
    let text = "[experiment]\nname = \"x\"\noutput_dir = \"o\"\nbudget = 2\n[search]\nspace = \"cell\"\nreplicas = 0\n[data]\ndataset = \"ptb\"\ndir = \"d\"\n";
    let err = Config::from_toml(text, Path::new("x.toml")).expect_err("replicas = 0");
    assert_eq!(err.line, Some(7));
    assert!(
        err.to_string().starts_with("x.toml:7: `search.replicas`"),
        "{err}"
    );
    let text = text.replace("replicas = 0", "replicas = \"a\"");
    let err = Config::from_toml(&text, Path::new("x.toml")).expect_err("wrong type");
    assert_eq!(err.line, Some(7), "{err}");
}

#[test]
fn a_missing_file_is_named() {
    let err = Config::load(Path::new("no/such/config.toml")).expect_err("missing");
    assert!(err.to_string().contains("no/such/config.toml"), "{err}");
    assert!(err.to_string().contains("cannot read"), "{err}");
}

/// A `#` or `=` inside a quoted string does not hide a key's line, nor does
/// a dotted key or an inline table.
#[test]
fn lines_come_from_the_parser_not_from_splitting_on_hash() {
    // Lines 2-4 are one string; the key is on line 10.
    let text = "[experiment]\nname = \"\"\"run #1\n[search]\nreplicas = 0\"\"\" # a comment\noutput_dir = \"o#x\"\nbudget = 2\n\
                [search]\nspace = \"cell\"\n# replicas = 0\n\"replicas\" = 0\n[data]\ndataset = \"ptb\"\ndir = \"d\"\n";
    let err = Config::from_toml(text, Path::new("x.toml")).expect_err("replicas = 0");
    assert_eq!(err.line, Some(10), "{err}");
    assert!(err.message.starts_with("`search.replicas`"), "{err}");
    let text = "[experiment]\nname = \"# not a comment\"\noutput_dir = \"o\"\nbudget = 2\n\
                [search]\nspace = \"cell\"\n[child]\nlm.bptt = 0\n[data]\ndataset = \"ptb\"\ndir = \"d\"\n";
    let err = Config::from_toml(text, Path::new("x.toml")).expect_err("bptt = 0");
    assert_eq!(err.line, Some(8), "{err}");
    let text = "[experiment]\nname = \"x\"\noutput_dir = \"o\"\nbudget = 2\n\
                [search]\nspace = \"cell\"\n[child]\nlm = { epochs = \"#3\" }\n[data]\ndataset = \"ptb\"\ndir = \"d\"\n";
    let err = Config::from_toml(text, Path::new("x.toml")).expect_err("wrong type");
    assert_eq!(err.line, Some(8), "{err}");
    assert!(err.message.starts_with("`child.lm.epochs`"), "{err}");
}

/// Synthetic children read no data: their config needs no `[data]`, and
/// runs; a tch config without `[data]` is refused with the fix.
#[test]
fn a_synthetic_config_needs_no_data_table() {
    let tmp = tempfile::tempdir().expect("tempdir");
    for space in ["cell", "cnn"] {
        let dir = tmp.path().join(space);
        let text = format!(
            "[experiment]\nname = \"no-data\"\noutput_dir = \"{}\"\nbudget = 6\n\
             [devices]\ncpu_workers = 2\n[search]\nspace = \"{space}\"\nchildren_per_replica = 2\n\
             [space.cnn]\nlayers = 2\n[space.cell]\nbase = 2\n[child]\nbackend = \"synthetic\"\n",
            dir.display()
        );
        let c = Config::from_toml(&text, Path::new("x.toml"))
            .expect("no [data] for synthetic children");
        assert!(c.data.is_unused());
        let again = Config::from_toml(
            &c.to_toml().expect("serialise config"),
            Path::new("resolved.toml"),
        )
        .expect("resolved");
        assert_eq!(again, c);
        let summary = run(c, &RunOptions::default()).expect("the run completes");
        assert_eq!(summary.children, 6);
        let tch = text.replace("backend = \"synthetic\"", "backend = \"tch\"");
        let err = Config::from_toml(&tch, Path::new("x.toml")).expect_err("tch needs data");
        assert!(
            err.to_string().contains("`data`: is missing") && err.message.contains("[data]"),
            "{err}"
        );
    }
}

#[test]
fn baseline_and_repeat_keys_parse_and_bad_values_name_the_key() {
    use nas_actor::config::{BaselineInit, Repeats};
    let base = "[experiment]\nname = \"x\"\noutput_dir = \"o\"\nbudget = 2\n[search]\nspace = \"cell\"\n[data]\ndataset = \"ptb\"\ndir = \"d\"\n";
    let with = |search: &str, controller: &str| {
        base.replace("[search]\n", &format!("[search]\n{search}\n"))
            + &format!("[controller]\n{controller}\n")
    };
    let c = Config::from_toml(
        &with(
            "repeats = \"free\"\nfree_limit = 3",
            "preset = \"small-budget\"\nbaseline_init = \"first_batch\"",
        ),
        Path::new("x.toml"),
    )
    .expect("valid");
    assert_eq!(c.search.repeats, Repeats::Free);
    assert_eq!(c.search.free_repeats(2), 3);
    assert_eq!(
        c.controller.baseline_init,
        BaselineInit::FirstBatch,
        "the file wins over the preset"
    );
    let c = Config::from_toml(
        &with("repeats = \"redraw\"", "preset = \"small-budget\""),
        Path::new("x.toml"),
    )
    .expect("valid");
    assert_eq!((c.search.redraws(), c.search.free_repeats(2)), (10, 0));
    assert_eq!(
        c.controller.baseline_init,
        BaselineInit::Zero,
        "the preset's: the baseline starts at 0"
    );
    let err = Config::from_toml(&with("repeats = \"sometimes\"", ""), Path::new("x.toml"))
        .expect_err("bad value");
    assert!(err.to_string().contains("`search.repeats`"), "{err}");
    let err = Config::from_toml(&with("", "baseline_init = \"one\""), Path::new("x.toml"))
        .expect_err("bad value");
    assert!(
        err.to_string().contains("`controller.baseline_init`"),
        "{err}"
    );
    let err =
        Config::from_toml(&with("free_limit = 3", ""), Path::new("x.toml")).expect_err("no free");
    assert!(
        err.to_string()
            .contains("`search.free_limit`: applies only to search.repeats = \"free\""),
        "{err}"
    );
}
