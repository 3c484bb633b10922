//! Subscriptions to published services: one inotify watch on the state root
//! (each `<name>` there is a symlink replaced by rename on every publish), a
//! dirty flag per subscribed name, and the last snapshot each name's handlers
//! saw. Draining inotify only marks names dirty; reading and diffing happen
//! once per step, so a burst of publishes costs a few reads and the handlers
//! always end on the latest snapshot.
use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use inotify::{EventMask, Inotify, WatchDescriptor, WatchMask};

use crate::sys::fs as sfs;
use crate::tree::{self, Node};

/// One inotify read; events for other entries just fill it and are ignored.
const EVENT_BUF: usize = 4096;
/// The largest inotify event: its header and a name of up to 255 bytes,
/// NUL-terminated (the kernel pads names to 16 bytes at most this much).
const MAX_EVENT: usize = 16 + 256;

/// A handler to call: `(subscription id, callback, snapshot, changed keys)`.
pub struct Change {
    pub sub: u32,
    pub cb: u32,
    pub node: Option<std::rc::Rc<Node>>,
    pub changed: std::rc::Rc<Vec<String>>,
    /// The uid owning the snapshot (who wrote it), when known.
    pub owner: Option<u32>,
}

struct Watched {
    name: String,
    dirty: bool,
    last: Option<std::rc::Rc<Node>>,
    /// The owner of `last`: a snapshot rewritten by someone else with the
    /// same content is a change too (consumers may trust by owner).
    owner: Option<u32>,
    /// `(subscription id, callback)`
    subs: Vec<(u32, u32)>,
    /// `.<name>/` kept open between reads (see `tree::read_at`) while
    /// `name` is published (see `Subscriptions::rootfd`).
    dot: Option<OwnedFd>,
}

pub struct Subscriptions {
    root: PathBuf,
    inotify: Option<Inotify>,
    watch: Option<WatchDescriptor>,
    /// The root, kept open while a watched name is published (the last read
    /// of it found it): reads start from it, an `open` and a `close` fewer
    /// each. Not longer: an open fd on a removed directory holds back its
    /// `IN_DELETE_SELF` (for every watcher) until it is closed, and a root
    /// is removed only once empty, so the removal of a published name
    /// (`IN_DELETE`, a read that finds it absent) closes it first. While
    /// open, it keeps a tmpfs mounted there busy (it unmounts lazily only).
    rootfd: Option<OwnedFd>,
    /// The fds of the snapshots just read, closed after their handlers ran
    /// (`poll_fd`) so that the handlers do not wait for the `close`s.
    closing: Vec<OwnedFd>,
    names: Vec<Watched>,
    next_id: u32,
}

impl Subscriptions {
    pub fn new(root: PathBuf) -> Subscriptions {
        Subscriptions {
            root,
            inotify: None,
            watch: None,
            rootfd: None,
            closing: Vec::new(),
            names: Vec::new(),
            next_id: 1,
        }
    }

    /// Subscribes `cb` to `name`; it runs at the next step if `name` exists.
    pub fn subscribe(&mut self, name: &str, cb: u32) -> io::Result<u32> {
        // Checked by the binding: `tree::read_at` relies on it.
        debug_assert!(tree::validate_name(name.as_bytes()).is_ok(), "{name}");
        self.ensure_watch()?;
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        match self.names.iter_mut().find(|w| w.name == name) {
            Some(w) => {
                w.subs.push((id, cb));
                // The new handler must see the current state even if others already did.
                w.last = None;
                w.dirty = true;
            }
            None => self.names.push(Watched {
                name: name.into(),
                dirty: true,
                last: None,
                owner: None,
                subs: vec![(id, cb)],
                dot: None,
            }),
        }
        Ok(id)
    }

    /// Ends a subscription; returns its callback so the binding can free it.
    pub fn unsubscribe(&mut self, id: u32) -> Option<u32> {
        let wi = self
            .names
            .iter()
            .position(|w| w.subs.iter().any(|s| s.0 == id))?;
        let w = &mut self.names[wi];
        let si = w.subs.iter().position(|s| s.0 == id)?;
        let (_, cb) = w.subs.remove(si);
        if w.subs.is_empty() {
            self.names.remove(wi);
            if self.names.iter().all(|w| w.dot.is_none()) {
                self.rootfd = None;
            }
        }
        Some(cb)
    }

    pub fn is_live(&self, id: u32) -> bool {
        self.names.iter().any(|w| w.subs.iter().any(|s| s.0 == id))
    }

