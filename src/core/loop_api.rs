//! Lua bindings for the event loop (docs/api.md: "The loop", "Subscriptions",
//! "Processes", `on-netlink`, `unix-request`, `fifo`, `log`, `ready`).
//!
//! The `evloop::Loop` lives in the state's app data, created on first use (so
//! a script that only publishes never blocks signals). Script callbacks live
//! in a registry table, keyed by the numbers the loop carries around. The
//! rule that keeps this sound: take what is needed from the loop, drop the
//! borrow, then call Lua (a callback may call back into `upd.core`).
//!
//! Process handles are tables `{:pid N}`; a weak-keyed registry table maps a
//! handle to the loop's serial for the child, so a stale handle never names a
//! new process that got the same pid.
use mlua::{Function, Lua, LuaString, MultiValue, Result, Table, Value};

use crate::core::{add, function, net_api, nil_msg, number, ok, tree_api};
use crate::evloop::process::Spec;
use crate::evloop::{self, log, Event, Fired, Loop};
use crate::sys::proc as sys;

const CALLBACKS: &str = "upd.loop.callbacks";
const HANDLES: &str = "upd.loop.handles";

/// `terminate`'s default grace period before SIGKILL.
const TERMINATE_TIMEOUT: f64 = 5.0;
/// `unix-request`'s default timeout.
const REQUEST_TIMEOUT: f64 = 2.0;

struct LoopState {
    /// Boxed, and made by `new_loop`: a `Loop` is ~10 KiB (its timer table),
    /// and moved by value through `with_loop`, which is inlined into `step`,
    /// it made `step`'s and `run`'s stack frames ~21 KiB each: stack pages an
    /// idle service keeps resident, since it waits inside them.
    lp: Option<Box<Loop>>,
    next_cb: u32,
}

/// Adds this layer's functions to `upd.core`.
pub fn register(lua: &Lua, t: &Table) -> Result<()> {
    if lua.app_data_ref::<LoopState>().is_none() {
        lua.set_app_data(LoopState {
            lp: None,
            next_cb: 1,
        });
        lua.set_named_registry_value(CALLBACKS, lua.create_table()?)?;
        let handles = lua.create_table()?;
        let mt = lua.create_table()?;
        mt.set("__mode", "k")?;
        handles.set_metatable(Some(mt))?;
        lua.set_named_registry_value(HANDLES, handles)?;
        log::set_default_service(&script_name(lua));
        if let Some(fd) = std::env::var("NOTIFY_FD").ok().and_then(|v| v.parse().ok()) {
            sys::set_cloexec(fd);
        }
        // The launcher ends a script that raised with os.exit, which skips
        // Drop: children must still be terminated and reaped.
        let wrap: Function = lua
            .load("local shutdown, exit = ... ; os.exit = function(...) shutdown() return exit(...) end")
            .set_name("=upd.core")
            .into_function()?;
        let os: Table = lua.globals().get("os")?;
        wrap.call::<()>((
            function(lua, binding!(|lua, ()| shutdown(lua)))?,
            os.get::<Function>("exit")?,
        ))?;
    }
    add(
        lua,
        t,
        &[
            ("run", binding!(run)),
            (
                "step",
                binding!(|lua, timeout: Option<f64>| step(lua, timeout)),
            ),
            ("stop", binding!(|lua, ()| with_loop(lua, |lp| lp.stop()))),
            ("now", binding!(|_, ()| Ok(sys::monotonic()))),
            (
                "after",
                binding!(|lua, (s, f): (f64, Function)| add_timer(lua, s, false, f)),
            ),
            (
                "every",
                binding!(|lua, (s, f): (f64, Function)| add_timer(lua, s, true, f)),
            ),
            ("cancel", binding!(cancel)),
            ("on-signal", binding!(on_signal)),
            ("spawn", binding!(spawn)),
            ("kill", binding!(kill)),
            ("terminate", binding!(terminate)),
            ("running?", binding!(running)),
            (
                "kill-orphans",
                binding!(|lua, grace: f64| with_loop(lua, |lp| lp.kill_orphans(grace))),
            ),
            ("write", binding!(write_input)),
            ("subscribe", binding!(subscribe)),
            ("unsubscribe", binding!(unsubscribe)),
            ("on-netlink", binding!(on_netlink)),
            ("unix-request", binding!(unix_request)),
            ("fifo", binding!(fifo)),
            ("log", binding!(log_fn)),
            ("ready", binding!(ready)),
        ],
    )?;
    let shutdown = function(lua, binding!(|lua, ()| shutdown(lua)))?;
    t.set("shutdown", shutdown.clone())?;
    Ok(())
}

