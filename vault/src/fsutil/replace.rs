//! Replacing a file only if it is still the one expected, with no moment at which a save by
//! someone else can be overwritten unseen.
//!
//! A check followed by `rename(new, name)` loses a save that lands between the two: the rename
//! unlinks whatever is at `name` by then. POSIX has no compare-and-rename, so the old file is
//! taken out of the way first and checked where nobody saves any more:
//!
//! - on Linux, `renameat2(RENAME_EXCHANGE)` swaps the new file and the old one in one step
//!   (`name` is never absent, so a reader or a crash sees the old or the new file), the old one
//!   is checked under the temp name, and if it is not the expected file it is swapped back;
//! - elsewhere, and on filesystems without the exchange (`EINVAL`: NFS, FAT, many FUSE
//!   mounts), the old file is renamed aside, checked, and the new one put in place with
//!   `link(2)`, which fails instead of replacing a file that appeared meanwhile (the old one is
//!   put back the same way when it was not the expected file).
//!
//! Either way a save that lands on `name` before the old file is taken out of the way is seen by
//! the check (so it stays at `name`), and a save that lands after it goes to the new file (the
//! user's save wins, as it would a moment later). What remains is a writer that opened the
//! old file before it was taken out of the way and writes through that descriptor after the
//! check: no name can protect that, only never removing a file would.

use std::ffi::{CStr, CString};
use std::io;

use super::{Dir, links_unsupported, next_temp_name, random_hex};
use crate::filestat::{FileStat, Found};

/// What [`Dir::replace_if`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replaced {
    /// The new file is at the name; the file it replaced was the expected one, and is gone.
    Done,
    /// Nothing was at the name any more: the new file was not placed (it is still at its temp
    /// name, which the caller removes).
    Gone,
    /// Another file than the expected one was at the name: it is there again (or, if yet
    /// another file took the name meanwhile, it is at `kept`), and the new file was not placed.
    /// When a save landed on the new file in the instant it was at the name, that version is
    /// at `kept` instead (a file this module never removes). The caller removes the temp name.
    Changed { kept: Option<CString> },
}