    /// (Re)creates the root and its watch; after the root was removed the
    /// next step retries.
    pub fn ensure_watch(&mut self) -> io::Result<()> {
        if self.inotify.is_none() {
            self.inotify = Some(Inotify::init().map_err(|e| inotify_limit(e, "instances"))?);
        }
        if self.watch.is_none() {
            std::fs::create_dir_all(&self.root)?;
            let mask = WatchMask::CREATE
                | WatchMask::MOVED_TO
                | WatchMask::DELETE
                | WatchMask::MOVED_FROM
                | WatchMask::ONLYDIR
                | WatchMask::DONT_FOLLOW
                | WatchMask::DELETE_SELF
                | WatchMask::MOVE_SELF;
            if let Some(ino) = self.inotify.as_mut() {
                let watch = ino.watches().add(&self.root, mask);
                self.watch = Some(watch.map_err(|e| inotify_limit(e, "watches"))?);
            }
            // Whatever happened while we were not watching: look again.
            self.mark_all();
        }
        Ok(())
    }

    /// The fd to poll, once something was subscribed; called just before
    /// the loop waits, so it first closes what the last `changes` kept
    /// open (their handlers have run).
    pub fn poll_fd(&mut self) -> Option<RawFd> {
        self.closing.clear();
        if self.names.is_empty() {
            return None;
        }
        self.inotify.as_ref().map(|i| i.as_raw_fd())
    }

    pub fn any_dirty(&self) -> bool {
        self.names.iter().any(|w| w.dirty)
    }

    fn mark_all(&mut self) {
        for w in &mut self.names {
            w.dirty = true;
        }
    }

    fn mark(&mut self, name: &OsStr) {
        let name = name.as_bytes();
        if name.first() == Some(&b'.') {
            return;
        }
        for w in &mut self.names {
            if w.name.as_bytes() == name {
                w.dirty = true;
            }
        }
    }

    /// Reads every queued inotify event and marks names dirty.
    pub fn drain(&mut self) {
        let mut buf = [0u8; EVENT_BUF];
        let mut lost_watch = false;
        let mut all = false;
        let Some(ino) = self.inotify.as_mut() else {
            return;
        };
        let mut names: Vec<std::ffi::OsString> = Vec::new();
        loop {
            let events = match ino.read_events(&mut buf) {
                Ok(ev) => ev,
                Err(_) => break,
            };
            let mut n = 0;
            for ev in events {
                n += 1;
                if ev.mask.contains(EventMask::Q_OVERFLOW) {
                    all = true;
                } else if ev
                    .mask
                    .intersects(EventMask::DELETE_SELF | EventMask::MOVE_SELF | EventMask::IGNORED)
                {
                    lost_watch = true;
                } else if let Some(name) = ev.name {
                    // Bounded: only names we watch are kept, once each.
                    let b = name.as_bytes();
                    if b.first() != Some(&b'.')
                        && !names.iter().any(|x| x.as_bytes() == b)
                        && self.names.iter().any(|w| w.name.as_bytes() == b)
                    {
                        names.push(name.to_os_string());
                    }
                }
            }
            // Room was left for another event of any size: the queue was
            // empty (the fd is polled level-triggered: what comes later
            // wakes the next poll). Saves the read that would say EAGAIN.
            if n == 0 || (n + 1) * MAX_EVENT <= EVENT_BUF {
                break;
            }
        }
        for n in &names {
            self.mark(n);
        }
        if all {
            self.mark_all();
        }
        if lost_watch {
            if let (Some(ino), Some(wd)) = (self.inotify.as_mut(), self.watch.take()) {
                let _ = ino.watches().remove(wd);
            }
            self.rootfd = None;
            for w in &mut self.names {
                w.dot = None;
            }
            self.mark_all();
            let _ = self.ensure_watch();
        }
    }

    /// Reads every dirty name and reports the handlers to call.
    #[inline(never)] // not into `Loop::wait`: smaller for the routers A read error
    /// keeps the last snapshot (it is logged through `log`).
    pub fn changes(&mut self, out: &mut Vec<Change>, log: &mut dyn FnMut(&str)) {
        for w in &mut self.names {
            if !w.dirty {
                continue;
            }
            w.dirty = false;
            if self.rootfd.is_none() {
                // Opened after the watch was made: a root replaced in
                // between is reported to the watch. Without it (out of
                // fds, no root), the read opens the root by path.
                self.rootfd = sfs::cstr(self.root.as_os_str().as_bytes())
                    .and_then(|p| sfs::open_dir(&p))
                    .ok();
            }
            let mut owner = None;
            let new = match &self.rootfd {
                Some(fd) => tree::read_at(
                    &self.root,
                    sfs::fd_ref(fd),
                    &w.name,
                    &mut w.dot,
                    &mut self.closing,
                    &mut owner,
                ),
                None => tree::read(&self.root, &w.name),
            };
            let new = match new {
                Ok(Some(n)) => Some(n),
                Ok(None) => {
                    w.dot = None;
                    None
                }
                Err(e) => {
                    w.dot = None;
                    log(&format!("subscribe {}: {}", w.name, e));
                    continue;
                }
            };
            let new_owner = std::mem::replace(&mut w.owner, owner) != owner && new.is_some();
            let keys = match refresh(&mut w.last, new) {
                Some(keys) => keys,
                None if new_owner => Vec::new(),
                None => continue,
            };
            let changed = std::rc::Rc::new(keys);
            for &(sub, cb) in &w.subs {
                out.push(Change {
                    sub,
                    cb,
                    node: w.last.clone(),
                    changed: changed.clone(),
                    owner,
                });
            }
        }
        if self.names.iter().all(|w| w.dot.is_none()) {
            self.rootfd = None;
        }
    }
}