/// The script's name for log lines when `UPD_SERVICE` is unset: `arg[0]`
/// without directory and extension.
fn script_name(lua: &Lua) -> String {
    let a0: Option<String> = lua
        .globals()
        .get::<Option<Table>>("arg")
        .ok()
        .flatten()
        .and_then(|a| a.get::<Option<String>>(0).ok().flatten());
    let a0 = a0.unwrap_or_default();
    let base = a0.rsplit('/').next().unwrap_or("");
    let base = base
        .strip_suffix(".fnl")
        .or_else(|| base.strip_suffix(".lua"))
        .unwrap_or(base);
    if base.is_empty() {
        "upscript".into()
    } else {
        base.into()
    }
}

/// Runs `f` on the loop (created on first use). Never call Lua inside `f`.
fn with_loop<R>(lua: &Lua, f: impl FnOnce(&mut Loop) -> R) -> Result<R> {
    let mut st = lua
        .app_data_mut::<LoopState>()
        .ok_or_else(|| mlua::Error::runtime("upd.core: loop state missing"))?;
    if st.lp.is_none() {
        st.lp = Some(new_loop()?);
    }
    match st.lp.as_mut() {
        Some(lp) => Ok(f(lp)),
        None => Err(mlua::Error::runtime("event loop: not initialised")),
    }
}

#[cold]
#[inline(never)]
fn new_loop() -> Result<Box<Loop>> {
    Loop::new()
        .map(Box::new)
        .map_err(|e| mlua::Error::runtime(format!("event loop: {}", sys::error_text(&e))))
}

/// Terminates and reaps the children, if the loop was ever created.
fn shutdown(lua: &Lua) -> Result<()> {
    let mut st = lua
        .app_data_mut::<LoopState>()
        .ok_or_else(|| mlua::Error::runtime("upd.core: loop state missing"))?;
    if let Some(lp) = st.lp.as_mut() {
        lp.shutdown(evloop::SHUTDOWN_GRACE);
    }
    Ok(())
}

// ---- callbacks

fn store_cb(lua: &Lua, f: Function) -> Result<u32> {
    let id = {
        let mut st = lua
            .app_data_mut::<LoopState>()
            .ok_or_else(|| mlua::Error::runtime("upd.core: loop state missing"))?;
        let id = st.next_cb;
        st.next_cb = st.next_cb.wrapping_add(1).max(1);
        id
    };
    let t: Table = lua.named_registry_value(CALLBACKS)?;
    t.raw_set(id, f)?;
    Ok(id)
}

fn free_cb(lua: &Lua, id: Option<u32>) -> Result<()> {
    if let Some(id) = id {
        let t: Table = lua.named_registry_value(CALLBACKS)?;
        t.raw_set(id, Value::Nil)?;
    }
    Ok(())
}

/// Calls a callback if it still exists (it may have been cancelled by an
/// earlier callback of the same step). Arguments as a `Vec`, not generic:
/// one instantiation of mlua's call glue instead of one per argument type.
fn call_cb(lua: &Lua, id: u32, args: Vec<Value>) -> Result<()> {
    let t: Table = lua.named_registry_value(CALLBACKS)?;
    if let Value::Function(f) = t.raw_get::<Value>(id)? {
        call(&f, args)?;
    }
    Ok(())
}

fn call(f: &Function, args: Vec<Value>) -> Result<()> {
    f.call::<()>(MultiValue::from_vec(args))
}

/// A Lua string value.
fn string(lua: &Lua, s: impl AsRef<[u8]>) -> Result<Value> {
    Ok(Value::String(lua.create_string(s)?))
}

fn store_opt_cb(lua: &Lua, spec: &Table, key: &str) -> Result<Option<u32>> {
    match spec.get::<Value>(key)? {
        Value::Nil => Ok(None),
        Value::Function(f) => Ok(Some(store_cb(lua, f)?)),
        _ => Err(mlua::Error::runtime(format!(
            "spawn: spec.{key} must be a function"
        ))),
    }
}

