//! The integration test suite: one binary, one module per area.

mod common;

mod bench;
mod child;
mod cli;
mod command;
mod config;
mod controller;
mod data;
mod devices;
mod end_of_run;
mod nbg;
mod orchestrator;
mod post;
mod proposer;
mod reliability;
mod repeats;
mod serve;
mod shared;
mod slurm;
mod space;
mod space_declared;
mod space_toy;
mod store;
mod strategies;
mod tape;
mod tpe;
mod trainer;
