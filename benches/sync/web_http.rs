//! The web view as the benchmark's browser sees it: a blocking HTTP client that logs in through
//! the login form and keeps its cookies, and the little HTML reading the scenario needs (the CSRF
//! field, a task's tick form, a note's URL).

use std::cell::RefCell;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// One answer: status, body, and the time from sending to the whole body.
pub struct Answer {
    pub status: u16,
    pub body: String,
    pub took: Duration,
}

pub struct WebHttp {
    base: String,
    http: reqwest::blocking::Client,
    cookies: RefCell<Vec<(String, String)>>,
}

impl WebHttp {
    pub fn new(base: &str) -> Result<WebHttp> {
        Ok(WebHttp {
            base: base.to_string(),
            http: reqwest::blocking::Client::builder()
                .no_proxy()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(300))
                .build()?,
            cookies: RefCell::default(),
        })
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .borrow()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn finish(&self, start: Instant, res: reqwest::blocking::Response) -> Result<Answer> {
        let status = res.status().as_u16();
        for v in res.headers().get_all(reqwest::header::SET_COOKIE) {
            let pair = v.to_str()?.split(';').next().unwrap_or_default();
            if let Some((k, val)) = pair.split_once('=') {
                let mut cookies = self.cookies.borrow_mut();
                cookies.retain(|(name, _)| name != k);
                cookies.push((k.to_string(), val.to_string()));
            }
        }
        let body = res.text()?;
        Ok(Answer {
            status,
            body,
            took: start.elapsed(),
        })
    }

    pub fn get(&self, path: &str) -> Result<Answer> {
        let start = Instant::now();
        let res = self
            .http
            .get(format!("{}{path}", self.base))
            .header(reqwest::header::COOKIE, self.cookie_header())
            .send()
            .with_context(|| format!("GET {path}"))?;
        self.finish(start, res)
    }

    pub fn post(&self, path: &str, form: &[(String, String)]) -> Result<Answer> {
        let start = Instant::now();
        let res = self
            .http
            .post(format!("{}{path}", self.base))
            .header(reqwest::header::COOKIE, self.cookie_header())
            .form(form)
            .send()
            .with_context(|| format!("POST {path}"))?;
        self.finish(start, res)
    }

    /// Log in through the login form, as a browser does.
    pub fn login(&self, user: &str, password: &str) -> Result<()> {
        let form = self.get("/login")?;
        let csrf = csrf_of(&form.body).context("the login form has no CSRF field")?;
        let fields = [
            ("username", user),
            ("password", password),
            ("csrf", &csrf),
            ("next", "/"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        let answer = self.post("/login", &fields)?;
        if answer.status != 303 {
            bail!(
                "logging in to the web view failed ({}): {}",
                answer.status,
                answer.body
            );
        }
        Ok(())
    }
}

/// The value of the page's first `csrf` field.
pub fn csrf_of(html: &str) -> Option<String> {
    attr_after(html, "name=\"csrf\"", "value")
}

/// `name="..."` attribute `attr` of the tag containing `marker`.
fn attr_after(html: &str, marker: &str, attr: &str) -> Option<String> {
    let at = html.find(marker)?;
    let start = html[..at].rfind('<')?;
    let end = at + html[at..].find('>')?;
    attr_of(&html[start..end], attr)
}

fn attr_of(tag: &str, attr: &str) -> Option<String> {
    let key = format!(" {attr}=\"");
    let at = tag.find(&key)? + key.len();
    let len = tag[at..].find('"')?;
    Some(unescape(&tag[at..at + len]))
}

/// The fields of the page's first form posting to `…/tasks/toggle` with a "done" button (an
/// open task): every hidden input, and the button's `done=1`.
pub fn first_tick_form(html: &str) -> Option<(String, Vec<(String, String)>)> {
    let mut rest = html;
    while let Some(at) = rest.find("<form") {
        let form = &rest[at..];
        let end = form.find("</form>").unwrap_or(form.len());
        let form = &form[..end];
        let head = &form[..form.find('>').unwrap_or(form.len())];
        let action = attr_of(head, "action").unwrap_or_default();
        if action.ends_with("tasks/toggle") && form.contains("name=\"done\" value=\"1\"") {
            let mut fields = Vec::new();
            for (i, _) in form.match_indices("<input") {
                let tag = &form[i..i + form[i..].find('>').unwrap_or(form.len() - i)];
                if tag.contains("type=\"hidden\"")
                    && let (Some(name), Some(value)) = (attr_of(tag, "name"), attr_of(tag, "value"))
                {
                    fields.push((name, value));
                }
            }
            fields.push(("done".into(), "1".into()));
            return Some((action, fields));
        }
        rest = &rest[at + end.max(5)..];
    }
    None
}

/// Undo askama's HTML escaping of attribute values.
fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// A vault path as the web view puts it in a URL (percent-encoded per segment, `/` kept).
pub fn url_path(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            seg.bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("/")
}
