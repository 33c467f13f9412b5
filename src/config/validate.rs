//! Semantic checks of a parsed config.

use super::{
    Backend, ChildModel, CommandReward, Config, Dataset, GpuSelection, LauncherKind, SpaceKind,
    Strategy, Weights,
};

/// A failed check: the dotted key and what is wrong with it.
type Invalid = (String, String);

fn bad(key: &str, message: impl Into<String>) -> Invalid {
    (key.to_string(), message.into())
}

fn positive(key: &str, v: usize) -> Result<(), Invalid> {
    if v == 0 {
        Err(bad(key, "must be at least 1"))
    } else {
        Ok(())
    }
}

fn positive_f(key: &str, v: f64) -> Result<(), Invalid> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(bad(key, format!("must be a positive number, got {v}")))
    }
}

fn non_negative_f(key: &str, v: f64) -> Result<(), Invalid> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(bad(key, format!("must be zero or positive, got {v}")))
    }
}

fn choice_list(key: &str, values: &[usize]) -> Result<(), Invalid> {
    if values.is_empty() {
        return Err(bad(key, "is an empty choice list; give at least one value"));
    }
    if values.contains(&0) {
        return Err(bad(key, "contains 0; every choice must be at least 1"));
    }
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    if sorted.len() != values.len() {
        return Err(bad(key, "lists a value twice; give each choice once"));
    }
    Ok(())
}

fn unique<T: PartialEq + std::fmt::Debug>(key: &str, values: &[T]) -> Result<(), Invalid> {
    if values.is_empty() {
        return Err(bad(key, "is an empty choice list; give at least one value"));
    }
    for (i, v) in values.iter().enumerate() {
        if values[..i].contains(v) {
            return Err(bad(
                key,
                format!("lists {v:?} twice; give each choice once"),
            ));
        }
    }
    Ok(())
}

/// Check everything serde cannot: ranges, empty lists, contradictions.
/// `has_data`: whether the text has a `[data]` table.
pub(super) fn validate(c: &Config, has_data: bool) -> Result<(), Invalid> {
    if c.experiment.name.trim().is_empty() {
        return Err(bad("experiment.name", "must not be empty"));
    }
    if c.experiment.output_dir.as_os_str().is_empty() {
        return Err(bad("experiment.output_dir", "must not be empty"));
    }
    positive("experiment.budget", c.experiment.budget)?;

    match &c.devices.gpus {
        GpuSelection::Named(s) if s != "all" && s != "none" => {
            return Err(bad(
                "devices.gpus",
                format!("\"{s}\" is not a GPU selection; use \"all\", \"none\", a count such as 2, or a list of ids such as [0, 1]"),
            ))
        }
        GpuSelection::List(ids) if ids.is_empty() => {
            return Err(bad("devices.gpus", "is an empty list; use \"none\" for CPU only"))
        }
        GpuSelection::List(ids) => unique("devices.gpus", ids)?,
        _ => {}
    }
    positive("devices.children_per_gpu", c.devices.children_per_gpu)?;
    positive("devices.cpu_workers", c.devices.cpu_workers)?;
    if let Some(t) = c.devices.threads_per_worker {
        positive("devices.threads_per_worker", t)?;
    }

    positive("search.replicas", c.search.replicas)?;
    positive("search.children_per_replica", c.search.children_per_replica)?;
    positive("search.shards", c.search.shards)?;
    if c.search.free_limit.is_some() && c.search.repeats != crate::config::Repeats::Free {
        return Err(bad(
            "search.free_limit",
            "applies only to search.repeats = \"free\"; set that too, or remove the key",
        ));
    }
    validate_search_extras(c)?;
    validate_shared(c)?;

    let k = &c.controller;
    positive("controller.hidden_size", k.hidden_size)?;
    positive("controller.layers", k.layers)?;
    positive_f("controller.init_range", k.init_range)?;
    if let Some(lr) = k.learning_rate {
        positive_f("controller.learning_rate", lr)?;
    }
    for (key, v) in [
        ("controller.adam_beta1", k.adam_beta1),
        ("controller.adam_beta2", k.adam_beta2),
        ("controller.baseline_decay", k.baseline_decay),
    ] {
        if !(0.0..1.0).contains(&v) {
            return Err(bad(key, format!("must be in [0, 1), got {v}")));
        }
    }
    positive_f("controller.adam_eps", k.adam_eps)?;
    if let Some(t) = k.temperature {
        positive_f("controller.temperature", t)?;
    }
    if let Some(t) = k.tanh_constant {
        positive_f("controller.tanh_constant", t)?;
    }
    non_negative_f("controller.entropy_weight", k.entropy_weight)?;
    if let Some(g) = k.grad_clip {
        positive_f("controller.grad_clip", g)?;
    }
    non_negative_f("controller.replay_weight", k.replay_weight)?;

    match c.search.space {
        SpaceKind::Cnn => validate_cnn(c)?,
        SpaceKind::Cell => validate_cell(c)?,
        SpaceKind::Custom => validate_custom(c)?,
    }
    validate_child(c)?;

    let r = &c.reward;
    positive("reward.accuracy_window", r.accuracy_window)?;
    positive_f("reward.accuracy_exponent", r.accuracy_exponent)?;
    positive_f("reward.perplexity_c", r.perplexity_c)?;
    positive_f("reward.perplexity_exponent", r.perplexity_exponent)?;
    if !r.failure.is_finite() {
        return Err(bad("reward.failure", "must be a finite number"));
    }

    match (c.child.backend, has_data) {
        (Backend::Tch, false) => {
            return Err(bad(
                "data",
                "is missing; children trained with child.backend = \"tch\" read data: add a [data] table with dataset and dir (only synthetic children need none)",
            ))
        }
        // Synthetic children read nothing: no [data], or a resolved config's unused one.
        (Backend::Synthetic | Backend::Command, _) if c.data.is_unused() => {}
        _ => validate_data(c)?,
    }
    positive("retrain.top", c.retrain.top)?;
    super::slurm::validate(&c.launcher.slurm)?;
    Ok(())
}

