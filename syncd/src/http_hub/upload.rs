//! A large file's upload to a server ([`vault::hub::PutStream`]): every batch names one upload
//! (`x-vault-upload`, a random name), and the upload is committed at the end
//! (`POST .../objects/commit`), so the server writes large packs and fsyncs each once.

use serde_json::json;
use vault::hub::{HubError, PutStream};
use vault::id::ObjectId;
use vault::object::Object;

use super::HttpHub;

pub(super) struct HttpUpload<'a> {
    hub: &'a HttpHub,
    name: String,
    /// The server holds batches that only the commit makes durable.
    pending: bool,
}

impl<'a> HttpUpload<'a> {
    pub(super) fn new(hub: &'a HttpHub) -> HttpUpload<'a> {
        let mut random = [0u8; 16];
        getrandom::fill(&mut random).expect("the operating system's random source failed");
        HttpUpload {
            hub,
            name: random.iter().map(|b| format!("{b:02x}")).collect(),
            pending: false,
        }
    }
}

impl PutStream for HttpUpload<'_> {
    fn put(&mut self, objects: Vec<(ObjectId, Object)>) -> Result<(), HubError> {
        let objects: Vec<Object> = objects.into_iter().map(|(_, o)| o).collect();
        let answer = self.hub.send_objects(&objects, Some(&self.name))?;
        self.pending |= answer.upload;
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<(), HubError> {
        if !self.pending {
            return Ok(());
        }
        let req = self
            .hub
            .server
            .client
            .post(format!("{}/objects/commit", self.hub.base))
            .json(&json!({ "upload": self.name }));
        let res = self.hub.send(req)?;
        self.hub.ok(res)?;
        Ok(())
    }
}
