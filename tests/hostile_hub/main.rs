//! Issue 19, part 5: a hostile hub (a hub folder edited on disk, or a `vault-server` behind a
//! proxy that mangles its answers) answers with stale or rolled-back heads, another vault's
//! history or objects, truncated streams or garbage. Each test asserts that the device refuses
//! with the documented message, that the vault folder, `.vault/base` and the hub are unchanged,
//! and that once the hub is healthy again (or after `syncd sync --republish`, the documented
//! way forward) the devices converge with nothing lost (docs/reliability.md, "Hostile hubs").

#[path = "../common/mod.rs"]
mod common;

mod folder;
mod mangler;
mod server;
