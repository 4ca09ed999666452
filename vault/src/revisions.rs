//! Placeholder until the real module lands.
use crate::paths::VaultPath;
pub fn revision_path(original: &VaultPath, time_ns: i64, device_name: &str, taken: &dyn Fn(&VaultPath) -> bool) -> VaultPath {
    let mut n = 1;
    loop {
        let suffix = if n == 1 { String::new() } else { format!("~{n}") };
        let p = VaultPath::new(&format!(".revisions/{}.{time_ns}.{device_name}{suffix}", original.as_str())).unwrap();
        if !taken(&p) { return p; }
        n += 1;
    }
}
