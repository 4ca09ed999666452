//! The tray icon (`--features tray`) on a real D-Bus: each test starts its own private session
//! bus (`dbus-daemon`), plays the desktop's tray there with a minimal StatusNotifierWatcher,
//! and looks at the icon and clicks its menu the way a panel does, with `dbus-send`. What the
//! clicks did is checked through `syncd status --json`, and what "Open ..." started through a
//! stand-in `xdg-open` on the PATH.

#![cfg(feature = "tray")]

mod common;

use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::agent::{Agent, eventually};
use common::server::{Server, add_user};
use common::{Device, World, empty_tree};

/// Generous: the tray polls once a second (every 3 s without an agent), CI machines are shared.
const LIMIT: Duration = Duration::from_secs(20);

/// A private session bus: no service activation, nothing of the machine's desktop on it.
struct Bus {
    daemon: Child,
    address: String,
}

impl Bus {
    fn start(w: &World) -> Bus {
        let dir = w.path().join("dbus");
        fs::create_dir_all(&dir).unwrap();
        let config = dir.join("session.conf");
        fs::write(
            &config,
            format!(
                r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#,
                dir.join("bus").display()
            ),
        )
        .unwrap();
        let mut daemon = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", config.display()))
            .args(["--nofork", "--nopidfile", "--print-address=1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("running dbus-daemon (Debian: apt-get install dbus-daemon dbus-bin)");
        // It prints the address once it listens.
        let mut address = String::new();
        BufReader::new(daemon.stdout.take().unwrap())
            .read_line(&mut address)
            .unwrap();
        let address = address.trim().to_string();
        assert!(address.starts_with("unix:"), "dbus-daemon said {address:?}");
        Bus { daemon, address }
    }

    /// `dbus-send --print-reply[=literal]` to `dest`; its reply, which must come.
    fn send(&self, literal: bool, dest: &str, path: &str, method: &str, args: &[&str]) -> String {
        let out = Command::new("dbus-send")
            .arg(format!("--bus={}", self.address))
            .arg(if literal {
                "--print-reply=literal"
            } else {
                "--print-reply"
            })
            .arg(format!("--dest={dest}"))
            .args([path, method])
            .args(args)
            .output()
            .expect("running dbus-send (Debian: apt-get install dbus-bin)");
        assert!(
            out.status.success(),
            "dbus-send {method} {args:?} to {dest} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// A string property of the item, as a panel reads it.
    fn prop(&self, item: &str, name: &str) -> String {
        let reply = self.send(
            true,
            item,
            "/StatusNotifierItem",
            "org.freedesktop.DBus.Properties.Get",
            &[
                "string:org.kde.StatusNotifierItem",
                &format!("string:{name}"),
            ],
        );
        reply
            .trim()
            .strip_prefix("variant")
            .unwrap_or_else(|| panic!("{name} is not a variant: {reply}"))
            .trim()
            .to_string()
    }

    /// The tooltip's icon name, title and text.
    fn tooltip(&self, item: &str) -> Vec<String> {
        let reply = self.send(
            false,
            item,
            "/StatusNotifierItem",
            "org.freedesktop.DBus.Properties.Get",
            &["string:org.kde.StatusNotifierItem", "string:ToolTip"],
        );
        strings(&reply)
    }

    /// The menu's items (id, label, enabled), from `GetLayout` on the whole tree.
    fn menu(&self, item: &str) -> Vec<(i32, String, bool)> {
        let reply = self.send(
            false,
            item,
            "/MenuBar",
            "com.canonical.dbusmenu.GetLayout",
            &["int32:0", "int32:-1", "array:string:label,enabled"],
        );
        parse_layout(&reply)
    }

    fn click(&self, item: &str, label: &str) {
        let menu = self.menu(item);
        let (id, _, enabled) = menu
            .iter()
            .find(|(_, l, _)| l == label)
            .unwrap_or_else(|| panic!("no {label:?} in the menu: {menu:?}"));
        assert!(enabled, "{label:?} is disabled: {menu:?}");
        self.send(
            false,
            item,
            "/MenuBar",
            "com.canonical.dbusmenu.Event",
            &[
                &format!("int32:{id}"),
                "string:clicked",
                "variant:int32:0",
                "uint32:0",
            ],
        );
    }

    /// Run `command` (a syncd) on this bus, with the stand-in `xdg-open` of `w` first on its
    /// PATH.
    fn attach<'c>(&self, w: &World, command: &'c mut Command) -> &'c mut Command {
        let bin = w.path().join("bin");
        if !bin.exists() {
            fs::create_dir_all(&bin).unwrap();
            let script = bin.join("xdg-open");
            fs::write(
                &script,
                "#!/bin/sh\nprintf '%s\\n' \"$*\" >> \"$XDG_OPEN_LOG\"\n",
            )
            .unwrap();
            fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
        }
        let path = std::env::var("PATH").unwrap_or_default();
        command
            .env("DBUS_SESSION_BUS_ADDRESS", &self.address)
            .env("PATH", format!("{}:{path}", bin.display()))
            .env("XDG_OPEN_LOG", opened_log(w))
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

fn opened_log(w: &World) -> PathBuf {
    w.path().join("xdg-open.log")
}

/// What the stand-in `xdg-open` was asked to open, one line per call.
fn opened(w: &World) -> Vec<String> {
    fs::read_to_string(opened_log(w))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// The `string "..."` values of a `dbus-send --print-reply`, in order.
fn strings(reply: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = reply;
    while let Some(start) = rest.find("string \"") {
        let after = &rest[start + 8..];
        // dbus-send does not escape quotes; none of the tray's texts holds `"\n`.
        let end = after.find("\"\n").unwrap_or(after.len());
        found.push(after[..end].to_string());
        rest = &after[end..];
    }
    found
}

/// Items of a `GetLayout` reply printed by `dbus-send`: each item is `int32 <id>`, then its
/// properties (`string "label"` followed by `variant string "..."`; `enabled` only when false),
/// then its children.
fn parse_layout(reply: &str) -> Vec<(i32, String, bool)> {
    let mut items: Vec<(i32, String, bool)> = Vec::new();
    let mut lines = reply.lines().map(str::trim);
    while let Some(line) = lines.next() {
        if let Some(id) = line.strip_prefix("int32 ") {
            items.push((id.parse().unwrap(), String::new(), true));
        } else if line == "string \"label\"" {
            let value = lines.next().unwrap_or_default();
            let label = strings(&format!("{value}\n")).pop().unwrap_or_default();
            items.last_mut().expect("a label of an item").1 = label;
        } else if line == "string \"enabled\"" {
            let value = lines.next().unwrap_or_default();
            items.last_mut().expect("an item's enabled").2 = value.ends_with("true");
        }
    }
    // The root (0) and separators have no label.
    items.retain(|(_, label, _)| !label.is_empty());
    items
}

/// The desktop's side of the tray, as small as the items need: it takes their registrations
/// and says a host is there.
struct Watcher {
    items: Arc<Mutex<Vec<String>>>,
    connection: zbus::blocking::Connection,
}

struct WatcherService {
    items: Arc<Mutex<Vec<String>>>,
}

#[zbus::interface(name = "org.kde.StatusNotifierWatcher")]
impl WatcherService {
    fn register_status_notifier_item(
        &self,
        service: String,
        #[zbus(header)] header: zbus::message::Header<'_>,
    ) {
        // The spec's argument is the item's bus name; some items send an object path on
        // their own connection instead.
        let name = if service.starts_with('/') {
            header.sender().map(|s| s.to_string()).unwrap_or(service)
        } else {
            service
        };
        self.items.lock().unwrap().push(name);
    }

    fn register_status_notifier_host(&self, _service: String) {}

    #[zbus(property)]
    fn registered_status_notifier_items(&self) -> Vec<String> {
        self.items.lock().unwrap().clone()
    }

    #[zbus(property)]
    fn is_status_notifier_host_registered(&self) -> bool {
        true
    }

    #[zbus(property)]
    fn protocol_version(&self) -> i32 {
        0
    }
}

impl Watcher {
    fn start(bus: &Bus) -> Watcher {
        let items = Arc::new(Mutex::new(Vec::new()));
        let connection = zbus::blocking::connection::Builder::address(bus.address.as_str())
            .unwrap()
            .name("org.kde.StatusNotifierWatcher")
            .unwrap()
            .serve_at(
                "/StatusNotifierWatcher",
                WatcherService {
                    items: items.clone(),
                },
            )
            .unwrap()
            .build()
            .expect("the watcher on the test's bus");
        Watcher { items, connection }
    }

    /// Leave the bus, as a panel that quits does; back when its name is free again.
    fn stop(self, bus: &Bus) {
        self.connection
            .close()
            .expect("closing the watcher's connection");
        eventually(LIMIT, || {
            bus.send(
                true,
                "org.freedesktop.DBus",
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus.NameHasOwner",
                &["string:org.kde.StatusNotifierWatcher"],
            )
            .contains("false")
        })
        .expect("the watcher's name was released");
    }

    /// The bus name of the item that registered from process `pid` (ksni's names are
    /// `org.kde.StatusNotifierItem-<pid>-<n>`).
    fn item_of(&self, pid: u32) -> String {
        let prefix = format!("org.kde.StatusNotifierItem-{pid}-");
        let mut found = None;
        eventually(LIMIT, || {
            found = self
                .items
                .lock()
                .unwrap()
                .iter()
                .find(|n| n.starts_with(&prefix))
                .cloned();
            found.is_some()
        })
        .unwrap_or_else(|()| {
            panic!(
                "process {pid} registered no item; registered: {:?}",
                self.items.lock().unwrap()
            )
        });
        found.unwrap()
    }
}

/// A `syncd tray` on the test's bus, its log (`RUST_LOG=info`) in a file, readable while it
/// runs.
struct TrayProcess {
    child: Child,
    log: PathBuf,
}

impl TrayProcess {
    fn start(w: &World, bus: &Bus, device: &Device) -> TrayProcess {
        let log = w.path().join("tray.log");
        let mut command = device.command("tray", &[]);
        let child = bus
            .attach(w, &mut command)
            .env("RUST_LOG", "info")
            .stderr(fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        TrayProcess { child, log }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Click "Quit tray" on `item`: the process ends, cleanly.
    fn quit(mut self, bus: &Bus, item: &str) {
        bus.click(item, "Quit tray");
        let quit = eventually(LIMIT, || self.child.try_wait().unwrap().is_some());
        if quit.is_err() {
            let _ = self.child.kill();
        }
        let status = self.child.wait().unwrap();
        assert!(
            quit.is_ok() && status.success(),
            "the tray did not quit cleanly ({status:?}):\n{}",
            self.log()
        );
    }
}

fn wait_for_prop(bus: &Bus, item: &str, name: &str, value: &str) {
    eventually(LIMIT, || bus.prop(item, name) == value).unwrap_or_else(|()| {
        panic!(
            "the item's {name} stayed {:?}, expected {value:?}",
            bus.prop(item, name)
        )
    });
}

fn rounds(d: &Device) -> u64 {
    d.status()["agent"]["rounds"]
        .as_u64()
        .expect("a running agent")
}

fn labels(menu: &[(i32, String, bool)]) -> Vec<(&str, bool)> {
    menu.iter().map(|(_, l, e)| (l.as_str(), *e)).collect()
}

#[test]
fn the_agents_icon_shows_its_state_and_its_menu_drives_it() {
    let w = World::new();
    let bus = Bus::start(&w);
    let watcher = Watcher::start(&bus);
    let a = w.device("notes");
    a.init();
    a.write("first.md", "synced by the first round", 1);
    let mut watch = a.command("watch", &["--tray"]);
    bus.attach(&w, &mut watch);
    let agent = Agent::spawn(watch);
    let item = watcher.item_of(agent.pid());

    wait_for_prop(&bus, &item, "IconName", "emblem-default");
    assert_eq!(bus.prop(&item, "Title"), "Vault Sync: notes (up to date)");
    assert_eq!(bus.prop(&item, "Status"), "Active");
    assert_eq!(bus.prop(&item, "Id"), "vault-sync");
    let tooltip = bus.tooltip(&item);
    assert_eq!(tooltip[..2], ["emblem-default", "notes: up to date"]);
    assert!(tooltip[2].starts_with("last sync 20"), "{tooltip:?}");
    assert_eq!(
        labels(&bus.menu(&item)),
        [
            ("notes: up to date", false),
            ("Sync now", true),
            ("Pause", true),
            ("Open vault folder", true)
        ],
        "a hub folder has no web view, and this tray ends with its agent"
    );

    bus.click(&item, "Pause");
    eventually(LIMIT, || a.status()["agent"]["state"] == "paused")
        .unwrap_or_else(|()| panic!("not paused: {}", a.status()));
    wait_for_prop(&bus, &item, "IconName", "media-playback-pause");
    assert_eq!(bus.prop(&item, "Title"), "Vault Sync: notes (paused)");
    let menu = bus.menu(&item);
    assert!(
        menu.iter().any(|(_, l, _)| l == "Resume") && !menu.iter().any(|(_, l, _)| l == "Pause"),
        "{menu:?}"
    );
    // Paused for real: a new note stays on this device...
    let head = w.hub_head();
    a.write("while-paused.md", "wait for it", 2);
    eventually(LIMIT, || a.status()["agent"]["pending"] == true).unwrap();
    assert_eq!(w.hub_head(), head, "a paused agent synced");

    // ...until Sync now, the only thing that makes a paused agent run a round.
    let before = rounds(&a);
    bus.click(&item, "Sync now");
    eventually(LIMIT, || {
        let status = a.status();
        status["agent"]["rounds"].as_u64() > Some(before) && status["agent"]["pending"] == false
    })
    .unwrap_or_else(|()| panic!("no round after Sync now:\n{}", agent.log().join("\n")));
    assert_ne!(w.hub_head(), head, "Sync now did not publish the note");
    assert_eq!(a.status()["agent"]["state"], "paused");
    // The icon catches up within a poll (it showed "syncing" during the round).
    wait_for_prop(&bus, &item, "IconName", "media-playback-pause");

    bus.click(&item, "Resume");
    eventually(LIMIT, || a.status()["agent"]["state"] == "idle")
        .unwrap_or_else(|()| panic!("not resumed: {}", a.status()));
    wait_for_prop(&bus, &item, "IconName", "emblem-default");

    bus.click(&item, "Open vault folder");
    eventually(LIMIT, || !opened(&w).is_empty()).unwrap();
    assert_eq!(opened(&w), [a.root.display().to_string()]);

    let log = agent.log();
    assert!(agent.stop().success());
    assert!(
        !log.iter().any(|l| l.contains("WARN") && l.contains("tray")),
        "{}",
        log.join("\n")
    );
}

#[test]
fn syncd_tray_waits_for_an_agent_opens_the_web_view_and_quits() {
    let w = World::new();
    let bus = Bus::start(&w);
    let watcher = Watcher::start(&bus);
    let data = w.path().join("server-data");
    add_user(&data, "alice", "correct horse battery");
    let server = Server::start(&data, &[]);
    let a = w.device("laptop");
    a.join_server(
        &server.url,
        "alice",
        "correct horse battery",
        &["--vault-name", "notes"],
    )
    .ok();

    let tray = TrayProcess::start(&w, &bus, &a);
    let item = watcher.item_of(tray.pid());
    wait_for_prop(&bus, &item, "IconName", "process-stop");
    assert_eq!(bus.prop(&item, "Status"), "NeedsAttention");
    assert_eq!(bus.prop(&item, "Title"), "Vault Sync: laptop (not running)");
    assert!(
        bus.tooltip(&item)[2].contains("start it with `syncd watch`"),
        "{:?}",
        bus.tooltip(&item)
    );
    assert_eq!(
        labels(&bus.menu(&item)),
        [
            ("laptop: not running", false),
            ("Sync now", false),
            ("Pause", false),
            ("Open web view", true),
            ("Open vault folder", true),
            ("Quit tray", true)
        ]
    );

    // The agent starts later (a service, say): the tray finds it on its own.
    let agent = Agent::start(&a);
    wait_for_prop(&bus, &item, "IconName", "emblem-default");
    assert_eq!(bus.prop(&item, "Status"), "Active");
    bus.click(&item, "Pause");
    eventually(LIMIT, || a.status()["agent"]["state"] == "paused").unwrap();

    bus.click(&item, "Open web view");
    eventually(LIMIT, || !opened(&w).is_empty()).unwrap();
    assert_eq!(opened(&w), [server.url.as_str()]);

    // The panel restarts: the icon registers again with the new watcher, by itself.
    watcher.stop(&bus);
    let watcher = Watcher::start(&bus);
    assert_eq!(watcher.item_of(tray.pid()), item);

    tray.quit(&bus, &item);
    // Quitting the tray leaves the agent as it was.
    assert_eq!(a.status()["agent"]["state"], "paused");
    assert!(agent.stop().success());
}

#[test]
fn icons_started_before_the_panel_wait_for_it_and_appear_with_it() {
    let w = World::new();
    let bus = Bus::start(&w); // the session's bus at login: the panel is not up yet
    let a = w.device("notes");
    a.init();
    let mut watch = a.command("watch", &["--tray"]);
    bus.attach(&w, &mut watch);
    let agent = Agent::spawn(watch);
    agent.wait_for_log("no system tray yet");
    a.write("note.md", "synced before the panel is up", 1);
    eventually(LIMIT, || {
        w.hub_head().is_some() && w.hub_tree() != empty_tree()
    })
    .unwrap_or_else(|()| panic!("the agent stopped syncing:\n{}", agent.log().join("\n")));
    // `syncd tray` from an autostart entry, also before the panel.
    let tray = TrayProcess::start(&w, &bus, &a);
    eventually(LIMIT, || tray.log().contains("no system tray yet"))
        .unwrap_or_else(|()| panic!("`syncd tray` is not waiting:\n{}", tray.log()));

    // The panel comes up: both icons register with it on their own, and work.
    let watcher = Watcher::start(&bus);
    let agents_item = watcher.item_of(agent.pid());
    let item = watcher.item_of(tray.pid());
    wait_for_prop(&bus, &agents_item, "IconName", "emblem-default");
    wait_for_prop(&bus, &item, "IconName", "emblem-default");
    assert_eq!(bus.prop(&item, "Title"), "Vault Sync: notes (up to date)");
    bus.click(&item, "Pause");
    eventually(LIMIT, || a.status()["agent"]["state"] == "paused")
        .unwrap_or_else(|()| panic!("not paused: {}", a.status()));
    wait_for_prop(&bus, &agents_item, "IconName", "media-playback-pause");

    let tray_log = tray.log();
    tray.quit(&bus, &item);
    let agent_log = agent.log().join("\n");
    assert!(agent.stop().success());
    for (what, log) in [("watch --tray", agent_log), ("syncd tray", tray_log)] {
        // One line while waiting, one when the tray came; no warning.
        assert_eq!(
            log.matches("no system tray yet").count(),
            1,
            "{what}:\n{log}"
        );
        assert_eq!(
            log.matches("a system tray appeared").count(),
            1,
            "{what}:\n{log}"
        );
        assert!(
            !log.lines()
                .any(|l| l.contains("WARN") && l.contains("tray")),
            "{what}:\n{log}"
        );
    }
}

#[test]
fn without_a_session_bus_the_agent_syncs_on_and_syncd_tray_says_why_it_stops() {
    let w = World::new();
    let a = w.device("notes");
    a.init();
    // An ssh session, a system service: no session bus at all.
    let no_bus = format!("unix:path={}", w.path().join("no-bus-here").display());
    let mut watch = a.command("watch", &["--tray"]);
    watch.env("DBUS_SESSION_BUS_ADDRESS", &no_bus);
    let agent = Agent::spawn(watch);
    agent.wait_for_log("no system tray found");
    a.write("note.md", "synced without an icon", 1);
    eventually(LIMIT, || {
        w.hub_head().is_some() && w.hub_tree() != empty_tree()
    })
    .unwrap_or_else(|()| panic!("the agent stopped syncing:\n{}", agent.log().join("\n")));
    let warnings = agent
        .log()
        .iter()
        .filter(|l| l.contains("no system tray found"))
        .count();
    assert_eq!(warnings, 1, "{}", agent.log().join("\n"));

    let out = a
        .command("tray", &[])
        .env("DBUS_SESSION_BUS_ADDRESS", &no_bus)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot show the tray icon for")
            && stderr.contains("no system tray found")
            && stderr.contains("StatusNotifierItem"),
        "{stderr}"
    );
    assert!(agent.stop().success());
}