impl Dir {
    /// Put the file `new` (a temp file in this folder) at `name` in place of the file there,
    /// but only if `expected(self, at)` accepts that file, looked at under another name `at`
    /// where no save can reach it any more (see the module docs). `expected` must not accept a
    /// folder, a link or anything but the very file it expects; a rename changes the ctime
    /// of a file, so it may not compare that.
    pub fn replace_if(
        &self,
        new: &CStr,
        name: &CStr,
        expected: &dyn Fn(&Dir, &CStr) -> io::Result<bool>,
    ) -> io::Result<Replaced> {
        let Found::File(ours) = self.stat(new)?.0 else {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                "the new file is not in place to be moved",
            ));
        };
        match self.exchange(new, name) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Replaced::Gone),
            Err(e) if exchange_unsupported(&e) => {
                return self.replace_by_moving_aside(new, name, expected);
            }
            Err(e) => return Err(e),
        }
        // `name` holds the new file, `new` the one that was at `name`.
        match expected(self, new) {
            Ok(true) => {
                self.remove_file(new)?;
                Ok(Replaced::Done)
            }
            // Not the expected file (saved in the instant before the swap): swap back.
            Ok(false) => self.swap_back(new, name, &ours),
            Err(e) => {
                self.swap_back(new, name, &ours)?;
                Err(e)
            }
        }
    }

    /// Undo [`Dir::replace_if`]'s exchange: the file now at `new` goes back to `name`. A save
    /// that landed on the new file (`ours`) while it was at `name` stays with it, and that file
    /// is then kept beside `name`.
    fn swap_back(&self, new: &CStr, name: &CStr, ours: &FileStat) -> io::Result<Replaced> {
        match self.exchange(new, name) {
            Ok(()) => {
                let unchanged = match self.stat(new)?.0 {
                    Found::File(st) => st.same_file(ours),
                    _ => false,
                };
                let kept = if unchanged {
                    None
                } else {
                    Some(self.keep_beside(new, name)?)
                };
                Ok(Replaced::Changed { kept })
            }
            // The new file left `name` meanwhile (moved or removed by someone else): put the
            // other version back where it was, unless the name is taken again.
            Err(e) if e.kind() == io::ErrorKind::NotFound => self.put_back(new, name),
            Err(e) => Err(e),
        }
    }

    /// [`Dir::replace_if`] without the exchange: the old file renamed aside and checked, the
    /// new one linked into place (`name` is absent for a moment; a file saved there then wins).
    pub(super) fn replace_by_moving_aside(
        &self,
        new: &CStr,
        name: &CStr,
        expected: &dyn Fn(&Dir, &CStr) -> io::Result<bool>,
    ) -> io::Result<Replaced> {
        let aside = next_temp_name();
        match self.rename(name, &aside) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Replaced::Gone),
            Err(e) => return Err(e),
        }
        let accepted = match expected(self, &aside) {
            Ok(accepted) => accepted,
            Err(e) => {
                self.put_back(&aside, name)?;
                return Err(e);
            }
        };
        if !accepted {
            return self.put_back(&aside, name);
        }
        match self.rename_no_replace(new, name) {
            Ok(true) => {
                self.remove_file(&aside)?;
                Ok(Replaced::Done)
            }
            // A file saved at `name` while it was free: it stays. The old one was the expected
            // file, the one the caller meant to replace anyway.
            Ok(false) => {
                self.remove_file(&aside)?;
                Ok(Replaced::Changed { kept: None })
            }
            Err(e) => {
                self.put_back(&aside, name)?;
                Err(e)
            }
        }
    }

    /// Put the file `from` back at `name` unless something took `name` meanwhile: then keep it
    /// beside `name` (both versions survive).
    fn put_back(&self, from: &CStr, name: &CStr) -> io::Result<Replaced> {
        if self.rename_no_replace(from, name)? {
            return Ok(Replaced::Changed { kept: None });
        }
        let kept = self.keep_beside(from, name)?;
        Ok(Replaced::Changed { kept: Some(kept) })
    }

    /// Move the file `from` to a new visible name beside `name` (`<name>.kept-<hex>`, the name
    /// cut to stay within the 255-byte limit) and return that name.
    fn keep_beside(&self, from: &CStr, name: &CStr) -> io::Result<CString> {
        let base: String = String::from_utf8_lossy(name.to_bytes())
            .chars()
            .take(60)
            .collect();
        let mut tries = 0;
        loop {
            let kept = CString::new(format!("{base}.kept-{}", random_hex(4)))
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
            if self.rename_no_replace(from, &kept)? {
                return Ok(kept);
            }
            tries += 1;
            if tries >= 16 {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    "no free name to keep a file under",
                ));
            }
        }
    }

    /// Rename `from` to `to` unless something is at `to`: `Ok(false)` then, and `from` stays.
    /// `link(2)` and unlink, or on filesystems without hard links a check and a rename (a short
    /// race, as [`super::rename_no_replace`]).
    pub fn rename_no_replace(&self, from: &CStr, to: &CStr) -> io::Result<bool> {
        match self.link(from, to) {
            Ok(()) => self.remove_file(from)?,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(false),
            Err(e) if links_unsupported(&e) => {
                if self.stat(to)?.0 != Found::Absent {
                    return Ok(false);
                }
                self.rename(from, to)?;
            }
            Err(e) => return Err(e),
        }
        Ok(true)
    }

    /// Swap the names `a` and `b` in this folder in one step (`renameat2(RENAME_EXCHANGE)`).
    #[cfg(target_os = "linux")]
    fn exchange(&self, a: &CStr, b: &CStr) -> io::Result<()> {
        let fd = match self.raw_fd() {
            Some(fd) => libc::c_long::from(fd),
            None => return self.exchange_simulated(a, b).unwrap_or(Ok(())),
        };
        // SAFETY: a valid folder descriptor and NUL-terminated names that outlive the call; the
        // raw syscall, since not every C library wraps renameat2.
        let r = unsafe {
            libc::syscall(
                libc::SYS_renameat2,
                fd,
                a.as_ptr(),
                fd,
                b.as_ptr(),
                libc::c_long::from(libc::RENAME_EXCHANGE),
            )
        };
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn exchange(&self, a: &CStr, b: &CStr) -> io::Result<()> {
        self.exchange_simulated(a, b)
            .unwrap_or_else(|| Err(io::Error::from(io::ErrorKind::Unsupported)))
    }
}

/// Whether an exchange failed only because the system or the filesystem cannot do one.
fn exchange_unsupported(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::Unsupported
        || matches!(
            e.raw_os_error(),
            Some(libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP)
        )
}

#[cfg(test)]
mod tests;