// ---- the loop

fn run(lua: &Lua, (): ()) -> Result<bool> {
    settle(lua)?;
    while step(lua, None)? {}
    shutdown(lua)?;
    Ok(true)
}

/// Once, when a script first enters `run` (its start-up done): a full
/// collection, so that the start's garbage is not kept as heap, and, at the
/// loop's next blocking wait, the binary's code pages unmapped (start-up
/// code, the parser and the LZMA decoder are not needed again; what is comes
/// back from the page cache). See docs/design.md, "Memory".
fn settle(lua: &Lua) -> Result<()> {
    static SETTLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !SETTLED.swap(true, std::sync::atomic::Ordering::Relaxed) {
        lua.gc_collect()?;
        with_loop(lua, |lp| lp.settle())?;
    }
    Ok(())
}

fn step(lua: &Lua, timeout: Option<f64>) -> Result<bool> {
    let mut events = Vec::new();
    // A stop is reported once: the step after a `false` waits again (a
    // script may step on while its children wind down, or run again).
    let waited = with_loop(lua, |lp| {
        if lp.take_stopped() {
            None
        } else {
            Some(lp.wait(timeout, &mut events))
        }
    })?;
    match waited {
        None => return Ok(false),
        Some(Err(e)) => log::log(log::Level::Err, &format!("poll: {}", sys::error_text(&e))),
        Some(Ok(())) => {}
    }
    // Every ready event is dispatched whatever one handler does: the first
    // error is raised once all have run (later ones are logged), so a
    // handler that raises cannot make the others miss their event.
    let mut first: Option<mlua::Error> = None;
    let mut note = |r: Result<()>| {
        if let Err(e) = r {
            match first {
                None => first = Some(e),
                Some(_) => log::log(log::Level::Err, &format!("handler error: {e}")),
            }
        }
    };
    for ev in events {
        note(dispatch(lua, ev));
    }
    let now = sys::monotonic();
    let mark = with_loop(lua, |lp| lp.timer_mark())?;
    while let Some(fired) = with_loop(lua, |lp| lp.next_timer(now, mark))? {
        note(fire(lua, fired));
    }
    if let Some(e) = first {
        return Err(e);
    }
    Ok(!with_loop(lua, |lp| lp.take_stopped())?)
}

fn fire(lua: &Lua, fired: Fired) -> Result<()> {
    match fired {
        Fired::Call { cb, repeating } => {
            if !repeating {
                // Freed before the call: the callback may start a new timer.
                let t: Table = lua.named_registry_value(CALLBACKS)?;
                let f: Value = t.raw_get(cb)?;
                free_cb(lua, Some(cb))?;
                if let Value::Function(f) = f {
                    call(&f, Vec::new())?;
                }
            } else {
                call_cb(lua, cb, Vec::new())?;
            }
        }
        Fired::Timeout { cb } => {
            let r = call_cb(lua, cb, vec![Value::Nil, string(lua, "timeout")?]);
            free_cb(lua, Some(cb))?;
            r?;
        }
    }
    Ok(())
}

fn dispatch(lua: &Lua, ev: Event) -> Result<()> {
    match ev {
        Event::Signal { name, cb } => call_cb(lua, cb, vec![string(lua, name)?]),
        Event::Line { cb, stream, line } => call_cb(
            lua,
            cb,
            vec![string(lua, stream.name())?, string(lua, &line)?],
        ),
        Event::Exit {
            pid,
            exit,
            on_exit,
            free,
        } => {
            if let Some(cb) = on_exit {
                let st = lua.create_table()?;
                st.set("pid", pid)?;
                match exit {
                    sys::Exit::Code(c) => st.set("code", c)?,
                    sys::Exit::Signal(s) => st.set("signal", s)?,
                }
                let r = call_cb(lua, cb, vec![Value::Table(st)]);
                for cb in free {
                    free_cb(lua, cb)?;
                }
                return r;
            }
            for cb in free {
                free_cb(lua, cb)?;
            }
            Ok(())
        }
        Event::Ready(cb) => call_cb(lua, cb, Vec::new()),
        Event::Change(c) => {
            if !with_loop(lua, |lp| lp.subscription_live(c.sub))? {
                return Ok(());
            }
            let node = match &c.node {
                Some(n) => tree_api::node_to_lua(lua, n)?,
                None => Value::Nil,
            };
            let changed = lua.create_sequence_from(c.changed.iter().map(|s| s.as_str()))?;
            let owner = match c.owner {
                Some(uid) => Value::Number(f64::from(uid)),
                None => Value::Nil,
            };
            call_cb(lua, c.cb, vec![node, Value::Table(changed), owner])
        }
        Event::Netlink { cb, event } => call_cb(
            lua,
            cb,
            vec![Value::Table(net_api::event_to_lua(lua, &event)?)],
        ),
        Event::Reply { cb, result } => {
            let r = match result {
                Ok(bytes) => call_cb(lua, cb, vec![string(lua, &bytes)?]),
                Err(msg) => call_cb(lua, cb, vec![Value::Nil, string(lua, &msg)?]),
            };
            free_cb(lua, Some(cb))?;
            r
        }
        Event::FifoLine { cb, line } => call_cb(lua, cb, vec![string(lua, &line)?]),
    }
}

