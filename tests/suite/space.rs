//! Tests of `space`.
