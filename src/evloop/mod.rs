//! The event loop: one blocking poll(2) over every source a script has, and
//! nothing else (no periodic wake-up: with no timer the wait is infinite).
//!
//! Sources: a signalfd (the loop's signals are blocked), the inotify fd of the
//! subscriptions, the netlink monitor, children's stdout/stderr and
//! notification pipes, FIFOs, unix-socket requests. Timers only shorten the
//! poll timeout. `wait` reads what is ready (bounded: one read of at most
//! `READ_CHUNK` bytes per source per wake, so a flooding child cannot starve
//! the others) and turns it into `Event`s; `next_timer` hands out due timers
//! one by one. The Lua binding (`core::loop_api`) calls the callbacks, which
//! this layer knows only as numbers: it never calls into Lua, so no borrow of
//! it is ever held while a script runs.
pub mod lines;
pub mod log;
pub mod process;
pub mod sockets;
pub mod subscribe;
pub mod timer;

use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use crate::netlink;
use crate::sys::proc::{self as sys, Exit, Reaped};
use process::{Child, SpawnError, Spec, Stream};
use sockets::{Fifo, Progress, Request};
use subscribe::{Change, Subscriptions};
use timer::{Timers, What};

/// At most this much is read from one source per wake.
pub const READ_CHUNK: usize = 4096;

/// How much of an exited child's output is still read before its `on-exit`.
const DRAIN_AT_EXIT: usize = 64 * 1024;

/// How long `shutdown` waits after SIGTERM before SIGKILL.
pub const SHUTDOWN_GRACE: f64 = 3.0;

/// The signals a script may handle, by the names `on-signal` takes.
pub const SIGNALS: [(&str, i32); 5] = [
    ("TERM", libc::SIGTERM),
    ("INT", libc::SIGINT),
    ("HUP", libc::SIGHUP),
    ("USR1", libc::SIGUSR1),
    ("USR2", libc::SIGUSR2),
];

/// Every signal `kill` accepts by name.
const SIGNAL_NAMES: [(&str, i32); 12] = [
    ("TERM", libc::SIGTERM),
    ("KILL", libc::SIGKILL),
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("USR1", libc::SIGUSR1),
    ("USR2", libc::SIGUSR2),
    ("STOP", libc::SIGSTOP),
    ("CONT", libc::SIGCONT),
    ("ALRM", libc::SIGALRM),
    ("PIPE", libc::SIGPIPE),
    ("WINCH", libc::SIGWINCH),
];

/// A signal number from `"TERM"`, `"SIGTERM"` or `"term"`.
pub fn signal_number(name: &str) -> Option<i32> {
    let n = name.strip_prefix("SIG").unwrap_or(name);
    SIGNAL_NAMES
        .iter()
        .find(|(s, _)| s.eq_ignore_ascii_case(n))
        .map(|&(_, v)| v)
}

/// Something for the binding to call back; callbacks are the binding's ids.
pub enum Event {
    Signal {
        name: &'static str,
        cb: u32,
    },
    Line {
        cb: u32,
        stream: Stream,
        line: Vec<u8>,
    },
    /// A child was reaped; `free` are its callbacks, done with after this.
    Exit {
        pid: i32,
        exit: Exit,
        on_exit: Option<u32>,
        free: [Option<u32>; 3],
    },
    Ready(u32),
    Change(Change),
    Netlink {
        cb: u32,
        event: netlink::Event,
    },
    /// A unix request finished; its callback is done with after this.
    Reply {
        cb: u32,
        result: Result<Vec<u8>, String>,
    },
    FifoLine {
        cb: u32,
        line: Vec<u8>,
    },
}

/// A timer the binding must act on.
pub enum Fired {
    /// Call `cb`; free it afterwards unless `repeating`.
    Call { cb: u32, repeating: bool },
    /// A unix request timed out: `(cb nil "timeout")`, then free it.
    Timeout { cb: u32 },
}

#[derive(Clone, Copy)]
enum Src {
    Signals,
    Inotify,
    Netlink,
    Out(u32, Stream),
    Notify(u32),
    Fifo(u32),
    Request(u32),
}

