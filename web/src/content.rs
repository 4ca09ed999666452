//! A file's bytes for an answer: in memory for what a page must read whole (a note to render,
//! two versions to diff), capped at [`MAX_IN_PAGE`]; streamed chunk by chunk for the raw and
//! version answers, so a 10 GB video costs the server a batch of chunks, not 10 GB.

use std::io::{self, Write};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::http::StatusCode;
use tokio::sync::mpsc;
use vault::content::CHUNKED_FROM;
use vault::hub_write::{self, WriteError};
use vault::id::ObjectId;
use vault::object::FileMeta;

use crate::WebError;
use crate::backend::VaultAccess;
use crate::vaults::OpenedVault;

/// Most bytes of one file a page reads into memory (a note rendered, a version diffed).
/// Larger files are offered for download instead.
pub const MAX_IN_PAGE: u64 = 16 << 20;

/// Bytes per piece of a streamed answer, and how many pieces may wait for a slow reader.
const PIECE: usize = 256 << 10;
const PIECES_WAITING: usize = 8;

impl OpenedVault {
    /// The bytes of the file with content `id` (a blob or a large file's chunks), hash-checked;
    /// refused with a clear page when it holds more than [`MAX_IN_PAGE`] bytes.
    pub fn blob(&self, id: ObjectId) -> Result<Vec<u8>, WebError> {
        match hub_write::read_file(self.access.hub(), id, MAX_IN_PAGE) {
            Err(WriteError::TooLarge { .. }) => Err(too_large()),
            other => Ok(other?),
        }
    }

    /// The file `meta` names as a response body: a small file at once, a large one streamed
    /// from a blocking thread through a bounded channel (about 2 MiB waiting, plus the batch
    /// of chunks being read). A hub that fails part-way ends the body early; the answer's
    /// `Content-Length` (the caller sets it from `meta.size`) lets the client tell.
    pub fn file_body(&self, meta: &FileMeta) -> Result<Body, WebError> {
        if meta.size < CHUNKED_FROM {
            return Ok(Body::from(self.blob(meta.id)?));
        }
        if !self.access.hub().missing(&[meta.id])?.is_empty() {
            return Err(WebError::internal(format!(
                "file {} of vault `{}` is missing from its hub",
                meta.id, self.name
            )));
        }
        let (tx, rx) = mpsc::channel(PIECES_WAITING);
        let access: Arc<dyn VaultAccess> = self.access.clone();
        let id = meta.id;
        let name = self.name.clone();
        tokio::task::spawn_blocking(move || {
            let mut out = Sender {
                tx,
                buf: Vec::with_capacity(PIECE),
            };
            let hub = access.hub();
            let result = vault::content::write_content(&mut |ids| hub.get(ids), id, &mut out)
                .map_err(|e| e.to_string())
                .and_then(|_| out.flush().map_err(|e| e.to_string()));
            if let Err(e) = result {
                // A reader that went away is not an error; anything else is logged and ends
                // the body early.
                if !out.tx.is_closed() {
                    tracing::error!("web view: streaming file {id} of vault `{name}`: {e}");
                    let _ = out.tx.blocking_send(Err(io::Error::other(e)));
                }
            }
        });
        Ok(Body::from_stream(Pieces(rx)))
    }
}

fn too_large() -> WebError {
    WebError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "Too large to show here",
        format!(
            "this file holds more than {} MiB, too much to show in a page; download it instead",
            MAX_IN_PAGE >> 20
        ),
    )
}

/// Writes a file's bytes into the channel in pieces of [`PIECE`] bytes.
struct Sender {
    tx: mpsc::Sender<Result<Bytes, io::Error>>,
    buf: Vec<u8>,
}

impl Sender {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let piece = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(PIECE)));
        self.tx
            .blocking_send(Ok(piece))
            .map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))
    }
}

impl Write for Sender {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(PIECE - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == PIECE {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

/// The receiving end as the stream a [`Body`] reads.
struct Pieces(mpsc::Receiver<Result<Bytes, io::Error>>);

impl futures_core::Stream for Pieces {
    type Item = Result<Bytes, io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}
