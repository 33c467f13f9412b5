//! The fast cell against the paper's worked example and a naive node-by-node reference.

use super::*;

/// Deterministic weights for a test: `scale·sin(1 + index)`.
fn set_weights(t: &Tensor, scale: f64) {
    let n = t.numel();
    let values: Vec<f32> = (0..n)
        .map(|i| (scale * (1.0 + i as f64).sin()) as f32)
        .collect();
    tch::no_grad(|| {
        t.shallow_clone()
            .copy_(&Tensor::from_slice(&values).view(t.size().as_slice()))
    });
}

fn node(combination: Combination, activation: Activation) -> CellNode {
    CellNode {
        combination,
        activation,
    }
}

#[test]
fn paper_base2_example_matches_hand_computation() {
    let arch = CellArch {
        base: 2,
        nodes: vec![
            node(Combination::Add, Activation::Tanh),
            node(Combination::ElemMult, Activation::Relu),
            node(Combination::ElemMult, Activation::Sigmoid),
        ],
        inject: node(Combination::Add, Activation::Relu),
        inject_node: 0,
        cell_node: 1,
    };
    let (input, hidden, batch, steps) = (3, 4, 2, 3);
    let vs = nn::VarStore::new(Device::Cpu);
    let cell = FastCell::new(&vs.root(), &arch, input, hidden).expect("cell");
    set_weights(cell.input_weight(), 0.8);
    set_weights(cell.recurrent_weight(), 0.6);
    let h = hidden as i64;
    let (w1, w3) = (
        cell.input_weight().narrow(1, 0, h),
        cell.input_weight().narrow(1, h, h),
    );
    let (w2, w4) = (
        cell.recurrent_weight().narrow(1, 0, h),
        cell.recurrent_weight().narrow(1, h, h),
    );
    let xs = Tensor::from_slice(
        &(0..steps * batch * input)
            .map(|i| (i as f32 * 0.37).cos())
            .collect::<Vec<_>>(),
    )
    .view([steps as i64, batch as i64, input as i64]);
    let mut state = cell.zero_state(batch as i64);
    state.h = Tensor::full([2, h], 0.3, (Kind::Float, Device::Cpu));
    state.c = Tensor::full([2, h], -0.2, (Kind::Float, Device::Cpu));
    let (outputs, last) = tch::no_grad(|| cell.seq(&xs, &state)).expect("seq");
    let (mut hp, mut cp) = (state.h.shallow_clone(), state.c.shallow_clone());
    for t in 0..steps as i64 {
        let x = xs.get(t);
        let a0 = (x.matmul(&w1) + hp.matmul(&w2)).tanh();
        let c_new = x.matmul(&w3) * hp.matmul(&w4);
        let a1 = c_new.relu();
        let a0_new = (a0 + &cp).relu();
        let a2 = (a0_new * a1).sigmoid();
        assert!(outputs.get(t).allclose(&a2, 1e-5, 1e-6, false), "step {t}");
        (hp, cp) = (a2, c_new);
    }
    assert!(last.h.allclose(&hp, 1e-5, 1e-6, false));
    assert!(last.c.allclose(&cp, 1e-5, 1e-6, false));
}

fn ref_combine(c: Combination, a: &Tensor, b: &Tensor) -> Tensor {
    match c {
        Combination::Add => a + b,
        Combination::ElemMult => a * b,
        Combination::Max => a.where_self(&a.ge_tensor(b), b),
    }
}

fn ref_activate(a: Activation, x: &Tensor) -> Tensor {
    match a {
        Activation::Identity => x.shallow_clone(),
        Activation::Tanh => x.tanh(),
        Activation::Sigmoid => (-x).exp().g_add_scalar(1.0).reciprocal(),
        Activation::Relu => x.clamp_min(0.0),
        Activation::Sin => x.sin(),
    }
}