pub struct Loop {
    sigfd: OwnedFd,
    stopped: bool,
    timers: Timers,
    /// Script handlers for `SIGNALS`, same order.
    handlers: [Option<u32>; 5],
    children: Vec<Child>,
    next_serial: u32,
    subs: Subscriptions,
    netlink: Option<netlink::Monitor>,
    netlink_handlers: Vec<u32>,
    fifos: Vec<Fifo>,
    requests: Vec<Request>,
    next_io_id: u32,
    /// Events produced outside a wait (a request that failed to connect):
    /// delivered at the next step, which then does not block.
    pending: Vec<Event>,
    buf: Box<[u8; READ_CHUNK]>,
    /// Drop the code pages before the next blocking wait (`settle`).
    settle: bool,
    /// `kill_orphans`: the grace between SIGTERM and SIGKILL for processes
    /// re-parented to us; `None`: orphans are only reaped.
    orphan_grace: Option<f64>,
    /// Orphans sent SIGTERM, with the time of their SIGKILL.
    orphans: Vec<(i32, f64)>,
    orphan_timer: Option<u32>,
}

impl Loop {
    /// Blocks the loop's signals (from now on they arrive through the
    /// signalfd) and makes this process a child subreaper.
    pub fn new() -> std::io::Result<Loop> {
        let sigfd = sys::block_and_signalfd()?;
        if let Err(e) = sys::set_child_subreaper() {
            log::log(
                log::Level::Warn,
                &format!("cannot become a child subreaper: {}", sys::error_text(&e)),
            );
        }
        Ok(Loop {
            sigfd,
            stopped: false,
            timers: Timers::default(),
            handlers: [None; 5],
            children: Vec::new(),
            next_serial: 1,
            subs: Subscriptions::new(crate::tree::root()),
            netlink: None,
            netlink_handlers: Vec::new(),
            fifos: Vec::new(),
            requests: Vec::new(),
            next_io_id: 1,
            pending: Vec::new(),
            buf: Box::new([0; READ_CHUNK]),
            settle: false,
            orphan_grace: None,
            orphans: Vec::new(),
            orphan_timer: None,
        })
    }

    pub fn stop(&mut self) {
        self.stopped = true;
    }

    /// Start-up is over: the next wait that blocks first unmaps the
    /// binary's code pages (`sys::mem::drop_code_pages`).
    pub fn settle(&mut self) {
        self.settle = true;
    }

    pub fn stopped(&self) -> bool {
        self.stopped
    }

    /// Whether a stop is pending; clears it (each stop ends one `run`).
    pub fn take_stopped(&mut self) -> bool {
        std::mem::take(&mut self.stopped)
    }

    // ---- timers

    pub fn add_timer(&mut self, secs: f64, repeat: bool, cb: u32) -> Result<u32, timer::Full> {
        self.timers
            .add(sys::monotonic(), secs, repeat, What::Call(cb))
    }

    /// Cancels a script timer; returns its callback (to free). The loop's own
    /// timers share the id space but are not the script's to cancel.
    pub fn cancel_timer(&mut self, id: u32) -> Option<u32> {
        match self.timers.what(id)? {
            What::Call(cb) => {
                self.timers.cancel(id);
                Some(cb)
            }
            _ => None,
        }
    }

    pub fn timer_mark(&self) -> u32 {
        self.timers.id_mark()
    }

    /// The next timer due at `now` created before `mark`; the loop's own
    /// timers (SIGKILL after terminate) are handled here.
    pub fn next_timer(&mut self, now: f64, mark: u32) -> Option<Fired> {
        loop {
            let (_, what, repeating) = self.timers.pop_due(now, mark)?;
            match what {
                What::Call(cb) => return Some(Fired::Call { cb, repeating }),
                What::Kill(serial) => {
                    if let Some(c) = self.children.iter_mut().find(|c| c.serial == serial) {
                        c.kill_timer = None;
                        let _ = sys::kill(-c.pid, libc::SIGKILL);
                    }
                }
                What::RequestTimeout(id) => {
                    if let Some(i) = self.requests.iter().position(|r| r.id == id) {
                        let r = self.requests.swap_remove(i);
                        return Some(Fired::Timeout { cb: r.cb });
                    }
                }
                What::Orphans => {
                    self.orphan_timer = None;
                    self.orphans.retain(|&(pid, due)| {
                        if due > now {
                            return true;
                        }
                        // Still ours: a child's pid is not reused before we reap it.
                        signal_orphan(pid, libc::SIGKILL);
                        false
                    });
                    self.arm_orphan_timer(now);
                }
            }
        }
    }

