//! Search algorithms other than the controller's policy, as pure state
//! machines the actors drive: regularized (aging) evolution
//! ([`evolution`]), which proposes architectures, and the median stopping
//! rule ([`early_stop`]), which stops children whose learning curve trails.
//!
//! Pure: no tch, no actors; they use [`crate::space`] and [`crate::task`].

pub mod early_stop;
pub mod evolution;

pub use early_stop::{Compute, MedianRule};
pub use evolution::{mutate, Evolution, Member};
