//! nas-actor: Neural Architecture Search with reinforcement learning
//! (Zoph & Le, ICLR 2017) as an actor-based orchestrator for one machine.
//!
//! Layers (pure ones never import actix): [`config`], [`space`],
//! [`controller`], [`child`], [`data`], [`devices`], [`store`], [`runner`] (how a child is trained: tch or synthetic), [`search`] (evolution, early stopping), [`actors`]
//! ([`format`]: how numbers are printed);
//! after a search, [`post`] (retrain, report, export).

pub mod actors;
pub mod child;
pub mod cli;
pub mod config;
pub mod controller;
pub mod data;
pub mod devices;
pub mod format;
pub mod post;
pub mod runner;
pub mod search;
pub mod seed;
pub mod serve;
pub mod space;
pub mod store;
pub mod synthetic;
pub mod task;