/// The cell node by node: separate `W_k x` and `U_k h` products per leaf and step.
fn naive_seq(cell: &FastCell, xs: &Tensor, h0: &Tensor, c0: &Tensor) -> (Tensor, Tensor, Tensor) {
    let a = cell.arch();
    let hid = h0.size()[1];
    let (mut h, mut c) = (h0.shallow_clone(), c0.shallow_clone());
    let mut outs = Vec::new();
    for t in 0..xs.size()[0] {
        let x = xs.get(t);
        let (mut pre, mut out): (Vec<Tensor>, Vec<Tensor>) = (Vec::new(), Vec::new());
        for k in 0..num_nodes(a.base) {
            let n = a.nodes[k];
            let p = match children(a.base, k) {
                None => {
                    let wk = cell.input_weight().narrow(1, k as i64 * hid, hid);
                    let uk = cell.recurrent_weight().narrow(1, k as i64 * hid, hid);
                    ref_combine(n.combination, &x.matmul(&wk), &h.matmul(&uk))
                }
                Some((l, r)) => ref_combine(n.combination, &out[l], &out[r]),
            };
            let mut o = ref_activate(n.activation, &p);
            if k == a.inject_node {
                o = ref_activate(
                    a.inject.activation,
                    &ref_combine(a.inject.combination, &o, &c),
                );
            }
            pre.push(p);
            out.push(o);
        }
        (h, c) = (
            out[num_nodes(a.base) - 1].shallow_clone(),
            pre[a.cell_node].shallow_clone(),
        );
        outs.push(h.shallow_clone());
    }
    (Tensor::stack(&outs, 0), h, c)
}

#[test]
fn fast_cell_matches_naive_reference() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let (mut acts, mut combs, mut inject_at, mut c_at) = (
        BTreeSet::new(),
        BTreeSet::new(),
        BTreeSet::new(),
        BTreeSet::new(),
    );
    for i in 0..40 {
        let base = [2, 8][i % 2];
        let space = full_cell_space(base);
        let mut arch = space
            .decode(&random_tokens(&space.schema(), &mut rng))
            .expect("decode");
        if i % 5 == 4 {
            arch.inject_node = num_nodes(base) - 1;
        }
        if i % 7 == 3 {
            arch.cell_node = num_nodes(base) - 1;
        }
        for n in arch.nodes.iter().chain([&arch.inject]) {
            acts.insert(n.activation);
            combs.insert(n.combination);
        }
        let kind = |k: usize| {
            if k < base {
                0
            } else if k + 1 == num_nodes(base) {
                2
            } else {
                1
            }
        };
        inject_at.insert((base, kind(arch.inject_node)));
        c_at.insert((base, kind(arch.cell_node)));
        let vs = nn::VarStore::new(Device::Cpu);
        let cell = FastCell::new(&vs.root(), &arch, 3, 5).expect("cell");
        set_weights(cell.input_weight(), 0.7);
        set_weights(cell.recurrent_weight(), 0.5);
        let opts = (Kind::Float, Device::Cpu);
        let xs = Tensor::rand([4, 2, 3], opts) * 2.0 - 1.0;
        let mut state = cell.zero_state(2);
        state.h = Tensor::rand([2, 5], opts) - 0.5;
        state.c = Tensor::rand([2, 5], opts) - 0.5;
        let (fast, last) = tch::no_grad(|| cell.seq(&xs, &state)).expect("seq");
        let (naive, h, c) = tch::no_grad(|| naive_seq(&cell, &xs, &state.h, &state.c));
        let what = arch.describe();
        assert!(
            fast.allclose(&naive, 1e-4, 1e-5, false),
            "outputs differ: {what}"
        );
        assert!(last.h.allclose(&h, 1e-4, 1e-5, false), "h differs: {what}");
        assert!(last.c.allclose(&c, 1e-4, 1e-5, false), "c differs: {what}");
    }
    assert_eq!(acts.len(), 5);
    assert_eq!(combs.len(), 3);
    // Base 2 has leaves and a root; base 8 also inner nodes.
    assert_eq!(
        inject_at.len(),
        5,
        "inject at every kind of node: {inject_at:?}"
    );
    assert_eq!(c_at.len(), 5, "c_t from every kind of node: {c_at:?}");
}