/// `search.weights = "shared"` and `[search.shared]`.
fn validate_shared(c: &Config) -> Result<(), Invalid> {
    if c.search.weights != Weights::Shared {
        return Ok(());
    }
    let key = "search.weights";
    if c.search.space == SpaceKind::Custom {
        return Err(bad(
            key,
            "\"shared\" is built in for the recurrent-cell and CNN spaces; a declared space shares weights in your own trial program (child.command.persistent = true), with weights = \"independent\"",
        ));
    }
    if c.search.space == SpaceKind::Cnn && c.space.cnn.growth.is_some() {
        return Err(bad(
            "space.cnn.growth",
            "search.weights = \"shared\" trains one supernet of space.cnn.layers layers; remove [space.cnn.growth]",
        ));
    }
    if c.child.backend != Backend::Tch {
        return Err(bad(
            "child.backend",
            "search.weights = \"shared\" trains its supernet in-process; use child.backend = \"tch\"",
        ));
    }
    if c.search.space == SpaceKind::Cell && c.child.model != ChildModel::Searched {
        return Err(bad(
            "child.model",
            "search.weights = \"shared\" searches cells; the LSTM baseline has nothing to share",
        ));
    }
    if !matches!(c.search.strategy, Strategy::Reinforce | Strategy::Random) {
        return Err(bad(
            "search.strategy",
            "search.weights = \"shared\" works with \"reinforce\" (ENAS) or \"random\" (random search with weight sharing)",
        ));
    }
    if c.search.replicas != 1 {
        return Err(bad(
            "search.replicas",
            "search.weights = \"shared\" runs one controller beside one supernet; set replicas = 1",
        ));
    }
    if c.search.early_stop.enabled {
        return Err(bad(
            "search.early_stop.enabled",
            "shared-weight children are scored, not trained: there is nothing to stop early",
        ));
    }
    let s = &c.search.shared;
    positive_f("search.shared.learning_rate", s.learning_rate)?;
    positive_f("search.shared.grad_clip", s.grad_clip)?;
    positive("search.shared.omega_steps", s.omega_steps)?;
    positive("search.shared.controller_samples", s.controller_samples)?;
    positive("search.shared.reward_batches", s.reward_batches)?;
    positive("search.shared.final_samples", s.final_samples)?;
    positive("search.shared.checkpoint_every", s.checkpoint_every)?;
    Ok(())
}