/// Replaces the cached snapshot; the changed keys when the handlers must run
/// (the tree changed, appeared or disappeared), else `None`.
fn refresh(last: &mut Option<std::rc::Rc<Node>>, new: Option<Node>) -> Option<Vec<String>> {
    let same = match (last.as_deref(), new.as_ref()) {
        (None, None) => true,
        (Some(a), Some(b)) => a == b,
        _ => false,
    };
    if same {
        return None;
    }
    let keys = tree::changed_keys(last.as_deref(), new.as_ref());
    *last = new.map(std::rc::Rc::new);
    Some(keys)
}

/// The kernel says EMFILE for "too many inotify instances" and ENOSPC for
/// "too many watches": messages that read like a full fd table or a full
/// disk. Name the limit instead, so the fix (a sysctl) is obvious.
fn inotify_limit(e: io::Error, what: &str) -> io::Error {
    match e.raw_os_error() {
        Some(libc::EMFILE) | Some(libc::ENOSPC) => io::Error::new(
            e.kind(),
            format!("inotify limit reached: too many inotify {what} (sysctl fs.inotify.max_user_{what})"),
        ),
        _ => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn inotify_limits_are_named_as_such() {
        let e = inotify_limit(io::Error::from_raw_os_error(libc::ENOSPC), "watches");
        assert!(e.to_string().contains("fs.inotify.max_user_watches"), "{e}");
        let e = inotify_limit(io::Error::from_raw_os_error(libc::EMFILE), "instances");
        assert!(e.to_string().contains("too many inotify instances"), "{e}");
        let e = inotify_limit(io::Error::from_raw_os_error(libc::EACCES), "watches");
        assert_eq!(e.raw_os_error(), Some(libc::EACCES));
    }

    fn val(s: &str) -> Node {
        Node::Value(s.as_bytes().to_vec())
    }

    #[test]
    fn refresh_calls_only_on_a_difference() {
        let mut last = None;
        assert!(
            refresh(&mut last, None).is_none(),
            "absent and still absent"
        );
        let mut m = BTreeMap::new();
        m.insert("a".to_string(), val("1"));
        assert!(
            refresh(&mut last, Some(Node::Dir(m.clone()))).is_some(),
            "appeared"
        );
        assert!(
            refresh(&mut last, Some(Node::Dir(m.clone()))).is_none(),
            "unchanged"
        );
        m.insert("a".to_string(), val("2"));
        assert!(refresh(&mut last, Some(Node::Dir(m))).is_some(), "changed");
        assert!(refresh(&mut last, None).is_some(), "gone");
        assert!(last.is_none());
    }

    #[test]
    fn the_root_stays_open_only_while_a_watched_name_is_published() {
        let dir = std::env::temp_dir().join(format!("upd-subs-open-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut s = Subscriptions::new(dir.clone());
        let a = s.subscribe("svc", 1).unwrap();
        let b = s.subscribe("other", 2).unwrap();
        let mut out = Vec::new();
        s.changes(&mut out, &mut |m| panic!("{m}"));
        assert!(s.rootfd.is_none(), "nothing published: nothing kept open");
        let mut m = BTreeMap::new();
        m.insert("a".to_string(), val("1"));
        tree::publish(&dir, "svc", &Node::Dir(m), &tree::PublishOpts::default()).unwrap();
        s.mark_all();
        s.changes(&mut out, &mut |m| panic!("{m}"));
        assert_eq!(out.len(), 1);
        assert!(s.rootfd.is_some() && s.names[0].dot.is_some());
        assert!(!s.closing.is_empty());
        assert!(s.poll_fd().is_some());
        assert!(s.closing.is_empty(), "closed before the loop waits");
        s.unsubscribe(b);
        assert!(s.rootfd.is_some());
        s.unsubscribe(a);
        assert!(s.rootfd.is_none(), "the last subscription gone");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn unsubscribe_returns_the_callback_and_drops_the_name() {
        let dir = std::env::temp_dir().join(format!("upd-subs-{}", std::process::id()));
        let mut s = Subscriptions::new(dir.clone());
        let a = s.subscribe("eth0", 10).unwrap();
        let b = s.subscribe("eth0", 11).unwrap();
        assert!(s.any_dirty());
        assert!(s.poll_fd().is_some());
        assert_eq!(s.unsubscribe(a), Some(10));
        assert_eq!(s.unsubscribe(a), None);
        assert!(s.is_live(b));
        assert_eq!(s.unsubscribe(b), Some(11));
        assert!(s.poll_fd().is_none());
        let _ = std::fs::remove_dir_all(dir);
    }
}
