//! Tests of `data`.
