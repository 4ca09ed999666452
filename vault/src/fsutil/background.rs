//! Writing on a thread of its own: the caller's thread fetches and checks the next bytes while
//! this one hands the last ones to the kernel (a large file's download spends about as long in
//! `write` as in reading and hashing).

use std::io::{self, Write};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

/// Bytes gathered before they go to the writing thread; two such pieces may wait, and two
/// more wait to be reused. Larger pieces write no faster (the kernel takes 1 MiB as readily),
/// but a download holds every piece at once on top of everything else it holds.
const PIECE: usize = 1 << 20;

/// The caller's side: gathers bytes into pieces and sends them.
struct Front {
    piece: Vec<u8>,
    to: SyncSender<Vec<u8>>,
    spare: Receiver<Vec<u8>>,
}

impl Front {
    fn send(&mut self) -> io::Result<()> {
        if self.piece.is_empty() {
            return Ok(());
        }
        let next = self.spare.try_recv().unwrap_or_default();
        let full = std::mem::replace(&mut self.piece, next);
        self.to
            .send(full)
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the writing thread stopped"))
    }
}

impl Write for Front {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.piece.capacity() == 0 {
            self.piece.reserve_exact(PIECE);
        }
        let n = buf.len().min(PIECE - self.piece.len());
        self.piece.extend_from_slice(&buf[..n]);
        if self.piece.len() == PIECE {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

/// Run `work` with a writer whose bytes reach `out` on another thread, in order; returns what
/// `work` returned once every byte reached `out` (and `out` was flushed), or the error of
/// writing them (which wins over `work`'s own, a broken pipe that only echoes it).
pub fn write_in_background<W: Write + Send, T>(
    out: W,
    work: impl FnOnce(&mut dyn Write) -> T,
) -> io::Result<T> {
    let (to, pieces) = sync_channel::<Vec<u8>>(2);
    let (give_back, spare) = sync_channel::<Vec<u8>>(2);
    std::thread::scope(|scope| {
        let writer = std::thread::Builder::new()
            .name("vault-writer".into())
            .spawn_scoped(scope, move || -> io::Result<()> {
                let mut out = out;
                for mut piece in pieces {
                    out.write_all(&piece)?;
                    piece.clear();
                    let _ = give_back.try_send(piece);
                }
                out.flush()
            })?;
        let mut front = Front {
            piece: Vec::new(),
            to,
            spare,
        };
        let result = work(&mut front);
        let sent = front.send();
        drop(front);
        let written = writer
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the writing thread panicked")));
        written?;
        sent?;
        Ok(result)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_byte_arrives_in_order() {
        let mut out = Vec::new();
        let total = write_in_background(&mut out, |w| {
            let mut total = 0u64;
            for i in 0..3000u32 {
                let piece: Vec<u8> = (0..(i % 5000)).map(|b| (b ^ i) as u8).collect();
                w.write_all(&piece).unwrap();
                total += piece.len() as u64;
            }
            total
        })
        .unwrap();
        let mut want = Vec::new();
        for i in 0..3000u32 {
            want.extend((0..(i % 5000)).map(|b| (b ^ i) as u8));
        }
        assert_eq!(out.len() as u64, total);
        assert!(out == want);
    }

    /// A failing writer's own error comes back, not the broken pipe the caller saw.
    #[test]
    fn the_writers_error_is_the_one_returned() {
        struct Full;
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::new(io::ErrorKind::StorageFull, "disk full"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let err = write_in_background(Full, |w| {
            for _ in 0..10 {
                w.write_all(&vec![7u8; 3 << 20])?;
            }
            Ok::<(), io::Error>(())
        })
        .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::StorageFull);
    }
}