    // ---- signals

    /// Sets the handler for a signal name; returns the previous one (to free).
    pub fn on_signal(&mut self, name: &str, cb: u32) -> Result<Option<u32>, String> {
        let i = SIGNALS
            .iter()
            .position(|(n, _)| *n == name)
            .ok_or_else(|| {
                format!("on-signal: unknown signal {name} (TERM, INT, HUP, USR1, USR2)")
            })?;
        Ok(self.handlers[i].replace(cb))
    }

    // ---- orphans

    /// From now on, a process re-parented to us (the orphan of a child that
    /// died: we are a subreaper, or PID 1) gets SIGTERM, and SIGKILL after
    /// `grace` seconds: nothing a dead child started outlives it. For the
    /// supervisor, whose only children of its own are its scripts (a
    /// script keeps the daemons that double-fork: they are orphans of its
    /// own, and live). Orphans there now get the same.
    pub fn kill_orphans(&mut self, grace: f64) {
        self.orphan_grace = Some(grace.max(0.0));
        self.sweep_orphans();
    }

    fn sweep_orphans(&mut self) {
        let Some(grace) = self.orphan_grace else {
            return;
        };
        let now = sys::monotonic();
        for pid in process::children_of(sys::getpid()) {
            if self.children.iter().any(|c| c.pid == pid) || self.orphans.iter().any(|o| o.0 == pid)
            {
                continue;
            }
            signal_orphan(pid, libc::SIGTERM);
            signal_orphan(pid, libc::SIGCONT);
            self.orphans.push((pid, now + grace));
        }
        self.arm_orphan_timer(now);
    }

    fn arm_orphan_timer(&mut self, now: f64) {
        if self.orphan_timer.is_some() {
            return;
        }
        if let Some(due) = self.orphans.iter().map(|o| o.1).reduce(f64::min) {
            let secs = (due - now).max(0.0);
            self.orphan_timer = self.timers.add(now, secs, false, What::Orphans).ok();
        }
    }

    // ---- processes

    pub fn spawn(&mut self, spec: &Spec) -> Result<(u32, i32), SpawnError> {
        let serial = self.next_serial;
        let child = process::spawn(spec, serial)?;
        self.next_serial = self.next_serial.wrapping_add(1).max(1);
        let pid = child.pid;
        self.children.push(child);
        Ok((serial, pid))
    }

    pub fn running(&self, serial: u32) -> bool {
        self.children.iter().any(|c| c.serial == serial)
    }

    /// Signals the child's process group; `false` when it was already reaped.
    pub fn kill(&mut self, serial: u32, sig: i32) -> bool {
        match self.children.iter().find(|c| c.serial == serial) {
            Some(c) => sys::kill(-c.pid, sig).is_ok() || sys::kill(c.pid, sig).is_ok(),
            None => false,
        }
    }

    /// Writes to the child's stdin pipe without blocking: the number of
    /// bytes taken (0 when the pipe is full), or why nothing can be.
    pub fn write_input(&mut self, serial: u32, data: &[u8]) -> Result<usize, String> {
        let Some(c) = self.children.iter_mut().find(|c| c.serial == serial) else {
            return Err("the process has exited".into());
        };
        let Some(f) = c.input.as_mut() else {
            return Err("no input pipe (spawn it with :input true)".into());
        };
        match std::io::Write::write(f, data) {
            Ok(n) => Ok(n),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::Interrupted =>
            {
                Ok(0)
            }
            Err(e) => {
                // EPIPE: it closed its stdin; nothing more will be read.
                c.input = None;
                Err(sys::error_text(&e))
            }
        }
    }

