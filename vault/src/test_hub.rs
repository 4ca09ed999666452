//! A folder hub with faults to order, for tests of code that talks to a hub: a skewed clock,
//! another device publishing just before the first compare-and-swap or the first tree check,
//! damaged bytes, and a count of the objects handed out.

use std::cell::{Cell, RefCell};

use crate::folder_hub::FolderHub;
use crate::hub::{CasOutcome, Hub, HubError};
use crate::id::ObjectId;
use crate::object::Object;

/// Which objects [`FaultyHub::get`] damages (one byte appended).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Damage {
    Nothing,
    One(ObjectId),
    Everything,
}

pub(crate) struct FaultyHub<'a> {
    pub inner: &'a FolderHub,
    pub skew_ns: i64,
    pub before_cas: RefCell<Option<Box<dyn FnOnce() + 'a>>>,
    pub before_tree: RefCell<Option<Box<dyn FnOnce() + 'a>>>,
    pub damage: Damage,
    /// Objects handed out by `get` so far.
    pub fetched: Cell<usize>,
}

impl<'a> FaultyHub<'a> {
    /// No faults yet: behaves as `inner`.
    pub fn new(inner: &'a FolderHub) -> FaultyHub<'a> {
        FaultyHub {
            inner,
            skew_ns: 0,
            before_cas: RefCell::new(None),
            before_tree: RefCell::new(None),
            damage: Damage::Nothing,
            fetched: Cell::new(0),
        }
    }
}

impl Hub for FaultyHub<'_> {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn head(&self) -> Result<Option<ObjectId>, HubError> {
        self.inner.head()
    }
    fn missing(&self, ids: &[ObjectId]) -> Result<Vec<ObjectId>, HubError> {
        self.inner.missing(ids)
    }
    fn put(&self, objects: &[Object]) -> Result<(), HubError> {
        self.inner.put(objects)
    }
    fn get(&self, ids: &[ObjectId]) -> Result<Vec<Object>, HubError> {
        self.fetched.set(self.fetched.get() + ids.len());
        let mut objects = self.inner.get(ids)?;
        for (id, o) in ids.iter().zip(&mut objects) {
            let damaged = match self.damage {
                Damage::Nothing => false,
                Damage::One(bad) => *id == bad,
                Damage::Everything => true,
            };
            if damaged {
                o.bytes.push(b'!');
            }
        }
        Ok(objects)
    }
    fn cas_head(&self, old: Option<ObjectId>, new: ObjectId) -> Result<CasOutcome, HubError> {
        if let Some(f) = self.before_cas.borrow_mut().take() {
            f();
        }
        self.inner.cas_head(old, new)
    }
    fn tree_of(&self, snapshot: ObjectId, full: bool) -> Result<ObjectId, HubError> {
        if let Some(f) = self.before_tree.borrow_mut().take() {
            f();
        }
        self.inner.tree_of(snapshot, full)
    }
    fn time_ns(&self) -> Result<i64, HubError> {
        Ok(self.inner.time_ns()? + self.skew_ns)
    }
}
