//! Timers: a table of at most 256 entries searched linearly (a scan is
//! cheaper than keeping a heap ordered). It grows with the timers a script
//! has, up to that bound: a fixed array would be 10 KiB in every loop, most
//! of which never has more than a few timers. Pure: the time is passed in.

/// How many timers may exist at once.
pub const MAX_TIMERS: usize = 256;

/// The shortest period of a repeating timer: `every 0` must not spin.
pub const MIN_PERIOD: f64 = 0.001;

/// What happens when a timer fires; the loop knows what the numbers mean.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum What {
    /// A script callback (its id in the binding's callback table).
    Call(u32),
    /// SIGKILL the process group of the child with this serial.
    Kill(u32),
    /// A unix-socket request ran out of time.
    RequestTimeout(u32),
    /// Orphans given SIGTERM are due their SIGKILL.
    Orphans,
}

#[derive(Clone, Copy, Debug)]
struct Timer {
    id: u32,
    due: f64,
    period: Option<f64>,
    what: What,
}

/// The table is full.
#[derive(Debug, PartialEq, Eq)]
pub struct Full;

impl core::fmt::Display for Full {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "too many timers (at most {MAX_TIMERS})")
    }
}

pub struct Timers {
    list: Vec<Timer>,
    next_id: u32,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            list: Vec::new(),
            next_id: 1,
        }
    }
}

impl Timers {
    /// Adds a timer due at `now + secs`, repeating every `secs` when `repeat`.
    pub fn add(&mut self, now: f64, secs: f64, repeat: bool, what: What) -> Result<u32, Full> {
        let secs = if secs.is_finite() && secs > 0.0 {
            secs
        } else {
            0.0
        };
        let period = if repeat {
            Some(secs.max(MIN_PERIOD))
        } else {
            None
        };
        if self.list.len() >= MAX_TIMERS {
            return Err(Full);
        }
        let id = self.next_id;
        self.list.push(Timer {
            id,
            due: now + secs,
            period,
            what,
        });
        // Ids are never 0 and wrap only after 4 billion timers.
        self.next_id = self.next_id.wrapping_add(1).max(1);
        Ok(id)
    }

    /// Removes a timer; returns what it would have done.
    pub fn cancel(&mut self, id: u32) -> Option<What> {
        let i = self.list.iter().position(|t| t.id == id)?;
        Some(self.list.swap_remove(i).what)
    }

    /// The earliest due time, if any timer exists.
    pub fn next_due(&self) -> Option<f64> {
        self.list.iter().map(|t| t.due).reduce(f64::min)
    }

    /// The id the next `add` will return: timers added from now on are
    /// newer than it (see `pop_due`'s `older_than`).
    pub fn id_mark(&self) -> u32 {
        self.next_id
    }

    /// Takes the earliest timer due at `now` (ties by creation order) that was
    /// created before `older_than` (0: any). A repeating timer stays, moved to
    /// its next period (never into the past, so a late wake-up does not burst).
    /// Returns `(id, what, repeating)`.
    pub fn pop_due(&mut self, now: f64, older_than: u32) -> Option<(u32, What, bool)> {
        let mut best: Option<usize> = None;
        for (i, t) in self.list.iter().enumerate() {
            if t.due > now || (older_than != 0 && t.id >= older_than) {
                continue;
            }
            best = match best {
                Some(b) if (self.list[b].due, self.list[b].id) <= (t.due, t.id) => Some(b),
                _ => Some(i),
            };
        }
        let i = best?;
        let t = self.list[i];
        match t.period {
            Some(p) => {
                let mut due = t.due + p;
                if due <= now {
                    due = now + p;
                }
                self.list[i].due = due;
                Some((t.id, t.what, true))
            }
            None => {
                self.list.swap_remove(i);
                Some((t.id, t.what, false))
            }
        }
    }

    /// What a timer will do, if it exists.
    pub fn what(&self, id: u32) -> Option<What> {
        self.list.iter().find(|t| t.id == id).map(|t| t.what)
    }

    /// Whether a timer exists.
    pub fn contains(&self, id: u32) -> bool {
        self.list.iter().any(|t| t.id == id)
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(t: &mut Timers, now: f64) -> std::vec::Vec<u32> {
        let mut v = std::vec::Vec::new();
        while let Some((_, What::Call(n), _)) = t.pop_due(now, 0) {
            v.push(n);
        }
        v
    }

    #[test]
    fn fire_in_due_order_then_creation_order() {
        let mut t = Timers::default();
        t.add(0.0, 3.0, false, What::Call(3)).unwrap();
        t.add(0.0, 1.0, false, What::Call(1)).unwrap();
        t.add(0.0, 2.0, false, What::Call(21)).unwrap();
        t.add(0.0, 2.0, false, What::Call(22)).unwrap();
        assert_eq!(t.next_due(), Some(1.0));
        assert_eq!(drain(&mut t, 0.5), std::vec::Vec::<u32>::new());
        assert_eq!(drain(&mut t, 2.0), vec![1, 21, 22]);
        assert_eq!(drain(&mut t, 10.0), vec![3]);
        assert!(t.is_empty());
        assert_eq!(t.next_due(), None);
    }

    #[test]
    fn repeating_timer_stays_and_does_not_burst_after_a_late_wake() {
        let mut t = Timers::default();
        let id = t.add(0.0, 1.0, true, What::Call(7)).unwrap();
        assert_eq!(t.pop_due(1.0, 0), Some((id, What::Call(7), true)));
        assert_eq!(t.next_due(), Some(2.0));
        // Woken 10 s late: one call, next one a full period later.
        assert_eq!(t.pop_due(12.0, 0), Some((id, What::Call(7), true)));
        assert_eq!(t.pop_due(12.0, 0), None);
        assert_eq!(t.next_due(), Some(13.0));
    }

    #[test]
    fn every_zero_is_clamped() {
        let mut t = Timers::default();
        t.add(0.0, 0.0, true, What::Call(1)).unwrap();
        assert!(t.pop_due(0.0, 0).is_some());
        assert!(t.pop_due(0.0, 0).is_none());
    }

    #[test]
    fn cancel_removes_and_reports() {
        let mut t = Timers::default();
        let a = t.add(0.0, 1.0, false, What::Kill(4)).unwrap();
        assert!(t.contains(a));
        assert_eq!(t.cancel(a), Some(What::Kill(4)));
        assert_eq!(t.cancel(a), None);
        assert!(t.pop_due(5.0, 0).is_none());
    }

    #[test]
    fn timers_added_during_dispatch_wait_for_the_next_step() {
        let mut t = Timers::default();
        t.add(0.0, 0.0, false, What::Call(1)).unwrap();
        let mark = t.id_mark();
        t.add(0.0, 0.0, false, What::Call(2)).unwrap();
        assert_eq!(t.pop_due(0.0, mark).map(|x| x.1), Some(What::Call(1)));
        assert_eq!(t.pop_due(0.0, mark), None);
        assert_eq!(t.pop_due(0.0, 0).map(|x| x.1), Some(What::Call(2)));
    }

    #[test]
    fn full_table_is_an_error_not_a_panic() {
        let mut t = Timers::default();
        for i in 0..MAX_TIMERS {
            t.add(0.0, 1.0, false, What::Call(i as u32)).unwrap();
        }
        assert_eq!(t.add(0.0, 1.0, false, What::Call(0)), Err(Full));
        assert_eq!(t.len(), MAX_TIMERS);
    }
}