    /// SIGTERM now, SIGKILL after `timeout` unless it was reaped by then.
    pub fn terminate(&mut self, serial: u32, timeout: f64) -> Result<bool, timer::Full> {
        let Some(c) = self.children.iter_mut().find(|c| c.serial == serial) else {
            return Ok(false);
        };
        let _ = sys::kill(-c.pid, libc::SIGTERM);
        let _ = sys::kill(-c.pid, libc::SIGCONT);
        if let Some(t) = c.kill_timer.take() {
            self.timers.cancel(t);
        }
        match self
            .timers
            .add(sys::monotonic(), timeout, false, What::Kill(serial))
        {
            Ok(id) => {
                c.kill_timer = Some(id);
                Ok(true)
            }
            Err(e) => {
                let _ = sys::kill(-c.pid, libc::SIGKILL);
                Err(e)
            }
        }
    }

    // ---- subscriptions, netlink, fifos, requests

    pub fn subscribe(&mut self, name: &str, cb: u32) -> std::io::Result<u32> {
        self.subs.subscribe(name, cb)
    }

    pub fn unsubscribe(&mut self, id: u32) -> Option<u32> {
        self.subs.unsubscribe(id)
    }

    pub fn subscription_live(&self, id: u32) -> bool {
        self.subs.is_live(id)
    }

    pub fn on_netlink(&mut self, cb: u32) -> std::io::Result<()> {
        if self.netlink.is_none() {
            self.netlink = Some(netlink::Monitor::open()?);
        }
        self.netlink_handlers.push(cb);
        Ok(())
    }

    pub fn fifo(&mut self, path: &str, cb: u32) -> Result<u32, String> {
        let file = sockets::open_fifo(path)?;
        let id = self.io_id();
        self.fifos.push(Fifo {
            id,
            cb,
            file,
            lines: Default::default(),
        });
        Ok(id)
    }

    /// Starts a request; its outcome always arrives as a `Reply` event.
    pub fn unix_request(&mut self, path: &str, request: Vec<u8>, timeout: f64, cb: u32) {
        let id = self.io_id();
        match Request::connect(id, cb, path, request) {
            Ok(mut r) => {
                match self
                    .timers
                    .add(sys::monotonic(), timeout, false, What::RequestTimeout(id))
                {
                    Ok(t) => {
                        r.timer = Some(t);
                        self.requests.push(r);
                    }
                    Err(e) => self.pending.push(Event::Reply {
                        cb,
                        result: Err(e.to_string()),
                    }),
                }
            }
            Err(msg) => self.pending.push(Event::Reply {
                cb,
                result: Err(msg),
            }),
        }
    }

    fn io_id(&mut self) -> u32 {
        let id = self.next_io_id;
        self.next_io_id = self.next_io_id.wrapping_add(1).max(1);
        id
    }

    // ---- the wait

