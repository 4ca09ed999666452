//! A real `vault-server`: a large upload with the server or the uploading `syncd` killed at a
//! random moment, the server restarted where the devices expect it, and a download killed.

use std::path::PathBuf;

use crate::common::server::{Server, add_user};
use crate::common::{Device, World, noise};
use crate::{
    Rng, assert_fsck_clean, assert_old_or_new, assert_server_fsck_clean, converge, kill_after,
};

pub const PASSWORD: &str = "correct horse battery";

/// A server with the account `alice` and two devices of hers synced through it.
pub fn server_pair(w: &World) -> (Server, PathBuf, Device<'_>, Device<'_>) {
    let data = w.path().join("server-data");
    add_user(&data, "alice", PASSWORD);
    let server = Server::start(&data, &[]);
    let a = w.device("laptop");
    a.write("first.md", "before the uploads\n", 1);
    a.join_server(&server.url, "alice", PASSWORD, &["--vault-name", "notes"])
        .ok();
    a.sync();
    let b = w.device("desktop");
    b.join_server(&server.url, "alice", PASSWORD, &["--vault-name", "notes"])
        .ok();
    b.sync();
    (server, data, a, b)
}

#[test]
fn server_uploads_and_downloads_killed_at_random_points() {
    let mut rng = Rng::for_test("server_uploads_and_downloads_killed");
    let w = World::new();
    let (mut server, data, a, b) = server_pair(&w);
    let addr = server.addr();
    for round in 0..3u64 {
        std::fs::write(a.path("big.bin"), noise(5 << 20, round + 10)).unwrap();
        a.write("log.md", &format!("round {round}\n"), 100 + round as i64);
        let written = a.files();
        let child = a.command("sync", &[]).spawn().unwrap();
        let delay = rng.delay(400);
        // Even rounds kill the server, odd ones the uploading syncd.
        let when = if round % 2 == 0 {
            std::thread::sleep(delay);
            server.signal_and_wait(libc::SIGKILL);
            let _ = child.wait_with_output();
            server = Server::start_at(&data, &addr, &[]);
            format!("server killed {delay:?} into the upload of round {round}")
        } else {
            let (finished, _) = kill_after(child, delay);
            format!(
                "syncd killed {delay:?} into the upload of round {round} (finished: {finished})"
            )
        };
        eprintln!("{when}");
        assert_eq!(a.files(), written, "{when}: the laptop's files changed");
        assert_server_fsck_clean(&data, &when);
        assert_fsck_clean(&a, &when);
        a.sync();

        let old = b.files();
        let new = a.files();
        let delay = rng.delay(200);
        let (finished, _) = kill_after(b.command("sync", &[]).spawn().unwrap(), delay);
        let when =
            format!("download of round {round} killed after {delay:?} (finished: {finished})");
        eprintln!("{when}");
        assert_old_or_new(&b.files(), &old, &new, &when);
        assert_fsck_clean(&b, &when);
        assert_server_fsck_clean(&data, &when);
        converge(&[&a, &b]);
    }
}
