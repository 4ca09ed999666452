//! The HTTP hub: [`Hub`] over `vault-server`'s protocol (docs/protocol.md), so the one sync
//! algorithm runs against a server exactly as against a hub folder.
//!
//! TLS certificates are checked against the system's roots, plus a CA (or self-signed
//! certificate) the user trusts explicitly; skipping the check exists for emergencies only.
//! Without an explicit proxy, the system's proxy variables apply (`HTTPS_PROXY`, `HTTP_PROXY`,
//! `NO_PROXY`). Every answer is treated as hostile until checked: object streams are decoded
//! with bounds checks, and the sync round verifies every object against its id.
//!
//! This file holds [`HttpHub`], one vault's hub protocol; `server.rs` holds [`Server`], the
//! client of a server before a vault is chosen (logins, whoami, the clock, TLS failures).

use std::time::Duration;

use bytes::Bytes;
use reqwest::StatusCode;
use reqwest::blocking::{RequestBuilder, Response};
use serde::Deserialize;
use serde_json::json;
use vault::hub::{CasOutcome, Hub, HubError, PutStream};
use vault::id::ObjectId;
use vault::object::Object;

mod server;
mod upload;

pub use server::{Credentials, Failure, Server, WhoAmI};

/// Upload bodies up to this size are encoded into one buffer; larger ones (a whole blob an
/// older version stored) are streamed through a pipe, so memory never holds them twice.
const COPIED_BODY_BYTES: u64 = 16 << 20;

/// Ids per `missing` request: bodies stay far below any server's limit.
const IDS_PER_REQUEST: usize = 20_000;

#[derive(Deserialize)]
struct HeadBody {
    head: Option<String>,
}

#[derive(Deserialize)]
struct MissingBody {
    missing: Vec<String>,
}

#[derive(Deserialize)]
struct CasAnswer {
    updated: bool,
    head: Option<String>,
}

/// The answer to an upload request: `upload` is true when the objects went to an upload that
/// needs its commit (servers from before uploads do not say it, and store every batch).
#[derive(Deserialize, Default)]
struct StoredAnswer {
    #[serde(default)]
    upload: bool,
}

#[derive(Deserialize)]
struct TreeBody {
    tree: Option<String>,
}

/// One vault on a server, used with one device's token.
#[derive(Debug, Clone)]
pub struct HttpHub {
    server: Server,
    base: String,
    vault: String,
    token: String,
}

/// A server refusing a body above its limit may cut the upload off before its 413 answer can
/// be read; say what the limit is about when an upload of `len` bytes broke off.
fn too_large_hint(e: HubError, len: u64) -> HubError {
    match e {
        HubError::Unreachable { hub, detail } if detail.contains("body") => HubError::Unreachable {
            hub,
            detail: format!(
                "{detail}; the upload was {} MiB: if the server's log shows it refused a body that large, its operator can raise `vault-server serve --max-body-mib` (default 64)",
                len.div_ceil(1 << 20)
            ),
        },
        other => other,
    }
}

fn relogin_hint(e: HubError) -> HubError {
    match e {
        HubError::Unauthorized { hub, detail } => HubError::Unauthorized {
            hub,
            detail: format!(
                "{detail}; if this device was revoked or the account's password changed, log in again with `syncd login --password-stdin`"
            ),
        },
        other => other,
    }
}

fn parse_id(hub: &str, text: &str) -> Result<ObjectId, HubError> {
    text.parse().map_err(|e| HubError::Protocol {
        hub: hub.to_string(),
        detail: format!("bad object id: {e}"),
    })
}

impl HttpHub {
    /// The vault's name on the server.
    pub fn vault_name(&self) -> &str {
        &self.vault
    }

    /// Create the vault on the server if it does not exist yet (at `init`). Says whether
    /// this call created it, and the vault's head.
    pub fn create(&self) -> Result<(bool, Option<ObjectId>), HubError> {
        let res = self.send(self.server.client.put(self.base.clone()))?;
        let created = res.status() == StatusCode::CREATED;
        let body: HeadBody = self.parse(res)?;
        Ok((created, self.id_of(body.head)?))
    }

