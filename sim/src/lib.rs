//! Deterministic simulation of Vault Sync: devices, hubs and the disks and clocks under them,
//! in one process, driven by a seed (docs/reliability.md, "Simulation").
//!
//! The sync code runs unmodified: every file it touches is reached through `vault::vfs`, under
//! which each simulated machine is attached ([`fs::SimFs`]).

pub mod check;
pub mod fs;
pub mod ops;
mod rot;
pub mod run;
pub mod scenario;
pub mod server_client;
pub mod server_hub;
pub mod world;
