//! The space seam is open: a toy space with two decisions, written here and
//! nowhere else, implements `space::Space` and is searched end to end by the
//! orchestrator with synthetic children — sampled by the controller,
//! recorded once per child, cached, and learned.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use nas_actor::actors::{run, RunOptions};
use nas_actor::config::Config;
use nas_actor::space::declared::{ChoiceValue, Entry};
use nas_actor::space::{
    mismatch, Architecture, DeclaredArch, Head, Schema, SearchSpace, Space, SpaceError, SpaceKind,
    Step,
};
use nas_actor::store::ChildRecord;

const COLOURS: [&str; 3] = ["red", "green", "blue"];
const SIZES: [i64; 4] = [1, 2, 4, 8];

/// Two decisions: a colour and a size.
#[derive(Debug)]
struct Toy;

impl Space for Toy {
    fn kind(&self) -> SpaceKind {
        SpaceKind::Custom
    }
    fn heads(&self) -> Vec<Head> {
        vec![
            Head {
                name: "colour".into(),
                size: COLOURS.len(),
            },
            Head {
                name: "size".into(),
                size: SIZES.len(),
            },
        ]
    }
    fn schema(&self, _sampled: usize) -> Schema {
        Schema {
            heads: self.heads(),
            steps: vec![Step::Choice { head: 0 }, Step::Choice { head: 1 }],
        }
    }
    fn decode(&self, tokens: &[usize]) -> Result<Architecture, SpaceError> {
        self.schema(0).check(tokens)?;
        let mut m = BTreeMap::new();
        m.insert(
            "colour".into(),
            Entry::Value(ChoiceValue::Str(COLOURS[tokens[0]].into())),
        );
        m.insert(
            "size".into(),
            Entry::Value(ChoiceValue::Int(SIZES[tokens[1]])),
        );
        Ok(Architecture::Custom {
            decisions: DeclaredArch(m),
        })
    }
    fn encode(&self, arch: &Architecture) -> Result<Vec<usize>, SpaceError> {
        let Architecture::Custom { decisions } = arch else {
            return Err(mismatch(arch, SpaceKind::Custom));
        };
        let colour = match decisions.value("colour") {
            Some(ChoiceValue::Str(c)) => COLOURS.iter().position(|x| x == c),
            _ => None,
        };
        let size = match decisions.value("size") {
            Some(ChoiceValue::Int(s)) => SIZES.iter().position(|x| x == s),
            _ => None,
        };
        match (colour, size) {
            (Some(c), Some(s)) => Ok(vec![c, s]),
            _ => Err(SpaceError::Mismatch("not a toy architecture".into())),
        }
    }
}

#[test]
fn a_space_written_in_a_test_module_is_searched_end_to_end() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("run");
    // The config's own space is overridden by the toy space.
    let text = format!(
        r#"
[experiment]
name = "toy"
output_dir = "{}"
seed = 3
budget = 300

[devices]
gpus = "none"
cpu_workers = 4

[search]
space = "cell"
replicas = 3
children_per_replica = 4

[controller]
learning_rate = 0.05
entropy_weight = 0.03

[child]
backend = "synthetic"
"#,
        dir.display()
    );
    let config = Config::from_toml(&text, Path::new("toy.toml")).expect("config");
    let options = RunOptions {
        space: Some(SearchSpace::of(Toy)),
        ..RunOptions::default()
    };
    let summary = run(config, &options).expect("run");
    assert_eq!(summary.children, 300);
    let records: Vec<ChildRecord> = crate::orchestrator::read_jsonl(&dir.join("children.jsonl"));
    let ids: HashSet<u64> = records.iter().map(|r| r.spec.id).collect();
    assert_eq!(
        ids,
        (0..300).collect::<HashSet<u64>>(),
        "every child exactly once"
    );
    // 12 architectures in all: most children are answered from the cache.
    assert!(summary.cached >= 300 - 12 - 30, "cached {}", summary.cached);
    let hashes: HashSet<&str> = records.iter().map(|r| r.spec.hash.as_str()).collect();
    assert!(hashes.len() <= 12);
    // The controller settles on the landscape's optimum (reward 1.0 for this tiny space).
    let mut by_id: Vec<&ChildRecord> = records.iter().collect();
    by_id.sort_by_key(|r| r.spec.id);
    let last: Vec<f64> = by_id[225..].iter().map(|r| r.reward).collect();
    let mean = last.iter().sum::<f64>() / last.len() as f64;
    assert!(mean >= 0.9, "mean reward of the last quarter {mean:.3}");
}
