//! Random architectures of both spaces build, run forward and backward with finite gradients, and count their parameters analytically.

use nas_actor::child::{CnnChild, WordLm};
use nas_actor::config::CnnSpaceConfig;
use nas_actor::space::CnnSpace;

use super::*;

#[test]
fn random_cnn_architectures_build_run_and_count_params() {
    let data = image_data(4, 2, 3, (3, 9, 7), 0);
    let mut config = test_config("cnn");
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let space = CnnSpace::new(CnnSpaceConfig {
        num_filters: vec![2, 3, 5],
        predict_strides: true,
        predict_pooling: true,
        ..Default::default()
    });
    config.space.cnn = space.config().clone();
    let (mut strided, mut pooled, mut skips) = (0, 0, 0);
    for i in 0..50 {
        let tokens = random_tokens(&space.schema(1 + i % 6), &mut rng);
        let arch = match space.decode(&tokens) {
            Ok(a) => a,
            Err(e) => panic!("decode: {e}"),
        };
        strided += arch
            .layers
            .iter()
            .filter(|l| l.stride_height * l.stride_width > 1)
            .count();
        pooled += arch.layers.iter().filter(|l| l.max_pool).count();
        skips += arch.layers.iter().filter(|l| l.inputs.len() > 1).count();
        let vs = nn::VarStore::new(Device::Cpu);
        let model = CnnChild::new(&vs.root(), &arch, 3, 3, 2, 1e-5);
        child::init_cnn_params(&vs, i as u64).expect("init");
        let images = Tensor::randn([2, 3, 9, 7], (Kind::Float, Device::Cpu));
        let logits = model.forward_t(&images, true).expect("forward");
        assert_eq!(logits.size(), vec![2, 3], "{}", arch.describe());
        logits.sum(Kind::Float).backward();
        assert_finite_grads(&vs, &arch.describe());
        let eval = model.forward_t(&images, false).expect("eval forward");
        assert_eq!(eval.size(), vec![2, 3]);
        let arch = Architecture::Cnn(arch);
        assert_eq!(
            numel(&vs),
            child::param_count(&arch, &config, &TaskData::Images(data.clone()))
        );
    }
    assert!(
        strided > 10 && pooled > 10 && skips > 10,
        "{strided} {pooled} {skips}"
    );
}

#[test]
fn random_cells_build_run_and_count_params() {
    let corpus = corpus(4, 2, 0);
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    for i in 0..50 {
        let base = [2, 8][i % 2];
        let space = full_cell_space(base);
        let arch = space
            .decode(&random_tokens(&space.schema(), &mut rng))
            .expect("decode");
        let mut config = test_config("cell");
        let lm = &mut config.child.lm;
        (lm.embedding_size, lm.hidden_size, lm.layers, lm.dropout) =
            (5, if i % 3 == 0 { 5 } else { 4 }, 2, 0.3);
        lm.tied = i % 3 == 0;
        config.child.model = if i % 10 == 9 {
            ChildModel::Lstm
        } else {
            ChildModel::Searched
        };
        let vs = nn::VarStore::new(Device::Cpu);
        let model = match config.child.model {
            ChildModel::Searched => WordLm::cell(&vs.root(), &arch, 10, &config.child.lm),
            ChildModel::Lstm => WordLm::lstm(&vs.root(), 10, &config.child.lm),
        }
        .expect("build");
        child::init_lm_params(&vs, 0.1, i as u64).expect("init");
        let tokens = Tensor::from_slice(&[1i64, 2, 3, 4, 5, 6, 7, 8, 9]).view([3, 3]);
        let (logits, state) = model
            .forward_t(&tokens, &model.zero_state(3), true)
            .expect("forward");
        assert_eq!(logits.size(), vec![3, 3, 10], "{}", arch.describe());
        assert_eq!(state.layers.len(), 2);
        logits.sum(Kind::Float).backward();
        assert_finite_grads(&vs, &arch.describe());
        let arch = Architecture::Cell(arch);
        assert_eq!(
            numel(&vs),
            child::param_count(&arch, &config, &TaskData::Text(corpus.clone()))
        );
    }
}
