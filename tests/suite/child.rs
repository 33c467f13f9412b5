//! Tests of `child`.