/// `[search.evolution]`, `[search.tpe]` and `[search.early_stop]`.
fn validate_search_extras(c: &Config) -> Result<(), Invalid> {
    let e = &c.search.evolution;
    positive("search.evolution.population", e.population)?;
    positive("search.evolution.sample", e.sample)?;
    if e.sample > e.population {
        return Err(bad(
            "search.evolution.sample",
            format!(
                "is {} but the population (search.evolution.population) is {}; a tournament draws at most the whole population",
                e.sample, e.population
            ),
        ));
    }
    let t = &c.search.tpe;
    if !(t.gamma > 0.0 && t.gamma <= 1.0) {
        return Err(bad(
            "search.tpe.gamma",
            format!(
                "is {} but must be in (0, 1]: the fraction of children counted as good (default 0.1)",
                t.gamma
            ),
        ));
    }
    positive("search.tpe.max_good", t.max_good)?;
    positive("search.tpe.n_candidates", t.n_candidates)?;
    if !(t.prior_weight.is_finite() && t.prior_weight > 0.0) {
        return Err(bad(
            "search.tpe.prior_weight",
            format!(
                "is {} but must be a positive number: the weight of the uniform prior in observations (default 1)",
                t.prior_weight
            ),
        ));
    }
    let s = &c.search.early_stop;
    positive("search.early_stop.min_children", s.min_children)?;
    if s.enabled && c.child.backend == Backend::Synthetic && c.child.synthetic.epochs == 0 {
        return Err(bad(
            "search.early_stop.enabled",
            "synthetic children report no epochs unless child.synthetic.epochs is set; set it (e.g. 10) or turn early stopping off",
        ));
    }
    Ok(())
}

/// `[space.custom]`: a declared space, and children that can train it.
fn validate_custom(c: &Config) -> Result<(), Invalid> {
    if let Err(e) = crate::space::DeclaredSpace::new(c.space.custom.clone()) {
        return Err(bad(&e.path, e.problem.to_string()));
    }
    if c.child.backend == Backend::Tch {
        return Err(bad(
            "child.backend",
            "\"tch\" trains the built-in CNN and cell models, not a declared space (search.space = \"custom\"); use child.backend = \"command\" (your own training program) or \"synthetic\"",
        ));
    }
    Ok(())
}

/// The `[data]` table of a run that has one.
fn validate_data(c: &Config) -> Result<(), Invalid> {
    if c.data.dir.as_os_str().is_empty() {
        return Err(bad("data.dir", "must not be empty"));
    }
    if let Some(n) = c.data.train_limit {
        positive("data.train_limit", n)?;
    }
    if let Some(n) = c.data.val_limit {
        positive("data.val_limit", n)?;
    }
    match (c.search.space, c.data.dataset) {
        (SpaceKind::Cell, Dataset::Ptb) | (SpaceKind::Cnn, Dataset::Cifar10 | Dataset::Idx) => {}
        (SpaceKind::Cell, d) => {
            return Err(bad(
                "data.dataset",
                format!("{d:?} is image data but search.space is \"cell\" (a language model); use dataset = \"ptb\""),
            ))
        }
        // Declared spaces train no built-in model; `validate_custom` refuses tch children.
        (SpaceKind::Custom, _) => {}
        (SpaceKind::Cnn, _) => {
            return Err(bad(
                "data.dataset",
                "\"ptb\" is text but search.space is \"cnn\"; use \"cifar10\" or \"idx\"",
            ))
        }
    }
    if c.data.dataset != Dataset::Ptb {
        positive("data.val_size", c.data.val_size)?;
    }
    Ok(())
}

