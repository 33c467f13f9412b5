//! Tests of `orchestrator`.