    fn send(&self, req: RequestBuilder) -> Result<Response, HubError> {
        self.server.send(req.bearer_auth(&self.token))
    }

    /// [`Server::ok`], telling a device whose token is refused how to get a new one.
    fn ok(&self, res: Response) -> Result<Response, HubError> {
        self.server.ok(res).map_err(relogin_hint)
    }

    fn parse<T: for<'de> Deserialize<'de>>(&self, res: Response) -> Result<T, HubError> {
        self.server.parse(res).map_err(relogin_hint)
    }

    /// Upload `objects` in one request (to the upload `upload`, if named); the server's answer.
    fn send_objects(
        &self,
        objects: &[Object],
        upload: Option<&str>,
    ) -> Result<StoredAnswer, HubError> {
        if objects.is_empty() {
            return Ok(StoredAnswer::default());
        }
        let len = vault::wire::encoded_len(objects);
        if len <= COPIED_BODY_BYTES {
            // One buffer handed over whole: far fewer wake-ups than a pipe read in small
            // pieces (the batches of a large file's chunks are all this small).
            return self.send_body(vault::wire::encode(objects).into(), upload);
        }
        // The body is written into a pipe by a thread that borrows the objects, so the
        // upload never holds a second copy of them (a 50 MiB attachment stays 50 MiB).
        let (reader, writer) = std::io::pipe().map_err(|e| HubError::Unreachable {
            hub: self.server.url.clone(),
            detail: format!("cannot make a pipe for the upload: {e}"),
        })?;
        let req = self.objects_request(reqwest::blocking::Body::sized(reader, len), upload);
        std::thread::scope(|scope| {
            // A failed write means the request ended early (refused, cut off): its own error
            // says why, so the writer's is not needed.
            scope.spawn(move || vault::wire::encode_to(writer, objects));
            let res = self.send(req).map_err(|e| too_large_hint(e, len))?;
            self.parse(res)
        })
    }

    /// Upload an encoded batch of objects (`vault::wire::encode`) in one request.
    fn send_body(&self, body: Bytes, upload: Option<&str>) -> Result<StoredAnswer, HubError> {
        let len = body.len() as u64;
        let req = self.objects_request(body.into(), upload);
        let res = self.send(req).map_err(|e| too_large_hint(e, len))?;
        self.parse(res)
    }

    /// The request that uploads `body` (to the upload `upload`, if named).
    fn objects_request(
        &self,
        body: reqwest::blocking::Body,
        upload: Option<&str>,
    ) -> RequestBuilder {
        let req = self
            .server
            .client
            .post(format!("{}/objects", self.base))
            .header(reqwest::header::CONTENT_TYPE, vault::wire::CONTENT_TYPE)
            .body(body);
        match upload {
            Some(name) => req.header(vault::wire::UPLOAD_HEADER, name),
            None => req,
        }
    }

    fn id_of(&self, text: Option<String>) -> Result<Option<ObjectId>, HubError> {
        text.map(|t| parse_id(&self.server.url, &t)).transpose()
    }

    /// The server's tree of `snapshot` (of its head when `None`). A server from before
    /// `snapshot` was asked about answers with its head's tree, which a round's check treats
    /// as "another device published" when the head moved.
    fn tree(&self, snapshot: Option<ObjectId>, full: bool) -> Result<Option<ObjectId>, HubError> {
        let mut url = format!("{}/tree?full={full}", self.base);
        if let Some(s) = snapshot {
            url.push_str(&format!("&snapshot={}", s.to_hex()));
        }
        let body: TreeBody = self.parse(self.send(self.server.client.get(url))?)?;
        self.id_of(body.tree)
    }

