//! Every seed a run derives from its one `experiment.seed`, in one place:
//! the same seed gives the same replicas' samples and the same children.

/// The seed of replica `replica`'s sampling RNG.
pub fn replica(seed: u64, replica: usize) -> u64 {
    seed.wrapping_mul(0x2545_F491_4F6C_DD1D)
        .wrapping_add(replica as u64 + 1)
}

/// The seed a child (its initialisation, dropout and batch order) trains with.
pub fn child(seed: u64, id: u64) -> u64 {
    seed ^ id.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// The seed of the draws that propose child `id` under evolution.
pub fn evolution(seed: u64, id: u64) -> u64 {
    (seed ^ 0x0E70_1F7E_u64).wrapping_mul(0x2545_F491_4F6C_DD1D)
        ^ id.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// The seed child `id` retrains with in `nas-actor retrain`: not the one it
/// searched with, so that the final numbers are not the search's own
/// training repeated (every grid point of a child shares it, so that its
/// grid points differ only in their settings).
pub fn retrain(seed: u64, id: u64) -> u64 {
    child(seed ^ 0xA076_1D64_78BD_642F, id)
}

/// The seed of the draws that propose child `id` under random search and TPE.
pub fn proposal(seed: u64, id: u64) -> u64 {
    (seed ^ 0x7A3D_5EED_u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ id.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

/// The seed of the `attempt`-th redraw (1, 2, …) of a proposal whose draws
/// had seed `seed` (`search.repeats = "redraw"`).
pub fn redraw(seed: u64, attempt: usize) -> u64 {
    seed ^ (attempt as u64)
        .wrapping_mul(0xD6E8_FEB8_6659_FD93)
        .rotate_left(17)
}
