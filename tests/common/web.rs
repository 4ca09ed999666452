//! The web view's test harness: a real `vault-server` with an account and a vault that a real
//! `syncd` device filled (from `fixtures/web-vault/` or files the test writes), a plain HTTP
//! client that logs in like a browser (cookies by hand, so every header is visible), and a
//! real headless Chromium driven through chromedriver (fantoccini).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::server::{Server, add_user};
use super::{Device, World};

pub const USER: &str = "alice";
pub const PASSWORD: &str = "correct horse battery";
pub const VAULT: &str = "notes";

/// The fixture vault of the web view's tests and screenshots.
pub fn fixture_vault() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/web-vault")
}

/// A server, its data folder, and one device ("laptop") synced with the vault `notes` of
/// `alice`.
pub struct WebWorld {
    pub world: World,
    pub server: Server,
    pub data: PathBuf,
}

fn copy_tree(from: &Path, to: &Path) {
    for entry in walkdir(from) {
        let rel = entry.strip_prefix(from).unwrap();
        let target = to.join(rel);
        if entry.is_dir() {
            std::fs::create_dir_all(&target).unwrap();
        } else {
            std::fs::create_dir_all(target.parent().unwrap()).unwrap();
            std::fs::copy(&entry, &target).unwrap();
        }
    }
}

fn walkdir(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p.clone());
            }
            out.push(p);
        }
    }
    out.sort();
    out
}

impl WebWorld {
    /// A server whose vault holds the fixture vault, synced from device "laptop".
    pub fn with_fixture() -> WebWorld {
        WebWorld::with_files(|root| copy_tree(&fixture_vault(), root))
    }

    /// A server whose vault holds what `fill` writes into the device's folder, synced.
    pub fn with_files(fill: impl FnOnce(&Path)) -> WebWorld {
        let world = World::new();
        let data = world.path().join("server-data");
        add_user(&data, USER, PASSWORD);
        let server = Server::start(&data, &[]);
        let w = WebWorld {
            world,
            server,
            data,
        };
        let laptop = w.laptop();
        std::fs::create_dir_all(&laptop.root).unwrap();
        fill(&laptop.root);
        laptop
            .join_server(&w.server.url, USER, PASSWORD, &["--vault-name", VAULT])
            .ok();
        laptop.sync();
        w
    }

    /// The device that filled the vault (another can join with `self.world.device(..)`).
    pub fn laptop(&self) -> Device<'_> {
        self.world.device("laptop")
    }

    /// `url` of this server: `self.url("/v/notes/")`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.url)
    }

    /// A client logged in as alice.
    pub fn client(&self) -> WebClient {
        let c = WebClient::new(&self.server.url);
        c.login(USER, PASSWORD).expect("logging in as alice");
        c
    }

    /// Another account (`bob`), for "another account's vault is 404".
    pub fn add_user(&self, user: &str, password: &str) {
        add_user(&self.data, user, password);
    }
}

/// An HTTP response as the tests look at it.
#[derive(Debug)]
pub struct Page {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Page {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The value of the hidden `csrf` field of the page's first form.
    pub fn csrf(&self) -> String {
        let at = self
            .body
            .find("name=\"csrf\" value=\"")
            .unwrap_or_else(|| panic!("no csrf field in:\n{}", self.body));
        let rest = &self.body[at + "name=\"csrf\" value=\"".len()..];
        rest[..rest.find('"').unwrap()].to_string()
    }
}

/// A browser-like HTTP client: no redirects followed, cookies kept by hand.
pub struct WebClient {
    base: String,
    http: reqwest::blocking::Client,
    cookies: std::sync::Mutex<Vec<(String, String)>>,
}

impl WebClient {
    pub fn new(base: &str) -> WebClient {
        WebClient {
            base: base.to_string(),
            http: reqwest::blocking::Client::builder()
                .no_proxy()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            cookies: Default::default(),
        }
    }

    fn cookie_header(&self) -> String {
        let cookies = self.cookies.lock().unwrap();
        cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep_cookies(&self, headers: &reqwest::header::HeaderMap) {
        let mut cookies = self.cookies.lock().unwrap();
        for v in headers.get_all(reqwest::header::SET_COOKIE) {
            let text = v.to_str().unwrap();
            let pair = text.split(';').next().unwrap();
            let (k, val) = pair.split_once('=').unwrap();
            cookies.retain(|(name, _)| name != k);
            let expired = text.contains("Max-Age=0");
            if !expired {
                cookies.push((k.to_string(), val.to_string()));
            }
        }
    }

    fn finish(&self, res: reqwest::blocking::Response) -> Page {
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        self.keep_cookies(&headers);
        let body = res.text().unwrap_or_default();
        Page {
            status,
            headers,
            body,
        }
    }

    /// GET `path` (a path on the server, or a whole URL).
    pub fn get(&self, path: &str) -> Page {
        let url = self.full(path);
        let res = self
            .http
            .get(url)
            .header(reqwest::header::COOKIE, self.cookie_header())
            .send()
            .unwrap();
        self.finish(res)
    }

    /// POST a form to `path`.
    pub fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        let res = self
            .http
            .post(self.full(path))
            .header(reqwest::header::COOKIE, self.cookie_header())
            .form(form)
            .send()
            .unwrap();
        self.finish(res)
    }

