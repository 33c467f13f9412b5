//! Tests of `devices`.
