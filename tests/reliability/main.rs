//! The data-loss and stuck-device scenarios of `docs/reliability.md`, each through the real
//! binaries (`syncd`, `vault-server`) on real folders, hubs and sockets. Every test is named
//! after the scenario it guards; the list in `docs/reliability.md` names them.

#[path = "../common/mod.rs"]
mod common;

mod api_errors;
mod backward_mtimes;
mod coarse_timestamps;
mod folder_guard;
mod full_verify;
mod history_restore;
mod hub_clock;
mod lost_config;
mod nested_vaults;
mod rename_evidence;
mod revisions_once;
mod stuck_paths;