fn add_timer(lua: &Lua, secs: f64, repeat: bool, f: Function) -> Result<MultiValue> {
    let cb = store_cb(lua, f)?;
    match with_loop(lua, |lp| lp.add_timer(secs, repeat, cb))? {
        Ok(id) => ok(number(id)),
        Err(e) => {
            free_cb(lua, Some(cb))?;
            nil_msg(lua, &e.to_string())
        }
    }
}

fn cancel(lua: &Lua, id: Option<u32>) -> Result<()> {
    let Some(id) = id else { return Ok(()) };
    let cb = with_loop(lua, |lp| lp.cancel_timer(id))?;
    free_cb(lua, cb)
}

fn on_signal(lua: &Lua, (name, f): (String, Function)) -> Result<()> {
    let name = name.strip_prefix("SIG").unwrap_or(&name).to_string();
    let cb = store_cb(lua, f)?;
    match with_loop(lua, |lp| lp.on_signal(&name, cb))? {
        Ok(old) => free_cb(lua, old),
        Err(msg) => {
            free_cb(lua, Some(cb))?;
            Err(mlua::Error::runtime(msg))
        }
    }
}

// ---- processes

fn bytes_of(v: &Value, what: &str) -> Result<Vec<u8>> {
    match v {
        Value::String(s) => Ok(s.as_bytes().to_vec()),
        Value::Integer(i) => Ok(i.to_string().into_bytes()),
        Value::Number(n) => Ok(n.to_string().into_bytes()),
        _ => Err(mlua::Error::runtime(format!(
            "spawn: {what} must be a string"
        ))),
    }
}

fn name_of(v: Value, what: &str) -> Result<Option<String>> {
    match v {
        Value::Nil => Ok(None),
        v => Ok(Some(
            String::from_utf8_lossy(&bytes_of(&v, what)?).into_owned(),
        )),
    }
}

fn read_spec(spec: &Table) -> Result<Spec> {
    let mut s = Spec::default();
    let argv: Table = match spec.get::<Value>("argv")? {
        Value::Table(t) => t,
        _ => {
            return Err(mlua::Error::runtime(
                "spawn: spec.argv must be a sequence of strings",
            ))
        }
    };
    for (i, v) in argv.sequence_values::<Value>().enumerate() {
        s.argv
            .push(bytes_of(&v?, &format!("spec.argv[{}]", i + 1))?);
    }
    if s.argv.is_empty() {
        return Err(mlua::Error::runtime("spawn: spec.argv is empty"));
    }
    match spec.get::<Value>("env")? {
        Value::Nil => {}
        Value::Table(t) => {
            for pair in t.pairs::<Value, Value>() {
                let (k, v) = pair?;
                let key = bytes_of(&k, "an env key")?;
                let what = format!("spec.env.{}", String::from_utf8_lossy(&key));
                s.env.push((key, bytes_of(&v, &what)?));
            }
        }
        _ => return Err(mlua::Error::runtime("spawn: spec.env must be a table")),
    }
    s.cwd = match spec.get::<Value>("cwd")? {
        Value::Nil => None,
        v => Some(bytes_of(&v, "spec.cwd")?),
    };
    s.user = name_of(spec.get("user")?, "spec.user")?;
    s.group = name_of(spec.get("group")?, "spec.group")?;
    s.extra_group = spec.get::<Option<f64>>("extra-group")?.map(|g| g as u32);
    s.death_signal = match spec.get::<Value>("death-signal")? {
        Value::Nil => 0,
        v => signal_arg(v)?,
    };
    s.notify = spec.get::<Option<bool>>("notify")?.unwrap_or(false);
    s.input = spec.get::<Option<bool>>("input")?.unwrap_or(false);
    match spec.get::<Option<String>>("output")?.as_deref() {
        None | Some("lines") => {}
        Some("inherit") => s.inherit_output = true,
        Some("bytes") => s.stdout_bytes = true,
        Some(o) => {
            return Err(mlua::Error::runtime(format!(
                "spawn: spec.output must be \"lines\", \"bytes\" or \"inherit\", not \"{o}\""
            )))
        }
    };
    Ok(s)
}

