//! The controller: a two-layer LSTM policy over a space's token schema,
//! skip-connection attention, REINFORCE with a moving-average baseline.
