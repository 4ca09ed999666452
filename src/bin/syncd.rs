//! Thin binary over the `syncd` library, owned by the root package so end-to-end tests in
//! `tests/` always run the binary built from the current source.
fn main() -> std::process::ExitCode {
    syncd::main()
}