fn spawn(lua: &Lua, spec: Table) -> Result<MultiValue> {
    let mut s = read_spec(&spec)?;
    s.on_line = store_opt_cb(lua, &spec, "on-line")?;
    s.on_exit = store_opt_cb(lua, &spec, "on-exit")?;
    s.on_ready = store_opt_cb(lua, &spec, "on-ready")?;
    match with_loop(lua, |lp| lp.spawn(&s))? {
        Ok((serial, pid)) => {
            let h = lua.create_table()?;
            h.set("pid", pid)?;
            let handles: Table = lua.named_registry_value(HANDLES)?;
            handles.raw_set(h.clone(), serial)?;
            ok(Value::Table(h))
        }
        Err(e) => {
            for cb in [s.on_line, s.on_exit, s.on_ready] {
                free_cb(lua, cb)?;
            }
            nil_msg(lua, &e.to_string())
        }
    }
}

fn serial_of(lua: &Lua, h: &Value, who: &str) -> Result<u32> {
    if let Value::Table(t) = h {
        let handles: Table = lua.named_registry_value(HANDLES)?;
        if let Some(serial) = handles.raw_get::<Option<u32>>(t.clone())? {
            return Ok(serial);
        }
    }
    Err(mlua::Error::runtime(format!(
        "{who}: not a process handle (what upd.spawn returned)"
    )))
}

fn signal_arg(v: Value) -> Result<i32> {
    match v {
        Value::Nil => Ok(libc::SIGTERM),
        Value::Integer(n) => Ok(n as i32),
        Value::Number(n) => Ok(n as i32),
        Value::String(s) => {
            let name = s.to_string_lossy();
            evloop::signal_number(&name)
                .ok_or_else(|| mlua::Error::runtime(format!("kill: unknown signal {name}")))
        }
        _ => Err(mlua::Error::runtime(
            "kill: signal must be a name or a number",
        )),
    }
}

fn kill(lua: &Lua, (h, sig): (Value, Value)) -> Result<bool> {
    let serial = serial_of(lua, &h, "kill")?;
    let sig = signal_arg(sig)?;
    with_loop(lua, |lp| lp.kill(serial, sig))
}

fn terminate(lua: &Lua, (h, timeout): (Value, Option<f64>)) -> Result<MultiValue> {
    let serial = serial_of(lua, &h, "terminate")?;
    match with_loop(lua, |lp| {
        lp.terminate(serial, timeout.unwrap_or(TERMINATE_TIMEOUT))
    })? {
        Ok(b) => ok(Value::Boolean(b)),
        Err(e) => nil_msg(lua, &format!("terminate: {e}; sent SIGKILL")),
    }
}

/// `(write handle data)`: bytes taken by the child's stdin pipe (0 when it
/// is full), or `nil, msg`.
fn write_input(lua: &Lua, (h, data): (Value, Value)) -> Result<MultiValue> {
    let serial = serial_of(lua, &h, "write")?;
    let Value::String(data) = data else {
        return Err(mlua::Error::runtime("write: data must be a string"));
    };
    match with_loop(lua, |lp| lp.write_input(serial, &data.as_bytes()))? {
        Ok(n) => ok(number(n as u32)),
        Err(msg) => nil_msg(lua, &format!("write: {msg}")),
    }
}

fn running(lua: &Lua, h: Value) -> Result<bool> {
    let serial = serial_of(lua, &h, "running?")?;
    with_loop(lua, |lp| lp.running(serial))
}

