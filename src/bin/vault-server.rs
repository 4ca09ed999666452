//! Thin binary over the `vault-server` library (see `src/bin/syncd.rs` for why it lives here).
fn main() -> std::process::ExitCode {
    vault_server::main()
}
