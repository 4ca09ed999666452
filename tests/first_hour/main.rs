//! A new user's first hour with a server, through the real binaries (`syncd`, `vault-server`):
//! a locally-synced vault switched to a server (`syncd hub set`), the certificates people
//! actually make, and the smaller dead ends found on the way. Each test is named after what a
//! user did.

#[path = "../common/mod.rs"]
mod common;

mod certificates;
mod cli_dead_ends;
mod server_dead_ends;
mod switch_hub;