    /// Waits for at most `timeout` seconds (forever if `None` and no timer),
    /// reads every ready source and appends what the script must hear.
    pub fn wait(&mut self, timeout: Option<f64>, out: &mut Vec<Event>) -> std::io::Result<()> {
        let now = sys::monotonic();
        let ms = if !self.pending.is_empty() || self.subs.any_dirty() {
            0
        } else {
            let until_timer = self.timers.next_due().map(|d| (d - now).max(0.0));
            let secs = match (timeout, until_timer) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            match secs {
                None => -1,
                // Round up: waking before the timer is due would spin.
                Some(s) => (s.max(0.0) * 1000.0).ceil().min(i32::MAX as f64) as i32,
            }
        };
        let mut fds: Vec<libc::pollfd> = Vec::with_capacity(8);
        let mut srcs: Vec<Src> = Vec::with_capacity(8);
        let mut add = |fd: RawFd, events: i16, s: Src| {
            fds.push(libc::pollfd {
                fd,
                events,
                revents: 0,
            });
            srcs.push(s);
        };
        add(self.sigfd.as_raw_fd(), libc::POLLIN, Src::Signals);
        // Also closes what the last wait's changes kept open: their
        // handlers have run by now.
        if let Some(fd) = self.subs.poll_fd() {
            add(fd, libc::POLLIN, Src::Inotify);
        }
        if let Some(m) = &self.netlink {
            add(m.fd(), libc::POLLIN, Src::Netlink);
        }
        for c in &self.children {
            if let Some(p) = &c.out {
                add(
                    p.file.as_raw_fd(),
                    libc::POLLIN,
                    Src::Out(c.serial, Stream::Stdout),
                );
            }
            if let Some(p) = &c.err {
                add(
                    p.file.as_raw_fd(),
                    libc::POLLIN,
                    Src::Out(c.serial, Stream::Stderr),
                );
            }
            if let Some(n) = &c.notify {
                add(n.as_raw_fd(), libc::POLLIN, Src::Notify(c.serial));
            }
        }
        for f in &self.fifos {
            add(f.file.as_raw_fd(), libc::POLLIN, Src::Fifo(f.id));
        }
        for r in &self.requests {
            add(r.fd(), r.interest(), Src::Request(r.id));
        }
        if ms != 0 && std::mem::take(&mut self.settle) {
            // Right before blocking: what runs between here and the wait is
            // all that is mapped again before the next wake-up.
            crate::alloc::release_cached();
            let page = crate::sys::mem::page_size();
            crate::sys::mem::drop_unused_stack(page);
            crate::sys::mem::drop_code_pages(page);
        } else if ms != 0 {
            // What the collector freed since the last wait, back to the
            // system if it is much (after a spike; src/alloc.rs "trim").
            crate::alloc::idle();
        }
        let n = sys::poll(&mut fds, ms)?;
        out.append(&mut self.pending);
        if n > 0 {
            let mut signals = false;
            for (p, s) in fds.iter().zip(srcs.iter()) {
                if p.revents == 0 {
                    continue;
                }
                match *s {
                    // Last, so that the output a child wrote before it died comes first.
                    Src::Signals => signals = true,
                    Src::Inotify => self.subs.drain(),
                    Src::Netlink => self.read_netlink(out),
                    Src::Out(serial, stream) => self.read_child(serial, stream, out),
                    Src::Notify(serial) => self.read_notify(serial, out),
                    Src::Fifo(id) => self.read_fifo(id, out),
                    Src::Request(id) => self.progress_request(id, out),
                }
            }
            if signals {
                self.read_signals(out);
            }
        }
        if self.subs.any_dirty() {
            let mut changes = Vec::new();
            self.subs
                .changes(&mut changes, &mut |m| log::log(log::Level::Warn, m));
            out.extend(changes.into_iter().map(Event::Change));
        }
        Ok(())
    }

    fn read_signals(&mut self, out: &mut Vec<Event>) {
        while let Ok(Some(sig)) = sys::read_signal(&self.sigfd) {
            if sig == libc::SIGCHLD {
                self.reap(out);
                continue;
            }
            let Some(i) = SIGNALS.iter().position(|&(_, s)| s == sig) else {
                continue;
            };
            match self.handlers[i] {
                Some(cb) => out.push(Event::Signal {
                    name: SIGNALS[i].0,
                    cb,
                }),
                None if sig == libc::SIGTERM || sig == libc::SIGINT => self.stopped = true,
                None => log::log(
                    log::Level::Debug,
                    &format!("SIG{} ignored (no handler)", SIGNALS[i].0),
                ),
            }
        }
    }