fn validate_cnn(c: &Config) -> Result<(), Invalid> {
    let s = &c.space.cnn;
    positive("space.cnn.layers", s.layers)?;
    choice_list("space.cnn.filter_heights", &s.filter_heights)?;
    choice_list("space.cnn.filter_widths", &s.filter_widths)?;
    choice_list("space.cnn.num_filters", &s.num_filters)?;
    if s.predict_strides {
        choice_list("space.cnn.strides", &s.strides)?;
    }
    if s.predict_pooling {
        positive("space.cnn.pool_size", s.pool_size)?;
    }
    if let Some(g) = &s.growth {
        positive("space.cnn.growth.start_layers", g.start_layers)?;
        positive("space.cnn.growth.every", g.every)?;
        if let Some(m) = g.max_layers {
            if m < g.start_layers {
                return Err(bad(
                    "space.cnn.growth.max_layers",
                    format!("is {m}, below start_layers = {}", g.start_layers),
                ));
            }
        }
    }
    if c.child.model == ChildModel::Lstm {
        return Err(bad(
            "child.model",
            "\"lstm\" is a language-model baseline; it needs search.space = \"cell\"",
        ));
    }
    Ok(())
}

fn validate_cell(c: &Config) -> Result<(), Invalid> {
    let s = &c.space.cell;
    if s.base < 2 || !s.base.is_power_of_two() {
        return Err(bad(
            "space.cell.base",
            format!(
                "is {}; the tree needs a power of two of at least 2 leaves (2, 4, 8, 16)",
                s.base
            ),
        ));
    }
    if s.base > 64 {
        return Err(bad(
            "space.cell.base",
            format!("is {}; at most 64 leaves are supported", s.base),
        ));
    }
    unique("space.cell.combinations", &s.combinations)?;
    unique("space.cell.activations", &s.activations)?;
    Ok(())
}

fn validate_child(c: &Config) -> Result<(), Invalid> {
    let ch = &c.child;
    if let Some(n) = ch.train_batches {
        positive("child.train_batches", n)?;
    }
    if let Some(n) = ch.val_batches {
        positive("child.val_batches", n)?;
    }
    if let Some(t) = ch.timeout_s {
        positive_f("child.timeout_s", t)?;
    }
    let cnn = &ch.cnn;
    positive("child.cnn.epochs", cnn.epochs)?;
    positive("child.cnn.batch_size", cnn.batch_size)?;
    positive_f("child.cnn.learning_rate", cnn.learning_rate)?;
    non_negative_f("child.cnn.momentum", cnn.momentum)?;
    non_negative_f("child.cnn.weight_decay", cnn.weight_decay)?;
    positive_f("child.cnn.lr_decay", cnn.lr_decay)?;
    positive("child.cnn.lr_decay_every", cnn.lr_decay_every)?;
    positive_f("child.cnn.bn_eps", cnn.bn_eps)?;
    if cnn.nesterov && cnn.momentum == 0.0 {
        return Err(bad(
            "child.cnn.nesterov",
            "Nesterov needs child.cnn.momentum > 0",
        ));
    }
    // Children under shared weights are scored once, not trained for epochs.
    if c.search.space == SpaceKind::Cnn
        && c.search.weights == Weights::Independent
        && c.reward.accuracy_window > cnn.epochs
    {
        return Err(bad(
            "reward.accuracy_window",
            format!(
                "is {} but children train only {} epochs (child.cnn.epochs); lower the window or raise the epochs",
                c.reward.accuracy_window, cnn.epochs
            ),
        ));
    }
    let lm = &ch.lm;
    positive("child.lm.epochs", lm.epochs)?;
    positive("child.lm.embedding_size", lm.embedding_size)?;
    positive("child.lm.hidden_size", lm.hidden_size)?;
    positive("child.lm.layers", lm.layers)?;
    positive("child.lm.bptt", lm.bptt)?;
    positive("child.lm.batch_size", lm.batch_size)?;
    if !(0.0..1.0).contains(&lm.dropout) {
        return Err(bad(
            "child.lm.dropout",
            format!("must be in [0, 1), got {}", lm.dropout),
        ));
    }
    positive_f("child.lm.learning_rate", lm.learning_rate)?;
    positive_f("child.lm.lr_decay", lm.lr_decay)?;
    positive("child.lm.decay_start_epoch", lm.decay_start_epoch)?;
    positive_f("child.lm.grad_clip", lm.grad_clip)?;
    positive_f("child.lm.init_range", lm.init_range)?;
    if lm.tied && lm.embedding_size != lm.hidden_size {
        return Err(bad(
            "child.lm.tied",
            format!(
                "tied embeddings need embedding_size == hidden_size, got {} and {}",
                lm.embedding_size, lm.hidden_size
            ),
        ));
    }
    let syn = &ch.synthetic;
    non_negative_f("child.synthetic.delay_ms", syn.delay_ms)?;
    if !(syn.delay_spread.is_finite() && syn.delay_spread >= 1.0) {
        return Err(bad(
            "child.synthetic.delay_spread",
            format!(
                "must be a number of at least 1 (1: every child takes delay_ms), got {}",
                syn.delay_spread
            ),
        ));
    }
    if !(0.0..=1.0).contains(&syn.failure_rate) {
        return Err(bad(
            "child.synthetic.failure_rate",
            format!("must be in [0, 1], got {}", syn.failure_rate),
        ));
    }
    if ch.backend != Backend::Synthetic && ch.synthetic.failure_rate > 0.0 {
        return Err(bad(
            "child.synthetic.failure_rate",
            "only applies to child.backend = \"synthetic\"",
        ));
    }
    validate_command(c)
}

