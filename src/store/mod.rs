//! The run directory: resolved config, append-only child log, atomic
//! checkpoints, best architectures, and the lock that keeps one writer.