    /// Reaps every ended child: ours get `on-exit`, orphans are reaped
    /// silently (and, with `kill_orphans`, the new ones are told to go).
    fn reap(&mut self, out: &mut Vec<Event>) {
        let mut reaped = false;
        while let Reaped::Child(pid, exit) = sys::reap_one() {
            reaped = true;
            let Some(i) = self.children.iter().position(|c| c.pid == pid) else {
                // Its pid may be reused from now on: never signal it again.
                self.orphans.retain(|o| o.0 != pid);
                continue;
            };
            let mut c = self.children.swap_remove(i);
            if let Some(t) = c.kill_timer.take() {
                self.timers.cancel(t);
            }
            // What it wrote before dying is still in the pipes.
            for stream in [Stream::Stdout, Stream::Stderr] {
                let mut budget = DRAIN_AT_EXIT;
                let mut pipe = match stream {
                    Stream::Stdout => c.out.take(),
                    Stream::Stderr => c.err.take(),
                };
                if let Some(p) = pipe.as_mut() {
                    let mut open = true;
                    while open && budget > 0 {
                        let mut got = 0usize;
                        let buf = &mut self.buf[..];
                        let (on_line, tag) = (c.on_line, &c.argv0);
                        let mut lines: Vec<Vec<u8>> = Vec::new();
                        open = p.read_some_counted(buf, &mut got, &mut |l| lines.push(l.to_vec()));
                        emit_lines(out, on_line, tag, stream, lines);
                        if got == 0 {
                            break;
                        }
                        budget = budget.saturating_sub(got);
                    }
                    if open {
                        let mut lines: Vec<Vec<u8>> = Vec::new();
                        p.lines.finish(&mut |l| lines.push(l.to_vec()));
                        emit_lines(out, c.on_line, &c.argv0, stream, lines);
                    }
                    log_cut(&c.argv0, stream, p);
                }
            }
            if let (Some(n), Some(cb)) = (c.notify.as_mut(), c.on_ready) {
                let mut b = [0u8; 64];
                if let Ok(k) = n.read(&mut b) {
                    if b[..k].contains(&b'\n') {
                        out.push(Event::Ready(cb));
                    }
                }
            }
            out.push(Event::Exit {
                pid,
                exit,
                on_exit: c.on_exit,
                free: [c.on_line, c.on_exit, c.on_ready],
            });
        }
        if reaped {
            self.sweep_orphans();
        }
    }

    fn read_child(&mut self, serial: u32, stream: Stream, out: &mut Vec<Event>) {
        let Some(c) = self.children.iter_mut().find(|c| c.serial == serial) else {
            return;
        };
        let slot = match stream {
            Stream::Stdout => &mut c.out,
            Stream::Stderr => &mut c.err,
        };
        let Some(p) = slot.as_mut() else { return };
        let mut lines: Vec<Vec<u8>> = Vec::new();
        let mut got = 0;
        let open =
            p.read_some_counted(&mut self.buf[..], &mut got, &mut |l| lines.push(l.to_vec()));
        if !open {
            // Closed before the child was reaped: its count is said now.
            log_cut(&c.argv0, stream, p);
            *slot = None;
        }
        emit_lines(out, c.on_line, &c.argv0, stream, lines);
    }

