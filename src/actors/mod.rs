//! The actors of a search: ParamStore, Controller replicas, Trainers,
//! Reporter and Recorder, and the messages between them.
