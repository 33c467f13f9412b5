//! Tests of `controller`.
