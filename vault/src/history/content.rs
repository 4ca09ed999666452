//! A file's bytes out of the history, streamed: a blob as it is, a large file chunk by chunk
//! in batches of about 8 MiB ([`crate::content::write_content`]), so showing or restoring a
//! version of a 10 GB file never holds it whole.

use std::io::Write;

use crate::content::ReadError;
use crate::id::ObjectId;

use super::HistoryError;
use super::objects::Objects;

impl Objects<'_> {
    /// Write the bytes of file `id` to `out`; returns how many. Every object is hash-checked,
    /// lists decoded with their limits and lengths checked.
    pub fn write_file(&mut self, id: ObjectId, out: &mut dyn Write) -> Result<u64, HistoryError> {
        crate::content::write_content(&mut |ids| self.objects(ids), id, out).map_err(|e| match e {
            ReadError::Source(e) => e,
            ReadError::Write(e) => HistoryError::Write(e),
            ReadError::Object(e) => HistoryError::Object(e),
            other => HistoryError::Content {
                id,
                detail: other.to_string(),
            },
        })
    }
}

#[cfg(test)]
mod tests;