// ---- subscriptions and other sources

fn subscribe(lua: &Lua, (name, f): (String, Function)) -> Result<MultiValue> {
    if let Err(e) = crate::tree::validate_name(name.as_bytes()) {
        return nil_msg(lua, &format!("subscribe {name}: bad service name: {e}"));
    }
    let cb = store_cb(lua, f)?;
    match with_loop(lua, |lp| lp.subscribe(&name, cb))? {
        Ok(id) => ok(number(id)),
        Err(e) => {
            free_cb(lua, Some(cb))?;
            let root = crate::tree::root();
            nil_msg(
                lua,
                &format!(
                    "subscribe {name}: {}: {}",
                    root.display(),
                    sys::error_text(&e)
                ),
            )
        }
    }
}

fn unsubscribe(lua: &Lua, id: Option<u32>) -> Result<()> {
    let Some(id) = id else { return Ok(()) };
    let cb = with_loop(lua, |lp| lp.unsubscribe(id))?;
    free_cb(lua, cb)
}

fn on_netlink(lua: &Lua, f: Function) -> Result<MultiValue> {
    let cb = store_cb(lua, f)?;
    match with_loop(lua, |lp| lp.on_netlink(cb))? {
        Ok(()) => ok(Value::Boolean(true)),
        Err(e) => {
            free_cb(lua, Some(cb))?;
            nil_msg(lua, &format!("on-netlink: {}", sys::error_text(&e)))
        }
    }
}

fn unix_request(
    lua: &Lua,
    (path, request, a, b): (String, LuaString, Value, Value),
) -> Result<bool> {
    let (timeout, f) = match (a, b) {
        (Value::Function(f), _) => (REQUEST_TIMEOUT, f),
        (Value::Nil, Value::Function(f)) => (REQUEST_TIMEOUT, f),
        (Value::Integer(t), Value::Function(f)) => (t as f64, f),
        (Value::Number(t), Value::Function(f)) => (t, f),
        _ => {
            return Err(mlua::Error::runtime(
                "unix-request: expected (path request ?timeout callback)",
            ))
        }
    };
    let cb = store_cb(lua, f)?;
    let req = request.as_bytes().to_vec();
    with_loop(lua, |lp| lp.unix_request(&path, req, timeout, cb))?;
    Ok(true)
}

fn fifo(lua: &Lua, (path, f): (String, Function)) -> Result<MultiValue> {
    let cb = store_cb(lua, f)?;
    match with_loop(lua, |lp| lp.fifo(&path, cb))? {
        Ok(id) => ok(number(id)),
        Err(msg) => {
            free_cb(lua, Some(cb))?;
            nil_msg(lua, &msg)
        }
    }
}

fn log_fn(_: &Lua, (level, msg): (String, Value)) -> Result<()> {
    let lv = log::Level::parse(&level).ok_or_else(|| {
        mlua::Error::runtime(format!(
            "log: unknown level {level} (err, warn, info, debug)"
        ))
    })?;
    let text = match &msg {
        Value::String(s) => s.to_string_lossy(),
        Value::Integer(i) => i.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Boolean(b) => b.to_string(),
        Value::Nil => "nil".into(),
        other => other.type_name().to_string(),
    };
    log::log(lv, &text);
    Ok(())
}

fn ready(_: &Lua, (): ()) -> Result<bool> {
    let Some(v) = std::env::var_os("NOTIFY_FD") else {
        log::log(
            log::Level::Debug,
            "ready: NOTIFY_FD is not set (not supervised)",
        );
        return Ok(false);
    };
    // Once: the fd is closed below, and children must not inherit the name.
    std::env::remove_var("NOTIFY_FD");
    let fd = v.to_str().and_then(|s| s.parse::<i32>().ok());
    match fd.map(sys::notify_and_close) {
        Some(Ok(())) => Ok(true),
        Some(Err(e)) => {
            log::log(
                log::Level::Warn,
                &format!(
                    "ready: NOTIFY_FD={}: {}",
                    v.to_string_lossy(),
                    sys::error_text(&e)
                ),
            );
            Ok(false)
        }
        None => {
            log::log(
                log::Level::Warn,
                &format!("ready: NOTIFY_FD={} is not a number", v.to_string_lossy()),
            );
            Ok(false)
        }
    }
}
