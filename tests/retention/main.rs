//! History retention through the real binaries (docs/sync.md "History retention"): the
//! policy set and shown with `syncd hub retention` (folder hub) and `vault-server retention`
//! (a server's vault), stored in vault-hub.json; and a hub whose old snapshots were thinned,
//! as gc leaves it (every snapshot object, the trees and files of the kept snapshots only),
//! read by `syncd log`, `show`, `restore --at` and the web view.

#[path = "../common/mod.rs"]
mod common;

mod history;
mod policy;