    fn full(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        }
    }

    /// Log in through the login form; Err with the page when refused.
    pub fn login(&self, user: &str, password: &str) -> Result<Page, Box<Page>> {
        let form = self.get("/login");
        let csrf = form.csrf();
        let page = self.post(
            "/login",
            &[
                ("username", user),
                ("password", password),
                ("csrf", &csrf),
                ("next", "/"),
            ],
        );
        if page.status == 303 && page.header("location") == Some("/") {
            Ok(page)
        } else {
            Err(Box::new(page))
        }
    }

    /// The session cookie, if logged in.
    pub fn session(&self) -> Option<String> {
        let cookies = self.cookies.lock().unwrap();
        cookies
            .iter()
            .find(|(k, _)| k == "vault_session")
            .map(|(_, v)| v.clone())
    }
}

/// A headless Debian Chromium driven through chromedriver, as a blocking API.
pub struct Browser {
    pub rt: tokio::runtime::Runtime,
    pub client: fantoccini::Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

/// Where Debian puts them (`.ci/run` installs the packages chromium and chromium-driver).
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

impl Browser {
    /// Start chromedriver and a fresh headless Chromium (its own empty profile).
    pub fn start() -> Browser {
        assert!(
            Path::new(CHROMEDRIVER).exists() && Path::new(CHROMIUM).exists(),
            "the browser tests need Debian's chromium and chromium-driver (apt-get install chromium chromium-driver; .ci/run installs them)"
        );
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let mut driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting chromedriver");
        let out = driver.stdout.take().unwrap();
        let mut lines = BufReader::new(out).lines();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match lines.next() {
                Some(Ok(line)) if line.contains("started successfully") => break,
                Some(Ok(_)) if Instant::now() < deadline => continue,
                other => panic!("chromedriver did not start: {other:?}"),
            }
        }
        // Keep reading its output so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let profile = tempfile::tempdir().unwrap();
        let caps = serde_json::json!({
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ]
            }
        });
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let client = rt
            .block_on(async {
                fantoccini::ClientBuilder::rustls()
                    .expect("rustls for fantoccini")
                    .capabilities(caps.as_object().unwrap().clone())
                    .connect(&format!("http://127.0.0.1:{port}"))
                    .await
            })
            .expect("connecting to chromedriver");
        Browser {
            rt,
            client,
            driver,
            _profile: profile,
        }
    }

    pub fn goto(&self, url: &str) {
        self.rt.block_on(self.client.goto(url)).unwrap();
    }

    pub fn url(&self) -> String {
        self.rt
            .block_on(self.client.current_url())
            .unwrap()
            .to_string()
    }

    /// The page's HTML as the browser has it now.
    pub fn source(&self) -> String {
        self.rt.block_on(self.client.source()).unwrap()
    }

    /// The element matching `css` (waiting up to 10 s for it).
    pub fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.rt
            .block_on(
                self.client
                    .wait()
                    .at_most(Duration::from_secs(10))
                    .for_element(fantoccini::Locator::Css(css)),
            )
            .unwrap_or_else(|e| panic!("no element `{css}` at {}: {e}", self.url()))
    }

    /// The text of the element `css` selects. The page's script may replace that element
    /// between finding and reading it (search results re-rendered as they arrive): a stale
    /// element is found again, a few times at most.
    pub fn text(&self, css: &str) -> String {
        let mut tries = 0;
        loop {
            let el = self.find(css);
            match self.rt.block_on(el.text()) {
                Ok(text) => return text,
                Err(e) if tries < 5 => {
                    tries += 1;
                    eprintln!("reading `{css}` again: {e}");
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => panic!("cannot read `{css}` at {}: {e}", self.url()),
            }
        }
    }

    pub fn click(&self, css: &str) {
        let el = self.find(css);
        self.rt.block_on(el.click()).unwrap();
    }

    pub fn fill(&self, css: &str, text: &str) {
        let el = self.find(css);
        self.rt.block_on(el.clear()).unwrap();
        self.rt.block_on(el.send_keys(text)).unwrap();
    }

    /// Run `script` in the page; its return value.
    pub fn js(&self, script: &str) -> serde_json::Value {
        self.rt
            .block_on(self.client.execute(script, vec![]))
            .unwrap()
    }

    /// The text of an open `alert`/`confirm` dialog, if one is open (a script ran).
    pub fn alert(&self) -> Option<String> {
        self.rt.block_on(self.client.get_alert_text()).ok()
    }

    /// Log in through the login page as alice.
    pub fn login(&self, base: &str) {
        self.goto(&format!("{base}/login"));
        self.fill("#username", USER);
        self.fill("#password", PASSWORD);
        self.click("form button[type=submit]");
        self.wait_until("the vault list", || !self.url().contains("/login"));
    }

    /// Wait up to 15 s for `done`.
    pub fn wait_until(&self, what: &str, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while !done() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A PNG of the viewport, written to `path`.
    pub fn screenshot(&self, path: &Path) {
        let png = self.rt.block_on(self.client.screenshot()).unwrap();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, png).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let client = self.client.clone();
        let _ = self.rt.block_on(client.close());
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