    fn read_notify(&mut self, serial: u32, out: &mut Vec<Event>) {
        let Some(c) = self.children.iter_mut().find(|c| c.serial == serial) else {
            return;
        };
        let Some(n) = c.notify.as_mut() else { return };
        let mut b = [0u8; 64];
        match n.read(&mut b) {
            Ok(0) => c.notify = None,
            Ok(k) => {
                if b[..k].contains(&b'\n') {
                    if let Some(cb) = c.on_ready {
                        out.push(Event::Ready(cb));
                    }
                    // Readiness is said once (s6): the pipe is done.
                    c.notify = None;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => c.notify = None,
        }
    }

    fn read_fifo(&mut self, id: u32, out: &mut Vec<Event>) {
        let Some(f) = self.fifos.iter_mut().find(|f| f.id == id) else {
            return;
        };
        let cb = f.cb;
        f.read_some(&mut self.buf[..], &mut |l| {
            out.push(Event::FifoLine {
                cb,
                line: l.to_vec(),
            })
        });
    }

    fn progress_request(&mut self, id: u32, out: &mut Vec<Event>) {
        let Some(i) = self.requests.iter().position(|r| r.id == id) else {
            return;
        };
        if let Progress::Done(result) = self.requests[i].progress(&mut self.buf[..]) {
            let r = self.requests.swap_remove(i);
            if let Some(t) = r.timer {
                self.timers.cancel(t);
            }
            out.push(Event::Reply { cb: r.cb, result });
        }
    }

    fn read_netlink(&mut self, out: &mut Vec<Event>) {
        let Some(m) = self.netlink.as_mut() else {
            return;
        };
        let mut events = Vec::new();
        if let Err(e) = m.read_events(&mut |ev| events.push(ev)) {
            log::log(
                log::Level::Warn,
                &format!("netlink: {}", sys::error_text(&e)),
            );
            // The kernel dropped notifications: what changed meanwhile is
            // learnt again from a dump, so no carrier change is ever lost.
            if crate::netlink::is_overrun(&e) {
                if let Err(e) = m.resync(&mut |ev| events.push(ev)) {
                    log::log(
                        log::Level::Err,
                        &format!("netlink: resync: {}", sys::error_text(&e)),
                    );
                }
            }
        }
        for ev in events {
            for &cb in &self.netlink_handlers {
                out.push(Event::Netlink {
                    cb,
                    event: ev.clone(),
                });
            }
        }
    }

    // ---- the end

    /// SIGTERM to every live child's process group and to every other child
    /// (re-parented orphans), SIGKILL to what is left after `grace` seconds,
    /// and reap: no zombie and no daemon of ours survives the script.
    pub fn shutdown(&mut self, grace: f64) {
        for c in &mut self.children {
            // A child blocked writing to a full pipe must see it closed.
            c.out = None;
            c.err = None;
        }
        if self.children.is_empty() && sys::reap_one() == Reaped::None {
            return;
        }
        self.signal_all(libc::SIGTERM);
        if !self.reap_until(sys::monotonic() + grace) {
            self.signal_all(libc::SIGKILL);
            self.reap_until(sys::monotonic() + 1.0);
        }
        self.children.clear();
    }

    fn signal_all(&mut self, sig: i32) {
        for c in &self.children {
            let _ = sys::kill(-c.pid, sig);
            let _ = sys::kill(c.pid, sig);
            if sig == libc::SIGTERM {
                let _ = sys::kill(-c.pid, libc::SIGCONT);
            }
        }
        for pid in process::children_of(sys::getpid()) {
            let _ = sys::kill(pid, sig);
        }
    }

    /// Reaps until no child is left (`true`) or the deadline passes.
    fn reap_until(&mut self, deadline: f64) -> bool {
        loop {
            match sys::reap_one() {
                Reaped::Child(pid, _) => {
                    self.children.retain(|c| c.pid != pid);
                    continue;
                }
                Reaped::None => return true,
                Reaped::Running => {}
            }
            let left = deadline - sys::monotonic();
            if left <= 0.0 {
                return false;
            }
            let mut p = [libc::pollfd {
                fd: self.sigfd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            }];
            let _ = sys::poll(&mut p, (left.min(0.1) * 1000.0).ceil() as i32);
            while let Ok(Some(_)) = sys::read_signal(&self.sigfd) {}
        }
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        self.shutdown(SHUTDOWN_GRACE);
    }
}

/// Signals an orphan and, when it leads a process group, that group.
fn signal_orphan(pid: i32, sig: i32) {
    let _ = sys::kill(pid, sig);
    let _ = sys::kill(-pid, sig);
}

/// Logs how much of a child's output `p` cut from over-long lines, when its
/// pipe is done (at end of stream or when the child is reaped).
fn log_cut(argv0: &str, stream: Stream, p: &process::Pipe) {
    if p.lines.cut > 0 {
        log::log(
            log::Level::Warn,
            &format!(
                "{argv0}: {} bytes of over-long {} lines dropped",
                p.lines.cut,
                stream.name()
            ),
        );
    }
}

/// Lines go to the child's `on-line`, or to the log as `<service>[<argv0>]`.
fn emit_lines(
    out: &mut Vec<Event>,
    on_line: Option<u32>,
    argv0: &str,
    stream: Stream,
    lines: Vec<Vec<u8>>,
) {
    match on_line {
        Some(cb) => out.extend(
            lines
                .into_iter()
                .map(|line| Event::Line { cb, stream, line }),
        ),
        None => {
            if lines.is_empty() {
                return;
            }
            let tag = format!("{}[{}]", log::service(), argv0);
            let level = if stream == Stream::Stderr {
                log::Level::Warn
            } else {
                log::Level::Info
            };
            for l in lines {
                log::log_as(level, &tag, &String::from_utf8_lossy(&l));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_names() {
        assert_eq!(signal_number("TERM"), Some(libc::SIGTERM));
        assert_eq!(signal_number("SIGKILL"), Some(libc::SIGKILL));
        assert_eq!(signal_number("hup"), Some(libc::SIGHUP));
        assert_eq!(signal_number("BOGUS"), None);
    }
}
