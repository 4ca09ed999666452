//! An answer of the hub protocol's object stream (`vault::wire`) sent object by object: each
//! object's header, then its bytes as they are (moved, not copied), so answering a fetch never
//! holds a second copy of the objects in one buffer.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Bytes;
use vault::object::Object;

/// The stream of `objects`: for each, its header then its bytes.
pub struct ObjectStream {
    objects: std::vec::IntoIter<Object>,
    /// The bytes of the object whose header was just sent.
    next: Option<Bytes>,
}

impl ObjectStream {
    pub fn new(objects: Vec<Object>) -> ObjectStream {
        ObjectStream {
            objects: objects.into_iter(),
            next: None,
        }
    }
}

impl futures_core::Stream for ObjectStream {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(bytes) = self.next.take() {
            return Poll::Ready(Some(Ok(bytes)));
        }
        Poll::Ready(self.objects.next().map(|o| {
            let header = Bytes::copy_from_slice(&vault::wire::header(&o));
            if !o.bytes.is_empty() {
                self.next = Some(Bytes::from(o.bytes));
            }
            Ok(header)
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vault::object::Kind;

    #[test]
    fn streams_exactly_the_encoding() {
        let objects = vec![
            Object {
                kind: Kind::Blob,
                bytes: b"one".to_vec(),
            },
            Object {
                kind: Kind::Blob,
                bytes: Vec::new(),
            },
            Object {
                kind: Kind::Chunks,
                bytes: b"vault-chunks 1\n".to_vec(),
            },
        ];
        let expected = vault::wire::encode(&objects);
        let mut stream = ObjectStream::new(objects);
        let mut got = Vec::new();
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        while let Poll::Ready(Some(Ok(b))) =
            futures_core::Stream::poll_next(Pin::new(&mut stream), &mut cx)
        {
            got.extend_from_slice(&b);
        }
        assert_eq!(got, expected);
    }
}