    /// Wait (up to `wait`) until the head differs from `since`; the head then.
    pub fn wait_for_change(
        &self,
        since: Option<ObjectId>,
        wait: Duration,
    ) -> Result<Option<ObjectId>, HubError> {
        let mut url = format!("{}/changes?wait={}", self.base, wait.as_secs());
        if let Some(s) = since {
            url.push_str(&format!("&since={}", s.to_hex()));
        }
        let req = self
            .server
            .client
            .get(url)
            .timeout(wait + Duration::from_secs(30));
        let body: HeadBody = self.parse(self.send(req)?)?;
        self.id_of(body.head)
    }
}

impl Hub for HttpHub {
    fn describe(&self) -> String {
        self.base.replace("/api/v1/vaults/", "/vault/")
    }

    fn head(&self) -> Result<Option<ObjectId>, HubError> {
        let res = self.send(self.server.client.get(format!("{}/head", self.base)))?;
        let body: HeadBody = self.parse(res)?;
        self.id_of(body.head)
    }

    fn missing(&self, ids: &[ObjectId]) -> Result<Vec<ObjectId>, HubError> {
        let mut out = Vec::new();
        for chunk in ids.chunks(IDS_PER_REQUEST) {
            let ids: Vec<String> = chunk.iter().map(ObjectId::to_hex).collect();
            let req = self
                .server
                .client
                .post(format!("{}/missing", self.base))
                .json(&json!({ "ids": ids }));
            let body: MissingBody = self.parse(self.send(req)?)?;
            for id in body.missing {
                out.push(parse_id(&self.server.url, &id)?);
            }
        }
        Ok(out)
    }

    fn put(&self, objects: &[Object]) -> Result<(), HubError> {
        self.send_objects(objects, None).map(drop)
    }

    /// A large file's chunks go to one upload on the server (`x-vault-upload`), stored in
    /// large packs and made durable by the commit at the end (or every 256 MiB), instead of
    /// one pack and one fsync per request. A server from before uploads stores each batch
    /// durably as it comes, and its answer says so: then there is nothing to commit.
    fn put_stream(&self) -> Box<dyn PutStream + '_> {
        Box::new(upload::HttpUpload::new(self))
    }

    fn get(&self, ids: &[ObjectId]) -> Result<Vec<Object>, HubError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let hex: Vec<String> = ids.iter().map(ObjectId::to_hex).collect();
        let req = self
            .server
            .client
            .post(format!("{}/objects/fetch", self.base))
            .json(&json!({ "ids": hex }));
        let res = self.ok(self.send(req)?)?;
        let objects = vault::wire::decode_from(res).map_err(|e| {
            let hub = self.server.url.clone();
            let detail = e.to_string();
            if e.is_transient() {
                HubError::Unreachable { hub, detail }
            } else {
                HubError::Protocol { hub, detail }
            }
        })?;
        if objects.len() != ids.len() {
            return Err(HubError::Protocol {
                hub: self.server.url.clone(),
                detail: format!("asked for {} objects, got {}", ids.len(), objects.len()),
            });
        }
        Ok(objects)
    }

    fn cas_head(&self, old: Option<ObjectId>, new: ObjectId) -> Result<CasOutcome, HubError> {
        let body = json!({ "old": old.map(|o| o.to_hex()), "new": new.to_hex() });
        let req = self
            .server
            .client
            .post(format!("{}/head", self.base))
            .json(&body);
        let answer: CasAnswer = self.parse(self.send(req)?)?;
        if answer.updated {
            return Ok(CasOutcome::Updated);
        }
        Ok(CasOutcome::Conflict {
            actual: self.id_of(answer.head)?,
        })
    }

    fn tree_of(&self, snapshot: ObjectId, full: bool) -> Result<ObjectId, HubError> {
        self.tree(Some(snapshot), full)?
            .ok_or_else(|| HubError::Protocol {
                hub: self.describe(),
                detail: format!("no tree for snapshot {}", snapshot.short()),
            })
    }

    fn tree_hash(&self) -> Result<Option<ObjectId>, HubError> {
        self.tree(None, false)
    }

    fn verify_tree(&self) -> Result<Option<ObjectId>, HubError> {
        self.tree(None, true)
    }

    fn time_ns(&self) -> Result<i64, HubError> {
        self.server.time_ns()
    }
}