/// `[child.command]`: present exactly when children are trial commands.
/// (Whether its program can start is checked when the run starts:
/// [`crate::runner::CommandRunner::preflight`].)
fn validate_command(c: &Config) -> Result<(), Invalid> {
    let cmd = &c.child.command;
    if c.child.backend != Backend::Command {
        if cmd.persistent {
            return Err(bad(
                "child.command.persistent",
                "is set but child.backend is not \"command\"; set child.backend = \"command\" or remove it",
            ));
        }
        if !cmd.argv.is_empty() {
            return Err(bad(
                "child.command.argv",
                "is set but child.backend is not \"command\"; set child.backend = \"command\" to run it for each child",
            ));
        }
        return Ok(());
    }
    match cmd.argv.first() {
        None => {
            return Err(bad(
                "child.command.argv",
                "is missing or empty; child.backend = \"command\" runs this program for each child, e.g. argv = [\"python3\", \"train.py\"]",
            ))
        }
        Some(p) if p.trim().is_empty() => {
            return Err(bad(
                "child.command.argv",
                "starts with an empty program name; its first element is the program to run",
            ))
        }
        Some(_) => {}
    }
    for key in cmd.env.keys() {
        if key.is_empty() || key.contains('=') || key.contains('\0') {
            return Err(bad(
                "child.command.env",
                format!("{key:?} is not an environment variable name"),
            ));
        }
        if key.starts_with("NAS_") {
            return Err(bad(
                "child.command.env",
                format!("{key} is set by nas-actor for each child; choose another name"),
            ));
        }
    }
    if cmd.metric.trim().is_empty() {
        return Err(bad(
            "child.command.metric",
            "must name the metric the trial reports",
        ));
    }
    if let Some(n) = cmd.epochs {
        positive("child.command.epochs", n)?;
    }
    if cmd.reward_rule() == CommandReward::Negated && c.reward.failure >= 0.0 {
        return Err(bad(
            "child.command.reward",
            format!("\"negated\" gives every trained child a negative reward, so a failed child's reward.failure = {} would beat them all; set reward.failure below every -metric (e.g. -1e3), or use reward = \"inverse\"", c.reward.failure),
        ));
    }
    if cmd.persistent && c.launcher.kind == LauncherKind::Slurm {
        return Err(bad(
            "child.command.persistent",
            "is not supported with launcher.kind = \"slurm\" (each child runs as a job step of its own there); set persistent = false, or launcher.kind = \"threads\" to keep one trial process per slot",
        ));
    }
    non_negative_f("child.command.kill_grace_s", cmd.kill_grace_s)
}
